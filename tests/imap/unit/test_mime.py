"""MIME -> JSON on fixed messages: decoding, addresses, parts, hostile charsets."""

from __future__ import annotations

import base64

from connector.imap.mail import mime
from tests.helpers import MESSAGES


def load(name):
    return mime.parse((MESSAGES / name).read_bytes())


def decoded(content: dict) -> bytes:
    if content["encoding"] == "base64":
        return base64.b64decode(content["content"])
    return content["content"].encode("utf-8")


def test_multipart_message_to_json():
    data = mime.to_json(load("multipart.eml"))
    assert data["subject"] == "Résumé and report"
    assert data["from"] == [{"name": "André Martin", "address": "andre@example.com"}]
    assert data["to"] == [
        {"name": "Doe, John", "address": "john@example.com"},
        {"name": "Иван", "address": "ivan@example.com"},
    ]
    assert [a["address"] for a in data["cc"]] == ["ann@example.com", "bob@example.com"]
    assert data["replyTo"] == [{"name": "", "address": "replies@example.com"}]
    assert data["date"] == "2024-05-01T09:29:41+02:00"
    assert data["messageId"] == "<multi-1@example.com>"
    assert data["references"] == ["<root-0@example.com>", "<mid-0@example.com>"]
    assert data["text"].strip() == "Café crème"
    assert data["html"].strip() == "<p>Café crème</p>"
    assert [a["partId"] for a in data["attachments"]] == ["2", "3", "4"]
    pdf, png, forwarded = data["attachments"]
    assert pdf["filename"] == "résumé.pdf" and pdf["contentType"] == "application/pdf"
    assert decoded(pdf["content"]) == b"%PDF-1.4 fake pdf bytes \x00\x01\x02"
    assert pdf["size"] == 27 and pdf["disposition"] == "attachment"
    assert png["disposition"] == "inline" and png["contentId"] == "<logo@x>"
    assert forwarded["contentType"] == "message/rfc822"
    assert "Subject: Inner note" in forwarded["content"]["content"]


def test_find_part_numbers_like_bodystructure():
    msg = load("multipart.eml")
    assert mime.find_part(msg, "1").get_content_type() == "multipart/alternative"
    assert mime.find_part(msg, "1.2").get_content_type() == "text/html"
    assert mime.find_part(msg, "4").get_content_type() == "message/rfc822"
    # The CRLF before a boundary belongs to the boundary, not to the part.
    assert mime.part_bytes(mime.find_part(msg, "4.1")) == b"Forwarded body"
    assert mime.find_part(msg, "9") is None
    assert mime.find_part(msg, "2.3") is None


def test_broken_and_unknown_charsets_do_not_crash():
    data = mime.to_json(load("broken-charsets.eml"))
    assert data["subject"]  # something readable, whatever the encoded words were
    assert data["from"][0]["address"] == "bad@example.com"
    assert data["date"] is None
    assert "Body" in data["text"]


def test_single_part_message_part_one_is_the_body():
    msg = mime.parse(b"Subject: x\r\nContent-Type: text/plain\r\n\r\nhello\r\n")
    assert mime.part_bytes(mime.find_part(msg, "1")) == b"hello\r\n"


def test_content_is_text_when_utf8_else_base64():
    assert mime.content("é".encode()) == {"encoding": "utf-8", "content": "é"}
    assert mime.content(b"\xff") == {"encoding": "base64", "content": "/w=="}
