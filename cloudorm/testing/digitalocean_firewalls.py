"""The fake DigitalOcean's cloud firewalls: create, list, get and delete, and adding or removing rules
(``POST``/``DELETE /v2/firewalls/{id}/rules``), each rule checked as DigitalOcean checks it.

A rule has a ``protocol`` (``tcp``, ``udp`` or ``icmp``), ``ports`` (one port ``"22"``, a range ``"8000-9000"``,
or ``"0"``/``"all"`` for every port; required for tcp and udp, ``"0"`` for icmp) and ``sources`` (inbound) or
``destinations`` (outbound) naming at least one of ``addresses`` (IPv4/IPv6 addresses or CIDRs), ``tags``,
``droplet_ids``, ``load_balancer_uids`` or ``kubernetes_ids``. Rules are stored as given except that every port
(``"all"``) and icmp's ports read back as ``"0"``. The rules are recorded, not enforced.
"""

from __future__ import annotations

import ipaddress
import re
import uuid
from typing import TYPE_CHECKING, Any

from cloudorm.providers.contract import Wire
from cloudorm.testing.digitalocean_model import _ApiError, _check_tag, _made_of, _not_found, _now

if TYPE_CHECKING:
    from cloudorm.testing.digitalocean import FakeDigitalOcean

TARGETS = ("addresses", "tags", "droplet_ids", "load_balancer_uids", "kubernetes_ids")
"""What a rule's ``sources`` / ``destinations`` may name."""

_PORTS = re.compile(r"^([0-9]{1,5})(?:-([0-9]{1,5}))?$")


def _bad(message: str) -> _ApiError:
    return _ApiError(400, "bad_request", message)


def check_ports(protocol: str, ports: Any) -> str:
    """A rule's ``ports`` as stored: ``"0"`` for every port (``"all"``) and for icmp, else ``"N"`` or ``"N-M"``
    within 1-65535, the first no larger than the last."""
    if protocol == "icmp":
        return "0"
    if ports in (None, ""):
        raise _bad(f"ports are required for {protocol} rules")
    text = str(ports)
    if text in ("0", "all"):
        return "0"
    found = _PORTS.match(text)
    first, last = (int(found.group(1)), int(found.group(2) or found.group(1))) if found else (0, 0)
    if not found or not 1 <= first <= last <= 65535:
        raise _bad(f"ports {ports!r} must be a port (1-65535), a range such as '8000-9000', '0' or 'all'")
    return text


def check_rule(rule: Any, side: str) -> Wire:
    """One inbound (``side`` ``sources``) or outbound (``destinations``) rule as stored, or DigitalOcean's 400."""
    if not isinstance(rule, dict):
        raise _bad("every rule must be an object")
    protocol = rule.get("protocol")
    if protocol not in ("tcp", "udp", "icmp"):
        raise _bad(f"protocol {protocol!r} must be tcp, udp or icmp")
    targets = rule.get(side)
    if not isinstance(targets, dict) or not any(targets.get(k) for k in TARGETS):
        raise _bad(f"a {side[:-1]} is required for every rule")
    for address in targets.get("addresses") or []:
        try:
            ipaddress.ip_network(str(address), strict=False)
        except ValueError:
            raise _bad(f"{side}.addresses: {address!r} is not an IP address or CIDR") from None
    for tag in targets.get("tags") or []:
        _check_tag(tag)
    if not all(isinstance(d, int) and not isinstance(d, bool) for d in targets.get("droplet_ids") or []):
        raise _bad(f"{side}.droplet_ids must be droplet ids")
    return {**rule, "ports": check_ports(protocol, rule.get("ports"))}


def check_rules(body: Any, require: bool) -> tuple[list[Wire], list[Wire]]:
    """The checked ``inbound_rules`` and ``outbound_rules`` of a request (``require``: at least one)."""
    body = body if isinstance(body, dict) else {}
    inbound, outbound = body.get("inbound_rules") or [], body.get("outbound_rules") or []
    if not isinstance(inbound, list) or not isinstance(outbound, list):
        raise _bad("inbound_rules and outbound_rules must be arrays")
    if require and not inbound and not outbound:
        raise _bad("at least one inbound or outbound rule is required")
    return [check_rule(r, "sources") for r in inbound], [check_rule(r, "destinations") for r in outbound]


class FirewallRoutes:
    """Answers ``/v2/firewalls`` requests for one ``FakeDigitalOcean`` (called under its lock)."""

    def __init__(self, fake: FakeDigitalOcean) -> None:
        self.fake = fake

    def handle(self, method: str, rest: list[str], query: dict[str, str], body: Any, path: str,
               page: Any) -> tuple[int, Wire | None]:
        """Answer one firewall request; ``page(key, items, query, path)`` makes a list page."""
        firewalls = self.fake._firewalls
        if not rest and method == "GET":
            return 200, page("firewalls", list(firewalls.values()), query, path)
        if not rest and method == "POST":
            made = self.new(body or {})
            firewalls[made["id"]] = made
            return 202, {"firewall": dict(made)}
        firewall = firewalls.get(rest[0]) if rest else None
        if firewall is None:
            raise _not_found()
        if len(rest) == 1 and method == "GET":
            return 200, {"firewall": dict(firewall)}
        if len(rest) == 1 and method == "DELETE":
            del firewalls[rest[0]]
            return 204, None
        if rest[1:] == ["rules"] and method in ("POST", "DELETE"):
            inbound, outbound = check_rules(body, require=True)
            if method == "POST":
                firewall["inbound_rules"] = [*firewall["inbound_rules"], *inbound]
                firewall["outbound_rules"] = [*firewall["outbound_rules"], *outbound]
            else:
                firewall["inbound_rules"] = [r for r in firewall["inbound_rules"] if r not in inbound]
                firewall["outbound_rules"] = [r for r in firewall["outbound_rules"] if r not in outbound]
            return 204, None
        raise _not_found()

    def new(self, body: Wire) -> Wire:
        """A firewall from a create request, or DigitalOcean's 400."""
        name = body.get("name")
        if not _made_of(name, ".-") or not name[0].isalnum():
            raise _bad("name: must contain only letters, numbers, '.' and '-'")
        inbound, outbound = check_rules(body, require=True)
        for tag in body.get("tags") or []:
            self.fake._tags.setdefault(_check_tag(tag), {"name": tag})
        return {"id": str(uuid.uuid4()), "name": name, "status": "waiting", "created_at": _now(),
                "pending_changes": [], "inbound_rules": inbound, "outbound_rules": outbound,
                "droplet_ids": list(body.get("droplet_ids") or []), "tags": list(body.get("tags") or [])}


__all__ = ["TARGETS", "FirewallRoutes", "check_ports", "check_rule", "check_rules"]
