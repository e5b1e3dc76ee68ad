"""Powering nodes off and on, and rebooting them: one node (``node.power_off()``, ``node.power_on()``,
``node.reboot()``) or a cluster's nodes in parallel, one result per node (``cluster.power_off()`` ...).

The provider is asked through ``ComputeService.power_node`` (a DigitalOcean droplet action, EC2's StopInstances /
StartInstances / RebootInstances, the local cloud's PowerOff / PowerOn / RebootNode), which is safe to send again
after a lost answer. Waiting means: the provider's action completed (where it has actions), the node reports the
state asked for, and, for a node that comes back on, it answers again (SSH, or its local shell).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import attrs

from cloudorm.checks import check_flag
from cloudorm.compute.fanout import causes_text
from cloudorm.compute.node import check_timeout
from cloudorm.core import Record
from cloudorm.errors import CloudError, ClusterError, Timeout
from cloudorm.providers.contract.compute import check_power_action
from cloudorm.results import Results
from cloudorm.waiting import wait_until

if TYPE_CHECKING:
    from cloudorm.compute.cluster import Cluster
    from cloudorm.compute.node import Node

TARGET = {"power_off": "off", "power_on": "active", "reboot": "active"}
"""The status a node reports once each action is done."""

POLL_INTERVAL = 0.5
"""Seconds between the first polls of an action or a node's status (growing to ``POLL_MAX_INTERVAL``)."""

POLL_MAX_INTERVAL = 5.0
"""The longest pause between two polls."""


@attrs.frozen
class PowerResult:
    """What a power action did on one node: the node (its ``status`` as last loaded), or the ``error`` it met."""

    node: Node = attrs.field(repr=lambda n: repr(n.name))
    action: str
    status: str | None
    error: BaseException | None = None

    @property
    def target(self) -> str:
        """The node's name."""
        return self.node.name

    @property
    def ok(self) -> bool:
        """True when the action was done (and, when waited for, the node reached its state)."""
        return self.error is None


class PowerResults(Results[PowerResult]):
    """One ``PowerResult`` per node, in node order (``cloudorm.results.Results``); ``.raise_for_errors()`` raises
    ``ClusterError`` with the cause per failing node and these results."""

    what = "nodes"

    def by_node(self) -> dict[str, PowerResult]:
        """The results keyed by node name (the same as ``by_target()``)."""
        return {r.node.name: r for r in self}

    def _error(self, failed: list[PowerResult]) -> ClusterError:
        causes: dict[str, BaseException] = {r.node.name: r.error for r in failed if r.error is not None}
        action = failed[0].action
        return ClusterError(f"{action} failed on {len(failed)} of {len(self)} nodes: {causes_text(causes)}", causes,
                            self)


def _wait_action(node: Node, action_id: str, deadline: float) -> None:
    """Poll the provider's action until it completed; ``CloudError`` if it errored, ``Timeout`` at ``deadline``."""
    service = node.session.compute

    def done() -> bool:
        status = service.action_status(action_id)
        if status == "errored":
            raise CloudError(f"the provider could not do action {action_id} on node {node.name!r} (it errored)",
                             provider=node.session.provider)
        return status == "completed"

    wait_until(done, timeout=max(0.0, deadline - time.monotonic()), interval=POLL_INTERVAL,
               max_interval=POLL_MAX_INTERVAL, what=f"action {action_id} on node {node.name!r}")


def _wait_status(node: Node, status: str, deadline: float) -> Record:
    """Poll the node's record until it reports ``status`` (and, for ``active``, an address)."""
    service = node.session.compute
    node_id = str(node._made()["id"])
    last: dict[str, Record] = {}

    def reached() -> Record | None:
        last["record"] = record = service.get_node(node_id)
        ready = record.get("status") == status and (status != "active" or bool(record.get("address")))
        return record if ready else None

    seconds = max(0.0, deadline - time.monotonic())
    try:
        return wait_until(reached, timeout=seconds, interval=POLL_INTERVAL, max_interval=POLL_MAX_INTERVAL,
                          what=f"node {node.name!r} becoming {status}")
    except Timeout:
        seen = (last.get("record") or {}).get("status")
        raise Timeout(f"node {node.name!r} was not {status} after {seconds:.0f} s (it is {seen!r})",
                      provider=node.session.provider) from None


def _moved(node: Node, before: str | None) -> None:
    """The host key pinned for a node follows it when its address changes (an EC2 instance loses its public address
    when stopped and gets another when started): kept under the node's id while it has none, then pinned for the
    new address, so the first connection there is verified, never trusted on first use."""
    after = node.address
    record = node._co_record or {}
    if before == after or node.id is None or not node.cluster._transport(record).remote:
        return
    known = node.cluster._files.known_hosts()
    held = (before or f"node-{node.id}")
    keys = known.lookup(held) if known is not None else []
    if known is None or not keys:
        return
    known.pin(after or f"node-{node.id}", keys[0])
    known.forget(held)


def power(node: Node, action: str, wait: bool = True, timeout: float | None = None) -> Node:
    """Send ``action`` to ``node`` through its provider; with ``wait``, return once the provider's action completed,
    the node reports its new state and (coming back on) answers again, within ``timeout`` s (default the
    cluster's ``boot_timeout``). The node's connection is closed: the next command opens a new one."""
    action = check_power_action(action)
    wait = check_flag("wait", wait)
    seconds = check_timeout(timeout) or node.cluster.boot_timeout
    node_id = str(node._made()["id"])
    deadline = time.monotonic() + seconds
    service = node.session.compute
    handle: str | None = None
    if action == "reboot" and not service.implements("power_node"):  # (a provider with only the older reboot_node)
        service.reboot_node(node_id)
    else:
        handle = service.power_node(node_id, action)
    node.close()
    if not wait:
        return node
    if handle is not None:
        _wait_action(node, handle, deadline)
    before = node.address
    node._co_take(_wait_status(node, TARGET[action], deadline))
    _moved(node, before)
    if TARGET[action] == "active":
        node.wait_ready(max(1.0, deadline - time.monotonic()))
    return node


def power_many(cluster: Cluster, action: str, nodes: Any = None, wait: bool = True,
               timeout: float | None = None) -> PowerResults:
    """``power(node, action, wait, timeout)`` on every node of ``cluster`` (or ``nodes``: Node objects, names or
    indexes) in parallel, ``max_parallel`` at a time; one result per node, in node order. A node that failed has
    its error in its result (``.raise_for_errors()``: ``ClusterError``); the others are done all the same."""
    action = check_power_action(action)
    wait = check_flag("wait", wait)
    check_timeout(timeout)
    # (coming back on is waited for over SSH: the login key is needed up front, as for run)
    targets = cluster._targets(nodes) if wait and TARGET[action] == "active" else cluster._select(nodes)
    _, errors = cluster._each(targets, lambda node: power(node, action, wait, timeout))
    return PowerResults(PowerResult(n, action, n.status, errors.get(n.name)) for n in targets)


__all__ = ["TARGET", "PowerResult", "PowerResults", "power", "power_many"]
