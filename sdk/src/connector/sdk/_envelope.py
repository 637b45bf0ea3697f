"""Every envelope, built in one place: the runtime's, the CLI's, the service's and Temporal's.

``{"ok": true, "data": ...}`` or ``{"ok": false, "error": {"code", "message", "retryable",
"details"}}``. Error messages may carry a remote server's words: they are scrubbed of the
request's secrets, made valid text and shortened here, whoever built the error.
"""

from __future__ import annotations

from typing import Any

from ._error_table import ERRORS, status_of
from ._scrub import Scrubber
from .errors import ConnectorError
from .text import MESSAGE_CHARS, SURROGATE, shorten


def ok(data: Any) -> dict:
    return {"ok": True, "data": data}


def error(exc: ConnectorError, scrubber: Scrubber | None = None) -> dict:
    """The error envelope of ``exc``; its texts scrubbed, valid and short."""
    scrubber = scrubber or Scrubber()
    body = exc.to_dict()
    # Messages can carry server text; codes and paths come from the manifest as they are.
    body["message"] = _clean(scrubber, body["message"])
    body["details"] = [
        {**d, "message": _clean(scrubber, str(d["message"]))}
        if isinstance(d, dict) and "message" in d
        else d
        for d in body["details"]
    ]
    return {"ok": False, "error": body}


def of_code(code: str, message: str, *, retryable: bool | None = None) -> dict:
    """An error envelope for a code of the table, from a plain message."""
    cls = ERRORS.get(code, ConnectorError)
    exc = ConnectorError(message, retryable=cls.retryable if retryable is None else retryable)
    exc.code = code
    return error(exc)


def code_of(envelope: dict) -> str:
    """``OK`` for a success, else the error's code."""
    return "OK" if envelope.get("ok") else str(envelope.get("error", {}).get("code"))


def http_status(envelope: dict) -> int:
    return 200 if envelope.get("ok") else status_of(code_of(envelope))


def retry_after(envelope: dict) -> float | None:
    """The seconds an error asks the caller to wait (``details[].retryAfterSeconds``)."""
    if envelope.get("ok"):
        return None
    for detail in envelope.get("error", {}).get("details") or []:
        seconds = detail.get("retryAfterSeconds") if isinstance(detail, dict) else None
        if isinstance(seconds, (int, float)) and not isinstance(seconds, bool) and seconds >= 0:
            return float(seconds)
    return None


def _clean(scrubber: Scrubber, message: str) -> str:
    return shorten(SURROGATE.sub("\ufffd", scrubber.text(message)), MESSAGE_CHARS)
