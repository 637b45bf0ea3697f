"""The egress policy: every refused class in every spelling, one resolution per connection,
the operator's allowances, and refusals that never name an address."""

from __future__ import annotations

import ipaddress
import socket
import threading

import pytest

from connector.sdk import _egress as egress
from connector.sdk._egress import EgressPolicy, address_class
from connector.sdk.errors import DestinationNotAllowed

REFUSED = {
    "127.0.0.1": "loopback",
    "127.255.0.9": "loopback",
    "::1": "loopback",
    "0.0.0.0": "unspecified",
    "0.1.2.3": "unspecified",
    "::": "unspecified",
    "10.1.2.3": "private",
    "172.16.0.1": "private",
    "172.31.255.254": "private",
    "192.168.1.1": "private",
    "100.64.0.1": "shared (CGNAT)",
    "100.127.255.254": "shared (CGNAT)",
    "169.254.169.254": "link-local (cloud metadata)",
    "fe80::1": "link-local (cloud metadata)",
    "fd00::1": "unique-local",
    "fc00::5": "unique-local",
    "224.0.0.1": "multicast",
    "ff02::1": "multicast",
    "240.0.0.1": "reserved",
    "255.255.255.255": "reserved",
    "192.0.2.10": "reserved",  # documentation
    "198.18.0.1": "reserved",  # benchmarking
    # IPv6 spellings of IPv4 addresses: classed by the address inside.
    "::ffff:127.0.0.1": "loopback, in an IPv6 form",
    "::ffff:10.0.0.1": "private, in an IPv6 form",
    "::ffff:169.254.169.254": "link-local (cloud metadata), in an IPv6 form",
    "2002:7f00:1::1": "loopback, in an IPv6 form",  # 6to4 of 127.0.0.1
    "2002:a00:1::": "private, in an IPv6 form",  # 6to4 of 10.0.0.1
    "64:ff9b::7f00:1": "loopback, in an IPv6 form",  # NAT64 of 127.0.0.1
    "64:ff9b::a9fe:a9fe": "link-local (cloud metadata), in an IPv6 form",
    "::127.0.0.1": "loopback, in an IPv6 form",  # IPv4-compatible (deprecated)
    # IPv6 ranges no mail server is on (connector.sdk._addresses says why, per range).
    "fec0::1": "site-local",  # deprecated (RFC 3879), a site's private network
    "feff:ffff::1": "site-local",
    "3ffe:b00::1": "reserved",  # 6bone, returned (RFC 3701)
    "2001:db8::1": "reserved",  # documentation
    "3fff::1": "reserved",  # documentation (RFC 9637)
    "2001:10::1": "reserved",  # ORCHID (deprecated)
    "2001:20::1": "reserved",  # ORCHIDv2
    "2001:2::1": "reserved",  # benchmarking
    "2001:3::1": "reserved",  # AMT, within the IETF protocol assignments 2001::/23
    "100::1": "reserved",  # discard-only
    "5f00::1": "reserved",  # SRv6 SIDs
    "4000::1": "reserved",  # outside global unicast 2000::/3
    "64:ff9b:1::808:808": "local-use NAT64",  # RFC 8215: an operator's own translator
    "64:ff9b:1:ffff::1": "local-use NAT64",
    # Teredo: refused whatever it embeds; classed by the client (or server) IPv4 inside
    # when that one is internal (the client is stored inverted).
    "2001:0:4136:e378:8000:63bf:f7f7:f7f7": "tunnel (Teredo)",  # client 8.8.8.8
    "2001:0:4136:e378::80ff:fffe": "loopback, in an IPv6 form",  # client 127.0.0.1
    "2001:0:a00:1::f7f7:f7f7": "private, in an IPv6 form",  # server 10.0.0.1
    # IPv4 special-purpose blocks, whatever Python's ipaddress thinks of them.
    "192.0.0.9": "reserved",  # PCP anycast, within the IETF protocol assignments
    "192.88.99.1": "reserved",  # 6to4 relay anycast (deprecated)
    "198.51.100.7": "reserved",
    "203.0.113.7": "reserved",
}
PUBLIC = [
    "93.184.216.34",
    "8.8.8.8",
    "2606:2800:220:1::1",
    "::ffff:8.8.8.8",
    "64:ff9b::808:808",
    "2a00:1450:400c:c0b::6d",  # a mail server's IPv6 address
    "2002:808:808::1",  # 6to4 of a public address
]


@pytest.mark.parametrize(("address", "expected"), sorted(REFUSED.items()))
def test_every_refused_class(address, expected):
    assert address_class(ipaddress.ip_address(address)) == expected


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_pass(address):
    assert address_class(ipaddress.ip_address(address)) is None


def resolving_to(*addresses: str, calls: list | None = None):
    """A test resolver: every name resolves to ``addresses``."""

    def resolve(host, port, family=0, kind=0, *rest):
        if calls is not None:
            calls.append(host)
        out = []
        for address in addresses:
            ip = ipaddress.ip_address(address)
            fam = socket.AF_INET6 if ip.version == 6 else socket.AF_INET
            sockaddr = (address, port, 0, 0) if ip.version == 6 else (address, port)
            out.append((fam, socket.SOCK_STREAM, 6, "", sockaddr))
        return out

    return resolve


@pytest.mark.parametrize("host", ["127.1", "2130706433", "0x7f000001", "0177.0.0.1", "localhost"])
def test_literal_spellings_of_loopback_are_refused_by_the_real_resolver(host):
    with pytest.raises(DestinationNotAllowed) as info:
        EgressPolicy().addresses(host, 993)
    assert "loopback" in info.value.message
    assert "127.0.0.1" not in info.value.message and "::1" not in info.value.message


def test_a_name_is_refused_when_any_of_its_addresses_is():
    policy = EgressPolicy().with_resolver(resolving_to("93.184.216.34", "10.0.0.7"))
    with pytest.raises(DestinationNotAllowed) as info:
        policy.addresses("mail.example.com", 993)
    message = info.value.message
    assert "'mail.example.com'" in message and "private" in message
    assert "10.0.0.7" not in message and "93.184" not in message  # never the addresses
    assert info.value.code == "DESTINATION_NOT_ALLOWED" and info.value.status == 403
    assert info.value.retryable is False


def test_ports_are_checked_before_anything_is_resolved():
    calls: list = []
    policy = EgressPolicy.create(allow_ports=[143, 993]).with_resolver(
        resolving_to("93.184.216.34", calls=calls)
    )
    with pytest.raises(DestinationNotAllowed, match="Port 22 is not allowed"):
        policy.addresses("mail.example.com", 22)
    assert calls == []
    assert policy.addresses("mail.example.com", 993)


def test_allow_hosts_by_name_by_wildcard_and_by_network():
    private = resolving_to("10.1.2.3")
    by_name = EgressPolicy.create(allow_hosts=["mail.corp.example"]).with_resolver(private)
    assert by_name.addresses("Mail.Corp.Example.", 993)  # case and a trailing dot
    with pytest.raises(DestinationNotAllowed):
        by_name.addresses("other.corp.example", 993)
    wildcard = EgressPolicy.create(allow_hosts=["*.corp.example"]).with_resolver(private)
    assert wildcard.addresses("imap.eu.corp.example", 993)
    with pytest.raises(DestinationNotAllowed):
        wildcard.addresses("corp.example", 993)  # *.x is below x, not x itself
    with pytest.raises(DestinationNotAllowed):
        wildcard.addresses("evilcorp.example", 993)
    network = EgressPolicy.create(allow_hosts=["10.0.0.0/8"]).with_resolver(private)
    assert network.addresses("anything.example", 993)


def test_an_allowed_name_does_not_allow_other_spellings_of_its_address():
    policy = EgressPolicy.create(allow_hosts=["localhost"])
    assert policy.addresses("localhost", 993)
    for other in ("127.1", "127.0.0.1", "2130706433"):
        with pytest.raises(DestinationNotAllowed):
            policy.addresses(other, 993)


def test_deny_hosts_win_over_everything():
    policy = EgressPolicy.create(
        allow_hosts=["*.example.com", "93.0.0.0/8"], deny_hosts=["bad.example.com", "93.184.0.0/16"]
    ).with_resolver(resolving_to("93.184.216.34"))
    with pytest.raises(DestinationNotAllowed, match="deny-hosts"):
        policy.addresses("bad.example.com", 993)
    with pytest.raises(DestinationNotAllowed, match="deny-hosts"):
        policy.addresses("good.example.com", 993)  # its address is denied


def test_allow_private_opens_private_networks_only():
    policy = EgressPolicy.create(allow_private=True)
    for address in ("10.1.2.3", "100.64.1.1", "fd00::2", "::ffff:192.168.0.1"):
        assert policy.with_resolver(resolving_to(address)).addresses("h.example", 993)
    for address in ("127.0.0.1", "169.254.169.254", "0.0.0.0", "224.0.0.1", "::ffff:127.0.0.1"):
        with pytest.raises(DestinationNotAllowed):
            policy.with_resolver(resolving_to(address)).addresses("h.example", 993)


def test_permissive_refuses_only_what_the_operator_denied():
    policy = EgressPolicy.permissive().with_resolver(resolving_to("127.0.0.1"))
    assert policy.addresses("localhost", 1234)
    denied = EgressPolicy.create(deny_hosts=["127.0.0.0/8"], restricted=False)
    with pytest.raises(DestinationNotAllowed):
        denied.with_resolver(resolving_to("127.0.0.1")).addresses("localhost", 1234)


def test_the_environment_sets_the_cli_policy():
    assert EgressPolicy.from_env({}).restricted is False
    env = {"CONNECTOR_ALLOW_HOSTS": "a.example, 10.0.0.0/8", "CONNECTOR_ALLOW_PORTS": "993"}
    policy = EgressPolicy.from_env(env)
    assert policy.restricted and policy.allow_ports == {993}
    assert [r.text for r in policy.allow_hosts] == ["a.example", "10.0.0.0/8"]
    assert EgressPolicy.from_env({"CONNECTOR_EGRESS": "restricted"}).restricted
    with pytest.raises(ValueError, match="not a port"):
        EgressPolicy.from_env({"CONNECTOR_ALLOW_PORTS": "99999"})
    with pytest.raises(ValueError, match="neither a host name"):
        EgressPolicy.create(allow_hosts=["*"])


def test_connect_resolves_once_and_connects_to_the_checked_address():
    """DNS rebinding: a second lookup could answer 127.0.0.1. There is none."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    accepted: list = []
    thread = threading.Thread(target=lambda: accepted.append(listener.accept()), daemon=True)
    thread.start()
    answers = iter([["127.0.0.1"], ["10.0.0.1"]])  # first answer allowed, second not
    calls: list = []

    def rebinding(host, port_, *rest):
        calls.append(host)
        return resolving_to(*next(answers))(host, port_)

    policy = EgressPolicy.create(allow_hosts=["127.0.0.1/32"]).with_resolver(rebinding)
    sock = egress.connect("rebind.example", port, timeout=5, policy=policy)
    thread.join(5)
    assert calls == ["rebind.example"] and sock.getpeername()[0] == "127.0.0.1" and accepted
    sock.close()
    accepted[0][0].close()
    listener.close()


def test_the_current_policy_applies_to_connect_within_its_block():
    with egress.applied(EgressPolicy()):
        with pytest.raises(DestinationNotAllowed):
            egress.connect("127.0.0.1", 993, timeout=1)
    assert egress.current().restricted is False  # back to the environment's
