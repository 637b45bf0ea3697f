"""``imap-connector demo``: the connector's main job, end to end, on an embedded server.

Starts pymap on 127.0.0.1 behind a private CA (verification stays on), seeds a
small realistic mailbox, then runs a workflow through the same runtime a
platform uses. ``--serve`` keeps the seeded server up for your own invocations.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import sys
import tempfile
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path
from typing import Any

from connector.sdk import Connector
from connector.sdk.cli import Invocation

from .. import manifest_path
from .localserver import PymapServer

FOLDERS = ["Projects", "Receipts"]
# Where --serve writes its connection (the README's commands read it).
CONNECTION_FILE = Path(tempfile.gettempdir()) / "imap-connector-demo-connection.json"


def _message(
    subject: str,
    sender: str,
    to: str,
    body: str,
    *,
    when: datetime,
    html: str | None = None,
    attachment: tuple[str, str, bytes] | None = None,
    reply_to: EmailMessage | None = None,
) -> EmailMessage:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = sender, to, subject
    msg["Date"] = format_datetime(when)
    msg["Message-ID"] = make_msgid(domain="demo.example")
    if reply_to is not None:
        msg["In-Reply-To"] = reply_to["Message-ID"]
        msg["References"] = " ".join(
            filter(None, [reply_to.get("References"), reply_to["Message-ID"]])
        )
    msg.set_content(body)
    if html:
        msg.add_alternative(html, subtype="html")
    if attachment:
        name, ctype, data = attachment
        maintype, subtype = ctype.split("/")
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
    return msg


def seed_messages() -> list[tuple[str, EmailMessage, list[str]]]:
    """(mailbox, message, flags): a dozen messages a real inbox could hold."""
    base = datetime(2024, 5, 6, 8, 0, tzinfo=timezone(timedelta(hours=2)))
    at = [base + timedelta(hours=5 * i) for i in range(12)]
    me = "Alice Martin <alice@demo.example>"
    kickoff = _message(
        "Project kickoff on Thursday",
        "Bob Stone <bob@demo.example>",
        me,
        "Hi Alice,\n\nCan we meet on Thursday at 10 for the kickoff?\n\nBob\n",
        when=at[0],
    )
    reply = _message(
        "Re: Project kickoff on Thursday",
        me,
        "Bob Stone <bob@demo.example>",
        "Thursday 10 works. I'll book the room.\n\nAlice\n",
        when=at[1],
        reply_to=kickoff,
    )
    reply2 = _message(
        "Re: Project kickoff on Thursday",
        "Bob Stone <bob@demo.example>",
        me,
        "Great, see you there.\n",
        when=at[2],
        reply_to=reply,
    )
    return [
        (
            "INBOX",
            _message(
                "Welcome to the demo",
                "imap-connector <demo@demo.example>",
                me,
                "This mailbox lives in memory and disappears when the demo stops.\n",
                when=at[0] - timedelta(days=1),
            ),
            [],
        ),
        ("INBOX", kickoff, ["\\Seen"]),
        ("INBOX", reply, ["\\Seen", "\\Answered"]),
        ("INBOX", reply2, []),
        (
            "INBOX",
            _message(
                "Rappel : réunion d'équipe à 14 h",
                "Élodie Faure <elodie@demo.example>",
                me,
                "Bonjour à tous,\n\nn'oubliez pas la réunion de 14 h.\n",
                when=at[4],
            ),
            [],
        ),
        (
            "INBOX",
            _message(
                "Your weekly newsletter",
                "News <news@demo.example>",
                me,
                "This week: IMAP tips.\n",
                when=at[5],
                html="<h1>This week</h1><p>IMAP tips.</p>",
            ),
            ["\\Seen"],
        ),
        (
            "INBOX",
            _message(
                "Invoice #2024-117",
                "Billing <billing@shop.demo.example>",
                me,
                "Your invoice is attached.\n",
                when=at[6],
                attachment=("invoice-2024-117.csv", "text/csv", b"item,amount\nwidgets,120.00\n"),
            ),
            [],
        ),
        (
            "INBOX",
            _message("Lunch?", "Dan Wu <dan@demo.example>", me, "Noodles at 12:30?\n", when=at[7]),
            ["\\Flagged"],
        ),
        (
            "INBOX",
            _message(
                "Отчёт за апрель",
                "Иван Петров <ivan@demo.example>",
                me,
                "Привет! Отчёт за апрель готов.\n",
                when=at[8],
            ),
            [],
        ),
        (
            "Projects",
            _message(
                "Specs v2", "Bob Stone <bob@demo.example>", me, "Updated specs.\n", when=at[9]
            ),
            ["\\Seen"],
        ),
        (
            "Receipts",
            _message(
                "Receipt for your order",
                "Shop <orders@shop.demo.example>",
                me,
                "Thanks for your order.\n",
                when=at[10],
            ),
            ["\\Seen"],
        ),
        (
            "INBOX",
            _message(
                "Quarterly report (draft)",
                "Chloé Durand <chloe@demo.example>",
                me,
                "Hi Alice,\n\nthe draft report is attached. Comments welcome.\n\nChloé\n",
                when=at[11],
                attachment=(
                    "q2-report.pdf",
                    "application/pdf",
                    b"%PDF-1.4\n% demo report\n%%EOF\n",
                ),
            ),
            [],
        ),
    ]


class Workflow:
    """Runs actions through the runtime and prints a line per step."""

    def __init__(self, connector: Connector, connection: dict, *, as_json: bool):
        self.connector, self.connection, self.as_json = connector, connection, as_json
        self.step = 0

    def call(self, action: str, **inputs: Any) -> dict:
        envelope = self.connector.invoke(
            {"action": action, "connection": self.connection, "inputs": inputs}
        )
        if not envelope["ok"]:
            raise RuntimeError(
                f"{action} failed: {envelope['error']['code']}: {envelope['error']['message']}"
            )
        return envelope

    def run(self, action: str, describe: Callable[[Any], str], **inputs: Any) -> dict:
        envelope = self.call(action, **inputs)
        self.step += 1
        print(f"[{self.step}/7] {action}: {describe(envelope['data'])}")
        if self.as_json:
            print(json.dumps(envelope, indent=2, ensure_ascii=False))
        return envelope["data"]


def seed(connector: Connector, connection: dict) -> None:
    flow = Workflow(connector, connection, as_json=False)
    for folder in FOLDERS:
        flow.call("createMailbox", path=folder)
    for mailbox, message, flags in seed_messages():
        flow.call(
            "appendMessage",
            path=mailbox,
            content=message.as_string(),
            flags=flags,
            internalDate=message["Date"].datetime.isoformat(),
        )


def run_workflow(connector: Connector, connection: dict, *, as_json: bool) -> None:
    flow = Workflow(connector, connection, as_json=as_json)
    flow.run("listMailboxes", lambda d: f"{len(d)} mailboxes: " + ", ".join(m["path"] for m in d))
    flow.run("getStatus", _status, mailbox="INBOX")
    found = flow.run(
        "searchMailbox",
        lambda d: (
            f"{d['total']} unread in INBOX; newest: "
            f"{_subject(d['messages'][0])!r} from {_sender(d['messages'][0])}"
        ),
        mailbox="INBOX",
        readUnread="unread",
        limit=5,
    )
    uid = found["messages"][0]["uid"]
    flow.run(
        "downloadMessage",
        lambda d: (
            f"UID {d['uid']}: {d['message']['subject']!r}, "
            f"{len(d['message']['text'] or '')} characters of text, "
            f"attachments: {_attachment_names(d['message'])}"
        ),
        mailbox="INBOX",
        messageIndex=uid,
    )
    flow.run(
        "addFlags",
        lambda d: f"UID {uid} now has flags {', '.join(d['messages'][0]['flags'])}",
        mailbox="INBOX",
        range=str(uid),
        flags=["\\Seen"],
    )
    created = flow.call("createMailbox", path="Archive")["data"]
    flow.run(
        "copyMessage",
        lambda d: (
            f"{'created Archive, ' if created['created'] else ''}"
            f"copied UID {uid} to Archive as UID {d['uidMap'][0]['destinationUid']}"
        ),
        mailbox="INBOX",
        range=str(uid),
        path="Archive",
    )
    flow.run("getStatus", _status, mailbox="INBOX")


def _attachment_names(message: dict) -> str:
    return ", ".join(a["filename"] or a["contentType"] for a in message["attachments"]) or "none"


def _status(d: dict) -> str:
    return (
        f"{d['path']} has {d['messages']} messages, {d['unseen']} unseen, next UID {d['uidNext']}"
    )


def _subject(summary: dict) -> str:
    return summary["envelope"]["subject"] or "(no subject)"


def _sender(summary: dict) -> str:
    people = summary["envelope"]["from"]
    return (people[0]["name"] or people[0]["address"]) if people else "(unknown)"


# --- the CLI command -----------------------------------------------------------------------


def command(cli: Invocation, argv: list[str]) -> int:
    """``imap-connector demo [--json] [--serve]``."""
    parser = argparse.ArgumentParser(prog=cli.usage_prefix, description=__doc__)
    parser.add_argument("--json", action="store_true", help="also print each full envelope")
    parser.add_argument(
        "--serve",
        action="store_true",
        help="keep the seeded server running and write its connection to a file",
    )
    parser.add_argument(
        "--connection-file",
        type=Path,
        default=CONNECTION_FILE,
        help=f"with --serve, where the connection goes ({CONNECTION_FILE}); it appears once "
        "the server is ready and goes when it stops",
    )
    args = parser.parse_args(argv)
    if args.serve:
        # A file left by an earlier run must not pass for this server's readiness.
        try:
            args.connection_file.unlink(missing_ok=True)
        except OSError as exc:  # another user's, in a shared /tmp
            print(
                f"imap-connector demo: cannot replace {args.connection_file} "
                f"({exc.strerror}): give another --connection-file, or set TMPDIR",
                file=sys.stderr,
            )
            return 2
    if not PymapServer.available():
        print(
            "imap-connector demo needs the demo extra: pip install 'imap-connector[demo]'",
            file=sys.stderr,
        )
        return 2
    connector = Connector.load(manifest_path())
    server = PymapServer(user="alice", password="alicepw")  # noqa: S106 - the demo's own
    print("Starting a local IMAP server (pymap, STARTTLS, private CA)...", flush=True)
    server.start()
    try:
        connection = server.connection()
        seed(connector, connection)
        if args.serve:
            return serve(connection, args.connection_file)
        print(f"Seeded {len(seed_messages())} messages on 127.0.0.1:{server.port}. Workflow:")
        run_workflow(connector, connection, as_json=args.json)
        print("Done: the server is stopped and its mail is gone.")
        return 0
    except RuntimeError as exc:
        print(f"demo failed: {exc}", file=sys.stderr)
        return 1
    finally:
        server.stop()


def serve(connection: dict, path: Path) -> int:
    """Until Ctrl-C, SIGTERM or SIGHUP. A background job (``scripts/demo --serve &``) ignores
    SIGINT, so the message names ``kill`` too."""
    stop = []
    for signum in (signal.SIGTERM, signal.SIGHUP):  # (before the file: it says "ready")
        signal.signal(signum, lambda *_: stop.append(1))
    write_private(path, json.dumps(connection, indent=2))
    cli = _own_command()
    print(f"The demo server is running. Its connection is in {path}:")
    print(json.dumps(connection))
    print(
        "\nTry, in another shell:\n"
        f"  {cli} invoke searchMailbox --connection @{path} --input readUnread=unread\n"
        f"  {cli} invoke downloadMessage --connection @{path} --input messageIndex=1 "
        f"--input by=index\n\nStop it with Ctrl-C, or with kill {os.getpid()} (kill %1 when "
        "you started it with & in this shell).",
        flush=True,
    )
    try:
        while not stop:
            signal.pause()
    except KeyboardInterrupt:
        pass
    path.unlink(missing_ok=True)
    print("Stopped.")
    return 0


def write_private(path: Path, text: str) -> None:
    """``text`` in ``path``, readable by its owner only (it holds the demo's password), whole
    or absent: waiting for the file is waiting for the server. Written beside it first, to a
    new file (O_EXCL: never through a link someone left in a shared /tmp), then renamed."""
    partial = path.with_name(path.name + ".partial")
    partial.unlink(missing_ok=True)
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as out:
        out.write(text)
    partial.replace(path)


def _own_command() -> str:
    """How to call this command again from here: the virtualenv's script when it is not
    on PATH (scripts/demo never activates the virtualenv)."""
    script = Path(sys.executable).with_name("imap-connector")
    on_path = shutil.which("imap-connector")
    if not script.exists() or (on_path and Path(on_path).resolve() == script.resolve()):
        return "imap-connector"
    try:
        return str(script.relative_to(Path.cwd()))
    except ValueError:
        return str(script)
