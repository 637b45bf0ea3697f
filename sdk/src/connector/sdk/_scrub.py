"""Remove secret values from any text that may leave the process."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import quote, quote_plus

MASK = "***"


def _escapes() -> tuple[Callable[[str], str], ...]:
    """How text gets escaped on its way into an error message."""
    return (
        lambda t: t,
        lambda t: json.dumps(t)[1:-1],  # JSON
        lambda t: repr(t)[1:-1],  # Python str repr
        lambda t: t.replace("\\", "\\\\").replace('"', '\\"'),  # a quoted string (protocols, C)
        lambda t: repr(t.encode("utf-8", "surrogatepass"))[2:-1],  # Python bytes repr
        lambda t: quote(t, safe="", errors="surrogatepass"),  # URL-encoded (a query, a form)
        lambda t: quote_plus(t, safe="", errors="surrogatepass"),  # form: spaces as "+"
    )


def _variants(secret: str) -> set[str]:
    """The forms a secret can take in an error text: raw, escaped (twice over), base64."""
    forms = set()
    for outer in _escapes():
        for inner in _escapes():
            forms.add(outer(inner(secret)))
    raw = secret.encode("utf-8", "surrogatepass")
    forms.add(base64.b64encode(raw).decode("ascii"))
    forms.add(base64.urlsafe_b64encode(raw).decode("ascii"))
    forms.add(base64.b64encode(raw).decode("ascii").rstrip("="))  # unpadded (JWT, OAuth)
    return {f for f in forms if f}


# A secret this short is masked only where it stands as a word of its own: masked inside
# words, a password "b" would turn "Mailbox" into "Mail***ox" and so tell what it is.
SHORT = 8


def _as_word(form: str) -> str:
    """A pattern for ``form`` where it is not part of a longer word (at its word-character ends)."""
    before = r"(?<!\w)" if re.match(r"\w", form) else ""
    after = r"(?!\w)" if re.search(r"\w$", form) else ""
    return before + re.escape(form) + after


class Scrubber:
    def __init__(self, secrets: Iterable[Any] = ()):
        self._all: set[str] = set()
        self._forms: list[str] = []
        self._short: re.Pattern | None = None
        for secret in secrets:
            self.add(secret)

    def add(self, secret: Any) -> None:
        if not isinstance(secret, str) or not secret:
            return
        self._all |= _variants(secret)
        # Longest first, so a secret containing another is masked whole.
        self._forms = sorted((f for f in self._all if len(f) >= SHORT), key=len, reverse=True)
        short = sorted((f for f in self._all if len(f) < SHORT), key=len, reverse=True)
        self._short = re.compile("|".join(map(_as_word, short))) if short else None

    def text(self, text: str) -> str:
        for form in self._forms:
            if form in text:
                text = text.replace(form, MASK)
        if self._short is not None:
            text = self._short.sub(MASK, text)
        return text
