"""What a trigger's push may open beyond its first session: ``PushSessions``, more sessions
of the same connection, egress-checked, within the room the host's push hub has left.
"""

from ._push import PushSessions

__all__ = ["PushSessions"]
