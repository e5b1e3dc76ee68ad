"""The Node entity: one server of a cluster (a droplet, an instance or a local working directory)."""

from __future__ import annotations


class Node:
    """One server of a cluster: ``id``, ``name``, ``address``, ``status``, ``size``; ``run``, ``put``, ``get``."""
