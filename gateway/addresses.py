"""Which hosts are this machine, and which must never be a delivery target.

Outbound deliveries carry children's data and the councils' credentials, so a routing file
may point only at https endpoints, or at plain http on this machine's loopback interface (the
bundled simulators). Some addresses are refused whatever the scheme: link-local ones
(169.254.0.0/16, fe80::/10), where clouds serve instance metadata and credentials, the cloud
metadata services' other addresses and names, and unspecified addresses (0.0.0.0, ::), which
reach this machine under another name. IPv4 written in another notation (2852039166,
0xa9.0xfe.0xa9.0xfe, which the system resolver accepts) is read as the address it is.
"""

from __future__ import annotations

import ipaddress
import re
import socket

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
METADATA_NAMES = frozenset(
    {
        "metadata",
        "metadata.google.internal",
        "metadata.goog",
        "instance-data",
        "instance-data.ec2.internal",
        "metadata.azure.internal",
    }
)
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a)
    for a in (
        "169.254.169.254",  # AWS, GCP, Azure, OCI, OpenStack (also link-local)
        "169.254.170.2",  # AWS ECS task credentials (also link-local)
        "fd00:ec2::254",  # AWS over IPv6
        "100.100.100.200",  # Alibaba Cloud
        "168.63.129.16",  # Azure platform (wire server)
        "192.0.0.192",  # Oracle Cloud Classic
    )
)
_IPV4_OTHER_NOTATION = re.compile(r"^[0-9a-fA-FxX.]+$")


def address_of(host: str) -> IPAddress | None:
    """The IP address a host names literally (in any notation the resolver takes), else None."""
    host = host.strip("[]")
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    if _IPV4_OTHER_NOTATION.match(host):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    return None


def is_loopback(host: str) -> bool:
    """Whether `host` is this machine's loopback interface (`localhost`, 127.0.0.0/8, ::1)."""
    name = host.lower().rstrip(".")
    if name == "localhost" or name.endswith(".localhost"):
        return True
    address = address_of(name)
    return address is not None and _unmapped(address).is_loopback


def refused_target(host: str) -> str | None:
    """Why `host` may never be a delivery target (None: it may be)."""
    name = host.lower().rstrip(".")
    if name in METADATA_NAMES:
        return "a cloud metadata service"
    address = address_of(name)
    if address is None:
        return None
    address = _unmapped(address)
    if address in METADATA_ADDRESSES:
        return "a cloud metadata service"
    if address.is_link_local:
        return "a link-local address"
    if address.is_unspecified:
        return "an unspecified address (0.0.0.0 or ::)"
    return None


def _unmapped(address: IPAddress) -> IPAddress:
    """An IPv4-mapped IPv6 address (::ffff:a.b.c.d) as the IPv4 address it carries."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address
