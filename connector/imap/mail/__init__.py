"""Mail as data: MIME parts, charsets, addresses, ENVELOPE summaries, dates and flag names.

Pure functions over bytes and parsed replies: nothing here opens a connection or imports
``connector.imap.wire`` (an import contract in the tests keeps it so).
"""
