"""What the SDK asks of a connection's session, as typed protocols.

``Session``: what a pooled session and a push's sessions provide (``reset``, ``stale``,
``check``, ``interrupt``, ``close``); ``PushLine``: one line of a trigger's push, held by
the host's push hub (docs/writing-a-connector.md, "Hosting and importing").
"""

from ._session import PushLine, Session

__all__ = ["PushLine", "Session"]
