"""Everything ``serve`` writes on stderr is a JSON line (the README says warnings and errors
are): uvicorn's own warnings too, such as "Invalid HTTP request received." for a request
that is not HTTP, in one worker and in several."""

from __future__ import annotations

import json
import socket
import time

import pytest

from tests.servers.service import Service


def malformed_request(port: int) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(b"NOT HTTP AT ALL\x00\x01\r\n\r\n")
        try:
            sock.recv(4096)  # uvicorn's 400, or the close
        except OSError:
            pass


def json_lines(text: str) -> list[dict]:
    lines = [line for line in text.splitlines() if line.strip()]
    for line in lines:
        assert line.startswith("{"), f"not a JSON line: {line!r}"
    return [json.loads(line) for line in lines]


@pytest.mark.parametrize("workers", ["1", "2"])
def test_uvicorns_warnings_are_json_lines(tmp_path, workers):
    service = Service(tmp_path, "--workers", workers)
    try:
        malformed_request(service.port)
        deadline = time.monotonic() + 10
        while "Invalid HTTP request" not in service.log() and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        service.stop()
    lines = json_lines(service.log())
    invalid = [line for line in lines if line.get("message") == "Invalid HTTP request received."]
    assert invalid, lines
    assert invalid[0]["level"] == "warning" and invalid[0]["logger"].startswith("uvicorn")
