"""Search inputs (from, to, readUnread, filterOptions) -> IMAP SEARCH criteria.

filterOptions speaks the vocabulary of imapflow's search object, so flows built
on the seed's connector keep working. Every user string goes through
``protocol.search_string``; every key is checked against the vocabulary.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import date, datetime

from connector.sdk.errors import InvalidInput, Unsupported
from connector.sdk.text import VALUE_CHARS, shorten

from .mail import dates
from .wire import protocol

FLAG_KEYS = {
    "answered": b"ANSWERED",
    "deleted": b"DELETED",
    "draft": b"DRAFT",
    "flagged": b"FLAGGED",
    "seen": b"SEEN",
}
UNFLAG = {
    b"ANSWERED": b"UNANSWERED",
    b"DELETED": b"UNDELETED",
    b"DRAFT": b"UNDRAFT",
    b"FLAGGED": b"UNFLAGGED",
    b"SEEN": b"UNSEEN",
}
STATE_KEYS = {"all": b"ALL", "new": b"NEW", "old": b"OLD", "recent": b"RECENT"}
STRING_KEYS = {
    "from": b"FROM",
    "to": b"TO",
    "cc": b"CC",
    "bcc": b"BCC",
    "subject": b"SUBJECT",
    "body": b"BODY",
    "text": b"TEXT",
}
DATE_KEYS = {
    "before": b"BEFORE",
    "on": b"ON",
    "since": b"SINCE",
    "sentBefore": b"SENTBEFORE",
    "sentOn": b"SENTON",
    "sentSince": b"SENTSINCE",
}
SIZE_KEYS = {"larger": b"LARGER", "smaller": b"SMALLER"}
OTHER_KEYS = (
    "seq",
    "uid",
    "header",
    "keyword",
    "unKeyword",
    "modseq",
    "emailId",
    "threadId",
    "gmraw",
    "or",
    "not",
)
KNOWN = sorted([*FLAG_KEYS, *STATE_KEYS, *STRING_KEYS, *DATE_KEYS, *SIZE_KEYS, *OTHER_KEYS])
# What one filterOptions may hold (the manifest's comments say the same: a test keeps them
# agreeing). Real searches use a handful of filters; a server parses OR and NOT recursively.
MAX_TERMS = 500  # filters (and header names) at every level together
MAX_OR_ITEMS = 100  # alternatives in one "or" list
MAX_NESTING = 8  # "or" and "not" inside one another


class Criteria:
    """SEARCH keys being built, and whether a term needs CHARSET UTF-8."""

    def __init__(self, capabilities: Collection[str] = frozenset()):
        self.capabilities = capabilities
        self.utf8 = False
        self.keys: list[bytes] = []
        self.terms = 0  # filters read so far (MAX_TERMS)
        self.nesting = 0  # "or"/"not" levels around the filter being read (MAX_NESTING)

    def count(self, where: str, terms: int = 1) -> None:
        self.terms += terms
        if self.terms > MAX_TERMS:
            raise InvalidInput(
                f"filterOptions has more than {MAX_TERMS} filters (counting those inside or "
                f"and not, and each header): at most {MAX_TERMS}.",
                path=f"inputs.{where}",
            )

    def nested(self, where: str) -> None:
        if self.nesting >= MAX_NESTING:
            raise InvalidInput(
                f"{where} nests or/not more than {MAX_NESTING} levels deep: at most {MAX_NESTING}.",
                path=f"inputs.{where}",
            )

    def string(self, value: str, path: str) -> bytes:
        encoded, utf8 = protocol.search_string(value, path)
        self.utf8 = self.utf8 or utf8
        return encoded

    def need(self, capability: str, key: str) -> None:
        if capability not in self.capabilities:
            raise Unsupported(
                f"filterOptions.{key} needs the server capability {capability}, "
                "which this server lacks: remove that filter."
            )


def build(
    capabilities: Collection[str],
    *,
    sender: str | None,
    recipient: str | None,
    read_unread: str,
    filters: dict | None,
) -> Criteria:
    criteria = Criteria(capabilities)
    keys: list[bytes] = []
    if sender:
        keys += [b"FROM", criteria.string(sender, "from")]
    if recipient:
        keys += [b"TO", criteria.string(recipient, "to")]
    if read_unread == "read":
        keys.append(b"SEEN")
    elif read_unread == "unread":
        keys.append(b"UNSEEN")
    if filters:
        keys += translate(filters, criteria, "filterOptions")
    criteria.keys = keys or [b"ALL"]
    return criteria


def translate(filters: object, criteria: Criteria, path: str) -> list[bytes]:
    """One filter object -> SEARCH keys (several keys in one object are ANDed)."""
    if not isinstance(filters, dict):
        raise InvalidInput(
            f'{path} must be an object such as {{"seen": false}}.', path=f"inputs.{path}"
        )
    keys: list[bytes] = []
    for key, value in filters.items():
        where = f"{path}.{key}"
        if value is None:
            continue
        criteria.count(where)
        if key in FLAG_KEYS:
            keys.append(FLAG_KEYS[key] if _bool(value, where) else UNFLAG[FLAG_KEYS[key]])
        elif key in STATE_KEYS:
            keys += [STATE_KEYS[key]] if _bool(value, where) else [b"NOT", STATE_KEYS[key]]
        elif key in STRING_KEYS:
            keys += [STRING_KEYS[key], criteria.string(_str(value, where), where)]
        elif key in DATE_KEYS:
            keys += [DATE_KEYS[key], imap_date(value, where)]
        elif key in SIZE_KEYS:
            keys += [SIZE_KEYS[key], b"%d" % _int(value, where)]
        elif key == "seq":
            keys.append(protocol.parse_uid_set(_str(value, where), where).as_written())
        elif key == "uid":
            keys += [b"UID", protocol.parse_uid_set(_str(value, where), where).search_filter()]
        elif key == "header":
            keys += _headers(value, criteria, where)
        elif key in ("keyword", "unKeyword"):
            flag = protocol.normalize_flags([_str(value, where)], where)[0]
            keys += [b"KEYWORD" if key == "keyword" else b"UNKEYWORD", flag.encode("ascii")]
        elif key == "modseq":
            criteria.need("CONDSTORE", key)
            keys += [b"MODSEQ", b"%d" % _int(value, where, MAX_NUMBER)]
        elif key in ("emailId", "threadId"):
            keys += _object_id(key, value, criteria, where)
        elif key == "gmraw":
            criteria.need("X-GM-EXT-1", key)
            keys += [b"X-GM-RAW", criteria.string(_str(value, where), where)]
        elif key == "or":
            keys += _or(value, criteria, where)
        elif key == "not":
            criteria.nested(where)
            criteria.nesting += 1
            keys += [b"NOT", *_group(translate(value, criteria, where))]
            criteria.nesting -= 1
        else:
            raise InvalidInput(
                f"Unknown filter {key!r} in {path}. Known filters: {', '.join(KNOWN)}.",
                path=f"inputs.{where}",
            )
    return keys


def _group(tokens: list[bytes]) -> list[bytes]:
    """Several tokens as one search key: "(" key *(SP key) ")"; ALL when empty."""
    return [b"(", *tokens, b")"] if tokens else [b"ALL"]


def _or(value: object, criteria: Criteria, where: str) -> list[bytes]:
    if not isinstance(value, list) or not value:
        raise InvalidInput(
            f"{where} must be a non-empty list of filter objects.", path=f"inputs.{where}"
        )
    if len(value) > MAX_OR_ITEMS:
        raise InvalidInput(
            f"{where} has {len(value)} alternatives: at most {MAX_OR_ITEMS}.",
            path=f"inputs.{where}",
        )
    criteria.nested(where)
    criteria.nesting += 1
    groups = [_group(translate(item, criteria, f"{where}.{i}")) for i, item in enumerate(value)]
    criteria.nesting -= 1
    # OR takes two keys: fold the list from the right, OR a (OR b c), written out in one pass
    # as OR a OR b c (each OR's second key is the rest), never copying what is built.
    result: list[bytes] = []
    for group in groups[:-1]:
        result += [b"OR", *group]
    result += groups[-1]
    return result


def _headers(value: object, criteria: Criteria, where: str) -> list[bytes]:
    if not isinstance(value, dict) or not value:
        raise InvalidInput(
            f'{where} must be an object of header name -> text, such as {{"X-Priority": "1"}}.',
            path=f"inputs.{where}",
        )
    criteria.count(where, len(value) - 1)  # (the header filter itself counted one)
    keys: list[bytes] = []
    for name, text in value.items():
        if (
            not isinstance(name, str)
            or not name.isascii()
            or not name.isprintable()
            or ":" in name
            or " " in name
            or not name
        ):
            raise InvalidInput(
                f"{where}: {shorten(repr(name), VALUE_CHARS)} is not a header name.",
                path=f"inputs.{where}",
            )
        protocol.check_search_length(name, where, "A header name in")
        text = "" if text is True else _str(text, f"{where}.{name}")
        keys += [b"HEADER", protocol.quote(name), criteria.string(text, f"{where}.{name}")]
    return keys


def _object_id(key: str, value: object, criteria: Criteria, where: str) -> list[bytes]:
    text = _str(value, where)
    protocol.check_search_length(text, where)
    if "X-GM-EXT-1" in criteria.capabilities:
        if not text.isdigit():
            raise InvalidInput(f"{where} must be a Gmail id (digits).", path=f"inputs.{where}")
        return [b"X-GM-MSGID" if key == "emailId" else b"X-GM-THRID", text.encode("ascii")]
    criteria.need("OBJECTID", key)
    if not text.replace("-", "").replace("_", "").isalnum() or not text.isascii():
        raise InvalidInput(f"{where} is not an object id.", path=f"inputs.{where}")
    return [b"EMAILID" if key == "emailId" else b"THREADID", text.encode("ascii")]


def imap_date(value: object, where: str) -> bytes:
    """2024-01-31 or an ISO date-time -> 31-Jan-2024 (IMAP dates have no time)."""
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise InvalidInput(
                f"{where} must be a date such as 2024-01-31.", path=f"inputs.{where}"
            ) from None
        day = parsed.date()
    elif isinstance(value, date):
        day = value
    else:
        raise InvalidInput(f"{where} must be a date such as 2024-01-31.", path=f"inputs.{where}")
    return dates.search_date(day)


def _bool(value: object, where: str) -> bool:
    if isinstance(value, bool):
        return value
    raise InvalidInput(f"{where} must be true or false.", path=f"inputs.{where}")


MAX_NUMBER = 2**63 - 1  # mod-sequence values (RFC 7162); sizes are 32-bit (RFC 3501)


def _int(value: object, where: str, limit: int = 4294967295) -> int:
    # (A digit count first: int() of over 4,300 digits raises, and the limit has 20 at most.)
    if isinstance(value, str) and value.strip().isdigit() and len(value.strip()) <= 20:
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= limit:
        return value
    raise InvalidInput(f"{where} must be a whole number from 0 to {limit}.", path=f"inputs.{where}")


def _str(value: object, where: str) -> str:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, str):
        return value
    raise InvalidInput(f"{where} must be text.", path=f"inputs.{where}")
