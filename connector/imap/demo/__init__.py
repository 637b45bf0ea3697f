"""``imap-connector demo``: the connector's main job against an embedded pymap server
(``localserver``) behind a throwaway CA, no account needed (``run``)."""
