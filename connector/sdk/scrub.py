"""Remove secret values from any text that may leave the process."""
from __future__ import annotations

import base64
import json
from typing import Any
from collections.abc import Iterable

MASK = "***"


def _escapes():
    """How text gets escaped on its way into an error message."""
    return (
        lambda t: t,
        lambda t: json.dumps(t)[1:-1],                                   # JSON
        lambda t: repr(t)[1:-1],                                         # Python str repr
        lambda t: t.replace("\\", "\\\\").replace('"', '\\"'),   # a quoted string (protocols, C)
        lambda t: repr(t.encode("utf-8", "surrogatepass"))[2:-1],        # Python bytes repr
    )


def _variants(secret: str) -> set[str]:
    """The forms a secret can take in an error text: raw, escaped (twice over), base64."""
    forms = set()
    for outer in _escapes():
        for inner in _escapes():
            forms.add(outer(inner(secret)))
    raw = secret.encode("utf-8", "surrogatepass")
    forms.add(base64.b64encode(raw).decode("ascii"))
    return {f for f in forms if f}


class Scrubber:
    def __init__(self, secrets: Iterable[Any] = ()):
        self._forms: list[str] = []
        for secret in secrets:
            self.add(secret)

    def add(self, secret: Any) -> None:
        if isinstance(secret, str) and secret:
            # Longest first, so a secret containing another is masked whole.
            self._forms = sorted(set(self._forms) | _variants(secret), key=len, reverse=True)

    def text(self, text: str) -> str:
        for form in self._forms:
            if form in text:
                text = text.replace(form, MASK)
        return text
