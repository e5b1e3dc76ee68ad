"""Cluster and node names: a cluster name is a hostname prefix, its nodes are ``{cluster}-{n}`` from 1."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from typing import Any

from cloudorm.errors import InvalidInput

MAX_CLUSTER_NAME = 57
"""The longest cluster name: its node names ``{cluster}-{n}`` (n up to 99999) stay valid host names (<= 63)."""

CLUSTER_NAME = re.compile(rf"[a-z][a-z0-9-]{{0,{MAX_CLUSTER_NAME - 1}}}")
"""1 to 57 lowercase letters, digits and hyphens, starting with a letter."""

MAX_NODES = 1000
"""cloudorm's cap on a cluster's nodes, the default of ``Cluster(max_nodes=)``: a larger ``size`` or ``add_node(n)``
is refused before any request, whatever the provider would allow (``max_nodes=`` raises it, explicitly)."""

MAX_NODE_NUMBER = 99999
"""The highest node number (``{cluster}-99999``, the most a 57-character cluster name leaves for a host name), so
the highest ``max_nodes`` there is."""

REGION = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")
"""What any provider's region is made of (``nyc3``, ``us-east-1``): 1 to 63 lowercase letters, digits and hyphens.
A region names a directory of cloudorm's state, so nothing else (``..``, ``/``) is taken."""


def check_cluster_name(name: Any) -> str:
    """``name`` if it is a valid cluster name, else ``InvalidInput("name", ...)``."""
    if not isinstance(name, str) or not CLUSTER_NAME.fullmatch(name):
        raise InvalidInput("name", f"a cluster name is 1-{MAX_CLUSTER_NAME} lowercase letters, digits and hyphens "
                                   f"starting with a letter (it prefixes the nodes' host names, which may be at "
                                   f"most 63 characters), not {name!r}")
    return name


def check_region(region: Any) -> str:
    """``region`` if it is made like a region (``REGION``), else ``InvalidInput("region", ...)``; each provider
    then checks its own form (``ComputeService.check_region``)."""
    if not isinstance(region, str) or not REGION.fullmatch(region):
        raise InvalidInput("region", f"a region is 1-63 lowercase letters, digits and hyphens (such as 'nyc3' or "
                                     f"'us-east-1'), not {region!r}")
    return region


def check_node_count(field: str, count: Any, cap: int) -> int:
    """``count`` if it is a number of nodes from 1 to ``cap``, else ``InvalidInput(field, ...)``."""
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise InvalidInput(field, f"must be a number of nodes >= 1, not {count!r}")
    if count > cap:
        raise InvalidInput(field, f"{count} nodes is more than the cluster's max_nodes={cap} (cloudorm's cap, "
                                  f"{MAX_NODES} by default, so that a typo cannot order thousands of servers): give "
                                  "Cluster(max_nodes=...) to allow more")
    return count


def check_cidrs(cidrs: Any, field: str = "allow_ssh_from") -> tuple[str, ...]:
    """The address ranges allowed to reach SSH (or another port), normalised (``"203.0.113.7/32"``): a list of
    IPv4/IPv6 CIDRs or addresses, at least one; else ``InvalidInput(field, ...)``."""
    if isinstance(cidrs, (str, bytes)) or not isinstance(cidrs, Iterable):
        raise InvalidInput(field, f"must be a list of CIDRs (['203.0.113.0/24']), not {cidrs!r}")
    out = []
    for cidr in cidrs:
        try:
            if not isinstance(cidr, str):
                raise TypeError(cidr)
            out.append(str(ipaddress.ip_network(cidr.strip(), strict=False)))
        except (TypeError, ValueError):
            raise InvalidInput(field, f"{cidr!r} is not an IPv4 or IPv6 address or CIDR ('203.0.113.0/24')") from None
    if not out:
        if field != "allow_ssh_from":
            raise InvalidInput(field, "an empty list would let no one in: give at least one CIDR")
        raise InvalidInput(field, "an empty list would let no one reach the nodes; give None to leave SSH open as the "
                                  "provider does by default")
    return tuple(dict.fromkeys(out))


def node_number(cluster: str, node_name: str) -> int | None:
    """``n`` of a node named ``{cluster}-{n}``; None for a name of another form."""
    prefix = f"{cluster}-"
    rest = node_name[len(prefix):] if node_name.startswith(prefix) else ""
    return int(rest) if rest.isdigit() and not rest.startswith("0") else None


def next_names(cluster: str, taken: Iterable[str], count: int) -> list[str]:
    """``count`` node names for ``cluster``: the smallest numbers from 1 that no node in ``taken`` uses."""
    used = {node_number(cluster, name) for name in taken}
    names: list[str] = []
    n = 0
    while len(names) < count:
        n += 1
        if n not in used:
            names.append(f"{cluster}-{n}")
    return names
