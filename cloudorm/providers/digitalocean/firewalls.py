"""DigitalOcean cloud firewalls for a cluster's tag: SSH in from the cluster's CIDRs, every TCP port from droplets
carrying the same tag (the peer rule), more ports opened on demand (``POST /v2/firewalls/{id}/rules``).

Adding rules reads the firewall first and sends only the rules it lacks. pydo never re-sends a POST after an answer
other than 429; when the answer is lost, the firewall is read again: the rules there mean it was done, else they
are sent again (at most the session's ``max_attempts`` times in all). A create whose answer is lost is settled by
finding the firewall by name.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from azure.core import exceptions as ax

from cloudorm import errors as ce
from cloudorm.compute.names import check_cidrs, check_cluster_name
from cloudorm.providers.contract import Wire
from cloudorm.providers.contract.compute import EVERYWHERE, check_open_port, covered

if TYPE_CHECKING:
    from cloudorm.providers.digitalocean import DigitalOceanProvider

TAG_PREFIX = "cloudorm:"
"""A cluster's droplets carry the tag ``cloudorm:{cluster}``."""

NAME_PREFIX = "cloudorm-"
"""A cluster's firewall (and registered key) is named ``cloudorm-{cluster}``."""

ALL_PORTS = "0"
"""DigitalOcean's ``ports`` for every port of a protocol (it also takes ``"all"``)."""

_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")

_OUTBOUND = [{"protocol": "tcp", "ports": ALL_PORTS, "destinations": {"addresses": list(EVERYWHERE)}},
             {"protocol": "udp", "ports": ALL_PORTS, "destinations": {"addresses": list(EVERYWHERE)}},
             {"protocol": "icmp", "destinations": {"addresses": list(EVERYWHERE)}}]
"""A cluster firewall's outbound rules: everything."""


def cluster_tag(cluster: str) -> str:
    """The tag of ``cluster``'s droplets (``InvalidInput`` unless ``cluster`` is a valid cluster name)."""
    return TAG_PREFIX + check_cluster_name(cluster)


def check_firewall_id(firewall_id: Any) -> str:
    """``firewall_id`` if it is a DigitalOcean firewall id (a UUID), else ``InvalidInput("firewall_id")``."""
    if not isinstance(firewall_id, str) or not _UUID.match(firewall_id):
        raise ce.InvalidInput("firewall_id", f"{firewall_id!r} is not a firewall id")
    return firewall_id


def port_rule(port: int, cidrs: Iterable[str]) -> Wire:
    """The inbound rule letting tcp ``port`` in from ``cidrs``."""
    return {"protocol": "tcp", "ports": str(port), "sources": {"addresses": list(cidrs)}}


def peer_rule(tag: str) -> Wire:
    """The inbound rule letting droplets tagged ``tag`` in on every TCP port."""
    return {"protocol": "tcp", "ports": ALL_PORTS, "sources": {"tags": [tag]}}


def _covers(rule: Wire, port: int | None) -> bool:
    """True when ``rule`` is a tcp rule for ``port`` (None: every port)."""
    if rule.get("protocol") != "tcp":
        return False
    ports = str(rule.get("ports") or "")
    if ports in ("0", "all"):
        return True
    if port is None:
        return False
    first, _, last = ports.partition("-")
    try:
        return int(first) <= port <= int(last or first)
    except ValueError:
        return False


def missing_rules(rules: Iterable[Wire], tag: str, ports: Mapping[int, Sequence[str]]) -> list[Wire]:
    """The inbound rules to add so that ``rules`` (a firewall's ``inbound_rules``) have the peer rule for ``tag``
    and let each port of ``ports`` in from its CIDRs (only the CIDRs no rule for the port covers yet)."""
    rules = list(rules)
    out: list[Wire] = []
    for port, cidrs in ports.items():
        present = [a for r in rules if _covers(r, port) for a in (r.get("sources") or {}).get("addresses") or []]
        lacking = [c for c in dict.fromkeys(cidrs) if not covered(c, present)]
        if lacking:
            out.append(port_rule(port, lacking))
    if not any(_covers(r, None) and tag in ((r.get("sources") or {}).get("tags") or []) for r in rules):
        out.append(peer_rule(tag))
    return out


class DropletFirewalls:
    """The firewall part of ``DigitalOceanComputeService``: ``create_firewall``, ``find_firewall``,
    ``delete_firewall``, ``allow_peers``, ``open_port``."""

    if TYPE_CHECKING:
        provider: DigitalOceanProvider
        client: Any

        def _call(self, operation: str, method: Callable[..., Any], *args: Any, ok: Sequence[int] = (),
                  **kwargs: Any) -> tuple[int, Any]: ...

        def _pages(self, operation: str, method: Callable[..., Any], key: str, **params: Any) -> Iterator[Wire]: ...

    def create_firewall(self, cluster: str, cidrs: Sequence[str]) -> str:
        """A firewall for the cluster's tag: SSH in from ``cidrs``, every TCP port from the cluster's own droplets,
        everything out; returns its id."""
        return self._create(cluster, {22: list(check_cidrs(cidrs))})

    def find_firewall(self, cluster: str) -> str | None:
        """The id of the cluster's firewall (by name), if any."""
        found = self._find(cluster)
        return None if found is None else str(found["id"])

    def delete_firewall(self, firewall_id: str) -> None:
        """Remove a firewall (``NotFound`` if it is not there)."""
        check_firewall_id(firewall_id)
        self._call("DELETE /v2/firewalls/{id}", self.client.firewalls.delete, firewall_id)

    def allow_peers(self, cluster: str) -> str | None:
        """Add the peer rule (every TCP port from droplets with the cluster's tag) to the cluster's firewall if it
        lacks it; its id, or None when the cluster has no firewall."""
        found = self._find(cluster)
        if found is None:
            return None
        return self._add_rules(found, cluster_tag(cluster), {})

    def open_port(self, cluster: str, port: int, cidrs: Sequence[str]) -> str:
        """Let tcp ``port`` in from ``cidrs`` through the cluster's firewall (and the peer rule); a cluster without
        one gets one keeping SSH open from everywhere. Returns the firewall's id."""
        port, sources = check_open_port(port, cidrs)
        found = self._find(cluster)
        if found is not None:
            return self._add_rules(found, cluster_tag(cluster), {port: sources})
        ports: dict[int, list[str]] = {22: list(EVERYWHERE)}
        ports[port] = [*ports.get(port, []), *sources]
        return self._create(cluster, ports)

    # ------------------------------------------------------------------------------------------------ plumbing

    def _find(self, cluster: str) -> Wire | None:
        """The cluster's firewall (named ``cloudorm-{cluster}``), all pages read, or None."""
        cluster_tag(cluster)
        name = NAME_PREFIX + cluster
        return next((f for f in self._pages("GET /v2/firewalls", self.client.firewalls.list, "firewalls")
                     if f.get("name") == name), None)

    def _create(self, cluster: str, ports: Mapping[int, Sequence[str]]) -> str:
        """POST /v2/firewalls for the cluster's tag with the peer rule and ``ports``; when its answer is lost the
        firewall found by name is the answer (its missing rules added), else the error is raised."""
        tag = cluster_tag(cluster)
        body = {"name": NAME_PREFIX + cluster, "inbound_rules": missing_rules([], tag, ports),
                "outbound_rules": _OUTBOUND, "tags": [tag]}
        try:
            _, response = self._call("POST /v2/firewalls", self.client.firewalls.create, body)
        except ce.CloudError as e:
            if not isinstance(e.__context__, ax.ServiceResponseError):  # not sent, or answered: nothing to settle
                raise
            found = self._find(cluster)
            if found is None:
                raise
            return self._add_rules(found, tag, ports)
        return str(response["firewall"]["id"])

    def _add_rules(self, firewall: Wire, tag: str, ports: Mapping[int, Sequence[str]]) -> str:
        """Add to ``firewall`` the inbound rules it lacks (``missing_rules``); a lost answer is settled by reading
        the firewall again (sent again while rules are missing, at most ``max_attempts`` times)."""
        firewall_id = check_firewall_id(str(firewall["id"]))
        wanted = missing_rules(firewall.get("inbound_rules") or [], tag, ports)
        attempts = self.provider.options.max_attempts
        for attempt in range(1, attempts + 1):
            if not wanted:
                break
            try:
                self._call("POST /v2/firewalls/{id}/rules", self.client.firewalls.add_rules, firewall_id,
                           {"inbound_rules": wanted})
                break
            except ce.CloudError as e:
                if not isinstance(e.__context__, ax.ServiceResponseError):  # not sent, or answered
                    raise
                _, body = self._call("GET /v2/firewalls/{id}", self.client.firewalls.get, firewall_id)
                wanted = missing_rules((body.get("firewall") or {}).get("inbound_rules") or [], tag, ports)
                if wanted and attempt == attempts:
                    raise
        return firewall_id


__all__ = ["ALL_PORTS", "NAME_PREFIX", "TAG_PREFIX", "DropletFirewalls", "check_firewall_id", "cluster_tag",
           "missing_rules", "peer_rule", "port_rule"]
