"""Containers on every node of a cluster at once (``cluster.containers``): the calls of ``node.containers`` and of a
``Container``, fanned out ``max_parallel`` at a time, each input checked once before any request. Commands give
``CommandResults`` (as ``cluster.run``); the rest ``NodeResults``, one ``Result`` per node. A node where the call
failed is ``ClusterError`` naming the cause per node, with every node's result as its ``results``."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from cloudorm.checks import check_flag, check_seconds
from cloudorm.compute.container_spec import (
    ContainerSpec,
    check_container_command,
    check_container_name,
    check_container_path,
)
from cloudorm.compute.containers import STOP_TIMEOUT, Container
from cloudorm.compute.fanout import causes_text
from cloudorm.compute.node import Node, check_environment, check_timeout
from cloudorm.compute.shell import CommandResult, CommandResults
from cloudorm.errors import ClusterError, InvalidInput, NotFound
from cloudorm.results import Result, Results

if TYPE_CHECKING:
    from cloudorm.compute.cluster import Cluster

V = TypeVar("V")


class NodeResults(Results[Result[V]]):
    """One ``Result`` per node (``target``: the node's name; ``value`` or ``error``), in node order;
    ``.raise_for_errors()`` raises ``ClusterError`` with a cause per failed node."""

    what = "nodes"

    def values(self) -> dict[str, V]:
        """The values of the nodes that went well, by node name."""
        return {r.target: r.value for r in self if r.ok}  # type: ignore[misc]

    def _error(self, failed: list[Result[V]]) -> ClusterError:
        causes: dict[str, BaseException] = {r.target: r.error for r in failed if r.error is not None}
        return ClusterError(f"{len(failed)} of {len(self)} nodes failed: {causes_text(causes)}", causes, self)


class ClusterContainers:
    """Containers on the nodes of one cluster (``nodes=``: Node objects, names or indexes; None: every node)."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster

    def __repr__(self) -> str:
        return f"ClusterContainers({self.cluster.name!r})"

    def _fan(self, nodes: Any, work: Callable[[Node], V], what: str) -> NodeResults[V]:
        targets = self.cluster._targets(nodes)
        values, errors = self.cluster._each(targets, work)
        out: NodeResults[V] = NodeResults(Result(n.name, values.get(n.name), errors.get(n.name)) for n in targets)
        if errors:
            raise ClusterError(f"cluster {self.cluster.name!r}: {what} failed on {len(errors)} node(s): "
                               f"{causes_text(errors)}", causes=errors, results=out)
        return out

    def _commands(self, nodes: Any, work: Callable[[Node], CommandResult], what: str,
                  check: bool) -> CommandResults:
        targets = self.cluster._targets(nodes)
        results, errors = self.cluster._each(targets, work)
        out = CommandResults(results[n.name] for n in targets if n.name in results)
        self.cluster._raise(what, errors, out)
        return out.check() if check else out

    def run(self, image: str, command: str | Sequence[str] | None = None, *, nodes: Any = None,
            environment: Mapping[str, str] | None = None, volumes: Mapping[str, str] | None = None,
            workdir: str | None = None, cpus: float | None = None, memory: int | str | None = None,
            timeout: float | None = None, check: bool = False) -> CommandResults:
        """``node.containers.run`` on every node in parallel: one ``CommandResult`` per node (a non-zero exit is a
        result; ``check=True``: ``CommandFailed`` carrying every failure)."""
        spec = ContainerSpec(image, command, environment, None, volumes, "no", workdir, cpus, memory)
        seconds = check_timeout(timeout)
        check = check_flag("check", check)
        return self._commands(nodes, lambda node: node.containers._run(spec, seconds, False),
                              f"running a container of {spec.image!r}", check)

    def start(self, name: str, image: str, command: str | Sequence[str] | None = None, *, nodes: Any = None,
              environment: Mapping[str, str] | None = None, ports: Mapping[int | str, Any] | None = None,
              volumes: Mapping[str, str] | None = None, restart: str = "unless-stopped", workdir: str | None = None,
              cpus: float | None = None, memory: int | str | None = None,
              replace: bool = False) -> NodeResults[Container]:
        """``node.containers.start`` on every node in parallel: the ``Container`` of each node."""
        name = check_container_name(name)
        spec = ContainerSpec(image, command, environment, ports, volumes, restart, workdir, cpus, memory)
        replace = check_flag("replace", replace)
        return self._fan(nodes, lambda node: node.containers._start(name, spec, replace), f"starting {name!r}")

    def list(self, nodes: Any = None) -> list[Container]:
        """The containers cloudorm started on the nodes, by node, then name."""
        found = self._fan(nodes, lambda node: node.containers.list(), "listing containers")
        return [c for r in found for c in r.value or []]

    def get(self, name: str, nodes: Any = None) -> NodeResults[Container]:
        """The container ``name`` of each node (a node without it: ``NotFound`` as its cause)."""
        name = check_container_name(name)
        return self._fan(nodes, lambda node: node.containers.get(name), f"finding {name!r}")

    def stop(self, name: str, *, nodes: Any = None, timeout: float = STOP_TIMEOUT) -> NodeResults[Container]:
        """``Container.stop`` on every node."""
        name = check_container_name(name)
        seconds = check_seconds("timeout", timeout, zero=True)
        return self._fan(nodes, lambda node: node.containers.get(name).stop(seconds), f"stopping {name!r}")

    def restart(self, name: str, *, nodes: Any = None, timeout: float = STOP_TIMEOUT) -> NodeResults[Container]:
        """``Container.restart`` on every node."""
        name = check_container_name(name)
        seconds = check_seconds("timeout", timeout, zero=True)
        return self._fan(nodes, lambda node: node.containers.get(name).restart(seconds), f"restarting {name!r}")

    def remove(self, name: str, *, nodes: Any = None, force: bool = False,
               missing_ok: bool = False) -> NodeResults[None]:
        """``Container.remove`` on every node (``missing_ok``: a node without it is fine)."""
        name = check_container_name(name)
        force, missing_ok = check_flag("force", force), check_flag("missing_ok", missing_ok)

        def remove(node: Node) -> None:
            try:
                container = node.containers.get(name)
            except NotFound:
                if missing_ok:
                    return
                raise
            container.remove(force, missing_ok)

        return self._fan(nodes, remove, f"removing {name!r}")

    def logs(self, name: str, *, nodes: Any = None, tail: int | None = None) -> NodeResults[str]:
        """``Container.logs`` of every node's ``name``."""
        name = check_container_name(name)
        if tail is not None and (isinstance(tail, bool) or not isinstance(tail, int) or tail < 0):
            raise InvalidInput("tail", f"must be a number of lines >= 0 or None, not {tail!r}")
        return self._fan(nodes, lambda node: node.containers.get(name).logs(tail), f"reading the logs of {name!r}")

    def put(self, name: str, local: str | os.PathLike[str], remote: str, *, nodes: Any = None) -> NodeResults[str]:
        """``Container.put`` into every node's ``name``: the path it got, per node."""
        name = check_container_name(name)
        if not isinstance(local, (str, os.PathLike)) or not os.path.exists(local):
            raise InvalidInput("local", f"must be an existing file or directory, not {local!r}")
        check_container_path(remote, "remote")
        return self._fan(nodes, lambda node: node.containers.get(name).put(local, remote), f"copying into {name!r}")

    def exec(self, name: str, command: str | Sequence[str], *, nodes: Any = None,
             environment: Mapping[str, str] | None = None, workdir: str | None = None,
             check: bool = False) -> CommandResults:
        """``Container.exec`` in every node's ``name``: one ``CommandResult`` per node."""
        name = check_container_name(name)
        if check_container_command(command) is None:
            raise InvalidInput("command", "exec needs a command")
        check_environment(environment)
        if workdir is not None:
            check_container_path(workdir, "workdir")
        check = check_flag("check", check)
        return self._commands(nodes, lambda node: node.containers.get(name).exec(
            command, environment=environment, workdir=workdir), f"running {command!r} in {name!r}", check)


__all__ = ["ClusterContainers", "NodeResults"]
