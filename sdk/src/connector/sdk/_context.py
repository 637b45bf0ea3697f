"""What a handler may ask for besides its inputs: ``context`` (a logger, ids, a deadline).

A handler declares a ``context`` parameter to get one; the runtime builds it per request.
"""

from __future__ import annotations

import logging
import time
import traceback
from typing import Any

from ._scrub import Scrubber


class ScrubbedLogger(logging.LoggerAdapter):
    """A logger whose messages (arguments and tracebacks included) have the request's
    secrets masked, in every form the scrubber knows (escaped, URL-encoded, base64)."""

    def __init__(self, logger: logging.Logger, scrubber: Scrubber, extra: dict[str, Any]):
        super().__init__(logger, extra)
        self.scrubber = scrubber

    def log(self, level: int, msg: Any, *args: Any, **kwargs: Any) -> None:
        if not self.isEnabledFor(level):
            return
        text = str(msg) % args if args else str(msg)
        exc_info = kwargs.pop("exc_info", None)
        if exc_info:
            if exc_info is True:
                exc_info = None  # the exception being handled
            trace = (
                traceback.format_exception(*exc_info)
                if isinstance(exc_info, tuple)
                else traceback.format_exception(exc_info)
                if isinstance(exc_info, BaseException)
                else traceback.format_exc()
            )
            text += "\n" + "".join(trace).rstrip()
        kwargs.pop("stack_info", None)
        kwargs.setdefault("stacklevel", 2)
        extra = {**(self.extra or {}), **kwargs.pop("extra", {})}
        self.logger.log(level, self.scrubber.text(text), extra=extra, **kwargs)


class Context:
    """Per request: ``log`` (scrubbed), ``execution_id``, ``connection_key``, ``deadline``
    (a ``time.monotonic()`` value, or None), ``time_left()``, and ``connect_timeout``: how
    long opening a connection may take, when the host bounds it (``open_timeout()``)."""

    def __init__(
        self,
        *,
        connector_key: str,
        connection_key: str,
        execution_id: str,
        deadline: float | None,
        scrubber: Scrubber,
        connect_timeout: float | None = None,
    ):
        self.connection_key = connection_key
        self.execution_id = execution_id
        self.deadline = deadline
        self.connect_timeout = connect_timeout
        self.log = ScrubbedLogger(
            logging.getLogger(f"connector.{connector_key}"),
            scrubber,
            {"execution_id": execution_id, "connection_key": connection_key},
        )

    def time_left(self) -> float | None:
        """Seconds until the deadline (never below 0), or None without one."""
        if self.deadline is None:
            return None
        return max(0.0, self.deadline - time.monotonic())

    def open_timeout(self, asked: float) -> float:
        """The seconds a connection may take to open: what the connection asked, within the
        host's connect bound and the time left."""
        bounds = [asked, self.connect_timeout, self.time_left()]
        return max(0.001, min(b for b in bounds if b is not None))

    def step_timeout(self, asked: float) -> float:
        """The seconds one read may wait: what the connection asked, within the time left."""
        left = self.time_left()
        return asked if left is None else max(0.001, min(asked, left))
