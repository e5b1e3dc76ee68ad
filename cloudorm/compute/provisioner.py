"""Making and unmaking a cluster's nodes: create in one batch, wait until they are active, harden (when the
cluster has ``hardening``) and bootstrap them in parallel, and on failure destroy exactly what the call made (nodes,
key, firewall); tearing a whole cluster down."""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from cloudorm.compute.fanout import causes_text, describe, in_order
from cloudorm.compute.hardening_apply import check_supported, harden_node
from cloudorm.compute.keys import KeyPair
from cloudorm.compute.names import next_names
from cloudorm.compute.sizes import size_for_price
from cloudorm.core import Plan, call
from cloudorm.errors import ClusterError, InvalidInput, NotFound, Timeout
from cloudorm.storage.transfer import Progress, progress_bar
from cloudorm.waiting import wait_until

if TYPE_CHECKING:
    from cloudorm.compute.cluster import Cluster
    from cloudorm.compute.node import Node
    from cloudorm.providers.contract import ComputeService, NodeInfo

POLL_INTERVAL = 1.0
"""Seconds between the first ``list_nodes`` polls while new nodes boot (then growing to ``POLL_MAX_INTERVAL``):
well within DigitalOcean's 250 requests a minute and EC2's describe limits."""

POLL_MAX_INTERVAL = 5.0
"""The longest pause between two polls while nodes boot."""


class Provisioner:
    """Creates, boots and bootstraps a cluster's new nodes, and destroys what a failed call made."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster

    @property
    def service(self) -> ComputeService:
        """The provider's compute service."""
        return self.cluster.session.compute

    def check_region(self) -> None:
        """The provider's check of the region new nodes go to (its form; EC2: the session's), before any request."""
        if self.cluster.region is not None:
            self.service.check_region(self.cluster.region)

    def _check_quota(self, count: int, field: str) -> None:
        """``InvalidInput(field)`` when the account may not have ``count`` more nodes (DigitalOcean's droplet limit),
        before anything is made; a read at most."""
        free = self.service.node_quota()
        if free is not None and count > free:
            c = self.cluster
            raise InvalidInput(field, f"cluster {c.name!r} needs {count} new node(s) but the {c.session.provider} "
                                      f"account may have only {max(free, 0)} more (its limit on servers at once): "
                                      "ask the provider to raise it, or make fewer", provider=c.session.provider)

    def _node_size(self, existing: Sequence[Node]) -> str:
        c = self.cluster
        if c.node_size is not None:
            return c.node_size
        if c.price_per_node is not None:
            return size_for_price(self.service.list_sizes(), c.price_per_node, c.region)
        sizes = [n.size for n in existing if n.size]
        return sizes[0] if sizes else self.service.default_size

    def wait_active(self, ids: Sequence[str], deadline: float) -> list[NodeInfo]:
        """Poll ``list_nodes`` until every node of ``ids`` is active with an address; their records."""
        name = self.cluster.name
        last: dict[str, NodeInfo] = {}
        seconds = deadline - time.monotonic()

        def ready() -> list[NodeInfo] | None:
            last.clear()
            last.update({str(r["id"]): r for r in self.service.list_nodes(name)})
            # (a node not listed yet counts as pending: listings lag behind creation on EC2, and may on others)
            if all(i in last and last[i].get("status") == "active" and last[i].get("address") for i in ids):
                return [last[i] for i in ids]
            return None

        try:
            return wait_until(ready, timeout=max(0.0, seconds), what=f"nodes of cluster {name!r} becoming active",
                              interval=POLL_INTERVAL, max_interval=POLL_MAX_INTERVAL)
        except Timeout:
            waiting = []
            for i in ids:
                r = last.get(i)
                if r is None:
                    waiting.append(f"{i} (not listed)")
                elif not (r.get("status") == "active" and r.get("address")):
                    waiting.append(f"{r.get('name')} ({r.get('status')})")
            raise Timeout(f"nodes of cluster {name!r} not active with an address after {seconds:.0f} s: "
                          f"{', '.join(waiting)}", provider=self.cluster.session.provider) from None

    def _bar(self, total: int, what: str) -> contextlib.AbstractContextManager[Progress | None]:
        """A tqdm bar counting nodes (``progress=None``: only when stderr is a terminal)."""
        enabled = sys.stderr.isatty() if self.cluster.progress is None else self.cluster.progress
        return progress_bar(enabled, total, f"{self.cluster.name}: {what}", unit="node")

    def add(self, new: list[Node], keep_on_failure: bool, field: str) -> None:
        """Create the new ``Node`` objects ``new`` (named by their ``name``, else the smallest free numbers), wait for
        them and bootstrap them; clean up what this call made on failure (``ClusterError``).

        One host key per ``create_nodes`` call: DigitalOcean's multi-create takes one user data for the whole
        batch, so the new nodes share the host key generated here (pinned for each new node's address)."""
        c = self.cluster
        svc = self.service
        existing = c._known_nodes()
        taken = [n.name for n in existing if n.name] + [n.name for n in new if n.name]
        free = iter(next_names(c.name, taken, sum(n.name is None for n in new)))
        for node in new:
            if node.name is None:
                node.name = next(free)
        names = [str(n.name) for n in new]
        given = [{"name": n.name, "size": n.size} for n in new]  # (a node whose creation is undone is new again)
        deadline = time.monotonic() + c.boot_timeout
        before = {n.id for n in existing}
        made: dict[str, str] = {}
        created_ids: list[str] = []
        causes: dict[str, BaseException] = {}
        default = self._node_size(existing) if any(n.size is None for n in new) else None  # (a price that fits
        batches: dict[str, list[Node]] = {}  # no size is InvalidInput, before anything is made)
        for node in new:
            batches.setdefault(str(node.size or default), []).append(node)
        image = c.image or next((n.image for n in existing if n.image), None) or svc.default_image
        svc.default_user(image)  # a bad image fails here (InvalidInput, NotFound), before anything is registered
        if c.hardening is not None:
            check_supported(c)  # (local nodes are this machine: Unsupported before anything is made)
        self._check_quota(len(new), field)
        login = c._files.login_key(generate=not existing)  # (nodes made elsewhere: their key, not a new one)
        try:
            key = svc.import_key(f"cloudorm-{c.name}", login.public_key)
            if key.get("created"):
                made["key"] = str(key["id"])
            if key.get("created") or key.get("name") == f"cloudorm-{c.name}":  # ours: delete() removes it
                c._files.set_state(key_id=str(key["id"]))
            firewall = svc.find_firewall(c.name)
            if firewall is None:
                # none before this call: one made now goes on failure, also one the provider makes itself in
                # create_nodes (EC2's cluster group, open on port 22, when no allow_ssh_from is given)
                made["firewall"] = ""
                if c.allow_ssh_from is not None:
                    firewall = made["firewall"] = svc.create_firewall(c.name, list(c.allow_ssh_from))
            host_key = user_data = None
            if c.host_keys == "strict" and svc.capabilities.accepts_host_keys:
                from cloudorm.compute.ssh import cloud_config

                host_key = KeyPair.generate(comment=f"cloudorm-{c.name}-host")
                user_data = cloud_config(host_key)
            for size, batch in batches.items():
                spec = {"size": size, "image": image, "region": c.region, "key_id": str(key["id"]),
                        "user_data": user_data, "firewall_id": firewall, "monitoring": c.monitoring}
                created_ids += [str(r["id"]) for r in svc.create_nodes(c.name, [str(n.name) for n in batch], spec)]
            records = self.wait_active(created_ids, deadline)
            by_name = {n.name: n for n in new}
            for record in records:
                c._transport(record).admit(record, host_key)
                by_name[record["name"]]._co_take(record)
            c._joined(new)
            with self._bar(len(new), "bootstrap") as bar:
                _, causes = c._each(new, lambda node: self._bootstrap(node, deadline), bar)
        except Exception as e:
            causes = dict.fromkeys(names, e)
        except BaseException:  # Ctrl-C (KeyboardInterrupt), SystemExit: what this call made goes all the same
            if not keep_on_failure:
                self._undo(created_ids, before, made, new, given)
            raise
        if not causes and c.hardening is not None and existing:
            c._peers_changed(existing)  # (the nodes made earlier let the new ones in)
        if not causes:
            c._dask.joined(new)  # (where Dask runs, the new nodes' workers join)
        if causes:
            cleanup = "" if keep_on_failure else self._undo(created_ids, before, made, new, given)
            kept = "kept (keep_on_failure=True)" if keep_on_failure else "destroyed"
            raise ClusterError(f"cluster {c.name!r}: {len(causes)} of {len(names)} new node(s) failed: "
                               f"{causes_text(causes)}; the nodes this call created were {kept}{cleanup}",
                               causes=causes)

    def _bootstrap(self, node: Node, deadline: float) -> None:
        node.wait_ready(max(1.0, deadline - time.monotonic()))
        # nodes the provider runs itself (local working directories) share this machine: nothing is installed there
        remote = self.cluster._transport(node._co_record or {}).remote
        if self.cluster.hardening is not None:  # first: bootstrap then runs as the admin, in its home
            harden_node(node, self.cluster.hardening, deadline)
        self.cluster.bootstrap.apply(node, self.cluster.name, install=remote, deadline=deadline)
        if self.cluster.engine is not None:
            self.cluster._dask.install(node, deadline=deadline)

    def _undo(self, created_ids: Sequence[str], before: set[str | None], made: dict[str, str], new: list[Node],
              given: list[dict[str, Any]]) -> str:
        """Destroy the nodes, key and firewall a failed call made (its ``new`` nodes are new again, with their
        ``given`` values); what could not be cleaned up, as text."""
        c = self.cluster
        problems = []
        ids = set(created_ids)
        try:
            ids |= {str(r["id"]) for r in self.service.list_nodes(c.name) if str(r["id"]) not in before}
        except Exception as e:
            problems.append(f"listing nodes: {describe(e)}")
        try:
            if ids:
                self.service.delete_nodes(sorted(ids))
        except Exception as e:
            problems.append(f"deleting nodes {sorted(ids)}: {describe(e)}")
        for node in [n for n in c._known_nodes() if n.id in ids]:
            c._dropped(node, dict(node._co_record or {}))
        for node, values in zip(new, given, strict=True):
            node._unmade(values)
        if "firewall" in made:
            try:
                firewall = made["firewall"] or self.service.find_firewall(c.name)
                if firewall:
                    self.service.delete_firewall(firewall)
            except Exception as e:
                problems.append(f"deleting firewall {made['firewall'] or 'cloudorm-' + c.name}: {describe(e)}")
        if "key" in made:
            try:
                self.service.delete_key(made["key"])
                c._files.set_state(key_id=None)
            except Exception as e:
                problems.append(f"deleting key {made['key']}: {describe(e)}")
        if not before and not c._known_nodes() and not problems and ("key" in made or c.ssh_key is not None):
            c._files.remove()  # a cluster that never came to be leaves no key or known hosts behind
        return f" (cleanup incomplete: {'; '.join(problems)})" if problems else ""

    def teardown(self) -> Plan[bool]:
        """Destroy every node, the firewall and the key registered for the cluster, and its state files; False when
        there was nothing to destroy."""
        c = self.cluster
        records = yield from call("compute", "list_nodes", c.name)  # (their addresses: the host keys to forget)
        if records:
            yield from call("compute", "delete_cluster_nodes", c.name)
        for node in c._known_nodes():
            node.close()
        for record in records:
            c._transport(record).forget(record)
        firewall = yield from call("compute", "find_firewall", c.name)
        if firewall is not None:
            yield from call("compute", "delete_firewall", firewall)
        key_id = c._files.state().get("key_id")
        if not key_id:  # made on another machine: the name says cloudorm registered it for this cluster
            key_id = ((yield from call("compute", "find_key", f"cloudorm-{c.name}")) or {}).get("id")
        if key_id:
            with contextlib.suppress(NotFound):
                yield from call("compute", "delete_key", key_id)
        c._files.remove()
        return bool(records or firewall or key_id)


__all__ = ["POLL_INTERVAL", "Provisioner", "in_order"]
