"""The egress options of the hosted commands (serve, worker): where steps may connect."""

from __future__ import annotations

import argparse
from collections.abc import Iterable

from .._egress import EgressPolicy, HostRule, parse_ports, split_list

GROUP = (
    "egress: where steps may connect (by default not to loopback, private, link-local or "
    "reserved addresses, and only to the ports the manifests declare)"
)


def add_egress_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(GROUP)
    group.add_argument(
        "--allow-hosts",
        action="append",
        default=[],
        metavar="HOSTS",
        help="names, *.domains, addresses or CIDRs allowed even when private (comma-separated)",
    )
    group.add_argument(
        "--deny-hosts",
        action="append",
        default=[],
        metavar="HOSTS",
        help="names, *.domains, addresses or CIDRs always refused, a name also at the "
        "addresses it resolves to (comma-separated)",
    )
    group.add_argument(
        "--allow-ports", metavar="PORTS", help="ports allowed, comma-separated, or 'any'"
    )
    group.add_argument(
        "--allow-private",
        action="store_true",
        help="private networks (RFC 1918, CGNAT, fc00::/7, fec0::/10): for on-premises mail "
        "servers",
    )


def hosts(values: list[str]) -> tuple[str, ...]:
    """The entries of repeated, comma-separated --allow-hosts/--deny-hosts options."""
    return tuple(entry for item in values for entry in split_list(item))


def egress_problem(args: argparse.Namespace) -> str | None:
    """What is wrong with the egress options, before anything starts."""
    try:
        parse_ports(args.allow_ports)
        for entry in (*hosts(args.allow_hosts), *hosts(args.deny_hosts)):
            HostRule.parse(entry)
    except ValueError as exc:
        return str(exc)
    return None


def policy_from_args(args: argparse.Namespace, declared_ports: Iterable[int]) -> EgressPolicy:
    """The hosted policy from the options: restricted; ports as given (``any``: all), else
    those the manifests declare (all, when none declares ports)."""
    if args.allow_ports is not None:
        ports = parse_ports(args.allow_ports)
    else:
        ports = frozenset(declared_ports) or None
    return EgressPolicy.create(
        allow_hosts=hosts(args.allow_hosts),
        deny_hosts=hosts(args.deny_hosts),
        allow_ports=ports,
        allow_private=args.allow_private,
    )
