"""Cluster and node names: a cluster name is a hostname prefix, its nodes are ``{cluster}-{n}`` from 1."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from cloudorm.errors import InvalidInput

MAX_CLUSTER_NAME = 57
"""The longest cluster name: its node names ``{cluster}-{n}`` (n up to 99999) stay valid host names (<= 63)."""

CLUSTER_NAME = re.compile(rf"[a-z][a-z0-9-]{{0,{MAX_CLUSTER_NAME - 1}}}")
"""1 to 57 lowercase letters, digits and hyphens, starting with a letter."""


def check_cluster_name(name: Any) -> str:
    """``name`` if it is a valid cluster name, else ``InvalidInput("name", ...)``."""
    if not isinstance(name, str) or not CLUSTER_NAME.fullmatch(name):
        raise InvalidInput("name", f"a cluster name is 1-{MAX_CLUSTER_NAME} lowercase letters, digits and hyphens "
                                   f"starting with a letter (it prefixes the nodes' host names, which may be at "
                                   f"most 63 characters), not {name!r}")
    return name


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
