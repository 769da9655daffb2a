"""Which address a request comes from: the peer, unless the peer is a proxy the operator trusts.

`X-Forwarded-For` and `Forwarded` are written by whoever sends the request, so they are read
only when the connection comes from an address in `WFB_TRUSTED_PROXIES` (CIDRs; default none).
Then the client is the right-most address in the chain that is not itself a trusted proxy: a
client can put anything at the left of the header, but each trusted proxy appends the address it
received the request from. Everything that asks for `request.client` (sign-in limits, session
records) sees that address.

The server runs with uvicorn's own proxy-header handling off, which trusts loopback by default:
tenant runs make their HTTP calls from the API's own host, so that default let a tenant choose
the address sign-in attempts were counted against.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Sequence

from starlette.types import ASGIApp, Receive, Scope, Send

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address

_FORWARDED_FOR = re.compile(r'(?:^|[;,\s])for\s*=\s*("[^"]*"|[^;,\s]+)', re.IGNORECASE)


def parse_networks(text: str | Iterable[str]) -> tuple[Network, ...]:
    """Return the networks of a comma- or space-separated list of CIDRs (or addresses).

    Raises ValueError naming an entry that is not one.
    """
    items = re.split(r"[,\s]+", text) if isinstance(text, str) else list(text)
    networks = []
    for item in (i.strip() for i in items):
        if not item:
            continue
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise ValueError(f"{item!r} is not an IP address or CIDR network") from None
    return tuple(networks)


def _address(text: str) -> Address | None:
    """Return the IP address in a header entry ("1.2.3.4", "[::1]:80", "1.2.3.4:5"), if any."""
    value = text.strip().strip('"')
    if value.startswith("["):
        value = value[1:].split("]", 1)[0]
    elif value.count(":") == 1:
        value = value.split(":", 1)[0]
    try:
        return ipaddress.ip_address(value)
    except ValueError:
        return None


def _trusted(address: Address | None, networks: Sequence[Network]) -> bool:
    return address is not None and any(address in network for network in networks)


def forwarded_chain(headers: Iterable[tuple[bytes, bytes]]) -> list[str]:
    """Return the addresses the forwarding headers name, in order (Forwarded wins)."""
    forwarded: list[str] = []
    x_forwarded: list[str] = []
    for name, value in headers:
        if name == b"forwarded":
            forwarded += [m.group(1) for m in _FORWARDED_FOR.finditer(value.decode("latin-1"))]
        elif name == b"x-forwarded-for":
            x_forwarded += [part for part in value.decode("latin-1").split(",") if part.strip()]
    return forwarded or x_forwarded


def client_address(
    peer: str | None, headers: Iterable[tuple[bytes, bytes]], trusted: Sequence[Network]
) -> str | None:
    """Return the request's client address: the peer, or when the peer is a trusted proxy, the
    right-most forwarded address that is not one (the peer itself if all of them are)."""
    if not trusted or not _trusted(_address(peer or ""), trusted):
        return peer
    client = peer
    for entry in reversed(forwarded_chain(headers)):
        address = _address(entry)
        if address is None:
            break  # an obfuscated or malformed hop: trust nothing to its left
        client = str(address)
        if not _trusted(address, trusted):
            break
    return client


class TrustedProxies:
    """ASGI middleware setting the request's client address (see the module)."""

    def __init__(self, app: ASGIApp, trusted: Sequence[Network]) -> None:
        self.app = app
        self.trusted = tuple(trusted)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket") and self.trusted:
            peer = scope.get("client")
            host = client_address(peer[0] if peer else None, scope["headers"], self.trusted)
            if peer is not None and host != peer[0]:
                scope = {**scope, "client": (host, 0)}
        await self.app(scope, receive, send)
