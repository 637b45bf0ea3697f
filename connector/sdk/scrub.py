"""Remove secret values from any text that may leave the process."""
from __future__ import annotations

import base64
import json
from typing import Any, Iterable

MASK = "***"


def _variants(secret: str) -> set[str]:
    """The forms a secret can take in an error text: raw, escaped, quoted, encoded."""
    forms = {secret,
             json.dumps(secret)[1:-1],
             repr(secret)[1:-1],
             secret.replace("\\", "\\\\").replace('"', '\\"')}
    raw = secret.encode("utf-8", "surrogatepass")
    forms.add(repr(raw)[2:-1])
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
