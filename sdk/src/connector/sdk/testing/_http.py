"""A fake HTTP service for a REST connector's tests: a real server on 127.0.0.1 (the
connector's real client talks to it over real sockets), with routes, faults and an OAuth 2.0
token endpoint.

    with FakeHttpServer() as api:
        api.route("GET", "/issues", json=[{"id": 1}])
        api.fail("GET", "/issues", status=429, times=1, retry_after=1)
        api.oauth(client_id="app", client_secret="s3cret", refresh_token="r1")
        ...  api.url, api.requests (what the connector sent)
"""

from __future__ import annotations

import json
import re
import selectors
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

if TYPE_CHECKING:
    import ssl


@dataclass(frozen=True)
class Upload:
    """One file of a multipart request (``Request.files``)."""

    filename: str | None
    content_type: str
    content: bytes


@dataclass
class Request:
    """What the connector sent: ``method``, ``path``, ``params`` (the query), ``headers``
    (lower-case names), ``body`` (bytes), ``path_params`` (a route's ``{name}`` parts); and
    read from the body: ``json``, ``form`` (url-encoded or a multipart's plain fields),
    ``files`` (a multipart's files, by field) and ``bearer`` (the Authorization token)."""

    method: str
    path: str
    params: dict[str, str]
    headers: dict[str, str]
    body: bytes
    path_params: dict[str, str] = field(default_factory=dict)

    @property
    def json(self) -> Any:
        return json.loads(self.body or b"null")

    @property
    def form(self) -> dict[str, str]:
        if self._multipart() is not None:
            return {k: v for k, v in self._parts().items() if isinstance(v, str)}
        return {k: v[0] for k, v in parse_qs(self.body.decode("utf-8", "replace")).items()}

    @property
    def files(self) -> dict[str, Upload]:
        return {k: v for k, v in self._parts().items() if isinstance(v, Upload)}

    def _multipart(self) -> str | None:
        kind = self.headers.get("content-type", "")
        return kind if kind.lower().startswith("multipart/form-data") else None

    def _parts(self) -> dict[str, str | Upload]:
        """A multipart/form-data body's parts by field: text, or an Upload with a file name."""
        kind = self._multipart()
        if kind is None:
            return {}
        head = f"Content-Type: {kind}\r\nMIME-Version: 1.0\r\n\r\n".encode()
        message = BytesParser(policy=HTTP).parsebytes(head + self.body)
        parts: dict[str, str | Upload] = {}
        for part in message.iter_parts() if message.is_multipart() else ():
            name = part.get_param("name", header="content-disposition")
            payload = part.get_payload(decode=True)
            content = payload if isinstance(payload, bytes) else b""
            filename = part.get_filename()
            if not isinstance(name, str):
                continue
            if filename is None and "content-type" not in part:
                parts[name] = content.decode("utf-8", "replace")
            else:
                parts[name] = Upload(filename, part.get_content_type(), content)
        return parts

    @property
    def bearer(self) -> str | None:
        scheme, _, token = self.headers.get("authorization", "").partition(" ")
        return token if scheme.lower() == "bearer" else None


@dataclass
class Reply:
    status: int = 200
    json: Any = None
    body: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)


Responder = Callable[[Request], Any]
TOKEN_PATH = "/oauth/token"  # noqa: S105 - a path


@dataclass
class _Fault:
    kind: str  # "status", "slow", "drop"
    times: int
    status: int = 500
    seconds: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)


class _Server(ThreadingHTTPServer):
    """A threading HTTP server that stops at once. socketserver's ``serve_forever`` sees
    ``shutdown()`` only at its next poll (half a second by default): every test that closed
    a fake service waited for it. This loop also watches a socket that ``stop()`` writes to."""

    daemon_threads = True
    timeout = 0  # (handle_request, called once the listener is ready, never blocks)

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler]) -> None:
        super().__init__(address, handler)
        self._woken, self._waker = socket.socketpair()

    def serve(self) -> None:
        with selectors.DefaultSelector() as selector:
            selector.register(self, selectors.EVENT_READ)
            selector.register(self._woken, selectors.EVENT_READ)
            while True:
                ready = {key.fileobj for key, _ in selector.select()}
                if self._woken in ready:
                    return
                self.handle_request()

    def stop(self) -> None:
        """Wake ``serve`` (in its thread) to return; then ``server_close``."""
        self._waker.send(b"\0")

    def server_close(self) -> None:
        super().server_close()
        self._woken.close()
        self._waker.close()


class FakeHttpServer:
    """``host``/``port``: where it listens (any loopback address: 127.0.0.0/8); with ``tls``
    (a server-side SSLContext) it speaks https, as a real token endpoint does on 443; ``log``
    gets a line per request answered (``connector fake`` prints them)."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        tls: ssl.SSLContext | None = None,
        log: Callable[[str], None] | None = None,
    ) -> None:
        self.requests: list[Request] = []
        self._routes: list[tuple[str, re.Pattern[str], Responder]] = []
        self._faults: dict[tuple[str, str], list[_Fault]] = {}
        self._lock = threading.Lock()
        self.valid_tokens: set[str] = set()
        self._oauth: dict[str, Any] | None = None
        self._issued = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # A reply is written in two sends (headers, body): with Nagle's algorithm the body
            # waited for the client's delayed ACK, 40 ms a request on a kept-alive connection.
            disable_nagle_algorithm = True

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib's
                pass

            def _any(self) -> None:
                server._handle(self)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _any  # noqa: N815

        self.log = log
        self._server = _Server((host, port), Handler)
        if tls is not None:  # (each connection's handshake in its own thread, not accept's)
            self._server.socket = tls.wrap_socket(
                self._server.socket, server_side=True, do_handshake_on_connect=False
            )
        self.port = self._server.server_address[1]
        scheme = "https" if tls is not None else "http"
        default = 443 if tls is not None else 80
        self.url = f"{scheme}://{host}{f':{self.port}' if self.port != default else ''}"
        self._thread = threading.Thread(target=self._server.serve, daemon=True)
        self._thread.start()

    # -- set-up

    def route(
        self,
        method: str,
        path: str,
        respond: Responder | None = None,
        *,
        json: Any = None,
        status: int = 200,
        headers: dict[str, str] | None = None,
    ) -> None:
        """Answer ``method path`` (``{name}`` matches one path segment) with ``respond``'s
        return (a JSON value, or a ``Reply``), or with ``json``/``status``/``headers``."""
        pattern = re.compile("^" + re.sub(r"\\{(\w+)\\}", r"(?P<\1>[^/]+)", re.escape(path)) + "$")
        fixed = Reply(status, json, None, dict(headers or {}))
        self._routes.insert(0, (method.upper(), pattern, respond or (lambda request: fixed)))

    def fail(
        self,
        method: str,
        path: str,
        *,
        status: int = 500,
        times: int = 1,
        retry_after: str | float | None = None,
    ) -> None:
        """The next ``times`` requests answer ``status`` (with Retry-After when given)."""
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
        self._fault(method, path, _Fault("status", times, status=status, headers=headers))

    def slow(self, method: str, path: str, seconds: float, *, times: int = 1) -> None:
        """The next ``times`` requests wait ``seconds`` before answering."""
        self._fault(method, path, _Fault("slow", times, seconds=seconds))

    def drop(self, method: str, path: str, *, times: int = 1) -> None:
        """The next ``times`` requests get no answer: the connection is closed."""
        self._fault(method, path, _Fault("drop", times))

    def oauth(
        self,
        *,
        client_id: str,
        client_secret: str | None = None,
        refresh_token: str | None = None,
        rotate: bool = True,
        scope: str | None = None,
        expires_in: int = 3600,
        path: str = TOKEN_PATH,
        access_token: str | None = None,
    ) -> None:
        """Serve ``POST path`` (``/oauth/token``): grant ``refresh_token`` (the given one; a
        new refresh token each time with ``rotate``) and ``client_credentials`` (app-only,
        checking ``scope`` when given). Issued access tokens (``access_token`` each time,
        when given) go to ``valid_tokens``."""
        self._oauth = {
            "client_id": client_id,
            "client_secret": client_secret,
            "refresh_token": refresh_token,
            "rotate": rotate,
            "scope": scope,
            "expires_in": expires_in,
            "path": path,
            "access_token": access_token,
        }

    def issue_token(self) -> str:
        with self._lock:
            self._issued += 1
            token = f"access-{self._issued}"
            self.valid_tokens.add(token)
        return token

    def authorized(self, request: Request) -> bool:
        return request.bearer in self.valid_tokens

    # -- serving

    def _fault(self, method: str, path: str, fault: _Fault) -> None:
        with self._lock:
            self._faults.setdefault((method.upper(), path), []).append(fault)

    def _take_fault(self, method: str, path: str) -> _Fault | None:
        with self._lock:
            queue = self._faults.get((method, path)) or []
            if not queue:
                return None
            fault = queue[0]
            fault.times -= 1
            if fault.times <= 0:
                queue.pop(0)
            return fault

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(handler.path)
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else b""
        request = Request(
            handler.command,
            parts.path,
            {k: v[0] for k, v in parse_qs(parts.query).items()},
            {k.lower(): v for k, v in handler.headers.items()},
            body,
        )
        with self._lock:
            self.requests.append(request)
        fault = self._take_fault(request.method, request.path)
        if fault is not None and fault.kind == "drop":
            handler.close_connection = True
            handler.connection.close()
            return
        if fault is not None and fault.kind == "slow":
            time.sleep(fault.seconds)
        if fault is not None and fault.kind == "status":
            reply = Reply(fault.status, {"message": f"fault {fault.status}"}, None, fault.headers)
        elif self._oauth and request.method == "POST" and request.path == self._oauth["path"]:
            reply = self._token(request)
        else:
            reply = self._route(request)
        self._send(handler, reply)
        if self.log is not None:
            self.log(f"{request.method} {handler.path} -> {reply.status}")

    def _route(self, request: Request) -> Reply:
        for method, pattern, respond in self._routes:
            found = pattern.match(request.path)
            if method == request.method and found:
                request.path_params = found.groupdict()
                answer = respond(request)
                return answer if isinstance(answer, Reply) else Reply(200, answer)
        return Reply(404, {"message": f"no route {request.method} {request.path}"})

    def _token(self, request: Request) -> Reply:
        config = self._oauth or {}
        form = request.form
        if form.get("client_id") != config["client_id"] or (
            config["client_secret"] is not None
            and form.get("client_secret") != config["client_secret"]
        ):
            return Reply(401, {"error": "invalid_client"})
        grant = form.get("grant_type")
        answer: dict[str, Any] = {"token_type": "Bearer", "expires_in": config["expires_in"]}
        if grant == "refresh_token":
            if form.get("refresh_token") != config["refresh_token"]:
                return Reply(400, {"error": "invalid_grant"})
            if config["rotate"]:
                config["refresh_token"] = f"refresh-{self._issued + 1}"
                answer["refresh_token"] = config["refresh_token"]
        elif grant == "client_credentials":
            if config["scope"] is not None and form.get("scope") != config["scope"]:
                return Reply(400, {"error": "invalid_scope"})
        else:
            return Reply(400, {"error": "unsupported_grant_type"})
        answer["access_token"] = config["access_token"] or self.issue_token()
        self.valid_tokens.add(answer["access_token"])
        return Reply(200, answer)

    @staticmethod
    def _send(handler: BaseHTTPRequestHandler, reply: Reply) -> None:
        body = reply.body if reply.body is not None else json.dumps(reply.json).encode()
        handler.send_response(reply.status)
        headers = {"Content-Type": "application/json", **reply.headers}
        for name, value in headers.items():
            handler.send_header(name, value)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        if handler.command != "HEAD":
            handler.wfile.write(body)

    # -- lifetime

    def close(self) -> None:
        self._server.stop()
        self._thread.join()
        self._server.server_close()

    def __enter__(self) -> FakeHttpServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
