"""The egress policy: where a tenant's workflow may open network connections.

Every outbound connection a tenant can cause goes through this module: `http_request` and each
redirect it follows, `llm_agent`'s model server, `send_email`'s SMTP server and `sql_query`'s
database server. The destination's host name is resolved once, each address is checked, and the
connection is made to a checked address; the name still travels in the Host header, TLS SNI and
certificate checks. A DNS answer that changes between the check and the connection (rebinding)
therefore cannot move the connection, and any spelling of an address (`2130706433`,
`0177.0.0.1`, `::ffff:127.0.0.1`, a name resolving to loopback) is judged by what it resolves to.

Refused by default: loopback, private (RFC 1918), shared (100.64.0.0/10, carrier-grade NAT),
link-local (169.254.0.0/16 with the cloud metadata address, fe80::/10), unique-local
(fc00::/7), site-local, multicast, unspecified, documentation, benchmarking and reserved
addresses, and IPv6 addresses that embed such an IPv4 address (IPv4-mapped, NAT64, 6to4).
Unix sockets are always refused.

`WFB_EGRESS_ALLOW` re-opens what an installation needs: comma-separated entries, each either a
CIDR or address (any port: `10.20.0.0/16`, `127.0.0.1`) or `HOST:PORT` (one port of an address
or of a host name as the workflow writes it: `127.0.0.1:8080`, `[::1]:8080`,
`smtp.internal:25`).

For other components (e.g. a sandbox's network proxy):

- `check_destination(host, port) -> list[Address]` resolves `host` and returns the addresses a
  connection may use, or raises `EgressRefused(host, address, rule)` (`port` too) when none is
  allowed. Connect to one of the returned addresses, never to `host` again.
- `create_connection(host, port, timeout)` is `socket.create_connection` through the policy.
- `http_client(**options)` is an `httpx.Client` whose every connection (redirects included)
  goes through the policy; `http_client2` is the same for the `httpx2` fork the model SDKs use.
- `EgressRefused.activity_error(component)` is the non-retryable node error to raise.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import httpx

from workflow_builder.activities.contract import ActivityError

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

ALLOW_SETTING = "WFB_EGRESS_ALLOW"

_V4_RULES: tuple[tuple[str, str], ...] = (
    ("169.254.169.254/32", "cloud metadata"),
    ("0.0.0.0/8", "unspecified"),
    ("10.0.0.0/8", "private"),
    ("100.64.0.0/10", "shared (carrier-grade NAT)"),
    ("127.0.0.0/8", "loopback"),
    ("169.254.0.0/16", "link-local"),
    ("172.16.0.0/12", "private"),
    ("192.0.0.0/24", "reserved"),
    ("192.0.2.0/24", "documentation"),
    ("192.168.0.0/16", "private"),
    ("198.18.0.0/15", "benchmarking"),
    ("198.51.100.0/24", "documentation"),
    ("203.0.113.0/24", "documentation"),
    ("224.0.0.0/4", "multicast"),
    ("240.0.0.0/4", "reserved"),
)
_V6_RULES: tuple[tuple[str, str], ...] = (
    ("fd00:ec2::254/128", "cloud metadata"),
    ("::/128", "unspecified"),
    ("::1/128", "loopback"),
    ("64:ff9b:1::/48", "private"),
    ("100::/64", "reserved"),
    ("2001:db8::/32", "documentation"),
    ("fc00::/7", "unique-local"),
    ("fe80::/10", "link-local"),
    ("fec0::/10", "site-local"),
    ("ff00::/8", "multicast"),
)
_RULES: tuple[tuple[Network, str], ...] = tuple(
    (ipaddress.ip_network(cidr), rule) for cidr, rule in (*_V4_RULES, *_V6_RULES)
)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")


class EgressRefused(Exception):
    """A destination the egress policy refuses: `host` as named, the `address` it resolved to
    (None for a Unix socket or a name that does not resolve), and the `rule` that refused it."""

    def __init__(self, host: str, address: Address | None, rule: str, port: int | None = None):
        self.host = host
        self.address = address
        self.rule = rule
        self.port = port
        super().__init__(self.describe())

    def describe(self) -> str:
        """Return the refusal as one sentence naming the host, the address and the rule."""
        target = self.host if self.port is None else f"{_bracketed(self.host)}:{self.port}"
        if self.address is None:
            what = f"{target} is {_article(self.rule)} {self.rule}"
        elif _same_address(self.host, self.address):
            what = f"{target} is {_article(self.rule)} {self.rule} address"
        else:
            what = f"{target} resolves to {self.address}, {_article(self.rule)} {self.rule} address"
        return f"{what}, refused by the egress policy (allow it with {ALLOW_SETTING})"

    def activity_error(self, component: str) -> ActivityError:
        """Return the non-retryable node error for this refusal."""
        return ActivityError(
            f"{component}: {self.describe()}",
            error_type="EgressRefused",
            retryable=False,
            details={
                "host": self.host,
                "port": self.port,
                "address": None if self.address is None else str(self.address),
                "rule": self.rule,
            },
        )


def _article(word: str) -> str:
    return "an" if word[:1] in "aeiou" else "a"


def _bracketed(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _same_address(host: str, address: Address) -> bool:
    try:
        return ipaddress.ip_address(host.strip("[]")) == address
    except ValueError:
        return False


@dataclass(frozen=True)
class AllowList:
    """What an administrator re-opened: networks (any port) and single host:port pairs."""

    networks: tuple[Network, ...] = ()
    address_ports: frozenset[tuple[Address, int]] = frozenset()
    name_ports: frozenset[tuple[str, int]] = frozenset()

    def allows(self, host: str, address: Address, port: int) -> bool:
        """Return whether the entry list re-opens `address`:`port` reached as `host`."""
        candidates = [address, *filter(None, [embedded_ipv4(address)])]
        return (
            any(a in network for a in candidates for network in self.networks)
            or any((a, port) in self.address_ports for a in candidates)
            or (_normal_name(host), port) in self.name_ports
        )

    def names(self, address: Address, port: int) -> bool:
        """Return whether an entry names exactly this address and port (not a whole network)."""
        return (address, port) in self.address_ports


def _normal_name(host: str) -> str:
    return host.strip("[]").rstrip(".").lower()


_HOST_PORT = re.compile(r"^(?:\[(?P<v6>[^\]]+)\]|(?P<host>[^:\[\]]+)):(?P<port>\d{1,5})$")


def parse_allow_list(text: str | Iterable[str]) -> AllowList:
    """Return the allow list of a comma- or space-separated entry list.

    Raises ValueError naming an entry that is neither a CIDR, an address nor HOST:PORT.
    """
    items = re.split(r"[,\s]+", text) if isinstance(text, str) else list(text)
    networks: list[Network] = []
    address_ports: set[tuple[Address, int]] = set()
    name_ports: set[tuple[str, int]] = set()
    for item in (i.strip() for i in items):
        if not item:
            continue
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
            continue
        except ValueError:
            pass
        match = _HOST_PORT.match(item)
        port = int(match.group("port")) if match else 0
        if match is None or not 0 < port < 65536:
            raise ValueError(
                f"{item!r} is not a CIDR, an IP address or HOST:PORT (IPv6 as [ADDRESS]:PORT)"
            )
        host = match.group("v6") or match.group("host")
        try:
            address_ports.add((ipaddress.ip_address(host), port))
        except ValueError:
            if match.group("v6"):
                raise ValueError(f"{item!r}: {host!r} is not an IPv6 address") from None
            name_ports.add((_normal_name(host), port))
    return AllowList(tuple(networks), frozenset(address_ports), frozenset(name_ports))


@lru_cache(maxsize=8)
def _cached_allow_list(text: str) -> AllowList:
    return parse_allow_list(text)


def current_allow_list() -> AllowList:
    """Return the allow list of this process's settings (`WFB_EGRESS_ALLOW`)."""
    from workflow_builder.config import get_settings

    return _cached_allow_list(get_settings().egress_allow)


def embedded_ipv4(address: Address) -> ipaddress.IPv4Address | None:
    """Return the IPv4 address an IPv6 address carries (mapped, NAT64, 6to4, compatible)."""
    if not isinstance(address, ipaddress.IPv6Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in _NAT64 or (address in _IPV4_COMPATIBLE and int(address) > 1):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def refusal_rule(address: Address) -> str | None:
    """Return the rule that refuses `address` by default (e.g. 'loopback'), or None."""
    inner = embedded_ipv4(address)
    if inner is not None:
        rule = refusal_rule(inner)
        return None if rule is None else f"{rule} (IPv4 inside IPv6)"
    for network, rule in _RULES:
        if address.version == network.version and address in network:
            return rule
    if not address.is_global:
        return "reserved"
    return None


def resolve(host: str, port: int) -> list[Address]:
    """Return the addresses `host` resolves to for a TCP connection on `port`, in order."""
    name = host.strip("[]")
    try:
        answers = socket.getaddrinfo(name, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError) as exc:
        raise OSError(f"cannot resolve {host!r}: {exc}") from None
    addresses: list[Address] = []
    for family, _type, _proto, _name, sockaddr in answers:
        if family in (socket.AF_INET, socket.AF_INET6):
            address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
            if address not in addresses:
                addresses.append(address)
    return addresses


def check_destination(host: str, port: int, *, allow: AllowList | None = None) -> list[Address]:
    """Resolve `host` once and return the addresses a connection to `port` may use.

    Raises EgressRefused when the policy refuses every address (naming the first), and OSError
    when the name does not resolve. Connect to a returned address, not to `host`.
    """
    allow = current_allow_list() if allow is None else allow
    if not 0 < port < 65536:
        raise EgressRefused(host, None, f"invalid port {port}", port)
    if host.startswith("/") or host.startswith("@"):
        raise EgressRefused(host, None, "Unix socket", port)
    addresses = resolve(host, port)
    allowed = [
        address
        for address in addresses
        if refusal_rule(address) is None or allow.allows(host, address, port)
    ]
    if allowed:
        return allowed
    if not addresses:
        raise OSError(f"{host!r} resolves to no IP address")
    first = addresses[0]
    raise EgressRefused(host, first, refusal_rule(first) or "reserved", port)


def create_connection(
    host: str,
    port: int,
    timeout: float | None = None,
    source_address: Any = None,
) -> socket.socket:
    """Return a TCP socket connected to a checked address of `host` (see check_destination)."""
    error: OSError | None = None
    for address in check_destination(host, port):
        try:
            return socket.create_connection((str(address), port), timeout, source_address)
        except OSError as exc:
            error = exc
    assert error is not None
    raise error


class _CheckedBackend:
    """An httpcore network backend that connects only to addresses the policy allows."""

    def __init__(self, httpcore_module: Any) -> None:
        self._inner = httpcore_module.SyncBackend()
        self._connect_error = httpcore_module.ConnectError

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Sequence[Any] | None = None,
    ) -> Any:
        try:
            addresses = check_destination(host, port)
        except EgressRefused:
            raise
        except OSError as exc:
            raise self._connect_error(str(exc)) from exc
        for index, address in enumerate(addresses):
            try:
                return self._inner.connect_tcp(
                    str(address), port, timeout, local_address, socket_options
                )
            except Exception:
                if index == len(addresses) - 1:
                    raise
        raise AssertionError("check_destination returned no address")

    def connect_unix_socket(self, path: str, *_args: Any, **_kwargs: Any) -> Any:
        raise EgressRefused(path, None, "Unix socket")

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


def _checked_transport(transport: Any, httpcore_module: Any) -> Any:
    # httpx builds its connection pool itself and offers no network_backend option; the pool
    # (httpcore's ConnectionPool) takes one, so it is swapped in on the pool httpx made.
    transport._pool._network_backend = _CheckedBackend(httpcore_module)
    return transport


def http_client(**options: Any) -> httpx.Client:
    """Return an httpx.Client whose connections (each redirect's too) obey the policy.

    Proxy variables of the environment are ignored: they would move the connection elsewhere.
    """
    import httpcore

    transport = _checked_transport(httpx.HTTPTransport(trust_env=False), httpcore)
    return httpx.Client(transport=transport, trust_env=False, **options)


def http_client2(**options: Any) -> Any:
    """Return an `httpx2.Client` (the fork the OpenAI and Anthropic SDKs take) like http_client."""
    import httpcore2
    import httpx2

    transport = _checked_transport(httpx2.HTTPTransport(trust_env=False), httpcore2)
    return httpx2.Client(transport=transport, trust_env=False, **options)


def egress_refusal(exc: BaseException) -> EgressRefused | None:
    """Return the EgressRefused behind `exc` (itself, or its cause/context chain), if any."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, EgressRefused):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None
