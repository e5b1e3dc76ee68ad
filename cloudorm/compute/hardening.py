"""Node hardening, the opt-in: what a hardened node gets (``Hardening``, its fail2ban ``Jail`` s) and what one
application did (``HardeningReport``). Every setting is checked here, before any request.

``s.Cluster("web", size=2, hardening=cloudorm.Hardening(admin_user="ops"))`` hardens every node during bootstrap
(added ones too); ``cluster.harden()`` / ``node.harden()`` apply it to nodes that exist. What is written on a node is
rendered by ``compute.hardening_render`` and applied by ``compute.hardening_apply``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import attrs

from cloudorm.checks import check_flag
from cloudorm.compute.names import check_cidrs
from cloudorm.errors import InvalidInput

if TYPE_CHECKING:
    from cloudorm.compute.node import Node

ADMIN_USER = re.compile(r"[a-z_][a-z0-9_-]{0,31}")
"""An admin login name: what ``useradd`` takes everywhere, without ``.`` or ``$`` (a sudoers.d file is named after
it, and sudo skips files with a dot)."""

JAIL_NAME = re.compile(r"[a-z][a-z0-9-]{0,31}")
"""A fail2ban jail name."""

SYSCTL_KEY = re.compile(r"net(\.[A-Za-z0-9_-]+)+")
"""A sysctl key: only the network ones (``net.*``), which a node keeps per network namespace."""

SYSCTL_VALUE = re.compile(r"-?[0-9]{1,10}")
"""A sysctl value: an integer."""

MODES = ("normal", "ddos", "extra", "aggressive")
"""The modes of fail2ban's ``sshd`` filter (``aggressive``: ``normal`` and ``ddos`` together)."""

MAX_SECONDS = 10 * 365 * 86400
"""The longest find or ban time (ten years)."""

DEFAULT_SYSCTL: dict[str, int] = {
    # reverse-path filtering: drop packets whose source could not be routed back out the interface (spoofing)
    "net.ipv4.conf.all.rp_filter": 1,
    "net.ipv4.conf.default.rp_filter": 1,
    # SYN cookies under a SYN flood; RFC 1337: TIME-WAIT assassination
    "net.ipv4.tcp_syncookies": 1,
    "net.ipv4.tcp_rfc1337": 1,
    # no ICMP redirects accepted (route hijacking) nor sent (a node is not a router)
    "net.ipv4.conf.all.accept_redirects": 0,
    "net.ipv4.conf.default.accept_redirects": 0,
    "net.ipv4.conf.all.secure_redirects": 0,
    "net.ipv4.conf.default.secure_redirects": 0,
    "net.ipv6.conf.all.accept_redirects": 0,
    "net.ipv6.conf.default.accept_redirects": 0,
    "net.ipv4.conf.all.send_redirects": 0,
    "net.ipv4.conf.default.send_redirects": 0,
    # no source-routed packets
    "net.ipv4.conf.all.accept_source_route": 0,
    "net.ipv4.conf.default.accept_source_route": 0,
    "net.ipv6.conf.all.accept_source_route": 0,
    "net.ipv6.conf.default.accept_source_route": 0,
    # log impossible source addresses; ignore broadcast pings and bogus ICMP errors
    "net.ipv4.conf.all.log_martians": 1,
    "net.ipv4.conf.default.log_martians": 1,
    "net.ipv4.icmp_echo_ignore_broadcasts": 1,
    "net.ipv4.icmp_ignore_bogus_error_responses": 1,
}
"""The sysctl settings a hardened node gets (``Hardening(sysctl={key: value or None})`` changes or drops some)."""


def _int(field: str, value: Any, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidInput(field, f"must be an int from {low} to {high}, not {value!r}")
    return value


@attrs.frozen
class Jail:
    """A fail2ban jail on SSH: after ``max_retry`` failures within ``find_time`` seconds an address is banned for
    ``ban_time`` seconds (by nftables), read through fail2ban's ``sshd`` filter in ``mode``."""

    name: str
    """The jail's name (``sshd`` is fail2ban's own: its settings are replaced)."""
    max_retry: int
    """Failures that get an address banned."""
    find_time: int
    """The window (seconds) failures are counted in."""
    ban_time: int
    """How long (seconds) a ban lasts."""
    mode: str = "normal"
    """The ``sshd`` filter's mode: ``normal``, ``ddos``, ``extra`` or ``aggressive``."""

    def __attrs_post_init__(self) -> None:
        if not isinstance(self.name, str) or not JAIL_NAME.fullmatch(self.name):
            raise InvalidInput("jails", f"a jail name is lowercase letters, digits and '-', not {self.name!r}")
        _int("jails", self.max_retry, 1, 1000)
        _int("jails", self.find_time, 1, MAX_SECONDS)
        _int("jails", self.ban_time, 1, MAX_SECONDS)
        if self.mode not in MODES:
            raise InvalidInput("jails", f"mode must be one of {', '.join(MODES)}, not {self.mode!r}")


DEFAULT_JAILS = (Jail("sshd", max_retry=2, find_time=600, ban_time=6000),
                 Jail("sshd-longterm", max_retry=4, find_time=18000, ban_time=6_000_000, mode="aggressive"))
"""The Cloud package's two SSH jails: quick (2 failures in 10 min: 100 min) and long-term (4 in 5 h: 69 days;
``aggressive`` also counts connections dropped before authenticating)."""


@attrs.frozen
class Port:
    """An inbound port (or range) open to everyone: ``protocol`` ``tcp`` or ``udp``, ``first`` to ``last``."""

    protocol: str
    first: int
    last: int

    def __str__(self) -> str:
        return f"{self.first}/{self.protocol}" if self.first == self.last else \
            f"{self.first}-{self.last}/{self.protocol}"


_PORT = re.compile(r"(?P<first>[0-9]{1,5})(?:-(?P<last>[0-9]{1,5}))?(?:/(?P<protocol>tcp|udp))?")


def check_port(value: Any) -> Port:
    """``443`` (tcp), ``"53/udp"``, ``"8000-8100/tcp"``; else ``InvalidInput("allow_ports")``."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    found = _PORT.fullmatch(value) if isinstance(value, str) else None
    if found is None:
        raise InvalidInput("allow_ports", f"a port is 443, '53/udp' or '8000-8100/tcp', not {value!r}")
    first = int(found["first"])
    last = int(found["last"] or first)
    if not 1 <= first <= last <= 65535:
        raise InvalidInput("allow_ports", f"{value!r}: ports go from 1 to 65535, the first of a range first")
    return Port(found["protocol"] or "tcp", first, last)


def check_ports(value: Any) -> tuple[Port, ...]:
    """Ports open to everyone (one may be given alone)."""
    if isinstance(value, (int, str)) and not isinstance(value, bool):
        value = [value]
    if not isinstance(value, Iterable):
        raise InvalidInput("allow_ports", f"must be a list of ports (443, '53/udp'), not {value!r}")
    return tuple(dict.fromkeys(check_port(v) for v in value))


def check_networks(field: str, value: Any) -> tuple[str, ...]:
    """IPv4/IPv6 addresses or CIDRs, normalised (``"203.0.113.7/32"``) as ``allow_ssh_from``'s are; one may be given
    as a string, and none is fine."""
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, Iterable) or isinstance(value, bytes):
        raise InvalidInput(field, f"must be a list of CIDRs (['10.0.0.0/8']), not {value!r}")
    value = list(value)
    try:
        return check_cidrs(value) if value else ()
    except InvalidInput as e:
        raise InvalidInput(field, e.reason) from None


def check_sysctl(value: Any) -> dict[str, int]:
    """``DEFAULT_SYSCTL`` with ``value``'s changes: ``{key: int}`` sets, ``{key: None}`` drops a setting."""
    if not isinstance(value, Mapping):
        raise InvalidInput("sysctl", f"must be a mapping of net.* keys to ints (None drops one), not {value!r}")
    out = dict(DEFAULT_SYSCTL)
    for key, setting in value.items():
        if not isinstance(key, str) or not SYSCTL_KEY.fullmatch(key):
            raise InvalidInput("sysctl", f"{key!r} is not a net.* sysctl key (only network settings, which a "
                                         "node keeps per network namespace, are written)")
        if setting is None:
            out.pop(key, None)
        elif isinstance(setting, bool) or not isinstance(setting, int) or not SYSCTL_VALUE.fullmatch(str(setting)):
            raise InvalidInput("sysctl", f"the value of {key} must be an int (or None to drop it), not {setting!r}")
        else:
            out[key] = setting
    return out


def check_jails(value: Any) -> tuple[Jail, ...]:
    """``Jail`` s with distinct names (an empty list: no fail2ban)."""
    if isinstance(value, Jail):
        value = [value]
    jails = tuple(value) if isinstance(value, Iterable) and not isinstance(value, (str, bytes)) else None
    if jails is None or not all(isinstance(j, Jail) for j in jails):
        raise InvalidInput("jails", f"must be a list of cloudorm.compute.Jail, not {value!r}")
    names = [j.name for j in jails]
    if len(set(names)) != len(names):
        raise InvalidInput("jails", f"two jails share a name: {names}")
    return jails


def _admin(value: Any) -> str:
    if not isinstance(value, str) or not ADMIN_USER.fullmatch(value):
        raise InvalidInput("admin_user", f"must be a login name (lowercase letters, digits, '_' and '-', up to 32, "
                                         f"not starting with a digit or '-'), not {value!r}")
    if value == "root":
        raise InvalidInput("admin_user", "root cannot be the admin: hardened nodes refuse root logins "
                                         "(PermitRootLogin no); name a user that logs in and uses sudo")
    return value


def _allow_from(value: Any) -> tuple[str, ...]:
    return check_networks("allow_from", value)


def _max_auth_tries(value: Any) -> int:
    return _int("max_auth_tries", value, 1, 10)


def _firewall(value: Any) -> bool:
    return check_flag("firewall", value)


@attrs.frozen
class Hardening:
    """What a hardened node gets: an ``admin_user`` with sudo (NOPASSWD, a file in ``/etc/sudoers.d``) who logs in
    with the cluster's key, and that cloudorm then logs in as; sshd without passwords or root logins and with
    ``max_auth_tries``; an nftables firewall letting in SSH (from the cluster's ``allow_ssh_from``, else anywhere),
    the other nodes, ``allow_from`` and ``allow_ports``, and nothing else; fail2ban's ``jails`` on SSH; and safe
    network ``sysctl`` settings. Applying it twice changes nothing the second time."""

    admin_user: str = attrs.field(default="cloudorm", converter=_admin)
    """The sudo user cloudorm logs in as once a node is hardened (created when missing; not ``root``)."""
    allow_ports: tuple[Port, ...] = attrs.field(default=(), converter=check_ports)
    """Inbound ports open to everyone besides SSH (``[80, 443, "53/udp"]``)."""
    allow_from: tuple[str, ...] = attrs.field(default=(), converter=_allow_from)
    """Networks trusted like the cluster's own nodes: all their traffic is let in and fail2ban never bans them."""
    max_auth_tries: int = attrs.field(default=3, converter=_max_auth_tries)
    """sshd's ``MaxAuthTries``."""
    jails: tuple[Jail, ...] = attrs.field(default=DEFAULT_JAILS, converter=check_jails)
    """fail2ban's jails on SSH (empty: fail2ban is not set up)."""
    sysctl: dict[str, int] = attrs.field(factory=dict, converter=check_sysctl, hash=False)
    """The sysctl settings written: ``DEFAULT_SYSCTL`` with the changes given (``{key: int}`` sets, ``{key: None}``
    drops; only ``net.*`` keys)."""
    firewall: bool = attrs.field(default=True, converter=_firewall)
    """Set up the nftables firewall (False: leave the node's firewall as it is)."""


@attrs.frozen
class HardeningReport:
    """What hardening one node did: the files it installed or changed, the services it (re)loaded, the user it
    created and the packages it installed (all empty when the node was hardened already), and the login now used."""

    node: Node = attrs.field(repr=lambda n: repr(n.name))
    user: str
    """The login cloudorm uses for the node from now on (the admin user)."""
    previous_user: str
    """The login cloudorm used before (the same as ``user`` when the node was hardened already)."""
    changed: tuple[str, ...] = ()
    """The paths installed or changed on the node."""
    reloaded: tuple[str, ...] = ()
    """The services loaded, reloaded or started (``sshd``, ``fail2ban``, ``firewall``, ``sysctl``)."""
    created_user: bool = False
    """True when the admin user was made by this call."""
    packages: tuple[str, ...] = ()
    """The packages installed by this call."""

    @property
    def target(self) -> str:
        """The node's name."""
        return self.node.name

    @property
    def ok(self) -> bool:
        """True: a report is only made for a node that was hardened (failures raise)."""
        return True

    @property
    def unchanged(self) -> bool:
        """True when the node was hardened already: nothing installed, changed or restarted."""
        return not (self.changed or self.reloaded or self.created_user or self.packages)


__all__ = ["DEFAULT_JAILS", "DEFAULT_SYSCTL", "Hardening", "HardeningReport", "Jail", "Port"]
