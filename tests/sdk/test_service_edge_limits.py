"""The edge's per-client key (one IPv4 address, one IPv6 /64) and the open-files limit the
service raises at start (each connection holds a file)."""

from __future__ import annotations

import resource
import subprocess
import sys

import pytest

from connector.sdk.service.edge import client_key


@pytest.mark.parametrize(
    "peer,key",
    [
        (("203.0.113.7", 50000), "203.0.113.7"),
        (("2001:db8:1:2:aaaa::1", 50000, 0, 0), "2001:db8:1:2::/64"),
        (("2001:db8:1:2:ffff::9", 1, 0, 0), "2001:db8:1:2::/64"),  # same /64, same client
        (("fe80::1%eth0", 1, 0, 2), "fe80::/64"),
        (("::ffff:198.51.100.4", 1, 0, 0), "198.51.100.4"),  # the IPv4 client it is
        ("/run/connector.sock", None),
        (None, None),
        (("not-an-address", 1), None),
    ],
)
def test_client_key(peer, key):
    assert client_key(peer) == key


def test_the_open_files_limit_is_raised_to_the_hard_one():
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    low = min(256, hard)

    def lowered() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (low, hard))

    script = (
        "import resource; from connector.sdk.service.edge import raise_open_file_limit as r;"
        "print(resource.getrlimit(resource.RLIMIT_NOFILE)[0], r()[0])"
    )
    out = subprocess.run(
        [sys.executable, "-c", script],
        preexec_fn=lowered,  # (the child's own limit, set before it runs)
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert [int(x) for x in out] == [low, hard]
