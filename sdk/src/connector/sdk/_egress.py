"""Where a step may connect: the egress policy, enforced where sockets are opened.

A hosted step's host and port come from a stranger. ``connect()`` is the one function
connectors open TCP connections with: it resolves the name once, checks every address it
resolves to, and connects to a checked address (never a second lookup, which DNS
rebinding would answer differently). TLS still verifies the *name* the caller gave.

The policy of ``connector serve`` and the Temporal worker (``EgressPolicy()``) refuses
loopback, unspecified, link-local (the cloud metadata address among them), private
(RFC 1918), shared (CGNAT), unique-local and site-local, multicast, reserved and tunnel
addresses, in any spelling (``127.1``, ``2130706433``, ``0x7f000001``, IPv4-mapped, 6to4
and NAT64 IPv6: connector.sdk._addresses has the classes and why), and ports other than
those the manifests declare. Operators open what they need:

- ``allow_hosts``: names (``mail.corp.example``, ``*.corp.example``: as the caller typed
  the host) allowed whatever they resolve to, and addresses or CIDRs (``10.1.2.3``,
  ``10.0.0.0/8``) allowed whatever the name;
- ``deny_hosts``: names or CIDRs always refused (checked first), whatever the step calls
  them: a denied name's addresses are denied too (connector.sdk._denied_names), and a
  denied IPv4 address in its IPv6 spellings;
- ``allow_ports``: the ports allowed (None: any);
- ``allow_private``: private, CGNAT, unique-local and site-local ranges, for on-premises
  mail.

An OAuth token endpoint is a destination of its own (``for_token_endpoint``): while a
step refreshes its token, https's port 443 is allowed beside the steps' ports, under the
same host rules.

The CLI and the Python API act for the operator: their default is permissive
(``EgressPolicy.permissive()``), unless the environment sets a policy
(``CONNECTOR_ALLOW_HOSTS``, ``CONNECTOR_DENY_HOSTS``, ``CONNECTOR_ALLOW_PORTS``,
``CONNECTOR_ALLOW_PRIVATE``, or ``CONNECTOR_EGRESS=restricted``).

A refusal is ``DestinationNotAllowed`` (403), naming the rule (in its message, and in
``details[].rule``: ``allowPorts``, ``denyHosts``, ``addressClass``, prefixed
``tokenEndpoint.`` for a token endpoint) and never the addresses.
"""

from __future__ import annotations

import ipaddress
import os
import socket
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field, replace
from typing import Any

from ._addresses import PRIVATE_CLASSES, IPAddress, address_class, ipv4_forms
from ._denied_names import DeniedNames
from ._sockets import AddrInfo, connect_first
from .errors import DestinationNotAllowed, InvalidInput

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[..., list[AddrInfo]]

ENV_ALLOW_HOSTS = "CONNECTOR_ALLOW_HOSTS"
ENV_DENY_HOSTS = "CONNECTOR_DENY_HOSTS"
ENV_ALLOW_PORTS = "CONNECTOR_ALLOW_PORTS"
ENV_ALLOW_PRIVATE = "CONNECTOR_ALLOW_PRIVATE"
ENV_EGRESS = "CONNECTOR_EGRESS"  # "restricted" or "permissive"

# An OAuth token endpoint is https: its port is allowed beside the steps' ports.
TOKEN_ENDPOINT_PORTS = frozenset({443})
TOKEN_ENDPOINT = "tokenEndpoint"  # noqa: S105 - a role, named in refusals (details[].rule)


def _name(host: str) -> str:
    return host.strip().rstrip(".").lower()


@dataclass(frozen=True)
class HostRule:
    """One ``allow_hosts``/``deny_hosts`` entry: a name pattern, or a network."""

    text: str
    network: Network | None = None

    @classmethod
    def parse(cls, text: str) -> HostRule:
        entry = text.strip()
        try:
            return cls(entry, ipaddress.ip_network(entry, strict=False))
        except ValueError:
            pass
        name = _name(entry)
        label = name[2:] if name.startswith("*.") else name
        if not label or any(not part for part in label.split(".")) or "*" in label:
            raise ValueError(f"{text!r} is neither a host name, *.domain nor an address/CIDR")
        return cls(name)

    def matches_name(self, host: str) -> bool:
        if self.network is not None:
            return False
        name = _name(host)
        if self.text.startswith("*."):
            return name.endswith(self.text[1:]) and name != self.text[2:]
        return name == self.text

    @property
    def resolvable(self) -> bool:
        """A plain name (not a network, not a wildcard): it has addresses to deny."""
        return self.network is None and not self.text.startswith("*.")

    def matches_address(self, ip: IPAddress) -> bool:
        if self.network is None or ip.version != self.network.version:
            return False
        return ip in self.network


def _rules(entries: Iterable[str]) -> tuple[HostRule, ...]:
    return tuple(HostRule.parse(e) for e in entries if e.strip())


@dataclass(frozen=True)
class EgressPolicy:
    """Where connections may go. ``EgressPolicy()`` is the hosted default (restricted)."""

    allow_hosts: tuple[HostRule, ...] = ()
    deny_hosts: tuple[HostRule, ...] = ()
    allow_ports: frozenset[int] | None = None  # None: any port
    allow_private: bool = False
    restricted: bool = True  # False: no address class is refused (the operator's own CLI)
    resolver: Resolver = field(default=socket.getaddrinfo, compare=False, repr=False)
    # "" for a step's own connections; TOKEN_ENDPOINT while it refreshes an OAuth token.
    role: str = ""
    denied_names: DeniedNames = field(default_factory=DeniedNames, compare=False, repr=False)

    @classmethod
    def create(
        cls,
        *,
        allow_hosts: Iterable[str] = (),
        deny_hosts: Iterable[str] = (),
        allow_ports: Iterable[int] | None = None,
        allow_private: bool = False,
        restricted: bool = True,
    ) -> EgressPolicy:
        """From plain values (entries as text; a bad entry is a ValueError naming it)."""
        ports = None if allow_ports is None else frozenset(int(p) for p in allow_ports)
        return cls(_rules(allow_hosts), _rules(deny_hosts), ports, allow_private, restricted)

    @classmethod
    def permissive(cls) -> EgressPolicy:
        return cls(restricted=False)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> EgressPolicy:
        """The CLI's and the Python API's policy: permissive unless the environment sets one."""
        env = os.environ if environ is None else environ
        names = (ENV_ALLOW_HOSTS, ENV_DENY_HOSTS, ENV_ALLOW_PORTS, ENV_ALLOW_PRIVATE)
        mode = env.get(ENV_EGRESS, "").strip().lower()
        if mode not in ("", "restricted", "permissive"):
            raise ValueError(f"{ENV_EGRESS} must be restricted or permissive, not {mode!r}")
        restricted = mode == "restricted" or (mode == "" and any(env.get(n) for n in names))
        return cls.create(
            allow_hosts=split_list(env.get(ENV_ALLOW_HOSTS, "")),
            deny_hosts=split_list(env.get(ENV_DENY_HOSTS, "")),
            allow_ports=parse_ports(env.get(ENV_ALLOW_PORTS, "")),
            allow_private=env.get(ENV_ALLOW_PRIVATE, "").strip().lower() in ("1", "true", "yes"),
            restricted=restricted,
        )

    def with_resolver(self, resolver: Resolver) -> EgressPolicy:
        return replace(self, resolver=resolver, denied_names=DeniedNames())

    def for_token_endpoint(self) -> EgressPolicy:
        """The policy of an OAuth token endpoint (a refresh): the same host rules, and
        https's port 443 beside the steps' ports; refusals name the token endpoint."""
        ports = None if self.allow_ports is None else self.allow_ports | TOKEN_ENDPOINT_PORTS
        return replace(self, allow_ports=ports, role=TOKEN_ENDPOINT)

    def describe(self) -> dict[str, Any]:
        """The policy as the service logs it at start-up."""
        return {
            "restricted": self.restricted,
            "allowHosts": [r.text for r in self.allow_hosts],
            "denyHosts": [r.text for r in self.deny_hosts],
            "allowPorts": sorted(self.allow_ports) if self.allow_ports is not None else "any",
            "tokenEndpointPorts": (
                sorted(self.allow_ports | TOKEN_ENDPOINT_PORTS)
                if self.allow_ports is not None
                else "any"
            ),
            "allowPrivate": self.allow_private,
        }

    # -- checks

    def addresses(self, host: str, port: int) -> list[AddrInfo]:
        """Resolve ``host`` once and check every address: the addresses to connect to.

        Raises DestinationNotAllowed (the rule, never the addresses) or OSError (the name
        does not resolve).
        """
        if self.allow_ports is not None and port not in self.allow_ports:
            allowed = ", ".join(str(p) for p in sorted(self.allow_ports)) or "none"
            where = " for an OAuth token endpoint" if self.role else ""
            raise self._refusal(
                "allowPorts",
                f"Port {port} is not allowed{where} by this service (allowed: {allowed}); the "
                "operator can allow it (--allow-ports).",
            )
        if any(rule.matches_name(host) for rule in self.deny_hosts):
            raise self._refusal(
                "denyHosts", f"{self._what(host)} is refused by this service (--deny-hosts)."
            )
        infos = self.resolver(host, port, 0, socket.SOCK_STREAM)
        if not infos:
            raise OSError(f"{host} does not resolve")
        named = any(rule.matches_name(host) for rule in self.allow_hosts)
        denied = self._denied_addresses()
        for info in infos:
            self._check(host, _ip(info), named, denied)
        return infos

    def _denied_addresses(self) -> set[IPAddress]:
        names = [rule.text for rule in self.deny_hosts if rule.resolvable]
        return self.denied_names.addresses(names, self.resolver) if names else set()

    def _check(self, host: str, ip: IPAddress, named: bool, denied: set[IPAddress]) -> None:
        forms = ipv4_forms(ip)  # a denied IPv4 address is denied in its IPv6 spellings too
        if any(f in denied or rule.matches_address(f) for f in forms for rule in self.deny_hosts):
            raise self._refusal(
                "denyHosts",
                f"{self._what(host)} is refused by this service: it resolves to an address the "
                "operator denied (--deny-hosts).",
            )
        if not self.restricted or named or any(r.matches_address(ip) for r in self.allow_hosts):
            return
        found = address_class(ip)
        if found is None or (self.allow_private and found.partition(",")[0] in PRIVATE_CLASSES):
            return
        kind, _, form = found.partition(", ")
        hint = "--allow-private opens private networks, " if kind in PRIVATE_CLASSES else ""
        raise self._refusal(
            "addressClass",
            f"{self._what(host)} is not allowed: it resolves to {_article(kind)} {kind} address"
            f"{f' ({form})' if form else ''}, which this service does not connect to. Give "
            f"the server's public name; the operator can allow the host ({hint}--allow-hosts).",
        )

    def _what(self, host: str) -> str:
        return f"The {'OAuth token endpoint' if self.role else 'host'} {_show(host)}"

    def _refusal(self, rule: str, message: str) -> DestinationNotAllowed:
        """A refusal naming its rule (``details[].rule``), the token endpoint's apart."""
        return DestinationNotAllowed(
            message, details=[{"rule": f"{self.role}.{rule}" if self.role else rule}]
        )


def _ip(info: AddrInfo) -> IPAddress:
    return ipaddress.ip_address(str(info[4][0]).split("%")[0])


def _show(host: str) -> str:
    text = host if len(host) <= 80 else host[:77] + "..."
    return repr(text)


def split_list(text: str) -> list[str]:
    return [part for part in text.replace(",", " ").split() if part]


def parse_ports(text: str | Sequence[str] | None) -> frozenset[int] | None:
    """``143,993`` -> {143, 993}; ``any`` or nothing -> None (any port)."""
    parts = split_list(text) if isinstance(text, str) else list(text or [])
    if not parts or [p.lower() for p in parts] == ["any"]:
        return None
    ports = set()
    for part in parts:
        if not part.isdigit() or not 0 < int(part) < 65536:
            raise ValueError(f"{part!r} is not a port (1-65535) or 'any'")
        ports.add(int(part))
    return frozenset(ports)


# -- the policy of the current step ----------------------------------------------------------

_current: ContextVar[EgressPolicy | None] = ContextVar("connector_egress_policy", default=None)


def current() -> EgressPolicy:
    """The policy of the step running in this thread (else the environment's)."""
    policy = _current.get()
    if policy is None:
        try:
            policy = EgressPolicy.from_env()
        except ValueError as exc:
            raise InvalidInput(f"The egress policy of the environment is invalid: {exc}") from None
    return policy


@contextmanager
def applied(policy: EgressPolicy | None) -> Iterator[None]:
    """Run the block under ``policy`` (None: leave the current one)."""
    if policy is None:
        yield
        return
    token = _current.set(policy)
    try:
        yield
    finally:
        _current.reset(token)


def connect(
    host: str, port: int, *, timeout: float | None, policy: EgressPolicy | None = None
) -> socket.socket:
    """A TCP connection to ``host``:``port``, if the policy allows it: to the checked
    addresses only, in the order the resolver gave them (the first that answers)."""
    policy = policy or current()
    return connect_first(policy.addresses(host, port), timeout)


def _article(kind: str) -> str:
    """ "an unspecified address", "a unique-local address": by the sound, not the letter."""
    return "an" if kind[:1] in "aeio" or (kind[:2] == "un" and kind[:3] != "uni") else "a"
