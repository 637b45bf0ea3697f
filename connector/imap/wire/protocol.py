"""The one place where user strings become IMAP protocol text.

Mailbox names, flags, search strings and UID sets are checked here and encoded
for the wire; nothing else in the connector builds protocol text from user input.
IMAPClient 4.1 does not reject CR/LF (a search value with CRLF can run a second
command), sends flags unquoted and never compresses UID lists: these helpers do.
"""

# No ``from __future__ import annotations`` here: typing.NamedTuple compiles each string
# annotation of its fields, ~40 us a field on every one-step process's start.
import ipaddress
import re
from collections.abc import Iterable
from typing import NamedTuple

from imapclient.imap_utf7 import decode as decode_utf7
from imapclient.imap_utf7 import encode as encode_utf7

from connector.sdk.errors import InvalidInput
from connector.sdk.text import VALUE_CHARS, shorten

from ..mail.flags import SYSTEM_FLAGS

MAX_UID = 4294967295
MAX_SET_BYTES = 8000  # of one sequence set in a command: servers allow more, proxies may not
# A caller's range (or uid/seq filter) as text: ~9,000 UIDs written out one by one; ranges
# (a:b) name any number. 11 MB of "1,2,3,..." cost 13 s of CPU to check and parse.
MAX_SET_TEXT = 100_000
# A search term (From, To, a filter's text, a header's name or value, an id): real ones are
# a few words. Past a server's own limit the answer was a BAD, a dropped connection or
# silence: pymap refuses a literal over 4,096 bytes, Courier stops answering at 16 KB,
# Dovecot's line ends at 64 KB. 1,000 characters are at most 4,000 bytes of UTF-8.
MAX_SEARCH_TEXT = 1_000
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")

# --- the server's host name -------------------------------------------------------------

_HOST_PORT = re.compile(r"\[?([^\[\]]+?)\]?:([0-9]+)")


def check_host(host: str) -> str:
    """The connection's Host as it is resolved and connected to: an IP address or a name in
    ASCII (an international name in its IDNA form, xn--...). A port or the brackets of a URL
    are refused naming what to change: resolving "127.0.0.1:993" failed as "cannot be
    resolved", a retryable-looking 503 for what is the caller's input."""
    where = "connection.host"
    try:
        ipaddress.ip_address(host)
        return host
    except ValueError:
        pass
    with_port = _HOST_PORT.fullmatch(host)
    if with_port and (with_port.group(1).count(":") == 0 or host.startswith("[")):
        name, port = with_port.groups()
        raise InvalidInput(
            f"Host {_show(host)} includes a port: give {_show(name)} in Host and {port} in Port.",
            path=where,
        )
    if host.startswith("[") and host.endswith("]"):
        raise InvalidInput(
            f"Host {_show(host)}: give the IPv6 address without brackets, such as "
            f"{_show(host[1:-1])}.",
            path=where,
        )
    if host.isascii():
        return host
    try:
        # Python's idna codec (IDNA 2003): the names people type (umlauts, accents, other
        # scripts) get the same xn-- form as IDNA 2008 gives them.
        return host.encode("idna").decode("ascii")
    except UnicodeError:
        raise InvalidInput(
            f"Host {_show(host)} is not a host name this connector can look up: give its "
            "xn-- form, or the server's IP address.",
            path=where,
        ) from None


# --- mailbox names ---------------------------------------------------------------------


def check_mailbox(name: str, path: str) -> str:
    """A mailbox path as the user wrote it (Unicode), refused if it cannot be sent safely."""
    if not isinstance(name, str) or not name.strip():
        raise InvalidInput(
            f"The mailbox path ({path}) is empty: give a mailbox such as INBOX.",
            path=f"inputs.{path}",
        )
    if _CONTROL.search(name):
        raise InvalidInput(
            f"The mailbox path ({path}) contains a control character (such as a "
            "line break, tab or NUL): remove it.",
            path=f"inputs.{path}",
        )
    if len(name.encode("utf-8")) > 1000:
        raise InvalidInput(
            f"The mailbox path ({path}) is longer than 1000 bytes.", path=f"inputs.{path}"
        )
    return name


def mailbox_arg(name: str) -> bytes:
    """A checked mailbox name as a quoted IMAP string in modified UTF-7."""
    return quote(encode_utf7(name))


def encode_mailbox(name: str) -> bytes:
    """A mailbox name in modified UTF-7, unquoted (as servers list it)."""
    return encode_utf7(name)


def decode_mailbox(raw: bytes | str) -> str:
    return decode_utf7(raw) if isinstance(raw, bytes) else raw


# --- strings ---------------------------------------------------------------------------


def quote(value: bytes | str) -> bytes:
    if isinstance(value, str):
        value = value.encode("ascii")
    if re.search(rb"[\r\n\0]", value):
        raise ValueError("CR, LF and NUL cannot be quoted")  # callers checked already
    return b'"' + value.replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"'


class Literal(bytes):
    """Bytes sent as an IMAP literal ({n} then the raw octets): no escaping needed."""


class Literal8(Literal):
    """A literal that may hold NUL bytes (``~{n}``, RFC 3516 BINARY)."""


def search_string(value: str, path: str) -> tuple[bytes, bool]:
    """A search term for the wire, and whether it needs CHARSET UTF-8.

    ASCII goes quoted; anything else goes as a UTF-8 literal.
    """
    if not isinstance(value, str):
        raise InvalidInput(f"The search term {path} must be text.", path=f"inputs.{path}")
    check_search_length(value, path)
    if re.search(r"[\r\n\0]", value):
        raise InvalidInput(
            f"The search term {path} contains a line break or NUL: remove it.",
            path=f"inputs.{path}",
        )
    if value.isascii():
        return quote(value), False
    return Literal(value.encode("utf-8")), True


def check_search_length(value: str, path: str, what: str = "The search term") -> None:
    if len(value) > MAX_SEARCH_TEXT:
        raise InvalidInput(
            f"{what} {path} is {len(value)} characters long: at most {MAX_SEARCH_TEXT} characters.",
            path=f"inputs.{path}",
        )


# --- body sections ---------------------------------------------------------------------

_SECTION = re.compile(r"(?:[1-9][0-9]*(?:\.[1-9][0-9]*)*(?:\.(?:HEADER|TEXT|MIME))?|HEADER|TEXT)")
NUMERIC_PART = re.compile(r"[1-9][0-9]*(?:\.[1-9][0-9]*)*")


def body_section(part: str | None, path: str = "part") -> str:
    """A ``part`` input as a BODY[] section (``2``, ``1.2``, ``2.HEADER``, ``TEXT``); "" is all."""
    section = (part or "").strip().upper()
    if section and not _SECTION.fullmatch(section):
        raise InvalidInput(
            f"Part {_show(part or '')} is not a body part: give 1, 1.2, 2.HEADER, TEXT "
            "or HEADER, or leave it empty.",
            path=f"inputs.{path}",
        )
    return section


# --- flags -----------------------------------------------------------------------------

# atom-char: any CHAR except atom-specials "(" ")" "{" SP CTL "%" "*" DQUOTE "\" "]"
_KEYWORD = re.compile(r"[!#$&'+,\-./0-9:;<=>?@A-Z\[^_`a-z|}~]+")


def normalize_flags(flags: list, path: str = "flags") -> list[str]:
    """System flags in their canonical case, keywords checked against the atom grammar,
    each once, in the order given (a dict keeps the order: linear, whatever the count)."""
    out: dict[str, None] = {}
    for index, flag in enumerate(flags):
        where = f"inputs.{path}.{index}"
        if not isinstance(flag, str) or not flag:
            raise InvalidInput(f"Flag {index + 1} is empty or not text.", path=where)
        if flag.startswith("\\"):
            canonical = SYSTEM_FLAGS.get(flag.lower())
            if canonical is None:
                raise InvalidInput(
                    f"{_show(flag)} is not a flag you can set: system flags are "
                    f"{', '.join(SYSTEM_FLAGS.values())}; other flags (keywords) have no "
                    "backslash.",
                    path=where,
                )
            flag = canonical
        elif not _KEYWORD.fullmatch(flag) or len(flag) > 200:
            raise InvalidInput(
                f"{_show(flag)} is not a valid keyword: use printable ASCII letters, digits and "
                'punctuation, without spaces or any of ( ) { } % * " \\ ].',
                path=where,
            )
        out[flag] = None
    return list(out)


def flags_arg(flags: list[str]) -> bytes:
    return b"(" + b" ".join(f.encode("ascii") for f in flags) + b")"


def _show(value: str) -> str:
    return repr(shorten(value, VALUE_CHARS))


# --- UID sets --------------------------------------------------------------------------

STAR = None  # the "*" of a range: the highest UID in the mailbox


class UidSet(NamedTuple):
    """A parsed ``range`` input: items of (low, high), where None stands for ``*``."""

    items: tuple[tuple[int | None, int | None], ...]

    def as_written(self) -> bytes:
        """The set with IMAP's own meaning of ``*`` (for sequence numbers, where it is right)."""

        def bound(value: int | None) -> bytes:
            return b"*" if value is STAR else b"%d" % value

        return b",".join(
            bound(low) if low == high else bound(low) + b":" + bound(high)
            for low, high in self.items
        )

    @property
    def has_star(self) -> bool:
        """Whether the set names ``*`` alone (the newest message), which needs resolving."""
        return any(low is STAR and high is STAR for low, high in self.items)

    def search_key(self, highest: int | None = None) -> list[bytes]:
        """Sequence sets for ``UID SEARCH UID``, with ``n:*`` made safe.

        Plain IMAP lets ``n:*`` match the highest message even when its UID is
        below n; writing it as ``n:4294967295`` matches only UIDs >= n. A bare
        ``*`` is the newest message: ``highest`` (its UID, which the caller read
        with ``UID FETCH * (UID)``: Courier answers ``UID SEARCH UID *`` with
        nothing), or nothing in an empty mailbox.
        """
        ranges: list[tuple[int, int]] = []
        for low, high in self.items:
            if low is STAR and high is STAR:
                if highest is not None:
                    ranges.append((highest, highest))
            elif low is None or high is None:  # n:* or *:n
                ranges.append((low if low is not None else high, MAX_UID))  # type: ignore[arg-type]
            else:
                ranges.append((min(low, high), max(low, high)))
        return chunk_ranges(merge_ranges(ranges))

    def search_filter(self) -> bytes:
        """The set inside a search (filterOptions.uid): ``*`` left for the server to read."""
        sets = self.search_key()
        if self.has_star:
            sets.append(b"*")
        return b",".join(sets)


# The manifest's Range pattern, as a parser (tests/imap/unit/test_manifest_rules.py: they agree); a
# 0 is read so that it is refused as out of range, not as a syntax error.
_UID_ITEM = re.compile(r"\s*([1-9][0-9]*|0|\*)\s*(?::\s*([1-9][0-9]*|0|\*)\s*)?")


def parse_uid_set(text: str, path: str = "range") -> UidSet:
    """Parse ``7``, ``3:9``, ``1,4,8:10``, ``5:*``, ``*``; anything else is INVALID_INPUT."""
    hint = "use message UIDs like 7, 3:9, 1,4,8:10, 5:* or *"
    if not isinstance(text, str) or not text.strip():
        raise InvalidInput(f"Range is empty: {hint}.", path=f"inputs.{path}")
    if len(text) > MAX_SET_TEXT:
        raise InvalidInput(
            f"Range ({path}) is {len(text)} characters long: at most {MAX_SET_TEXT} (write "
            "runs of UIDs as 3:9).",
            path=f"inputs.{path}",
        )
    items = []
    for part in text.split(","):
        match = _UID_ITEM.fullmatch(part)
        if not match:
            raise InvalidInput(
                f"Range {_show(text)} is not valid at {_show(part.strip())}: {hint}.",
                path=f"inputs.{path}",
            )
        low, high = (
            _uid_value(v, text, path) for v in (match.group(1), match.group(2) or match.group(1))
        )
        items.append((low, high))
    return UidSet(tuple(items))


def _uid_value(token: str, text: str, path: str) -> int | None:
    if token == "*":  # noqa: S105 - a UID token, not a password
        return STAR
    value = int(token)
    if not 1 <= value <= MAX_UID:
        raise InvalidInput(
            f"Range {_show(text)}: UID {token} is out of range (1 to {MAX_UID}).",
            path=f"inputs.{path}",
        )
    return value


def merge_ranges(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[list[int]] = []
    for low, high in sorted(ranges):
        if merged and low <= merged[-1][1] + 1:
            merged[-1][1] = max(merged[-1][1], high)
        else:
            merged.append([low, high])
    return [(a, b) for a, b in merged]


def compress(uids: Iterable[int]) -> list[tuple[int, int]]:
    """Sorted UIDs -> runs: [1, 2, 3, 7] -> [(1, 3), (7, 7)]."""
    return merge_ranges([(u, u) for u in uids])


def chunk_ranges(ranges: list[tuple[int, int]], limit: int = MAX_SET_BYTES) -> list[bytes]:
    """Runs -> sequence-set strings, each at most ``limit`` bytes."""
    out: list[bytes] = []
    current: list[bytes] = []
    size = 0
    for low, high in ranges:
        item = (b"%d" % low) if low == high else (b"%d:%d" % (low, high))
        if current and size + 1 + len(item) > limit:
            out.append(b",".join(current))
            current, size = [], 0
        current.append(item)
        size += len(item) + (1 if size else 0)
    if current:
        out.append(b",".join(current))
    return out


def uid_sets(uids: Iterable[int], limit: int = MAX_SET_BYTES) -> list[bytes]:
    """UIDs -> compressed sequence sets that fit on command lines."""
    return chunk_ranges(compress(uids), limit)
