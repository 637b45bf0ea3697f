"""``listen TRIGGER --state-file FILE``: a trigger's new records as JSON lines, as they come.

The loop: poll (as ``poll`` does: the state file read before, replaced atomically after a
successful poll, locked all along), print each record on its own line, then wait: until the
trigger's push (its manifest's ``push``: IMAP IDLE) says something changed, or ``--every``
passes. The push's lines are held by a push hub of the process (connector.sdk._pushhub), as
a worker holds its watchers': logged in once, renewed, opened again after a pause when
they die. Polling stays the authority: a push that dies or lies costs latency, never a
record, because only the poll's cursor decides what is new. Failures are printed on stderr
(one JSON line each) and retried after a growing pause, never in a tight loop; only a
server that refuses IDLE turns push off. SIGTERM or Ctrl-C end a wait at once, a poll once
its state is saved; exit status 0.

At least once, by design: the state is saved after the poll's records are printed, so a
``listen`` killed in between prints them again when it starts. Each record carries its
trigger's identity (``recordKey``: for IMAP ``mailbox``, ``uidValidity``, ``uid``): a
consumer de-duplicates by it.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

from .._pushhub import PushEvent, PushHub
from .._runtime import MOST_LINES_OF_ONE_WAIT
from ..errors import ConnectorError, ManifestError
from . import Invocation
from .output import EXIT_ERROR, EXIT_OK, UsageError
from .requests import add_request_arguments, build_request, seconds
from .steps import (
    clear_leftovers,
    load_connector,
    read_state,
    state_folder_problem,
    state_lock,
    usage_failure,
    write_state,
)

# After a failure: 1, 2, 4... seconds, never more than the poll interval or a minute.
PAUSE_FIRST, PAUSE_MAX = 1.0, 60.0


class Stop(BaseException):
    """SIGTERM or SIGINT. Not an Exception: a step's own error mapping must not catch it."""


def listen(cli: Invocation, argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog=cli.usage_prefix,
        description="Print a trigger's new records as JSON lines as they come (push + poll).",
    )
    parser.add_argument("trigger")
    parser.add_argument(
        "--state-file", required=True, metavar="FILE", help="the trigger's state, as for poll"
    )
    parser.add_argument(
        "--every",
        type=seconds,
        default=300.0,
        help="poll at least this often (5m); with push, polls also come as soon as the server "
        "reports a change",
    )
    parser.add_argument(
        "--no-push", action="store_true", help="poll every --every only (no IDLE connection)"
    )
    parser.add_argument(
        "--push-renew",
        type=seconds,
        default=1500.0,
        help="end and re-issue the push (IDLE) at least this often (25m: servers drop an IDLE "
        "after 30 minutes, some NATs sooner)",
    )
    parser.add_argument(
        "--polls", type=int, default=0, help="stop after this many polls (0: never; for tests)"
    )
    add_request_arguments(parser)
    args = parser.parse_args(argv)
    state_file = Path(args.state_file)
    problem = state_folder_problem(state_file)
    if problem:
        return usage_failure(cli, problem)
    try:
        connector = load_connector(cli)
    except (ManifestError, LookupError) as exc:
        print(f"{cli.prog}: {exc}", file=sys.stderr)
        return EXIT_ERROR
    try:
        request = build_request(connector.manifest, "trigger", args.trigger, args)
        read_state(state_file)  # readable now, or a usage error before anything runs
    except UsageError as exc:
        return usage_failure(cli, str(exc))

    listener = Listener(connector, request, state_file, args)
    signal.signal(signal.SIGTERM, listener.stop)
    signal.signal(signal.SIGINT, listener.stop)
    try:
        with state_lock(state_file, timeout=0.0):
            clear_leftovers(state_file)
            listener.run()
    except UsageError as exc:
        return usage_failure(cli, str(exc))
    except Stop:
        pass
    finally:
        listener.close()
    return EXIT_OK


class Listener:
    def __init__(self, connector: Any, request: dict, state_file: Path, args: Any):
        self.connector, self.request, self.state_file = connector, request, state_file
        self.every, self.polls_left = float(args.every), args.polls
        self.push, self.renew = not args.no_push, max(1.0, float(args.push_renew))
        # The push's lines, held from one wait to the next (logged in once, renewed every
        # --push-renew at most), and opened again after a pause when they die.
        self.hub = PushHub(max_lines=MOST_LINES_OF_ONE_WAIT, workers=2, name="listen")
        self.changed = threading.Event()  # a line reported a change since the last poll began
        self.pause = PAUSE_FIRST
        self.push_failed = False
        # A signal ends a wait at once; a poll is let finish (its records out, its state
        # saved), or the next start would emit them again.
        self.waiting = self.stopping = False

    def stop(self, *_: Any) -> None:
        self.stopping = True
        if self.waiting:
            raise Stop

    def close(self) -> None:
        self.hub.close()

    def run(self) -> None:
        while not self.stopping:
            self.changed.clear()  # (a change told during this poll wakes the next wait)
            result = self.connector.invoke({**self.request, "state": read_state(self.state_file)})
            if result["ok"]:
                for record in result["data"]:
                    print(json.dumps(record, ensure_ascii=False), flush=True)
                write_state(self.state_file, result["state"])  # after the records are out
                self.pause = PAUSE_FIRST
                if result.get("sourceChanged") and self.push:
                    self.lease(result["state"], reopen=True)
            else:
                self.failed("poll", result)
            if self.polls_left:
                self.polls_left -= 1
                if not self.polls_left:
                    return
            if (result["ok"] and result.get("hasMore")) or self.stopping:
                continue
            self.waiting = True
            try:
                if not result["ok"]:
                    self.sleep(self.backoff())
                else:
                    self.wait()
            finally:
                self.waiting = False

    def wait(self) -> None:
        """Until the push says something changed, or the poll interval is up."""
        if self.push:
            self.lease(read_state(self.state_file))
        if not self.push:  # (none, or the trigger has none)
            self.sleep(self.every)
            return
        self.changed.wait(self.every)

    def lease(self, state: dict, *, reopen: bool = False) -> None:
        """Hold the push's lines, told the last poll's state (they compare it with the
        source when they come back after a failure: what came meanwhile is a change).
        ``reopen``: the poll found what they watch replaced; they are opened again."""
        try:
            opener, describe = self.connector.push_opener({**self.request, "state": state})
        except ConnectorError as exc:
            self.give_up_push(exc.message)
            return
        if reopen and self.hub.reopen("listen", opener):
            return
        self.hub.lease("listen", opener, self.on_event, describe=describe, renew_every=self.renew)

    def on_event(self, event: PushEvent) -> None:
        """What the push's lines say (on the hub's thread)."""
        if event.kind == "change":
            self.changed.set()
        elif event.kind == "idling":
            if self.push_failed:
                self.push_failed = False
                print(json.dumps({"event": "push back"}), file=sys.stderr, flush=True)
        elif event.kind == "waiting" and event.error is None:
            pass  # (reopened on purpose: the poll found the source replaced)
        elif event.kind == "waiting":
            # Whatever it was (a cut line, a refused login, a mailbox gone), the lines are
            # opened again after a pause of their own: only a refused IDLE turns push off.
            self.push_failed = True
            self.failed("push", {"error": event.error or {"code": "UNKNOWN", "message": ""}})
        elif event.kind == "unsupported":
            message = (event.error or {}).get("message", "")
            self.give_up_push(message)

    def give_up_push(self, why: str) -> None:
        """The source refuses to watch (the server refused IDLE itself): no push from it,
        no error loop; one note."""
        if not self.push:
            return
        note = {"event": "push unsupported: polling only", "pollingEvery": self.every}
        if why:
            note["why"] = why
        print(json.dumps(note, ensure_ascii=False), file=sys.stderr, flush=True)
        self.push = False

    def backoff(self) -> float:
        pause, self.pause = self.pause, min(self.pause * 2, PAUSE_MAX, max(self.every, 1.0))
        return pause

    @staticmethod
    def failed(what: str, result: dict) -> None:
        error = result["error"]
        line = {"event": f"{what} failed", "code": error["code"], "message": error["message"]}
        print(json.dumps(line, ensure_ascii=False), file=sys.stderr, flush=True)

    @staticmethod
    def sleep(how_long: float) -> None:
        time.sleep(how_long)
