"""The message corpus of tests/messages/corpus: each .eml with the fields expected of it.

expected.json holds, per message, only what was written down by hand: subject, from, to,
cc (lists of {name, address}), date (ISO 8601 or null), message_id, text_contains,
html_contains, attachments (file names), to_count / to_count_at_least, and mbox (the
message starts with an mbox separator line).
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

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
