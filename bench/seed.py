"""Realistic messages for the benchmarks: 2-8 KB, 45% multipart, encoded-word names."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

NAMES = [
    "Alice Martin",
    "Bob Stone",
    "Chloé Durand",
    "Élodie Faure",
    "Иван Петров",
    "Dan Wu",
    "Zoë Müller",
    "Søren Kierkegaard",
    "María José García",
    "李雷",
]
WORDS = (
    "invoice meeting report quarterly update project budget review draft final notes "
    "schedule release customer support ticket résumé équipe réunion отчёт"
).split()


def message(rng: random.Random, index: int) -> bytes:
    msg = EmailMessage()
    sender, to = rng.choice(NAMES), rng.choice(NAMES)
    msg["From"] = f"{sender} <user{NAMES.index(sender)}.{index}@example.com>"
    msg["To"] = f"{to} <user{NAMES.index(to)}@example.org>"
    if rng.random() < 0.3:
        msg["Cc"] = ", ".join(
            f"{n} <cc{i}@example.net>" for i, n in enumerate(rng.sample(NAMES, 2))
        )
    msg["Subject"] = " ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 8))).capitalize()
    when = datetime(2024, 1, 1, tzinfo=UTC) + timedelta(minutes=17 * index)
    msg["Date"] = format_datetime(when)
    msg["Message-ID"] = make_msgid(idstring=str(index), domain="bench.example")
    size = rng.randint(1500, 5200)
    body = " ".join(rng.choice(WORDS) for _ in range(size // 7))[:size]
    msg.set_content(body)
    if rng.random() < 0.45:
        msg.add_alternative(f"<html><body><p>{body[: size // 2]}</p></body></html>", subtype="html")
    return msg.as_bytes().replace(b"\n", b"\r\n")


def messages(count: int, seed: int = 7) -> list[bytes]:
    rng = random.Random(seed)
    return [message(rng, i) for i in range(count)]


def big_message(size: int) -> bytes:
    """One message of about ``size`` bytes: a text part and a base64 attachment."""
    head = (
        b"From: Big <big@example.com>\r\nTo: alice@example.com\r\nSubject: big attachment\r\n"
        b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=B\r\n\r\n"
        b"--B\r\nContent-Type: text/plain\r\n\r\nSee attached.\r\n--B\r\n"
        b"Content-Type: application/octet-stream; name=data.bin\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\n"
    )
    line = b"QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaGlqa2xtbm9wcXJzdHV2d3h5ejAxMjM0\r\n"
    body = line * ((size - len(head)) // len(line))
    return head + body + b"--B--\r\n"
