"""The IMAP wire: sockets and TLS, login, commands and replies.

``transport`` is the one module that touches imaplib's and IMAPClient's internals;
``protocol`` encodes every user string before it reaches the wire; ``session`` logs in;
``commands`` sends what the actions need and reads the replies (``fetch_response``);
``errors`` maps the libraries' exceptions to the SDK's error codes.
"""

from . import library_version

library_version.provide()  # (before any module here imports IMAPClient)
