"""IMAP commands built from checked arguments: selection, UID resolution, FETCH, STORE.

Arguments come from ``protocol`` already encoded; this module sends them
(UID sets chunked to ``protocol.MAX_SET_BYTES`` a command), reads the
replies and turns the server's refusals into typed errors.
"""

# No ``from __future__ import annotations`` here: typing.NamedTuple compiles each string
# annotation of its fields, ~40 us a field on every one-step process's start.
import imaplib
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from functools import partial
from typing import Any, NamedTuple, Protocol

from imapclient.response_parser import parse_response

from connector.sdk.errors import (
    AlreadyExists,
    ConnectorError,
    NotFound,
    ServerError,
    Unsupported,
)

from . import budgets, protocol, server_sets
from .errors import rate_limited, refusal, server_text
from .malformed import MalformedReply, number
from .session import ImapSession
from .transport import parsing


class FetchSink(Protocol):
    """Where ``read_fetch`` puts FETCH entries: a list, or a parser reading as they come."""

    def append(self, entry: bytes | tuple[bytes, bytes], /) -> None: ...


class Selected(NamedTuple):
    mailbox: str
    uid_validity: int
    exists: int
    uid_next: int | None
    permanent_flags: tuple[str, ...] | None = None  # None: the server did not say


def response_code(exc: Exception) -> str | None:
    """The RFC 5530 response code of a refusal ([NONEXISTENT], [ALREADYEXISTS]...), if any."""
    match = re.search(r"\[([A-Z-]+)", str(exc).upper())
    return match.group(1) if match else None


def is_already_exists(exc: Exception) -> bool:
    return response_code(exc) == "ALREADYEXISTS"


def mailbox_error(
    exc: Exception, mailbox: str, input_key: str, session: ImapSession | None = None
) -> ConnectorError:
    """NOT_FOUND / ALREADY_EXISTS / RATE_LIMITED / SERVER_ERROR for a refused mailbox command.

    The response code decides; without one (Courier: "Cannot create this folder.",
    Mailutils: "Error opening mailbox") the mailbox is listed: one more round trip, on the
    error path only. (CREATE and RENAME decide "already exists" themselves, by listing.)
    """
    throttled = rate_limited(str(exc))
    if throttled is not None:
        return throttled
    code = response_code(exc)
    missing = code in ("NONEXISTENT", "TRYCREATE") or (
        code != "ALREADYEXISTS" and session is not None and not mailbox_exists(session, mailbox)
    )
    if missing:
        return NotFound(
            f"The mailbox {mailbox!r} does not exist: check {input_key} "
            "(List Mailboxes shows the existing paths)."
        )
    if code == "ALREADYEXISTS":
        return AlreadyExists(
            f"A mailbox named {mailbox!r} already exists: choose another {input_key}."
        )
    return ServerError(f"The server refused the command on {mailbox!r}: {server_text(exc)}")


@contextmanager
def refusals(mailbox: str, input_key: str, session: ImapSession | None = None) -> Iterator[None]:
    """Turn a NO/BAD on a mailbox command into NOT_FOUND / ALREADY_EXISTS / SERVER_ERROR.

    A dropped connection (``abort``) passes through to the error hook.
    """
    with refusal() as refused:
        yield
    if refused.error is not None:
        raise mailbox_error(refused.error, mailbox, input_key, session)


def mailbox_exists(session: ImapSession, mailbox: str) -> bool:
    """Whether LIST finds exactly this name (one round trip; used on error paths only)."""
    data = run(session, b"LIST", [b'""', protocol.mailbox_arg(mailbox)], uid=False)
    wanted = protocol.encode_mailbox(mailbox)
    return any(line and _listed_name(line) == wanted for line in data)


def _listed_name(line: bytes | tuple) -> bytes:
    """The mailbox name of a LIST reply line (quoted or atom), as the server wrote it."""
    if isinstance(line, tuple):  # the name came as a literal
        return bytes(line[1])
    text = line.rstrip()
    if text.endswith(b'"'):
        start = text.rfind(b' "')
        return text[start + 2 : -1].replace(b'\\"', b'"').replace(b"\\\\", b"\\")
    return text.rsplit(b" ", 1)[-1]


def select(
    session: ImapSession,
    mailbox: str,
    *,
    readonly: bool,
    label: str = "Mailbox",
    uid_validity: int | None = None,
) -> Selected:
    """SELECT (or EXAMINE when read-only) the mailbox an input (``label``) names.

    With ``uid_validity`` (a UID stored earlier, by a trigger record), a mailbox renumbered
    since is refused: its UIDs now name other messages, so nothing must be changed.
    """
    protocol.check_mailbox(mailbox, "mailbox")
    with refusals(mailbox, label, session):
        info = session.client.select_folder(mailbox, readonly=readonly)
    selected = _selected_from(mailbox, info)
    if uid_validity is not None and selected.uid_validity != uid_validity:
        raise NotFound(
            f"{mailbox!r} was renumbered (UIDVALIDITY {selected.uid_validity}, not "
            f"{uid_validity}): its UIDs now name other messages, so nothing was changed."
        )
    return selected


class Ahead:
    """A mailbox EXAMINEd ahead: the EXAMINE travels with the step's next command (one
    flight for both; with a pooled session's UNSELECT, or a cold session's LOGIN, too).

    Run that command inside ``carried()``; ``selected`` is known after it. A refused
    EXAMINE is reported as the mailbox's error (NOT_FOUND...) whatever the carried command
    then met. Read-only steps only (``examine_ahead`` decides).
    """

    def __init__(self, session: ImapSession, mailbox: str, label: str):
        self.session, self.mailbox, self.label = session, mailbox, label
        self._selected: Selected | None = None
        self._refused: str | None = None

    def settle(self, info: dict | None, refused: str | None) -> None:
        if info is None:
            self._refused = refused or "refused"
            return
        self._selected = _selected_from(self.mailbox, info)

    @contextmanager
    def carried(self) -> Iterator[None]:
        try:
            yield
        except (imaplib.IMAP4.error, ConnectorError) as exc:
            if self._refused is None or isinstance(exc, (imaplib.IMAP4.abort, budgets.OverBudget)):
                raise  # (a lost line, or a reply over budget: no LIST on that session)
            raise self._error() from None
        if self._refused is not None:  # (a server that ran it anyway: still an error)
            raise self._error()

    def _error(self) -> ConnectorError:
        # Every reply has been read now: a LIST to tell "missing" from "refused" is safe.
        refusal_ = imaplib.IMAP4.error(f"examine failed: {self._refused}")
        return mailbox_error(refusal_, self.mailbox, self.label, self.session)

    @property
    def selected(self) -> Selected:
        if self._selected is None:
            raise RuntimeError("the EXAMINE sent ahead has not been answered yet")
        return self._selected


def examine_ahead(session: ImapSession, mailbox: str, label: str = "Mailbox") -> Ahead | None:
    """EXAMINE to travel with the next command, where that is safe: the session pipelines
    (a server known to take commands behind others: not Courier) and nothing is held back
    but a LOGIN or an UNSELECT. None: select the usual way."""
    protocol.check_mailbox(mailbox, "mailbox")
    if not session.pipelines_ahead():
        return None
    ahead = Ahead(session, mailbox, label)
    session.client.defer_examine(protocol.mailbox_arg(mailbox), ahead.settle)
    return ahead


def _selected_from(mailbox: str, info: dict) -> Selected:
    """IMAPClient's select info (its counts read as ints) -> ``Selected``. A mailbox opened
    without a UIDVALIDITY cannot have its UIDs trusted (RFC 3501 2.3.1.1): the server's fault."""
    uid_validity, exists = info.get(b"UIDVALIDITY"), info.get(b"EXISTS", 0)
    uid_next = info.get(b"UIDNEXT")
    if type(uid_validity) is not int:
        raise MalformedReply("SELECT reply", "no UIDVALIDITY")
    if type(exists) is not int or not (uid_next is None or type(uid_next) is int):
        raise MalformedReply("SELECT reply", "EXISTS or UIDNEXT is not a number")
    permanent = info.get(b"PERMANENTFLAGS")
    return Selected(
        mailbox=mailbox,
        uid_validity=uid_validity,
        exists=exists,
        uid_next=uid_next,
        permanent_flags=tuple(
            f.decode("ascii", "replace") if isinstance(f, bytes) else str(f) for f in permanent
        )
        if isinstance(permanent, (tuple, list))
        else None,
    )


def run(
    session: ImapSession,
    command: bytes,
    tokens: list[bytes],
    *,
    uid: bool = True,
    response: str | None = None,
) -> list:
    """Send one command built from encoded tokens; return its untagged ``response`` data.

    Tokens are joined by spaces, except inside parentheses ("(" and ")" are
    tokens of their own); a ``protocol.Literal`` goes as a literal. This is the
    sender for commands whose grammar IMAPClient cannot express (nested search
    keys with literals).
    """
    if session.login_pending:
        # Asked when the first literal goes: LOGIN, held back, went out with the line before
        # it and its reply is in. Never an earlier session's word (the known-server cache):
        # a server without LITERAL+ would read the literal's bytes as commands.
        literal_plus = partial(session.said, "LITERAL+")
    else:  # (asked now: nothing of the command is sent yet, a CAPABILITY may go first)
        literal_plus = partial(bool, session.has("LITERAL+"))
    return session.client.command(
        command, tokens, uid=uid, response=response, literal_plus=literal_plus
    )


def statuses(data: list) -> list[tuple]:
    """STATUS response data as ``run(..., response="STATUS")`` returns it ->
    ``[(mailbox, (item, value, ...)), ...]`` (imaplib says [None] for none)."""
    with parsing("STATUS reply"):
        parsed = parse_response([item for item in data if item is not None])
    return list(zip(parsed[::2], parsed[1::2], strict=False))


def status(session: ImapSession, mailbox: str, items: list[bytes]) -> dict[bytes, int]:
    """STATUS of one mailbox -> {item: number}, each a number as IMAP has it (a value that is
    not, or a reply without the items, is ``MalformedReply``). An item the server left out
    is missing from the result (RECENT, which IMAP4rev2 dropped)."""
    data = run(
        session,
        b"STATUS",
        [protocol.mailbox_arg(mailbox), b"(", *items, b")"],
        uid=False,
        response="STATUS",
    )
    found = statuses(data)
    said = found[-1][1] if found else None  # (the last: ours, after any unsolicited one)
    if type(said) is not tuple or len(said) % 2:
        raise MalformedReply("STATUS reply", "no list of items and numbers")
    out: dict[bytes, int] = {}
    for name, value in zip(said[::2], said[1::2], strict=True):
        if type(name) is not bytes or type(value) is not int:
            raise MalformedReply("STATUS reply", "an item without a number")
        out[name.upper()] = value
    return out


def append(
    session: ImapSession, mailbox: str, data: bytes, flags: list[str], when: datetime | None
) -> tuple[int | None, int | None]:
    """APPEND (the message as a literal, or a literal8 when it holds NUL bytes).

    Returns (UIDVALIDITY, UID) from APPENDUID, or (None, None) without UIDPLUS.

    IMAP literals cannot carry NUL (RFC 3501); servers with BINARY (RFC 3516) take them
    in a literal8, the others refuse such a message (the caller checks first).
    """
    tokens = [protocol.mailbox_arg(mailbox), protocol.flags_arg(flags)]
    if when is not None:
        tokens.append(imaplib.Time2Internaldate(when).encode("ascii"))
    literal = protocol.Literal8(data) if b"\0" in data else protocol.Literal(data)
    pop_response_code(session, "APPENDUID")
    run(session, b"APPEND", [*tokens, literal], uid=False)
    for parts in response_code_values(session, "APPENDUID"):
        if len(parts) == 2 and parts[0].isdigit() and parts[1].isdigit():
            return int(parts[0]), int(parts[1])
    return None, None


def leave_mailbox(session: ImapSession) -> None:
    """No mailbox selected, before a command on a mailbox itself (DELETE, RENAME): Courier
    refuses to delete the selected mailbox, pymap deletes it and then drops the connection
    ("Selected mailbox no longer exists"), which looked like a retryable failure. UNSELECT
    where offered (or the pooled session's, already on its way); else EXAMINE INBOX, which
    replaces the selection and expunges nothing (INBOX is never deleted or renamed away)."""
    if not session.client.selected or session.client.unselect_pending:
        return
    if session.has("UNSELECT"):
        run(session, b"UNSELECT", [], uid=False)
    else:
        select(session, "INBOX", readonly=True)


def leave_read_only(session: ImapSession, mailbox: str) -> None:
    """After EXAMINE: UNSELECT where offered, else SELECT the mailbox read-write.

    Courier refuses APPEND into a mailbox selected read-only; neither way expunges
    anything (CLOSE would be allowed after EXAMINE by RFC 3501, but pymap refuses it).
    """
    if session.has("UNSELECT"):
        run(session, b"UNSELECT", [], uid=False)
    else:
        select(session, mailbox, readonly=False)


def uid_search(session: ImapSession, criteria: list[bytes], *, charset: bool = False) -> list[int]:
    """UID SEARCH with criteria tokens from ``protocol``/``search``; sorted UIDs, every one
    of them (a step that acts on all it found), within ``budgets.MAX_UIDS``."""
    return search_set(session, criteria, charset=charset).expand()


def search_set(
    session: ImapSession, criteria: list[bytes], *, charset: bool = False
) -> server_sets.ServerSet:
    """UID SEARCH; the UIDs found as an ascending ``ServerSet``: counted, expanded only as
    far as the step needs (a page of the newest: ``last(n)``).

    With ESEARCH (RFC 4731) the server answers in ranges (``1:10000``), not one number
    per message: a big mailbox's reply shrinks from ~6 bytes a message to a few bytes.
    """
    args = ([b"CHARSET", b"UTF-8"] if charset else []) + criteria
    found = server_sets.ServerSet([])
    with refusal() as refused:
        found = _uid_search(session, args)
    if refused.error is None:
        return found
    if charset and "BADCHARSET" in str(refused.error).upper():  # Office 365: US-ASCII only
        raise Unsupported(
            "This server cannot search for non-ASCII text (it refuses CHARSET "
            "UTF-8): search with ASCII terms only."
        )
    raise refused.error


def _uid_search(session: ImapSession, args: list[bytes]) -> server_sets.ServerSet:
    if session.has("ESEARCH"):
        runs: list[tuple[int, int]] = []
        for line in run(session, b"SEARCH", [b"RETURN", b"(ALL)", *args], response="ESEARCH"):
            tokens = (line or b"").split()
            for i, token in enumerate(tokens[:-1]):
                if token.upper() == b"ALL":
                    runs += server_sets.ServerSet.parse(tokens[i + 1]).runs
        return server_sets.ServerSet(runs).ascending()
    lines = [line for line in run(session, b"SEARCH", args) if line]
    server_sets.count_numbers(lines)  # before a single int is made of them
    return server_sets.ServerSet.of(  # ((MODSEQ n) of a CONDSTORE search: not digits)
        number(tok, "SEARCH reply", "a UID")
        for line in lines
        for tok in line.split()
        if tok.isdigit()
    )


def resolve(session: ImapSession, uid_set: protocol.UidSet) -> list[int]:
    """The UIDs of existing messages that a ``range`` input names (selected mailbox)."""
    found: set[int] = set()
    for chunk in uid_set.search_key(highest_uid(session) if uid_set.has_star else None):
        found.update(uid_search(session, [b"UID", chunk]))
    return sorted(found)


def highest_uid(session: ImapSession) -> int | None:
    """The UID of the newest message in the selected mailbox (None when it is empty).

    ``UID FETCH * (UID)``: ``UID SEARCH UID *`` answers nothing on Courier and BAD on
    Mailutils; an empty mailbox answers no FETCH at all.
    """
    uids = [
        uid
        for uid, values in parse_fetch(read_fetch(session, [b"*", b"(UID)"])).items()
        if b"UID" in values
    ]
    return max(uids) if uids else None


def fetch(
    session: ImapSession,
    uids: list[int],
    items: bytes,
    each: Callable[[int, dict], None] | None = None,
) -> dict[int, dict]:
    """UID FETCH ``items`` for ``uids`` in compressed, chunked sets -> {uid: {KEY: value}}.

    Each response is parsed as it arrives; ``each(uid, values)``, if given, is called
    as each message's response completes (again, with merged values, if another comes),
    so the caller's work on it too runs while the server writes the rest.
    """
    from . import fetch_response  # noqa: PLC0415 - ~5 ms of regexes: only when fetching

    stream = fetch_response.FetchStream(each)  # one for all chunks: one merge of replies
    for chunk in protocol.uid_sets(uids):
        read_fetch(session, [chunk, items], into=stream)
        stream.result()  # a reply it could not read (MalformedReply): said once it is all read
    return stream.out


def parse_fetch(data: list, *, flags_only: bool = False) -> dict:
    """fetch_response.parse (or, ``flags_only``, its ``uid_flags``: {uid: FLAGS}); a reply
    that is not valid IMAP is ``MalformedReply`` (SERVER_ERROR)."""
    from . import fetch_response  # noqa: PLC0415 - ~5 ms of regexes: only when fetching

    return fetch_response.uid_flags(data) if flags_only else fetch_response.parse(data)


_LITERAL_AT_END = re.compile(rb"~?\{(\d+)\+?\}\r\n$")  # ~{n}: a literal8 (RFC 3516)


def read_fetch(
    session: ImapSession,
    tokens: list[bytes],
    *,
    uid: bool = True,
    command: bytes = b"FETCH",
    into: FetchSink | None = None,
) -> list:
    """Send a FETCH (or a STORE) and read its FETCH replies without imaplib's per-line machinery.

    imaplib costs ~8 us a line (regexes, bookkeeping); a 10,000-message flag read-back
    paid more for that than for the server's work. This reader keeps only the FETCH
    responses, in imaplib's own shape (``b"seq (...)"`` lines, and ``(text, literal)``
    tuples where a literal came), so ``fetch_response.parse`` reads either. Other
    untagged responses (EXISTS, EXPUNGE...) are not needed here and are dropped.
    ``into`` takes the entries instead of a new list (a ``FetchStream`` parses as they come).
    """
    client = session.client
    tag = client.send_tagged(
        (b"UID " if uid else b"") + command + b" " + b" ".join(tokens) + b"\r\n"
    )
    done = tag + b" "
    data: Any = [] if into is None else into
    in_fetch = False
    responses = 0  # FETCH responses kept: one a message asked, or a server flooding
    read_line = client.read_line
    # Per line: ~1 us of Python beside the server's reply; a flag read-back has 10,000.
    while True:
        line = read_line()
        if line.startswith(b"* "):
            head, _, rest = line[2:].partition(b" ")
            # (upper() only for a server that does not write FETCH in capitals)
            fetch = rest.startswith(b"FETCH ") or rest[:6].upper() == b"FETCH "
            in_fetch = fetch and head.isdigit()
            text = head + rest[5:] if in_fetch else line  # b"seq (...)"; (line: not kept)
            if in_fetch:
                responses += 1
                if responses > budgets.MAX_RESPONSES:
                    raise budgets.OverBudget(budgets.RESPONSES, budgets.MAX_RESPONSES)
        elif line.startswith(done):
            status, _, said = line[len(done) :].rstrip(b"\r\n").partition(b" ")
            if status != b"OK":
                raise imaplib.IMAP4.error(
                    f"{command.decode()} command error: "
                    f"{status.decode('ascii', 'replace')} [{said!r}]"
                )
            return data
        else:
            text = line  # the rest of a response after a literal
        # (the regex only where a literal can be: most lines of a flag read-back are not)
        literal = _LITERAL_AT_END.search(line) if line.endswith(b"}\r\n") else None
        if literal is not None:
            digits = literal.group(1)
            if len(digits) > 12:  # (int() of thousands of digits is itself a cost)
                raise budgets.OverBudget(budgets.LITERAL, budgets.MAX_LITERAL)
            blob = client.read_exactly(int(digits))  # (the budgets are checked first)
            if in_fetch:
                data.append((text.rstrip(b"\r\n"), blob))
        elif in_fetch:
            data.append(text.rstrip(b"\r\n"))


def store(session: ImapSession, uids: list[int], operation: bytes, flags: list[str]) -> None:
    """UID STORE <set> (+|-)FLAGS.SILENT (flags): one command per chunk, no per-message replies."""
    for chunk in protocol.uid_sets(uids):
        run(
            session,
            b"STORE",
            [chunk, operation + b".SILENT", protocol.flags_arg(flags)],
            response="FETCH",
        )


def store_and_read(
    session: ImapSession, uids: list[int], operation: bytes, flags: list[str]
) -> dict[int, tuple]:
    """UID STORE (not silent), then each message's flags afterwards: {uid: FLAGS}.

    The server reports the messages whose flags changed in the STORE's own replies;
    Dovecot leaves out those that did not change, so only those are fetched after.
    """
    after: dict[int, tuple] = {}
    for chunk in protocol.uid_sets(uids):
        data = read_fetch(session, [chunk, operation, protocol.flags_arg(flags)], command=b"STORE")
        after.update(parse_fetch(data, flags_only=True))
    missing = [uid for uid in uids if uid not in after]
    if missing:
        after.update(
            (uid, v[b"FLAGS"])
            for uid, v in fetch(session, missing, b"(UID FLAGS)").items()
            if b"FLAGS" in v
        )
    return after


def pop_response_code(session: ImapSession, name: str) -> list:
    """Take (and clear) a response code imaplib collected, such as COPYUID or APPENDUID."""
    return session.client.pop_response_code(name)


def response_code_values(session: ImapSession, name: str) -> list[list[bytes]]:
    """Each collected ``[NAME a b c]`` response code as its values [a, b, c] (and cleared)."""
    return [
        code.split() if isinstance(code, bytes) else code.encode().split()
        for code in pop_response_code(session, name)
    ]
