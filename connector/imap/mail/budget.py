"""How much of a parsed message a step or a trigger record carries inline.

A workflow platform moves JSON (Temporal refuses a payload over 2 MB): an attachment over
the budget travels as a *reference* that ``downloadMessage`` with that ``part`` fetches,

    {"partId", "filename", "contentType", "size", "contentId", "disposition",
     "content": null, "reference": {"mailbox", "uidValidity", "uid", "partId"}}

and a body (text or html) longer than the budget is cut, said in ``truncated``.
"""

from __future__ import annotations

from typing import Any

INLINE = "inline"  # every attachment's content (within a budget, when one is given)
METADATA = "metadata"  # no attachment content: references only
NONE = "none"  # no attachments listed at all


def apply(
    message: dict[str, Any],
    *,
    where: dict[str, Any],
    budget: int | None = None,
    attachments: str = INLINE,
) -> dict[str, Any]:
    """``message`` (mime.to_json's) within ``budget`` bytes of attachment content, in part
    order; ``where`` is ``{"mailbox", "uidValidity", "uid"}`` for the references."""
    if attachments == NONE:
        message["attachments"] = []
    else:
        left = budget
        for part in message["attachments"]:
            size = int(part.get("size") or 0)
            if attachments == METADATA or (left is not None and size > left):
                part["content"] = None
                part["reference"] = {**where, "partId": part["partId"]}
            elif left is not None:
                left -= size
    if budget is not None:
        cut = [key for key in ("text", "html") if len(message.get(key) or "") > budget]
        for key in cut:
            message[key] = message[key][:budget]
        if cut:
            message["truncated"] = {"fields": cut, "reference": dict(where)}
    return message
