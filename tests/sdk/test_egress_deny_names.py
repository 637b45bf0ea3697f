"""Deny rules hold for every name and address of a destination: a denied name's addresses
are denied whatever the step calls them (kept a TTL, the last ones while DNS fails), and a
denied IPv4 address in its IPv6 spellings."""

from __future__ import annotations

import logging
from dataclasses import replace

import pytest

from connector.sdk._denied_names import DeniedNames
from connector.sdk._egress import EgressPolicy
from connector.sdk.errors import DestinationNotAllowed
from tests.sdk.zone import Zone


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


MAIL = "93.184.216.34"
ZONE = {
    "mail.victim.example": [MAIL, "2606:2800:220:1::1"],
    "alias.attacker.example": [MAIL],  # another name, the same server
    "mail.other.example": ["8.8.8.8"],
}


def policy(zone: Zone, *deny: str, clock: Clock | None = None, **options) -> EgressPolicy:
    made = EgressPolicy.create(deny_hosts=deny, **options).with_resolver(zone)
    if clock is not None:
        made = replace(made, denied_names=DeniedNames(clock=clock))
    return made


def refused(policy_: EgressPolicy, host: str) -> DestinationNotAllowed:
    with pytest.raises(DestinationNotAllowed) as info:
        policy_.addresses(host, 993)
    return info.value


@pytest.mark.parametrize(
    "spelling",
    [
        "mail.victim.example",  # the name
        "MAIL.Victim.Example.",
        MAIL,  # its address
        "alias.attacker.example",  # another name resolving to it
        "2606:2800:220:1::1",  # its IPv6 address
        f"::ffff:{MAIL}",  # IPv6 spellings of its IPv4 address
        "64:ff9b::5db8:d822",
        "2002:5db8:d822::1",
    ],
)
def test_a_denied_name_is_refused_whatever_the_step_calls_it(spelling):
    error = refused(policy(Zone(ZONE), "mail.victim.example"), spelling)
    assert error.code == "DESTINATION_NOT_ALLOWED" and error.status == 403
    assert error.details == [{"rule": "denyHosts"}] and "--deny-hosts" in error.message
    assert MAIL not in error.message.replace(repr(spelling), "")  # never the addresses


def test_a_denied_name_refuses_nothing_else():
    checked = policy(Zone(ZONE), "mail.victim.example")
    assert checked.addresses("mail.other.example", 993)
    assert checked.addresses("8.8.4.4", 993)


def test_a_denied_name_wins_over_an_allowance_and_holds_when_permissive():
    zone = Zone({**ZONE, "mail.corp.example": ["10.1.2.3"], "intranet.example": ["10.1.2.3"]})
    allowed = policy(zone, "mail.corp.example", allow_hosts=["intranet.example", "10.0.0.0/8"])
    assert refused(allowed, "intranet.example").details == [{"rule": "denyHosts"}]
    assert refused(allowed, "10.1.2.3").details == [{"rule": "denyHosts"}]
    assert allowed.addresses("10.1.2.4", 993)  # the allowance still stands for the rest
    permissive = policy(zone, "mail.victim.example", restricted=False)
    assert refused(permissive, MAIL).details == [{"rule": "denyHosts"}]


@pytest.mark.parametrize(
    ("deny", "spelling"),
    [
        ("93.184.0.0/16", f"::ffff:{MAIL}"),  # IPv4-mapped
        ("93.184.0.0/16", "64:ff9b::5db8:d822"),  # NAT64
        ("93.184.216.34", "::93.184.216.34"),  # IPv4-compatible
        ("8.8.8.8", "2001:0:4136:e378:8000:63bf:f7f7:f7f7"),  # Teredo, client 8.8.8.8
    ],
)
def test_a_denied_ipv4_network_is_denied_in_its_ipv6_spellings(deny, spelling):
    checked = policy(Zone(ZONE), deny, restricted=False)  # (no address class in the way)
    assert refused(checked, spelling).details == [{"rule": "denyHosts"}]


def test_denied_names_are_resolved_once_per_ttl_then_again():
    zone, clock = Zone(dict(ZONE)), Clock()
    checked = policy(zone, "mail.victim.example", clock=clock)
    for _ in range(20):
        refused(checked, MAIL)
        assert checked.addresses("8.8.8.8", 993)
    assert zone.lookups["mail.victim.example"] == 1
    # The server moves: within the TTL its old address stays denied, after it the new one is.
    zone.records["mail.victim.example"] = ["8.8.8.8"]
    clock.now += 59
    refused(checked, MAIL)
    assert checked.addresses("8.8.8.8", 993)
    clock.now += 2
    refused(checked, "8.8.8.8")
    assert checked.addresses(MAIL, 993)
    assert zone.lookups["mail.victim.example"] == 2


def test_a_denied_name_that_stops_resolving_keeps_its_last_addresses(caplog):
    zone, clock = Zone(dict(ZONE)), Clock()
    checked = policy(zone, "mail.victim.example", clock=clock)
    refused(checked, MAIL)
    zone.broken.add("mail.victim.example")
    clock.now += 61
    with caplog.at_level(logging.WARNING, logger="connector.sdk"):
        refused(checked, MAIL)  # DNS fails: what it was stays refused
        refused(checked, MAIL)  # (tried again only after a pause)
    assert zone.lookups["mail.victim.example"] == 2
    assert "does not resolve" in caplog.text and "last had" in caplog.text
    clock.now += 6
    refused(checked, MAIL)
    assert zone.lookups["mail.victim.example"] == 3


def test_a_denied_name_that_never_resolved_is_refused_by_name_and_others_pass():
    zone = Zone(ZONE)
    checked = policy(zone, "gone.example")
    assert refused(checked, "gone.example").details == [{"rule": "denyHosts"}]
    assert checked.addresses(MAIL, 993)


def test_wildcards_and_networks_are_never_looked_up():
    zone = Zone(ZONE)
    checked = policy(zone, "*.victim.example", "10.0.0.0/8")
    refused(checked, "mail.victim.example")  # by name
    assert checked.addresses(MAIL, 993)  # a wildcard names no address: deny its network too
    assert set(zone.lookups) == {MAIL}


def attempt(policy_: EgressPolicy, host: str) -> str:
    try:
        policy_.addresses(host, 993)
    except DestinationNotAllowed as exc:
        return exc.details[0]["rule"]
    return "allowed"
