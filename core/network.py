"""Which networks Switchboard may reach for a remote MCP server or a provider: an admin-set allow and deny list.

A user-added server or a provider's base URL must not make Switchboard reach internal services: link-local
addresses and cloud metadata endpoints (169.254.169.254, fd00:ec2::254) are denied by default, and an
allow list, when set, is the only place it may go. URLs are checked when saved and again when connecting, with
the host resolved then, since a name can point somewhere else later.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import urlsplit

from django.conf import settings

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def networks_parse(values: list[str], *, setting: str) -> list[Network]:
    """Parse a setting's networks (`10.0.0.0/8`, `::1`), failing loudly on a bad one."""
    from django.core.exceptions import ImproperlyConfigured

    parsed = []
    for value in values:
        try:
            parsed.append(ipaddress.ip_network(value.strip(), strict=False))
        except ValueError:
            raise ImproperlyConfigured(f"{setting}: {value!r} is not a network (like 10.0.0.0/8 or ::1).") from None
    return parsed


def address_refusal(address: str) -> str:
    """Why Switchboard may not connect to this IP address ("" if it may)."""
    try:
        ip = ipaddress.ip_address(address.split("%")[0])
    except ValueError:
        return f"{address} is not an IP address."
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    denied = networks_parse(settings.OUTBOUND_DENIED_NETWORKS, setting="OUTBOUND_DENIED_NETWORKS")
    allowed = networks_parse(settings.OUTBOUND_ALLOWED_NETWORKS, setting="OUTBOUND_ALLOWED_NETWORKS")
    if any(ip in network for network in denied if network.version == ip.version):
        return f"{ip} is in a denied network (OUTBOUND_DENIED_NETWORKS)."
    if allowed and not any(ip in network for network in allowed if network.version == ip.version):
        return f"{ip} is outside the allowed networks (OUTBOUND_ALLOWED_NETWORKS)."
    return ""


def _host_port(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    host = parts.hostname or ""
    try:
        port = parts.port
    except ValueError:
        port = None
    return host, port or (443 if parts.scheme in ("https", "wss") else 80)


def _refusal_of(url: str, addresses: list[str]) -> str:
    host = _host_port(url)[0]
    for address in addresses:
        refusal = address_refusal(address)
        if refusal:
            return f"Switchboard may not connect to {host}: {refusal}"
    return ""


def url_refusal(url: str, *, resolve: bool = True) -> str:
    """Why Switchboard may not connect to this URL ("" if it may); `resolve` looks the host name up."""
    host, port = _host_port(url)
    if not host:
        return ""  # no host: the URL's own validation says so
    try:
        return _refusal_of(url, [str(ipaddress.ip_address(host.strip("[]")))])
    except ValueError:
        pass
    if not resolve:
        return ""
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError:
        return ""  # a name that does not resolve now fails at connect, with its own error
    return _refusal_of(url, [str(info[4][0]) for info in found])


async def url_refusal_async(url: str) -> str:
    """`url_refusal`, resolving the host on the event loop's resolver rather than blocking it."""
    host, port = _host_port(url)
    if not host:
        return ""
    try:
        return _refusal_of(url, [str(ipaddress.ip_address(host.strip("[]")))])
    except ValueError:
        pass
    try:
        found = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError:
        return ""
    return _refusal_of(url, [str(info[4][0]) for info in found])
