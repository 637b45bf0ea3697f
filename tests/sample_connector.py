"""A tiny connector for the SDK's own tests: the runtime knows nothing of IMAP."""

from __future__ import annotations

import socket
from typing import ClassVar

from connector.sdk.errors import NotFound, Unsupported


class Session:
    closed: ClassVar[list] = []

    def __init__(self, **fields):
        self.fields = fields

    def close(self):
        Session.closed.append(self.fields.get("user"))

    def interrupt(self):
        """As a real session cuts its connection: a read blocked on it fails."""
        self.cut = True


class ServerSaidNo(Exception):
    """A library exception the connector's error hook maps."""


def open_session(**fields):
    if fields.get("token") == "refuse":
        raise ServerSaidNo(f"token {fields['token']} rejected")
    return Session(**fields)


def echo(session, **inputs):
    return {"inputs": inputs, "user": session.fields["user"]}


def fail(session, kind):
    if kind == "not-found":
        raise NotFound("no such thing")
    if kind == "leak":
        raise ServerSaidNo(f"server says: wrong secret {session.fields['token']}")
    if kind == "bug":
        raise KeyError(f"oops {session.fields['token']}")  # a bug that shows a secret
    if kind == "bytes":
        return {"data": b"raw"}
    return None


def counter(session, state, step):
    start = state.get("next", 0)
    return {
        "records": list(range(start, start + step)),
        "state": {"next": start + step},
        "hasMore": start + step < 5,
    }


class CounterLine:
    """The counter's push line: a socket pair whose far end plays the source (a test writes
    ``c`` to it for a change, or closes it: the line dies)."""

    renew_every = 3600.0

    def __init__(self, session, changed: bool):
        self.session, self.changed = session, changed
        self.mine, self.far = socket.socketpair()
        self.closed = False

    def fileno(self):
        return self.mine.fileno()

    def start(self):
        return self.changed

    def on_readable(self):
        data = self.mine.recv(100)
        if not data:
            raise ServerSaidNo("the counter's line was cut")
        return b"c" in data

    def renew(self):
        return False

    def interrupt(self):
        self.session.interrupt()

    def close(self):
        self.closed = True
        self.mine.close()
        self.far.close()
        self.session.close()


def counter_push(session, inputs, sessions):
    """The counter's push: a line that says "change" at once while the state says there is
    more to count; step 98 asks for three lines; step 97 is refused (no push)."""
    counter_push.asked.append(inputs["state"])
    if inputs["step"] == 97:
        raise Unsupported("The counter cannot push at step 97.")
    opened = [session] + [sessions.open() for _ in range(2 if inputs["step"] == 98 else 0)]
    lines = [CounterLine(s, inputs["state"].get("next", 0) < 5) for s in opened]
    counter_push.lines = lines
    return lines


counter_push.asked = []  # type: ignore[attr-defined]
counter_push.lines = []  # type: ignore[attr-defined]


def choices(session):
    return [{"key": "a", "label": "A"}]


def error_hook(exc):
    from connector.sdk.errors import AuthFailed

    if isinstance(exc, ServerSaidNo):
        return AuthFailed(str(exc))
    return None


MANIFEST = """\
manifestVersion: 1
key: sample
label: Sample
description: A sample connector
version: 1.2.3
icon: icon.png
errorHandler: tests.sample_connector:error_hook
connections:
  - key: basic
    label: Basic
    description: User and token
    handler: tests.sample_connector:open_session
    inputs:
      - {key: user, label: User, type: string, required: true}
      - {key: token, label: Token, type: password, required: true}
      - {key: port, label: Port, type: integer, default: 10, schema: {minimum: 1}}
actions:
  - key: echo
    label: Echo
    description: Returns its inputs
    handler: tests.sample_connector:echo
    inputs:
      - {key: count, label: Count, type: integer, default: 1}
      - {key: range, label: Range, type: string, schema: {pattern: "^[0-9:]+$"}}
      - {key: tags, label: Tags, type: list}
    output:
      schema: {type: object}
      example: {inputs: {count: 1}, user: a}
  - key: fail
    label: Fail
    description: Fails as asked
    handler: tests.sample_connector:fail
    inputs:
      - {key: kind, label: Kind, type: string, required: true}
    output:
      schema: {type: "null"}
      example: null
triggers:
  - key: counter
    label: Counter
    description: Counts on from its state
    handler: tests.sample_connector:counter
    push: tests.sample_connector:counter_push
    inputs:
      - {key: step, label: Step, type: integer, default: 2}
    output:
      schema: {type: array, items: {type: integer}}
      example: [0, 1]
dataSources:
  - key: choices
    label: Choices
    description: A picklist
    handler: tests.sample_connector:choices
    inputs: []
    output:
      schema: {type: array}
      example: [{key: a, label: A}]
"""


def tell(session, word, context):
    """Logs its input and the secret in the forms a careless handler might."""
    import base64
    from urllib.parse import quote

    token = session.fields["token"]
    context.log.info("word=%s token=%s", word, token)
    context.log.warning("url form %s, base64 %s", quote(token), base64.b64encode(token.encode()))
    try:
        raise ValueError(f"failed with {token}")
    except ValueError:
        context.log.exception("caught")
    return {
        "executionId": context.execution_id,
        "connection": context.connection_key,
        "timeLeft": context.time_left(),
    }
