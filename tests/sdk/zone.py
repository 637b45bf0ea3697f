"""A test resolver for the egress policy: names -> addresses, lookups counted."""

from __future__ import annotations

import ipaddress
import socket


class Zone:
    """A test resolver: names -> addresses (an address literal resolves to itself); it
    counts the lookups of each name and can be changed or broken between checks."""

    def __init__(self, records: dict[str, list[str]]):
        self.records = records
        self.lookups: dict[str, int] = {}
        self.broken: set[str] = set()

    def __call__(self, host, port, family=0, kind=0, *rest):
        self.lookups[host] = self.lookups.get(host, 0) + 1
        if host in self.broken:
            raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")
        try:
            addresses = [str(ipaddress.ip_address(host))]
        except ValueError:
            if host not in self.records:
                raise socket.gaierror(socket.EAI_NONAME, "Name or service not known") from None
            addresses = self.records[host]
        out = []
        for address in addresses:
            ip = ipaddress.ip_address(address)
            fam = socket.AF_INET6 if ip.version == 6 else socket.AF_INET
            sockaddr = (address, port or 0, 0, 0) if ip.version == 6 else (address, port or 0)
            out.append((fam, socket.SOCK_STREAM, 6, "", sockaddr))
        return out
