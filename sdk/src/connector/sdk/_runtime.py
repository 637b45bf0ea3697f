"""The invocation pipeline: request -> validated inputs -> handler -> envelope."""

from __future__ import annotations

import logging
import os
import threading
import time
import traceback
from collections.abc import Callable
from contextlib import nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import _envelope as envelope
from ._context import Context
from ._deadlines import watching
from ._discovery import is_connector_name, resolve_manifest
from ._inputs import plain_json_problem
from ._jsonvalues import INVALID_TEXT, json_problem, valid_text
from ._manifest import KIND_LABELS, Manifest, Operation
from ._requests import REQUEST_KINDS, kind_of, split_connection
from ._scrub import Scrubber
from ._session import Session, close_quietly, missing
from .errors import (
    AuthFailed,
    ConnectorError,
    InternalError,
    InvalidInput,
    RateLimited,
    UnknownAction,
    Unsupported,
)
from .text import SURROGATE

if TYPE_CHECKING:  # (a one-request process never imports the pool, nor push's parts)
    from contextlib import AbstractContextManager

    from . import _oauth as oauth
    from ._egress import EgressPolicy
    from ._pool import Keys as PoolKeys
    from ._pool import SessionPool
    from ._pushhub import Opener, PushEvent, PushHub
    from ._session import PushLine

log = logging.getLogger("connector.sdk")
# A wait on a hub of its own (``wait_for_change`` without a host's hub) holds at most this
# many lines (a source may want one per watched thing: IMAP without NOTIFY).
MOST_LINES_OF_ONE_WAIT = 16


class Connector:
    """A loaded connector: its manifest and the way to invoke it.

    >>> Connector.load("crm").invoke({"action": "listContacts", "connection": {...}})
    """

    def __init__(self, manifest: Manifest):
        self.manifest = manifest
        # Strings a handler returned with lone surrogates, repaired by the last guard. A
        # handler should never need it: tests assert this stays 0.
        self.repaired_texts = 0

    @classmethod
    def load(
        cls, source: str | Path | None = None, *, check_handlers: bool = True, validate: bool = True
    ) -> Connector:
        """Load from a manifest path, or by name from the ``connectors`` entry points.

        ``validate=False`` trusts a manifest already validated (see Manifest.load).
        """
        manifest = Manifest.load(
            resolve_manifest(source), check_handlers=check_handlers, validate=validate
        )
        if is_connector_name(source) and source is not None and manifest.key != source:
            raise LookupError(
                f"the installed connector {source!r} points to a manifest whose key is "
                f"{manifest.key!r}: an entry point's name must equal its manifest's key"
            )
        return cls(manifest)

    # -- invocation -----------------------------------------------------------------------

    def invoke(
        self,
        request: Any,
        *,
        execution_id: str | None = None,
        timeout: float | None = None,
        pool: SessionPool | None = None,
        report: dict | None = None,
        egress: EgressPolicy | None = None,
        connect_timeout: float | None = None,
        tenant: str | None = None,
    ) -> dict:
        """Run one request; always return an envelope, never raise.

        Requests: {"action": K, "connection", "inputs"} -> {"ok", "data"};
        {"trigger": K, "connection", "inputs", "state"} -> {"ok", "data": records,
        "state", "hasMore"} (and ``"sourceChanged": true`` when the trigger says what it
        watches was replaced: push lines opened before must be opened again);
        {"dataSource": K, "connection", "inputs"} -> {"ok", "data"};
        {"testConnection": true, "connection"} -> {"ok", "data"}.

        ``execution_id`` (a new one by default) and ``timeout`` (seconds; the deadline) reach
        handlers that take a ``context``; at the deadline a session with ``interrupt()`` is
        cut, so a server answering a byte at a time cannot hold the step past it
        (connector.sdk._deadlines): the step is TIMEOUT, its session discarded. With a
        ``pool`` (connector.sdk._pool), the session comes from it and goes back to it, among
        the sessions of ``tenant`` (a host's name for who asks: its sessions and failed
        logins are its own); ``report`` (a dict) then gets ``pool``: "hit" or "miss".
        ``connect_timeout`` bounds opening the connection (``context.connect_timeout``).
        ``egress`` is where the step may connect (connector.sdk._egress): a hosted
        service passes its policy; by default the environment's (permissive when unset).
        When the connection refreshed its OAuth 2.0 tokens,
        the envelope's ``connectionUpdate`` holds the fields for the platform to store.
        """
        call = Call(Scrubber(), execution_id, timeout, pool, connect_timeout)
        call.tenant = tenant
        try:
            with _applied(egress):
                return self._invoke_mapped(request, call)
        finally:
            if report is not None and call.pool_hit is not None:
                report["pool"] = "hit" if call.pool_hit else "miss"

    def push_opener(
        self, request: Any, *, egress: EgressPolicy | None = None
    ) -> tuple[Opener, Callable[[BaseException], dict]]:
        """What a push hub (connector.sdk._pushhub) needs to hold a trigger's push lines:
        ``open(room)`` and ``describe(exc)``.

        ``open(room)`` blocks (a hub's worker thread calls it): it opens a session of the
        request's connection, as a step would but never pooled, and asks the trigger's
        ``push`` (the manifest's ``module:function``, called as ``push(session, inputs,
        sessions)``) for its lines (connector.sdk._session.PushLine), at most ``room``; the
        push may open more sessions of the same connection with ``sessions.open()``
        (connector.sdk._push). The request is the trigger's, with the state the last poll
        returned (in ``inputs["state"]``: a line compares it with the source, so what came
        between that poll and the line's start is a change at once). Connections are
        checked against ``egress`` (by default the caller's policy), from whichever thread.
        ``describe(exc)`` is an envelope's error (``{"code", "message", "retryable", ...}``)
        for what a line raised: mapped by the connector's error hook, secrets masked.

        Raises a ConnectorError for a request that is not a valid trigger request, and
        ``Unsupported`` for a trigger without push."""
        call = Call(Scrubber(), None, None)
        kind, operation, conn_op, fields, inputs = self._prepare(request, call)
        if kind != "trigger":
            raise InvalidInput("A push waits for a trigger: name one.", path="request")
        push = operation.push
        if push is None:
            raise Unsupported(f"The trigger {operation.key!r} has no push: it is polled only.")
        inputs = {"state": _checked_state(request), **inputs}
        from . import _egress as egress_policy  # noqa: PLC0415 - only a push host needs these
        from ._push import PushSessions  # noqa: PLC0415

        policy = egress or egress_policy.current()  # (a ContextVar: threads do not inherit it)
        context = call.context(self.manifest.key, conn_op.key)

        def open_lines(room: int) -> list[PushLine]:
            with egress_policy.applied(policy):
                sessions = PushSessions(
                    self._open(conn_op, fields, call, context),
                    lambda: self._open(conn_op, fields, call, context),
                    room=room,
                    policy=policy,
                )
                try:
                    return list(push(sessions.all[0], inputs, sessions))
                except Exception as exc:  # noqa: BLE001 - re-raised (mapped) once closed
                    sessions.close()  # (the lines returned own their sessions; none came)
                    raise self._mapped(exc, request, call) from None

        def describe(exc: BaseException) -> dict:
            mapped = self._mapped(exc, request, call)
            if not isinstance(mapped, ConnectorError):
                mapped = InternalError(f"Unexpected {type(exc).__name__}")
            return dict(envelope.error(mapped, call.scrubber)["error"])

        return open_lines, describe

    def wait_for_change(
        self,
        request: Any,
        timeout: float,
        *,
        egress: EgressPolicy | None = None,
        hub: PushHub | None = None,
        on_watching: Callable[[], None] | None = None,
    ) -> dict:
        """Block until a trigger's push reports a change, or ``timeout`` seconds pass: its
        lines (``push_opener``) held on ``hub`` (by default a hub of this call's own) until
        then. The envelope: ``{"ok": true, "data": {"woke": "change" | "timeout" |
        "unsupported"}}`` ("unsupported": a trigger without push, or a source that refuses
        to watch), or the error of the first line that failed. ``on_watching`` is called
        once the source confirmed it watches (IMAP: the server's go-ahead for IDLE). A push
        only says *when* to poll: the poll decides what is new, so a push that lies or dies
        costs latency, never records. A host that waits again and again holds a lease on
        its own hub instead (``listen``, a Temporal worker): its lines stay open."""
        try:
            opener, describe = self.push_opener(request, egress=egress)
        except ConnectorError as exc:
            if isinstance(exc, Unsupported):
                return {"ok": True, "data": {"woke": "unsupported"}}
            return envelope.error(exc)
        from ._pushhub import PushHub  # noqa: PLC0415 - only a push needs a hub

        own = hub is None
        used = hub if hub is not None else PushHub(max_lines=MOST_LINES_OF_ONE_WAIT, workers=2)
        outcome: list[PushEvent] = []
        done = threading.Event()

        def on_event(event: PushEvent) -> None:
            if event.kind == "idling" and on_watching is not None:
                on_watching()
            if event.kind in ("change", "unsupported", "failed", "ended"):
                outcome.append(event)
                done.set()

        key = f"wait-{_new_execution_id()}"
        try:
            if used.lease(key, opener, on_event, retry=False, describe=describe) == "capacity":
                return envelope.error(RateLimited("The push hub holds all the lines it may."))
            done.wait(timeout)
        finally:
            used.release(key)
            if own:
                used.close()
        if not outcome:
            return {"ok": True, "data": {"woke": "timeout"}}
        event = outcome[0]
        if event.kind == "failed" and event.error is not None:
            return {"ok": False, "error": event.error}
        woke = {"change": "change", "unsupported": "unsupported"}.get(event.kind, "timeout")
        return {"ok": True, "data": {"woke": woke}}

    def _mapped(self, exc: BaseException, request: Any, call: Call) -> BaseException:
        """A push's exception as the envelope would say it: a ConnectorError as is, anything
        else through the connector's error hook (an unmapped one is logged, as a bug)."""
        if isinstance(exc, ConnectorError) or not isinstance(exc, Exception):
            return exc
        mapped = self._map_exception(exc)
        mapped.__cause__ = exc
        if isinstance(mapped, InternalError):
            log_unexpected(exc, request, call.scrubber)
        return mapped

    def _invoke_mapped(self, request: Any, call: Call) -> dict:
        scrubber = call.scrubber
        try:
            result = self._invoke(request, call)
            if call.connection_update is not None:
                result["connectionUpdate"] = call.connection_update
            return result
        except ConnectorError as exc:
            return envelope.error(exc, scrubber)
        except Exception as exc:  # noqa: BLE001 - the one place every failure is mapped
            mapped = self._map_exception(exc)
            mapped.__cause__ = exc  # kept for a caller that inspects it; not in the envelope
            if isinstance(mapped, InternalError):
                log_unexpected(exc, request, scrubber)
            return envelope.error(mapped, scrubber)

    def _invoke(self, request: Any, call: Call) -> dict:
        kind, operation, conn_op, fields, inputs = self._prepare(request, call)
        if kind != "trigger":
            return {"ok": True, "data": self._run(operation, conn_op, fields, inputs, call)}
        state = _checked_state(request)
        result = self._run(operation, conn_op, fields, {"state": state, **inputs}, call)
        if not (
            isinstance(result, dict)
            and isinstance(result.get("records"), list)
            and isinstance(result.get("state"), dict)
        ):
            raise InternalError(f"Trigger {operation.key} must return records, state and hasMore.")
        envelope_: dict[str, Any] = {
            "ok": True,
            "data": result["records"],
            "state": result["state"],
            "hasMore": bool(result.get("hasMore")),
        }
        follow_ups = result.get("followUps")
        if follow_ups is not None:
            if not isinstance(follow_ups, list) or len(follow_ups) != len(result["records"]):
                raise InternalError(
                    f"Trigger {operation.key} must return one followUps entry per record."
                )
            envelope_["followUps"] = follow_ups
        if result.get("sourceChanged"):
            envelope_["sourceChanged"] = True
        return envelope_

    def _prepare(self, request: Any, call: Call) -> tuple[str, Operation, Operation, dict, dict]:
        """The request checked: its kind, operation, connection, fields and inputs."""
        scrubber = call.scrubber
        if not isinstance(request, dict):
            raise InvalidInput(
                "The request must be a JSON object with action, connection and inputs.",
                path="request",
            )
        kind = kind_of(request)
        allowed = REQUEST_KINDS[kind]
        unknown = set(request) - allowed
        if unknown:
            raise InvalidInput(
                f"Unknown request keys: {', '.join(sorted(unknown))}; "
                f"expected {', '.join(sorted(allowed))}.",
                path="request",
            )
        conn_op, raw_fields = split_connection(self.manifest, request.get("connection"))
        if kind == "testConnection":
            if conn_op.test is None:
                raise InvalidInput(
                    f"The connection {conn_op.key!r} declares no test.", path="connection.key"
                )
            operation = conn_op.test
        else:
            operation = self._operation(kind, request.get(kind))
        raw_inputs = request.get("inputs")
        raw_inputs = {} if raw_inputs is None else raw_inputs
        if not isinstance(raw_inputs, dict):
            raise InvalidInput("inputs must be a JSON object of input key -> value.", path="inputs")
        for op, raw in ((conn_op, raw_fields), (operation, raw_inputs)):
            for key in op.secret_keys:
                scrubber.add(raw.get(key))
        fields: dict = {}
        inputs: dict = {}
        details: list = []
        try:
            fields = conn_op.inputs.resolve(raw_fields, "connection")
        except InvalidInput as exc:
            details += exc.details
        try:
            inputs = operation.inputs.resolve(raw_inputs, "inputs")
        except InvalidInput as exc:
            details += exc.details
        if details:
            more = f" (and {len(details) - 1} more)" if len(details) > 1 else ""
            raise InvalidInput(f"{details[0]['message']}{more}", details=details)
        return kind, operation, conn_op, fields, inputs

    def _call(
        self,
        action: Operation,
        conn_op: Operation,
        fields: dict,
        arguments: dict,
        call: Call,
        context: Context,
    ) -> Any:
        if call.pool is None or conn_op.pooling is None:  # (a connection that pools says so)
            session = self._open(conn_op, fields, call, context)
            try:
                with watching(session, call.deadline, call.timeout):
                    return action.handler(session, **arguments)
            finally:
                close_quietly(session)
        return self._run_pooled(action, conn_op, fields, arguments, call, context)

    def _run_pooled(
        self,
        action: Operation,
        conn_op: Operation,
        fields: dict,
        arguments: dict,
        call: Call,
        context: Context,
    ) -> Any:
        """The handler on a pooled session: reused when the fields match, discarded on error."""
        pool = call.pool
        assert pool is not None  # noqa: S101 - the caller checked
        keys = pool.keys(
            self.manifest.key, conn_op.key, fields, set(conn_op.secret_keys), call.tenant
        )
        pooled, call.pool_hit = pool.acquire(
            keys,
            lambda: _pooled_session(self._open(conn_op, fields, call, context), conn_op),
            wait=context.time_left() if call.deadline is not None else 60.0,
            cap=conn_op.pool_cap(pool.per_account),
        )
        try:
            # (a session cut at the deadline raises TIMEOUT here: never lent again)
            with watching(pooled.session, call.deadline, call.timeout):
                data = action.handler(pooled.session, **arguments)
        except BaseException as exc:  # (a login sent with the first command is refused here)
            pool.release(pooled, ok=False, failure=exc)
            raise
        pool.release(pooled, ok=True)
        return data

    def _open(self, conn_op: Operation, fields: dict, call: Call, context: Context) -> Any:
        """The connection handler's session; with OAuth 2.0 (``oauth2`` in the manifest), an
        expired (or, app-only, a missing) access token is fetched first, and a rejected one
        refreshed and tried once more."""

        def open_with(values: dict) -> Any:
            arguments = conn_op.arguments(values)
            if conn_op.wants_context:
                arguments["context"] = context
            return conn_op.handler(**arguments)

        refresh = None
        if conn_op.oauth2:
            from . import _oauth as oauth  # noqa: PLC0415 - a connection without OAuth never needs it

            refresh = oauth.Refresher.for_connection(conn_op, fields, call.scrubber)
            if refresh is None and not fields.get(oauth.ACCESS):
                raise oauth.missing_token(conn_op, fields)  # never a request with "Bearer None"
        call.refresher = refresh
        if refresh is not None and not call.refreshed and refresh.expired():
            fields = self._refresh(refresh, call, context)
        try:
            return open_with(fields)
        except AuthFailed:
            if refresh is None or call.refreshed:
                raise
            return open_with(self._refresh(refresh, call, context))

    @staticmethod
    def _refresh(refresh: oauth.Refresher, call: Call, context: Context) -> dict:
        fields = refresh.refresh(context)
        call.connection_update = refresh.update()
        call.refreshed = True
        return fields

    def pool_keys(
        self, request: Any, pool: SessionPool, tenant: str | None = None
    ) -> tuple[PoolKeys, int] | None:
        """The pool's keys of a request's connection (for ``tenant``) and its session cap,
        before running it (a host queues steps per session key and checks the login
        throttle); None when the connection does not pool or is not valid (invoke says
        why)."""
        try:
            conn_op, raw = split_connection(self.manifest, request.get("connection"))
            fields = conn_op.inputs.resolve(raw, "connection")
        except Exception:  # noqa: BLE001 - any problem: invoke reports it, as an envelope
            return None
        cap = conn_op.pool_cap(pool.per_account)
        if cap is None:
            return None
        keys = pool.keys(self.manifest.key, conn_op.key, fields, set(conn_op.secret_keys), tenant)
        return keys, cap

    def test_connection(self, connection: Any) -> dict:
        """Open a connection, run its test handler, close it; an envelope as from invoke."""
        return self.invoke({"testConnection": True, "connection": connection})

    def poll(
        self, trigger: str, connection: Any, inputs: dict | None = None, state: dict | None = None
    ) -> dict:
        """One poll of a trigger. The caller keeps the returned state for the next poll."""
        return self.invoke(
            {
                "trigger": trigger,
                "connection": connection,
                "inputs": inputs or {},
                "state": state or {},
            }
        )

    def _run(
        self, action: Operation, conn_op: Operation, fields: dict, inputs: dict, call: Call
    ) -> Any:
        """Open the connection, call the handler, check the result, always close."""
        context = call.context(self.manifest.key, conn_op.key)
        arguments = action.arguments(inputs)
        if action.wants_context:
            arguments["context"] = context
        try:
            data = self._call(action, conn_op, fields, arguments, call, context)
        except AuthFailed:
            # A token rejected by the handler's own request (a REST API's 401): refreshed
            # once, and the step runs again (the request was refused, so nothing happened).
            if call.refresher is None or call.refreshed:
                raise
            fields = self._refresh(call.refresher, call, context)
            data = self._call(action, conn_op, fields, arguments, call, context)
        problem = json_problem(data)
        if problem == INVALID_TEXT:
            data, repaired = valid_text(data)
            self.repaired_texts += repaired
            log.warning(
                "%s returned %d string(s) that are not valid Unicode; repaired",
                action.key,
                repaired,
            )
        elif problem:
            raise InternalError(f"{action.label} returned a value that is not JSON: {problem}")
        return data

    def _operation(self, kind: str, key: Any) -> Operation:
        table = self.manifest.table(kind)
        try:
            return table[key]
        except (KeyError, TypeError):
            known = ", ".join(table) or "none"
            raise UnknownAction(f"Unknown {KIND_LABELS[kind]} {key!r}. Known: {known}.") from None

    def _map_exception(self, exc: Exception) -> ConnectorError:
        """Give the connector's error hook a chance; anything left is a bug."""
        hook = self.manifest.error_handler
        if hook is not None:
            try:
                mapped = hook(exc)
            except Exception as hook_exc:  # noqa: BLE001 - a broken hook must not escape
                mapped = InternalError(
                    f"The error hook failed on {type(exc).__name__}: {type(hook_exc).__name__}"
                )
            if isinstance(mapped, ConnectorError):
                return mapped
        # Its text stays in the log: a bug's message may quote what a peer sent (a reply a
        # parser choked on) or any amount of it; the caller learns the kind and where to look.
        return InternalError(f"Unexpected {type(exc).__name__} (logged with its traceback).")


class Call:
    """What one ``invoke`` carries through: its secrets' scrubber, execution id, deadline, and
    a connection update (refreshed OAuth tokens) for the envelope."""

    def __init__(
        self,
        scrubber: Scrubber,
        execution_id: str | None,
        timeout: float | None,
        pool: SessionPool | None = None,
        connect_timeout: float | None = None,
    ):
        self.pool = pool
        self.connect_timeout = connect_timeout
        self.pool_hit: bool | None = None  # with a pool: whether the session was reused
        self.tenant: str | None = None  # with a pool: whose sessions
        self.scrubber = scrubber
        self.execution_id = execution_id or _new_execution_id()
        self.timeout = timeout
        self.deadline = time.monotonic() + timeout if timeout else None
        self.connection_update: dict | None = None
        self.refresher: oauth.Refresher | None = None  # the connection's, when it has one
        self.refreshed = False  # a token is refreshed at most once per step

    def context(self, connector_key: str, connection_key: str) -> Context:
        return Context(
            connector_key=connector_key,
            connection_key=connection_key,
            execution_id=self.execution_id,
            deadline=self.deadline,
            scrubber=self.scrubber,
            connect_timeout=self.connect_timeout,
        )


def _new_execution_id() -> str:
    """A random UUID (version 4) as 32 hex digits, as ``uuid.uuid4().hex`` (whose module
    costs a one-step process ~2 ms of imports)."""
    value = bytearray(os.urandom(16))
    value[6] = (value[6] & 0x0F) | 0x40  # version 4
    value[8] = (value[8] & 0x3F) | 0x80  # the RFC 4122 variant
    return value.hex()


def _applied(policy: EgressPolicy | None) -> AbstractContextManager[None]:
    """The egress policy a host passed, applied to the step; none: the current one stays
    (and a plain step does not import the policy module before it connects)."""
    if policy is None:
        return nullcontext()
    from . import _egress as egress  # noqa: PLC0415 - only a host passes a policy

    return egress.applied(policy)


def log_unexpected(exc: BaseException, request: Any, scrubber: Scrubber) -> None:
    """An exception nothing mapped (a bug): logged with its traceback, secrets masked."""
    what = "request"
    if isinstance(request, dict):
        kind = next((k for k in REQUEST_KINDS if k in request), None)
        if kind is not None:
            what = f"{kind} {request[kind]!r}" if kind != "testConnection" else "connection test"
    trace = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    log.error(
        "Unexpected %s in %s\n%s",
        type(exc).__name__,
        scrubber.text(SURROGATE.sub("\ufffd", what)),
        scrubber.text(SURROGATE.sub("\ufffd", trace)).rstrip(),
    )


def _pooled_session(session: Any, conn_op: Operation) -> Session:
    """A pooled connection's session: a ``Session`` (the pool resets, checks and closes it)."""
    lacking = missing(session)
    if lacking:
        close_quietly(session)
        raise InternalError(
            f"The connection {conn_op.key!r} pools its sessions, so its handler must return a "
            f"connector.sdk._session.Session; this one has no {', '.join(lacking)}()."
        )
    return session


def _checked_state(request: dict) -> dict:
    """A trigger request's state: the plain JSON object the previous poll returned, or {}."""
    state = request.get("state")
    state = {} if state is None else state
    if not isinstance(state, dict):
        raise InvalidInput(
            "state must be the JSON object the previous poll returned (or {} for the first poll).",
            path="state",
        )
    problem = plain_json_problem(state)
    if problem:
        raise InvalidInput(
            f"state {problem}: pass the state the previous poll returned.", path="state"
        )
    return state
