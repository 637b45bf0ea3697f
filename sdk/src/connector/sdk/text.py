"""Text rules shared by the SDK and connectors: shortening (one rule, three limits) and what
is not valid Unicode.

Quote a user's value back in an error within ``VALUE_CHARS``, a remote server's own words
within ``REMOTE_CHARS`` (both through ``shorten``); the runtime cuts a whole message at
``MESSAGE_CHARS``. A string with a lone surrogate (``SURROGATE``) cannot be written as
UTF-8: the runtime refuses such a result, so decode remote bytes before returning them.
"""

import re

__all__ = ["MESSAGE_CHARS", "REMOTE_CHARS", "SURROGATE", "VALUE_CHARS", "shorten"]

# A lone surrogate: text that is not valid Unicode (cannot be written as UTF-8).
SURROGATE = re.compile("[\ud800-\udfff]")

VALUE_CHARS = 40  # a user's value quoted back in an error ("Range '1:x' is not valid")
REMOTE_CHARS = 300  # a remote server's own words inside an error
MESSAGE_CHARS = 1000  # a whole error message in the envelope: the rest is noise to a user


def shorten(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, the cut marked by "..."."""
    return text if len(text) <= limit else text[: limit - 3] + "..."
