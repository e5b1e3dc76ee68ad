"""Compute kinds for the lifecycle suite: a cluster and a node on the local cloud (nodes are working directories,
``runtime=None`` so nothing is installed). A cluster's change is a larger ``size`` (save adds a node); a node's is a
new ``size`` (save resizes it)."""

from __future__ import annotations

from typing import Any

from tests.lifecycle_kinds import Kind


def _cluster(session: Any, uid: str) -> Any:
    return session.Cluster(f"lc-{uid}", size=1, runtime=None, progress=False)


def _grow(cluster: Any) -> None:
    cluster.size += 1


def _cluster_twin(cluster: Any) -> Any:
    return _cluster(cluster.session, cluster.name[3:])


def _node(session: Any, uid: str) -> Any:
    cluster = _cluster(session, uid).save()
    return cluster.Node(f"{cluster.name}-2")


def _resize(node: Any) -> None:
    node.size = "s-1vcpu-2gb" if node.size != "s-1vcpu-2gb" else "s-1vcpu-1gb"


def _node_twin(node: Any) -> Any:
    return node.cluster.session.Cluster(node.cluster.name).Node(node.name)


def _cleanup(session: Any, uid: str) -> None:
    session.Cluster(f"lc-{uid}").delete(missing_ok=True)


KINDS = [
    Kind("cluster", _cluster, _grow, _cluster_twin, _cleanup),
    Kind("node", _node, _resize, _node_twin, _cleanup),
]
