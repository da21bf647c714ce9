"""Where a webhook may be sent: the SSRF guard, at creation and again at every send.

A URL is http or https with a host and no credentials. Its host is resolved (on the event
loop's resolver thread, never blocking the loop) and EVERY address it resolves to must be a
public unicast one: loopback, private (RFC 1918), shared (100.64/10), link-local (the cloud
metadata address 169.254.169.254 among them), unique-local (fc00::/7), multicast, reserved and
unspecified addresses are refused, IPv4-mapped IPv6 addresses by their IPv4 address, unless
``CLAIMS_WEBHOOK_ALLOW_PRIVATE_TARGETS`` is on. The sender then connects to the address it
checked (no second lookup a DNS-rebinding attacker could answer differently).
"""

import asyncio
import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from app.core import errors

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
DEFAULT_PORTS = {"http": 80, "https": 443}
RULE = "webhook_target"


class TargetRefused(errors.RuleViolation):
    """The URL may not receive webhooks (422 at creation; a refused attempt at send time)."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail, rule=RULE, field="url")


@dataclass(frozen=True, slots=True)
class Target:
    scheme: str
    host: str  # as written in the URL (no brackets): the Host header and the TLS server name
    port: int
    address: IPAddress  # the checked address to connect to
    path_and_query: str

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == DEFAULT_PORTS[self.scheme] else f"{host}:{self.port}"

    @property
    def pinned_url(self) -> str:
        """The URL with the checked address in place of the host name."""
        address = f"[{self.address}]" if self.address.version == 6 else str(self.address)
        return f"{self.scheme}://{address}:{self.port}{self.path_and_query}"


def refusal(address: IPAddress) -> str | None:
    """Why webhooks may not reach ``address`` (None: a public unicast address)."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return refusal(address.ipv4_mapped)
    if address.is_multicast:
        return "multicast"
    if address.is_loopback:
        return "loopback"
    if address.is_link_local:
        return "link-local (cloud metadata lives there)"
    if address.is_unspecified:
        return "unspecified"
    if not address.is_global:
        return "private, shared, unique-local or reserved"
    return None


def split_url(url: str) -> tuple[str, str, int, str]:
    """scheme, host, port, path with query; raises TargetRefused for what is no webhook URL."""
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        raise TargetRefused(f"{url!r} has an invalid port.") from None
    if parts.scheme not in DEFAULT_PORTS or not parts.hostname:
        raise TargetRefused("A webhook URL is http:// or https:// with a host.")
    if parts.username is not None or parts.password is not None:
        raise TargetRefused("A webhook URL carries no credentials.")
    path = parts.path or "/"
    if parts.query:
        path += f"?{parts.query}"
    return parts.scheme, parts.hostname, port or DEFAULT_PORTS[parts.scheme], path


async def resolve_target(url: str, *, allow_private: bool) -> Target:
    """The address to send ``url``'s deliveries to, every address of its host checked."""
    scheme, host, port, path = split_url(url)
    try:
        literal: IPAddress | None = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    if literal is not None:
        addresses = [literal]
    else:
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(
                host, port, type=socket.SOCK_STREAM
            )
        except (socket.gaierror, UnicodeError) as exc:
            raise TargetRefused(f"The host {host!r} does not resolve ({exc}).") from None
        addresses = [ipaddress.ip_address(info[4][0]) for info in infos]
        if not addresses:
            raise TargetRefused(f"The host {host!r} does not resolve.")
    if not allow_private:
        for address in addresses:
            reason = refusal(address)
            if reason is not None:
                raise TargetRefused(
                    f"{host!r} resolves to {address}, a {reason} address; webhooks go to public "
                    "addresses only (CLAIMS_WEBHOOK_ALLOW_PRIVATE_TARGETS allows others)."
                )
    return Target(scheme, host, port, addresses[0], path)
