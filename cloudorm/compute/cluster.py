"""The Cluster entity: identical nodes created from a tag, bootstrapped and driven in parallel.

A cluster has no central controller: it is the set of nodes carrying the provider's tag for its name, so any
process can re-attach to it (``s.Cluster(name).refresh()``). This module holds its desired state and lifecycle; what
this machine keeps about it is in ``compute.files``, how nodes are reached in ``compute.transport``, how they are
made in ``compute.provisioner`` and how work fans out to them in ``compute.fanout``.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from cloudorm.checks import check_flag
from cloudorm.compute.bootstrap import Bootstrap
from cloudorm.compute.cluster_containers import ClusterContainers
from cloudorm.compute.costs import check_prices, check_until, running_cost
from cloudorm.compute.dask_engine import DaskEngine
from cloudorm.compute.dask_settings import Dask, check_engine
from cloudorm.compute.fanout import FanOut, in_order, select
from cloudorm.compute.files import ClusterFiles
from cloudorm.compute.keys import KeyPair
from cloudorm.compute.names import MAX_NODES, check_cluster_name, check_node_count, check_region
from cloudorm.compute.node import Node as ClusterNode
from cloudorm.compute.power import PowerResults, power_many
from cloudorm.compute.provisioner import POLL_INTERVAL, Provisioner
from cloudorm.compute.settings import (
    MAX_PARALLEL,
    check_allowed,
    check_boot_timeout,
    check_count,
    check_hardening,
    check_host_keys,
    check_image,
    check_key,
    check_max_nodes,
    check_monitoring,
    check_node_size,
    check_parallel,
    check_price,
    check_progress,
    check_ssh_config,
    check_user,
)
from cloudorm.compute.shell import CommandResult, CommandResults
from cloudorm.compute.transport import Transport, choose
from cloudorm.core import Plan, Record, Resource, call, field, resource, run
from cloudorm.errors import AlreadyExists, InvalidInput, NotFound
from cloudorm.providers.contract.compute import check_open_port

if TYPE_CHECKING:
    from distributed import Client
    from typing_extensions import Self

    from cloudorm.compute.hardening import Hardening
    from cloudorm.compute.hardening_apply import HardeningResults


def _check_region(region: Any) -> str | None:
    return None if region is None else check_region(region)


@resource
class Cluster(FanOut, Resource):
    """Identical nodes that share a tag: ``s.Cluster("web", size=3, node_size="s-1vcpu-1gb").save()``.

    ``save()`` makes sure the cluster has ``size`` nodes (it never removes any); an existing cluster of the same
    name is adopted and grown to ``size`` (``save(exists_ok=False)``: ``AlreadyExists``). The other settings say how
    new nodes are made, reached and bootstrapped.

    ``host_keys="strict"`` (the default) never accepts a host key silently: where the provider takes one through
    cloud-init, a host key generated here is handed to the nodes at creation and pinned, so even the first
    connection is verified; elsewhere the key is recorded on first use and any change is refused
    (``HostKeyMismatch``). ``host_keys="ignore"`` is the explicit opt-out for throwaway clusters: any key accepted,
    nothing recorded."""

    kind = "cluster"

    name: str = field(check_cluster_name, fixed=True)
    """The cluster's name: its nodes are ``{name}-{n}``, tagged for it."""
    size: int | None = field(check_count, default=None)
    """How many nodes ``save()`` makes sure exist (at least; a saved cluster: how many it has)."""
    node_size: str | None = field(check_node_size, default=None, tracked=False, kw_only=True)
    """The size slug or instance type of new nodes (None: by price, else the existing nodes', else the default)."""
    price_per_node: float | None = field(check_price, default=None, tracked=False, kw_only=True)
    """The most a new node may cost a month (USD): the largest size that fits is chosen."""
    image: str | None = field(check_image, default=None, tracked=False, kw_only=True)
    """The image of new nodes (None: the existing nodes', else the provider's default)."""
    region: str | None = field(_check_region, default=None, tracked=False, kw_only=True)
    """The region new nodes are made in (default: the session's); it names a directory of the cluster's state, so
    only a region's shape is taken (``nyc3``, ``us-east-1``), and the provider checks its own form."""
    ssh_key: KeyPair | str | os.PathLike[str] | None = field(check_key, default=None, tracked=False, kw_only=True)
    """The login key given (a ``KeyPair`` or a private key file's path); None: the one kept in the state directory."""
    user: str | None = field(check_user, default=None, tracked=False, kw_only=True)
    """The login user (None: the ``User`` of a matching ssh_config ``Host`` block, else the image's default,
    e.g. ``root`` on DigitalOcean, ``ubuntu`` on EC2)."""
    # (what new nodes get: runtime, requirements, files and setup are read once, into ``bootstrap``)
    _runtime: str | None = attrs.field(default="python3", kw_only=True, alias="runtime")
    _requirements: Iterable[str] | str | os.PathLike[str] = attrs.field(default=(), kw_only=True, alias="requirements")
    _uploads: Iterable[Any] = attrs.field(default=(), kw_only=True, alias="files")
    _setup: Iterable[str] = attrs.field(default=(), kw_only=True, alias="setup")
    allow_ssh_from: Iterable[str] | None = field(check_allowed, default=None, tracked=False, kw_only=True)
    """CIDRs a firewall lets reach SSH (None: no firewall is made)."""
    host_keys: str = field(check_host_keys, default="strict", tracked=False, kw_only=True)
    """``"strict"`` (pinned or recorded host keys, changes refused) or ``"ignore"`` (the explicit opt-out)."""
    ssh_config: str | os.PathLike[str] | None = field(check_ssh_config, default=None, tracked=False, kw_only=True)
    """An ssh_config file whose ``Host`` blocks (HostName, Port, User) are honoured when connecting."""
    max_parallel: int = field(check_parallel, default=MAX_PARALLEL, tracked=False, kw_only=True)
    """The most nodes worked on at once (bootstrap, run, file copies); default ``MAX_PARALLEL`` (64): every node of
    a cluster of up to 64 at once."""
    boot_timeout: float = field(check_boot_timeout, default=600.0, tracked=False, kw_only=True)
    """Seconds new nodes have to become active, answer SSH and finish bootstrapping (a step still running then
    is stopped and fails the node: raise it for long setups)."""
    progress: bool | None = field(check_progress, default=None, tracked=False, kw_only=True)
    """Show a progress bar while bootstrapping (None: when stderr is a terminal)."""
    monitoring: bool = field(check_monitoring, default=False, tracked=False, kw_only=True)
    """Turn on the provider's monitoring of new nodes (DigitalOcean's metrics agent, EC2's detailed monitoring)."""
    hardening: Hardening | None = field(check_hardening, default=None, tracked=False, kw_only=True)
    """Hardening every node gets before its bootstrap (added ones too; ``cloudorm.Hardening``): cloudorm then logs
    in as its admin user. None: nodes are left as the image makes them (``harden()`` applies one later)."""
    engine: Dask | None = field(check_engine, default=None, tracked=False, kw_only=True)
    """``"dask"`` or a ``cloudorm.Dask(...)``: ``save()`` and ``add_node()`` install Dask on the nodes and start its
    scheduler (first node) and workers (every node) as part of the bootstrap; ``cluster.dask()`` connects. None:
    Dask starts only when ``cluster.dask()`` is called."""
    max_nodes: int = field(check_max_nodes, default=MAX_NODES, tracked=False, kw_only=True)
    """The most nodes this cluster may have (default ``MAX_NODES``, 1000): a larger ``size`` or ``add_node(n)`` is
    refused before any request. The provider's own limit (DigitalOcean's droplet limit) is checked too."""

    bootstrap: Bootstrap = attrs.field(init=False)
    """What every new node gets: files, runtime, requirements, setup commands."""
    _nodes: list[ClusterNode] | None = attrs.field(default=None, init=False)
    _listed: list[Record] | None = attrs.field(default=None, init=False)
    _chosen: Transport | None = attrs.field(default=None, init=False)
    _keep_on_failure: bool = attrs.field(default=False, init=False)
    _lock: threading.RLock = attrs.field(factory=threading.RLock, init=False)
    _files: ClusterFiles = attrs.field(init=False)
    _provisioner: Provisioner = attrs.field(init=False)
    _dask: DaskEngine = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        if self.size is not None:
            check_node_count("size", self.size, self.max_nodes)
        if self.node_size is not None and self.price_per_node is not None:
            raise InvalidInput("node_size", "give node_size or price_per_node, not both")
        if self.region is None and self.session.region is not None:
            self.region = check_region(self.session.region)
        self.bootstrap = Bootstrap.of(self._runtime, self._requirements, self._uploads, self._setup)
        self._setup = self.bootstrap.setup  # (a generator given is read once)
        self._files = ClusterFiles(self)
        self._provisioner = Provisioner(self)
        self._dask = DaskEngine(self)
        if self.engine is not None:
            self._dask.settings()  # (InvalidInput now: no distributed here, or requirements pinning another Dask)

    def __repr__(self) -> str:
        parts = [repr(self.name), f"provider={self.session.provider!r}"]
        if self.size is not None:
            parts.append(f"size={self.size}")
        if self._nodes is not None:
            parts.append(f"nodes={[n.name for n in self._nodes]!r}")
        return f"Cluster({', '.join(parts)})"

    # ------------------------------------------------------------------------------------------- this machine

    @property
    def state_path(self) -> Path:
        """This cluster's directory in cloudorm's state (made on first use, mode 0700)."""
        return self._files.path

    @property
    def key(self) -> KeyPair:
        """The login key: the one given, else the one kept in the state directory; ``InvalidInput("ssh_key")``
        when there is neither (a cluster made on another machine: pass the key its nodes were made with)."""
        return self._files.login_key(generate=False)

    def _transport(self, record: Record) -> Transport:
        """How this cluster's nodes are reached, chosen once (from the provider's answer for a node)."""
        with self._lock:
            if self._chosen is None:
                self._chosen = choose(self, dict(record))
            return self._chosen

    # ------------------------------------------------------------------------------------------------ nodes

    def Node(self, name: str | None = None, *, size: str | None = None) -> ClusterNode:
        """A new node of this cluster (``save()`` creates and bootstraps it): ``name`` ``{cluster}-{n}`` (None:
        the smallest free number), ``size`` (None: the cluster's)."""
        return ClusterNode(self.session, self, name, size)  # type: ignore[arg-type]  # (None: a free number)

    def _known_nodes(self) -> list[ClusterNode]:
        """The nodes loaded so far (none before the first load)."""
        return list(self._nodes or [])

    def _adopt(self, records: Iterable[Record]) -> None:
        """The nodes are those of ``records`` (a Node object already here is kept, with its connection, and updated)."""
        known = {n.id: n for n in self._nodes or []}
        nodes = []
        for record in records:
            node = known.get(str(record["id"]))
            if node is None:
                node = ClusterNode(self.session, self)
            node._co_take(record)
            nodes.append(node)
        self._nodes = in_order(nodes)

    def _joined(self, nodes: Iterable[ClusterNode]) -> None:
        """Saved nodes join the cluster's list."""
        self._nodes = in_order([*(self._nodes or []), *nodes])
        self._recount()

    def _dropped(self, node: ClusterNode, record: Record) -> None:
        """A destroyed node leaves: its connection closed, its host key forgotten."""
        node.close()
        if record:
            self._transport(record).forget(record)
        self._nodes = [n for n in self._nodes or [] if n.id != node.id]
        self._recount()

    def _recount(self) -> None:
        """The saved size follows the nodes added and removed."""
        if self._co_record is not None and self._nodes is not None:
            self._co_record["size"] = len(self._nodes)

    def _load(self) -> list[ClusterNode]:
        self._adopt(self.session.compute.list_nodes(self.name))
        return self._known_nodes()

    @property
    def nodes(self) -> list[ClusterNode]:
        """The nodes, sorted by number (loaded from the provider on first use)."""
        return self._known_nodes() if self._nodes is not None else self._load()

    def __len__(self) -> int:
        return len(self.nodes)

    def __iter__(self) -> Iterator[ClusterNode]:
        return iter(self.nodes)

    def __getitem__(self, ref: ClusterNode | str | int) -> ClusterNode:
        return self._select([ref], "node")[0]

    def _select(self, refs: Any, field: str = "nodes") -> list[ClusterNode]:
        """Nodes from Node objects, names, ids or indexes (None: every node)."""
        return select(self.nodes, refs, field, self.name)

    def _targets(self, nodes: Any, field: str = "nodes") -> list[ClusterNode]:
        targets = self._select(nodes, field)
        if targets and self._transport(targets[0]._co_record or {}).remote:
            self._files.login_key(generate=False)  # InvalidInput("ssh_key") at once, not once per node
        return targets

    def add_node(self, n: int = 1, keep_on_failure: bool = False) -> list[ClusterNode]:
        """Create ``n`` more nodes in one batch and bootstrap them exactly like ``save()`` does (``n`` new
        ``cluster.Node()`` saved together); the new nodes. The cluster may not grow above ``max_nodes``
        (``InvalidInput("n")`` before anything is made)."""
        n = check_node_count("n", n, self.max_nodes)
        keep_on_failure = check_flag("keep_on_failure", keep_on_failure)
        self._provisioner.check_region()
        self._check_hardening()
        have = len(self.nodes)  # loads the current nodes, for the names and the size of the new ones
        if have + n > self.max_nodes:
            raise InvalidInput("n", f"cluster {self.name!r} has {have} nodes: {n} more would be more than its "
                                    f"max_nodes={self.max_nodes}; give Cluster(max_nodes=...) to allow more")
        new = [self.Node() for _ in range(n)]
        self._provisioner.add(new, keep_on_failure, "n")
        return new

    def harden(self, hardening: Hardening | None = None, nodes: Any = None) -> HardeningResults:
        """Apply ``hardening`` (None: the cluster's; given: it becomes the cluster's, so added nodes get it too)
        to every node (or ``nodes``) in parallel; one report per node (nothing changed on nodes hardened already).
        A node that failed: ``ClusterError`` naming it and why, the others' reports as its ``results``. Local
        nodes (directories on this machine) are ``Unsupported``. See ``cloudorm.Hardening``."""
        from cloudorm.compute.hardening_apply import check_supported, harden_nodes

        chosen = check_hardening(hardening) or self.hardening
        if chosen is None:
            raise InvalidInput("hardening", "give cluster.harden(cloudorm.Hardening(...)) or Cluster(hardening=...)")
        check_supported(self)
        self.hardening = chosen
        return harden_nodes(self, chosen, nodes)

    def _peers_changed(self, nodes: Iterable[ClusterNode] | None = None) -> None:
        """Nodes joined or left a hardened cluster: the others' firewalls and fail2ban follow (``ClusterError``
        naming the nodes that could not be updated)."""
        targets = list(self._known_nodes() if nodes is None else nodes)
        if self.hardening is not None and targets:
            from cloudorm.compute.hardening_apply import harden_nodes

            harden_nodes(self, self.hardening, targets)

    def remove_node(self, node: ClusterNode | str) -> None:
        """Destroy one node (a Node, its name or its id) and forget its host key."""
        self._select([node], "node")[0].delete()

    @property
    def containers(self) -> ClusterContainers:
        """Containers on every node at once, on each node's Docker engine: ``cluster.containers.run(image, cmd)``,
        ``.start(name, image)`` (``cloudorm.compute.cluster_containers``)."""
        return ClusterContainers(self)

    # -------------------------------------------------------------------------------------------- lifecycle

    def _co_check(self) -> None:
        if self._co_record is None and self.size is None:
            raise InvalidInput("size", f"save() makes sure {self.name!r} has size nodes: give size=")
        if self.size is not None:
            check_node_count("size", self.size, self.max_nodes)
        self._provisioner.check_region()
        self._check_hardening()

    def _check_hardening(self) -> None:
        """``Unsupported`` (before any request) when the cluster has ``hardening`` but its nodes are this machine."""
        if self.hardening is not None:
            from cloudorm.compute.hardening_apply import check_supported

            check_supported(self)

    def _co_take(self, record: Record, *, partial: bool = False, keep_local: bool = False) -> None:
        record = dict(record)
        listed = record.pop("nodes", None)
        super()._co_take(record, partial=partial, keep_local=keep_local)
        if listed is not None:
            self._adopt(listed)
        self._files.reset()

    def _co_fetch(self) -> Plan[Record]:
        listed, self._listed = self._listed, None  # (what a create that found the cluster listed just now)
        records = listed if listed is not None else (yield from call("compute", "list_nodes", self.name))
        if not records:
            raise NotFound(f"cluster {self.name!r} has no nodes", provider=self.session.provider)
        return {"name": self.name, "size": len(records), "nodes": records}

    def _co_create(self) -> Plan[Record]:
        records = yield from call("compute", "list_nodes", self.name)
        if records:
            self._listed = records
            raise AlreadyExists(f"cluster {self.name!r} has {len(records)} node(s)", provider=self.session.provider)
        self._nodes = []
        self._provisioner.add([self.Node() for _ in range(self.size or 0)], self._keep_on_failure, "size")
        return {"name": self.name, "size": len(self._nodes)}

    def _co_update(self, changed: set[str]) -> Plan[Record | None]:
        missing = (self.size or 0) - len(self.nodes)
        if missing > 0:
            self._provisioner.add([self.Node() for _ in range(missing)], self._keep_on_failure, "size")
        return {"size": len(self.nodes)}
        yield  # pragma: no cover - a plan (creating and bootstrapping nodes is the provisioner's I/O)

    def _co_remove(self, **options: Any) -> Plan[None]:
        if self._dask.running():
            self._dask.stop(quiet=True)  # (first: no worker is left computing while its node goes)
        if not (yield from self._provisioner.teardown()):
            raise NotFound(f"cluster {self.name!r} does not exist", provider=self.session.provider)
        self._nodes = []

    def save(self, *, exists_ok: bool = True, keep_on_failure: bool = False) -> Self:
        """Make sure the cluster has ``size`` nodes: create the missing ones, wait until they answer and bootstrap
        them in parallel (a larger cluster is left as it is: ``remove_node`` shrinks it). A new object whose
        cluster exists is adopted and grown to ``size`` (``exists_ok=False``: ``AlreadyExists``). On failure the
        nodes, key and firewall this call made are destroyed (unless ``keep_on_failure``) and ``ClusterError``
        gives the cause per node. Returns self.

        Where the provider takes host keys through cloud-init (``host_keys="strict"``), the nodes one call creates
        share a host key generated here and pinned for each of their addresses before the first connection."""
        self._keep_on_failure = check_flag("keep_on_failure", keep_on_failure)
        try:
            run(self.session, self._co_save(exists_ok))
        finally:
            self._listed = None
        if self.engine is not None:
            self._dask.ensure(None, self.boot_timeout)
        return self

    def delete(self, *, missing_ok: bool = False) -> None:
        """Destroy the nodes, the firewall and the key this cluster registered, and its files in the state
        directory (``NotFound`` when there was nothing, unless ``missing_ok``); ``save()`` makes it again."""
        run(self.session, self._co_delete(check_flag("missing_ok", missing_ok), {}))

    # ------------------------------------------------------------------------------------------------ Dask

    def dask(self, engine: Dask | str | None = None, *, timeout: float | None = None) -> Client:
        """A ``distributed.Client`` of Dask on this cluster: its scheduler on the first node, a worker on every node
        (started, and ``distributed`` installed at this client's version, where missing; a running one is
        re-attached, from any process). The client reaches the scheduler and ``dashboard_url`` through SSH
        forwarding: nothing is opened to the internet unless ``Dask(expose_to=...)`` says so. ``engine`` (None:
        the cluster's ``engine``, else the settings of a running scheduler, else ``Dask()``) becomes the
        cluster's; ``timeout`` (default ``boot_timeout``) bounds installing, starting and the workers joining.
        See ``docs/compute.md``, "Dask"."""
        chosen = check_engine(engine)
        seconds = self.boot_timeout if timeout is None else check_boot_timeout(timeout)
        client = self._dask.ensure(chosen, seconds)
        if chosen is not None:
            self.engine = chosen
        return client

    def stop_dask(self) -> None:
        """Stop Dask's workers, then its scheduler, on every node and close this process's client (results held
        in workers' memory are gone); the nodes stay. ``cluster.dask()`` starts it again."""
        self._dask.stop()

    @property
    def dashboard_url(self) -> str | None:
        """The Dask dashboard as this machine reaches it (``http://127.0.0.1:<port>/status``, through the SSH
        forward), once ``dask()`` connected in this process; else None."""
        return self._dask.dashboard_url

    # -------------------------------------------------------------------------------------- power and cost

    def power_off(self, nodes: Any = None, *, wait: bool = True, timeout: float | None = None) -> PowerResults:
        """Power every node (or ``nodes``) off in parallel; one ``PowerResult`` per node (``node.power_off()``)."""
        return power_many(self, "power_off", nodes, wait, timeout)

    def power_on(self, nodes: Any = None, *, wait: bool = True, timeout: float | None = None) -> PowerResults:
        """Power every node (or ``nodes``) on in parallel, waiting until each answers again; one result per node."""
        return power_many(self, "power_on", nodes, wait, timeout)

    def reboot(self, nodes: Any = None, *, wait: bool = True, timeout: float | None = None) -> PowerResults:
        """Reboot every node (or ``nodes``) in parallel, waiting until each answers again; one result per node."""
        return power_many(self, "reboot", nodes, wait, timeout)

    def running_cost(self, until: datetime | None = None, prices: Mapping[str, Any] | None = None) -> Decimal:
        """What the provider has billed for the cluster's nodes so far (until ``until``, default now), in USD: each
        node from its creation time at its size's price, by the provider's billing rule; ``prices`` (hourly USD by
        size) for a provider that publishes none (else ``price_per_node``) — see ``cloudorm.compute.costs``."""
        moment, given = check_until(until), check_prices(prices)
        records = self.session.compute.list_nodes(self.name)
        self._adopt(records)
        return running_cost(self.session.compute, records, moment, given, self.price_per_node)

    def open_port(self, port: int, cidrs: Iterable[str]) -> str:
        """Let tcp ``port`` of every node in from ``cidrs`` (the cluster's firewall; one is made if it has none,
        keeping SSH open as it was); returns the firewall's id. Safe to call again (what is there is kept)."""
        port, sources = check_open_port(port, cidrs)
        return self.session.compute.open_port(self.name, port, list(sources))


Node = ClusterNode

__all__ = ["POLL_INTERVAL", "Cluster", "CommandResult", "CommandResults", "Node"]
