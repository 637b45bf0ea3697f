"""Which IP addresses a hosted step must not reach, and why: the address classes.

OWASP's SSRF guidance: check the address you will connect to, and refuse what is not a
public unicast address of the Internet. The classes follow IANA's special-purpose address
registries, written out here rather than taken from ``ipaddress.is_global``, whose tables
changed between Python patch releases (3.12.4, 3.13): the policy must not change with the
interpreter.

IPv6 forms that carry an IPv4 address (IPv4-mapped ``::ffff:a.b.c.d``, the deprecated
IPv4-compatible ``::a.b.c.d``, 6to4 ``2002::/16``, well-known NAT64 ``64:ff9b::/96``) are
classed by the IPv4 address inside: a connection to them reaches that address. Decisions
on the rest of IPv6:

- site-local ``fec0::/10`` (deprecated by RFC 3879): a site's private network, as
  unique-local ``fc00::/7`` replaced it; refused, opened by ``allow_private`` like it;
- Teredo ``2001::/32``: a relay unwraps it to the IPv4 client address hidden in its last
  bits, so what it reaches is not what was checked; no mail server is published on it
  (Teredo's public servers are gone): refused whatever it embeds, and classed by the
  embedded address when that one is internal;
- local-use NAT64 ``64:ff9b:1::/48`` (RFC 8215): an operator's own translator, which may
  place the IPv4 address anywhere in the suffix and reaches whatever IPv4 is behind it:
  refused; an operator whose DNS64 uses it allows the prefix (``allow_hosts``);
- the IETF protocol assignments ``2001::/23`` (ORCHID, ORCHIDv2, benchmarking, AMT,
  drone identifiers, anycast services), documentation ``2001:db8::/32`` and ``3fff::/20``,
  the returned 6bone ``3ffe::/16``, and everything outside global unicast ``2000::/3``
  (discard-only ``100::/64``, SRv6 ``5f00::/16``, unallocated space): reserved.
"""

from __future__ import annotations

import ipaddress

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def _nets(*texts: str) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(text) for text in texts)


_THIS_NETWORK = ipaddress.ip_network("0.0.0.0/8")
_RFC1918 = _nets("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")
_CGNAT = ipaddress.ip_network("100.64.0.0/10")
# IETF protocol assignments, documentation, benchmarking, the deprecated 6to4 relay anycast,
# class E and broadcast.
_RESERVED_V4 = _nets(
    "192.0.0.0/24",
    "192.0.2.0/24",
    "192.88.99.0/24",
    "198.18.0.0/15",
    "198.51.100.0/24",
    "203.0.113.0/24",
    "240.0.0.0/4",
)
_ULA = ipaddress.ip_network("fc00::/7")
_SITE_LOCAL = ipaddress.ip_network("fec0::/10")
_GLOBAL_UNICAST = ipaddress.ip_network("2000::/3")
_TEREDO = ipaddress.ip_network("2001::/32")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")
_RESERVED_V6 = _nets("2001::/23", "2001:db8::/32", "3ffe::/16", "3fff::/20")

# The classes allow_private opens: addresses of a private network, not of this host.
PRIVATE_CLASSES = frozenset({"private", "shared (CGNAT)", "unique-local", "site-local"})
IN_IPV6 = ", in an IPv6 form"


def address_class(ip: IPAddress) -> str | None:
    """The refused class an address belongs to, or None for a public address.

    An IPv6 spelling of an IPv4 address is ``"<its class>, in an IPv6 form"``.
    """
    if isinstance(ip, ipaddress.IPv4Address):
        return _ipv4_class(ip)
    ip = ipaddress.IPv6Address(ip.compressed.split("%")[0])  # without a zone
    if ip in _NAT64_LOCAL:
        return "local-use NAT64"
    if ip in _TEREDO:
        inner = [found for found in map(_ipv4_class, teredo_ipv4(ip)) if found]
        return f"{inner[0]}{IN_IPV6}" if inner else "tunnel (Teredo)"
    embedded = embedded_ipv4(ip)
    if embedded is not None:
        found = _ipv4_class(embedded)
        return f"{found}{IN_IPV6}" if found else None
    return _ipv6_class(ip)


def _ipv4_class(ip: ipaddress.IPv4Address) -> str | None:
    if ip in _THIS_NETWORK:
        return "unspecified"
    if ip.is_loopback:
        return "loopback"
    if ip.is_link_local:
        return "link-local (cloud metadata)"
    if any(ip in net for net in _RFC1918):
        return "private"
    if ip in _CGNAT:
        return "shared (CGNAT)"
    if ip.is_multicast:
        return "multicast"
    if any(ip in net for net in _RESERVED_V4) or not ip.is_global:
        return "reserved"
    return None


def _ipv6_class(ip: ipaddress.IPv6Address) -> str | None:
    if ip.is_unspecified:
        return "unspecified"
    if ip.is_loopback:
        return "loopback"
    if ip.is_link_local:
        return "link-local (cloud metadata)"
    if ip in _SITE_LOCAL:
        return "site-local"
    if ip in _ULA:
        return "unique-local"
    if ip.is_multicast:
        return "multicast"
    reserved = ip not in _GLOBAL_UNICAST or any(ip in net for net in _RESERVED_V6)
    if reserved or not ip.is_global:  # (Python's tables only ever add to ours)
        return "reserved"
    return None


def embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address reaches: IPv4-mapped, IPv4-compatible, 6to4,
    well-known NAT64 (not Teredo: see ``teredo_ipv4``)."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip in _IPV4_COMPATIBLE and int(ip) > 1:  # ::a.b.c.d (deprecated; not :: nor ::1)
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def teredo_ipv4(ip: ipaddress.IPv6Address) -> tuple[ipaddress.IPv4Address, ...]:
    """A Teredo address's client (the one a relay sends to) and server IPv4 addresses."""
    found = ip.teredo
    return (found[1], found[0]) if found is not None else ()


def ipv4_forms(ip: IPAddress) -> tuple[IPAddress, ...]:
    """``ip`` and the IPv4 addresses its IPv6 spelling reaches, for matching an operator's
    IPv4 rule (a denied ``10.1.2.3`` is denied as ``::ffff:10.1.2.3`` too)."""
    if isinstance(ip, ipaddress.IPv4Address):
        return (ip,)
    plain = ipaddress.IPv6Address(ip.compressed.split("%")[0])
    embedded = embedded_ipv4(plain)
    inner = (embedded,) if embedded is not None else teredo_ipv4(plain)
    return (plain, *inner)
