"""The egress policy's denied names on the clock (connector.sdk._denied_names): steps
checked while a denied name's lookup is out (it takes 0.2 s) wait for that one lookup.
With the zone and policy of tests/sdk/test_egress_deny_names.py."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

from tests.sdk.test_egress_deny_names import MAIL, ZONE, attempt, policy
from tests.sdk.zone import Zone


def test_steps_checked_while_a_denied_name_resolves_wait_for_its_one_lookup():
    zone = Zone(ZONE)

    def slow(host, *rest):
        if host == "mail.victim.example":
            time.sleep(0.2)  # (no step may pass while this lookup is out)
        return zone(host, *rest)

    checked = policy(slow, "mail.victim.example")
    with ThreadPoolExecutor(8) as pool:
        outcomes = list(pool.map(lambda _: attempt(checked, MAIL), range(8)))
    assert outcomes == ["denyHosts"] * 8
    assert zone.lookups["mail.victim.example"] == 1
