"""``connector.sdk.egress.connect`` without a policy connects without loading the policy's
module; any policy (the environment's, or one a host applied) still goes through it."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import pytest

from connector.sdk import _egress, egress
from connector.sdk._egress import EgressPolicy
from connector.sdk.errors import DestinationNotAllowed

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# Connects to a listener of its own; prints whether the policy's module was loaded.
SCRIPT = """\
import json, socket, sys
from connector.sdk import egress
from connector.sdk.errors import DestinationNotAllowed
listener = socket.create_server(("127.0.0.1", 0))
try:
    sock = egress.connect("127.0.0.1", listener.getsockname()[1], timeout=5)
    outcome = "connected"
    sock.close()
except DestinationNotAllowed as exc:
    outcome = exc.code
print(json.dumps([outcome, "connector.sdk._egress" in sys.modules]))
"""


def connect_in_a_process(**environ: str) -> list:
    env = {k: v for k, v in os.environ.items() if k not in egress._POLICY_ENVIRONMENT}
    ran = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**env, **environ},
        timeout=60,
    )
    assert ran.returncode == 0, ran.stderr
    return json.loads(ran.stdout)


def test_the_fast_path_knows_every_variable_of_a_policy():
    names = {value for name, value in vars(_egress).items() if name.startswith("ENV_")}
    assert set(egress._POLICY_ENVIRONMENT) == names


def test_no_policy_connects_without_loading_the_policy():
    assert connect_in_a_process() == ["connected", False]


@pytest.mark.parametrize(
    "environ",
    [
        {"CONNECTOR_EGRESS": "restricted"},
        {"CONNECTOR_DENY_HOSTS": "127.0.0.0/8"},
        {"CONNECTOR_ALLOW_PORTS": "993"},
        {"CONNECTOR_ALLOW_HOSTS": "mail.example"},  # (an allow list restricts the rest)
    ],
)
def test_a_policy_in_the_environment_still_refuses(environ):
    assert connect_in_a_process(**environ) == ["DESTINATION_NOT_ALLOWED", True]


def test_a_permissive_environment_goes_through_the_policy_and_connects():
    assert connect_in_a_process(CONNECTOR_EGRESS="permissive") == ["connected", True]


def test_a_policy_a_host_applied_still_refuses():
    listener = socket.create_server(("127.0.0.1", 0))
    try:
        with _egress.applied(EgressPolicy()):
            with pytest.raises(DestinationNotAllowed):
                egress.connect("127.0.0.1", listener.getsockname()[1], timeout=5)
    finally:
        listener.close()


@pytest.mark.parametrize(
    "answer", [[], socket.gaierror(socket.EAI_NONAME, "Name or service not known")]
)
def test_a_name_that_does_not_resolve_is_an_os_error_on_the_fast_path(monkeypatch, answer):
    def resolver(*args):
        if isinstance(answer, Exception):
            raise answer
        return answer

    monkeypatch.delitem(sys.modules, "connector.sdk._egress")  # (as in a one-step process)
    monkeypatch.setattr(socket, "getaddrinfo", resolver)
    with pytest.raises(OSError):
        egress.connect("mail.example", 993, timeout=5)
