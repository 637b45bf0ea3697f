"""What a handler may ask for besides its inputs: ``context`` (a logger, ids, a deadline).

A handler declares a ``context`` parameter to get a ``Context``; the runtime builds one per
request (docs/writing-a-connector.md, "Handler contracts").
"""

from ._context import Context

__all__ = ["Context"]
