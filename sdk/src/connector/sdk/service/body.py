"""A request body within its budget: its size, its JSON elements and its nesting are counted
as its bytes arrive, before anything is parsed; the parse then runs on a thread of its own.

Why count first: ``json.loads`` of 45 MB of ``{},{},...`` built 15 million dicts (+1.2 GB
of memory) in one C call that held the event loop for 1.3 s. Counting is cheap: bytes are
skipped with ``find`` and a regular expression, and the Python loop runs once per token, so
its work is bounded by the element cap, whatever the body's size.

What counts as an element: each ``{``, ``[``, string (a key or a value), ``,`` and ``:``
outside strings. A number, ``true``, ``false`` or ``null`` is not counted itself: in an
object or array the ``:`` or ``,`` beside it is. That is at least the number of values in
the body, never much more.
"""

from __future__ import annotations

import asyncio
import codecs
import json
import re
from concurrent.futures import Executor
from typing import Any

from starlette.requests import Request

from .._inputs import MAX_DEPTH
from .._jsonvalues import number_too_long
from ..errors import InvalidInput, PayloadTooLarge
from .shares import Meter

# The body's nesting: as deep as the deepest input value may be (inputs.MAX_DEPTH) under the
# body and its "inputs" object. Deeper bodies hold nothing a step would take.
MAX_BODY_DEPTH = MAX_DEPTH + 2

# Outside a string: the next byte that matters.
_TOKEN = re.compile(rb'[\[\]{},:"]')
# Inside a string: everything up to its closing quote (escapes skipped as pairs); stops
# before a quote, or before a backslash that is the chunk's last byte.
_STRING_REST = re.compile(rb'[^"\\]*(?:\\.[^"\\]*)*', re.S)
_OPEN, _CLOSE = frozenset(b"[{"), frozenset(b"]}")
NOT_AN_OBJECT = "The body must be a JSON object."


class JsonShape:
    """The elements and nesting of a JSON text fed in pieces; ``feed`` raises as soon as the
    text goes over ``max_elements`` (PAYLOAD_TOO_LARGE) or ``max_depth`` (INVALID_INPUT)."""

    def __init__(self, max_elements: int, max_depth: int):
        self.max_elements, self.max_depth = max_elements, max_depth
        self.elements = 0
        self.depth = 0
        self._in_string = False
        self._escaped = False  # the last piece ended inside a string on a backslash

    def feed(self, data: bytes) -> None:
        pos, end = 0, len(data)
        if self._escaped and end:
            self._escaped, pos = False, 1  # the escaped byte
        while pos < end:
            if self._in_string:
                quote = data.find(b'"', pos)  # (memchr: a 40 MB text goes by in milliseconds)
                if quote == -1:
                    self._escaped = _odd_backslashes_at_end(data, pos)
                    return  # the string goes on in the next piece
                if quote > pos and data[quote - 1] == 0x5C:  # maybe \": read escapes exactly
                    quote = _STRING_REST.match(data, pos).end()  # type: ignore[union-attr]
                    if quote >= end:
                        return
                    if data[quote] == 0x5C:  # a backslash ends the piece: its pair comes next
                        self._escaped = True
                        return
                self._in_string, pos = False, quote + 1
                continue
            found = _TOKEN.search(data, pos)
            if found is None:
                return
            byte, pos = data[found.start()], found.end()
            if byte in _CLOSE:
                self.depth -= 1
                if self.depth < 0:
                    raise InvalidInput(NOT_AN_OBJECT)
                continue
            self.elements += 1
            if self.elements > self.max_elements:
                raise PayloadTooLarge(
                    f"The body has more than {self.max_elements} JSON elements (each {{, [, "
                    f"string, comma and colon): at most {self.max_elements}."
                )
            if byte == 0x22:
                self._in_string = True
            elif byte in _OPEN:
                self.depth += 1
                if self.depth > self.max_depth:
                    raise InvalidInput(
                        f"The body is nested more than {self.max_depth} levels deep: at most "
                        f"{self.max_depth}."
                    )


def _odd_backslashes_at_end(data: bytes, start: int) -> bool:
    """Whether ``data[start:]`` ends in an odd run of backslashes (the next byte is escaped)."""
    if not data.endswith(b"\\"):
        return False
    run = len(data) - max(len(data.rstrip(b"\\")), start)
    return run % 2 == 1


async def read_json_object(
    request: Request,
    *,
    max_bytes: int,
    max_elements: int,
    max_depth: int,
    parser: Executor,
    meter: Meter | None = None,
) -> dict[str, Any]:
    """The request's JSON object, read within its budget ({} for an empty body), parsed on
    ``parser``'s threads so the event loop keeps answering (/healthz) meanwhile; the CPU
    spent counting, decoding and parsing it is added to ``meter``."""
    meter = meter or Meter()
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        raise PayloadTooLarge(f"The body is over {max_bytes} bytes.")
    shape = JsonShape(max_elements, max_depth)
    # Decoded as it arrives (a piece at a time, never the whole body in one call that holds
    # the interpreter), as json.loads would: UTF-8, encoded surrogates let through (the
    # runtime names the input that holds one).
    decoder = codecs.getincrementaldecoder("utf-8")("surrogatepass")
    text: list[str] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise PayloadTooLarge(f"The body is over {max_bytes} bytes.")
        with meter:
            shape.feed(chunk)
            text.append(_decoded(decoder, chunk))
    text.append(_decoded(decoder, b"", final=True))
    if not size:
        return {}
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(parser, _metered_parse, text, meter)


def _metered_parse(text: list[str], meter: Meter) -> dict[str, Any]:
    """``parse_object``, its thread's CPU time added to ``meter`` (whose request awaits it)."""
    with meter:
        return parse_object(text)


def _decoded(decoder: codecs.IncrementalDecoder, chunk: bytes, *, final: bool = False) -> str:
    try:
        return decoder.decode(chunk, final)
    except UnicodeDecodeError:
        raise InvalidInput("The body must be JSON in UTF-8.") from None


def parse_object(text: list[str]) -> dict[str, Any]:
    """The body's JSON object from its decoded pieces (emptied on the way: at most two copies
    of the body are held at once, the pieces and the text, then the text and the values)."""
    whole = "".join(text)
    text.clear()
    try:
        value = json.loads(whole)
    except ValueError as exc:
        too_long = number_too_long(exc)
        raise InvalidInput(f"The body: {too_long}." if too_long else NOT_AN_OBJECT) from None
    except RecursionError:
        raise InvalidInput(NOT_AN_OBJECT) from None
    if not isinstance(value, dict):
        raise InvalidInput(NOT_AN_OBJECT)
    return value
