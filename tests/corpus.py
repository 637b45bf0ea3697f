"""The message corpus of tests/messages/corpus: each .eml with the fields expected of it.

expected.json holds, per message, only what was written down by hand: subject, from, to,
cc (lists of {name, address}), date (ISO 8601 or null), message_id, text_contains,
html_contains, attachments (file names), to_count / to_count_at_least, and mbox (the
message starts with an mbox separator line).
"""

from __future__ import annotations

import base64
import json
import random
from pathlib import Path

from connector.sdk._jsonvalues import json_problem

CORPUS = Path(__file__).with_name("messages") / "corpus"
EXPECTED: dict[str, dict] = json.loads((CORPUS / "expected.json").read_text(encoding="utf-8"))
NAMES = sorted(EXPECTED)


def raw(name: str) -> bytes:
    return (CORPUS / f"{name}.eml").read_bytes()


def as_input(name: str) -> str:
    """The message as appendMessage's base64 content."""
    return base64.b64encode(raw(name)).decode("ascii")


def mismatches(name: str, message: dict) -> list[str]:
    """What in a parsed message (downloadMessage's ``message``) differs from the expectation."""
    expected = EXPECTED[name]
    problems = []

    def check(what, got, want):
        if got != want:
            problems.append(f"{name}: {what} is {got!r}, expected {want!r}")

    for key, field in (
        ("subject", "subject"),
        ("from", "from"),
        ("to", "to"),
        ("cc", "cc"),
        ("date", "date"),
        ("message_id", "messageId"),
    ):
        if key in expected:
            check(field, message[field], expected[key])
    for key, field in (("text_contains", "text"), ("html_contains", "html")):
        if key in expected and expected[key] not in (message[field] or ""):
            problems.append(f"{name}: {field} {message[field]!r} lacks {expected[key]!r}")
    if "attachments" in expected:
        check(
            "attachment names",
            [a["filename"] for a in message["attachments"]],
            expected["attachments"],
        )
    if "to_count" in expected:
        check("number of To addresses", len(message["to"]), expected["to_count"])
    if len(message["to"]) < expected.get("to_count_at_least", 0):
        problems.append(f"{name}: too few To addresses: {message['to']}")
    return problems


def strict_json(text_or_bytes) -> dict:
    """Parse output as a platform would: UTF-8 JSON with no lone surrogate anywhere."""
    data = text_or_bytes.encode("utf-8") if isinstance(text_or_bytes, str) else text_or_bytes
    value = json.loads(data.decode("utf-8"))
    assert json_problem(value) is None, json_problem(value)
    json.dumps(value, ensure_ascii=False).encode("utf-8")  # strict: raises on a surrogate
    return value


# Bytes that break decoders, for mutated messages (valid JSON and no INTERNAL_ERROR anyway).
NASTY = [
    b"\x00",
    b"\r",
    b"\n",
    b"\xff",
    b"\xc3",
    b"\xed\xa0\x80",
    b"=?",
    b"?=",
    b"=?utf-7?B?",
    b"=?unicode_escape?Q?\\ud800?=",
    b"=?utf-7?Q?+2AA-?=",
    b"\x1b$B",
    b";",
    b'"',
    b"(",
    b"<",
    b"@",
    b":",
    b"\\",
    b"%",
    b"*",
    b"=?iso-2022-jp?B?GyRC?=",
    b"\x80\x81\x8d",
]


def mutate(rng: random.Random, raw: bytes) -> bytes:
    data = bytearray(raw)
    for _ in range(rng.randint(1, 6)):
        at = rng.randrange(len(data) + 1)
        choice = rng.random()
        if choice < 0.4:
            data[at:at] = rng.choice(NASTY)
        elif choice < 0.8:
            data[at:at] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
        elif data:
            del data[at : at + rng.randint(1, 8)]
    return bytes(data)
