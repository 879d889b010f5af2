"""Which network addresses the services may connect to on a caller's behalf (SSRF protection).

Shared by the research team's page fetcher (``research_service/web_pages.py``) and the webhook sender
(``common/webhooks.py``): a URL's host is resolved once, every address must be public (unless the deployment allows
private networks), and the request is then pinned to the checked address so that a second DNS answer cannot point
elsewhere.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket

import httpx

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


class UnresolvableHost(OSError):
    """The host name has no address (or the resolver failed)."""


def is_public(address: Address) -> bool:
    """Whether an address is on the public internet (IPv4-mapped IPv6 addresses are judged as IPv4)."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_global and not address.is_multicast


async def resolve(host: str, port: int) -> list[Address]:
    """The addresses of a host (an address literal is its own).

    Raises:
        UnresolvableHost: The resolver failed.
    """
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise UnresolvableHost(f"cannot resolve {host}: {exc}") from None
    return [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]


def literal_address(host: str) -> Address | None:
    """The address a host names literally (``127.0.0.1``, ``[::1]``), or None for a name."""
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def pin(url: str, address: Address) -> tuple[str, dict[str, str], dict[str, str]]:
    """The request for ``url`` sent to ``address``: the URL with the address as host, the original ``Host`` header,
    and (for https) the original name for SNI and certificate verification."""
    parsed = httpx.URL(url)
    if literal_address(parsed.host) is not None:
        return url, {}, {}  # already an address
    target = str(parsed.copy_with(host=str(address)))
    authority = parsed.host + (f":{parsed.port}" if parsed.port else "")
    extensions = {"sni_hostname": parsed.host} if parsed.scheme == "https" else {}
    return target, {"host": authority}, extensions
