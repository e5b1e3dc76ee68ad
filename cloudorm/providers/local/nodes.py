"""Local clusters in the local cloud's server: node records, keys, firewalls and reboots, served on its port under
``/_cloudorm/compute/`` (``nodes_api.py``), so every process that talks to the server sees the same clusters.

A node's directory is made by the server under ``home_root`` (the ``--state`` directory's, set by persistence; else a
temporary directory of the server's process, removed when it exits); its path travels in the node's record as
``home``, where ``LocalShell`` runs commands from any process of this machine. Mutating requests pass the gate and
are remembered by token with their answer, so a re-send after a lost answer is answered again, not applied twice.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import logging
import shutil
import tempfile
import threading
import uuid
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from cloudorm.compute.jobscript import kill_jobs
from cloudorm.compute.keys import md5_fingerprint, public_key_blob
from cloudorm.errors import AlreadyExists, CloudError, InvalidInput, NotFound
from cloudorm.providers.contract import KeyInfo, NodeInfo, Wire
from cloudorm.providers.contract.compute import EVERYWHERE, check_open_port
from cloudorm.providers.local import accounts
from cloudorm.providers.local.app import Change, LocalCloud, Part, register_part
from cloudorm.providers.local.guard import WSGIApp
from cloudorm.providers.local.nodes_api import (
    ADDRESS,
    NODE_LIMIT,
    PREFIX,
    SIZES,
    check_size,
    error_answer,
    wire_node,
)
from cloudorm.providers.local.power import power_off, power_on, restart, set_power, stop_processes
from cloudorm.providers.local.wsgi import read_body

log = logging.getLogger(__name__)

REMEMBERED = 1024
"""How many answers to mutating requests are kept by token (a re-send after that many others is applied anew)."""

_MUTATING = frozenset({"ImportKey", "DeleteKey", "CreateFirewall", "DeleteFirewall", "CreateNodes", "DeleteNodes",
                       "DeleteClusterNodes", "RebootNode", "ResizeNode", "PowerOff", "PowerOn", "CreateSshKey",
                       "AllowPeers", "OpenPort"})
"""The operations that change state: gated, and answered by token."""

Handler = Callable[["LocalNodes", Wire, list[Path]], Any]
"""An operation: the request's body, a list to put directories to remove in (removed outside the lock); its
JSON result."""


def _text(body: Wire, field: str) -> str:
    """``body[field]`` if it is a non-empty string, else ``InvalidInput(field)``."""
    value = body.get(field)
    if not isinstance(value, str) or not value:
        raise InvalidInput(field, f"must be a non-empty string, not {value!r}")
    return value


def _texts(body: Wire, field: str) -> list[str]:
    """``body[field]`` if it is a list of non-empty strings, else ``InvalidInput(field)``."""
    values = body.get(field)
    if not isinstance(values, list) or not all(isinstance(v, str) and v for v in values):
        raise InvalidInput(field, f"must be a list of non-empty strings, not {values!r}")
    return values


class LocalNodes(Part):
    """The ``compute`` part: the local cloud's clusters (nodes, keys, firewalls, reboots) and its compute API."""

    name = "compute"

    def __init__(self, cloud: LocalCloud) -> None:
        self.cloud = cloud
        self.home_root: Path | None = None
        """Where node directories are made (persistence sets it under ``--state``); None: a temporary directory of
        this process, removed at exit."""
        self._temporary: Path | None = None
        self._lock = threading.Lock()
        self.nodes: dict[str, NodeInfo] = {}
        self.keys: dict[str, Wire] = {}
        self.firewalls: dict[str, Wire] = {}
        self.reboots: Counter[str] = Counter()
        self.answers: OrderedDict[str, tuple[int, Any]] = OrderedDict()
        """Answers to mutating requests by their token, oldest first (at most ``REMEMBERED``)."""

    # ------------------------------------------------------------------------------------------------ the part

    def route(self, method: str, path: str) -> WSGIApp | None:
        """The compute API's requests (``/_cloudorm/compute/...``)."""
        return self._serve if path.startswith(PREFIX) else None

    def keep_files_in(self, directory: Path) -> None:
        """Make node directories under ``directory`` (the ``--state`` directory's ``compute/``)."""
        self.home_root = directory

    def dump(self) -> Any:
        """Records, keys, firewalls, reboots and remembered answers (the node directories stay where they are)."""
        with self._lock:
            return {"nodes": dict(self.nodes), "keys": dict(self.keys), "firewalls": dict(self.firewalls),
                    "reboots": dict(self.reboots), "answers": list(self.answers.items())}

    def load(self, state: Any) -> None:
        """Take back what ``dump()`` gave; a node whose directory is missing gets an empty one (logged)."""
        state = state or {}
        with self._lock:
            self.nodes = dict(state.get("nodes") or {})
            self.keys = dict(state.get("keys") or {})
            self.firewalls = dict(state.get("firewalls") or {})
            self.reboots = Counter(state.get("reboots") or {})
            self.answers = OrderedDict(state.get("answers") or [])
            for node_id, record in self.nodes.items():
                home = self.home(node_id)
                if not home.is_dir():
                    log.warning("local node %s had no directory: %s made empty", node_id, home)
                    home.mkdir(mode=0o700, parents=True)
                set_power(home, on=record["status"] != "off")

    def reset(self) -> None:
        """Forget every cluster and remove its nodes' directories."""
        with self._lock:
            homes = [self.home(i) for i in self.nodes]
            self.nodes, self.keys, self.firewalls = {}, {}, {}
            self.reboots, self.answers = Counter(), OrderedDict()
        stop_processes(*homes)
        _remove(homes)

    def close(self) -> None:
        """Remove the temporary directory of node directories (their jobs killed), if this process made one."""
        temporary, self._temporary = self._temporary, None
        if temporary is not None:
            _remove_root(temporary)

    # ------------------------------------------------------------------------------------------------ directories

    def root(self) -> Path:
        """Where node directories are: ``home_root`` (made if missing), else this process's temporary directory."""
        if self.home_root is not None:
            self.home_root.mkdir(mode=0o700, parents=True, exist_ok=True)
            return self.home_root
        if self._temporary is None:
            self._temporary = Path(tempfile.mkdtemp(prefix="cloudorm-nodes-"))
            atexit.register(_remove_root, self._temporary)
        return self._temporary

    def home(self, node_id: str) -> Path:
        """The directory (and HOME) of node ``node_id``."""
        return self.root() / node_id

    # ------------------------------------------------------------------------------------------------ serving

    def _serve(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        """Answer one compute request with JSON."""
        path = str(environ.get("PATH_INFO") or "")
        operation = path[len(PREFIX):]
        try:
            if str(environ.get("REQUEST_METHOD") or "").upper() != "POST":
                raise InvalidInput("method", "the compute API takes POST requests with a JSON object")
            handler = _OPERATIONS.get(operation)
            if handler is None:
                raise NotFound(f"the local cloud's compute API has no operation {operation!r}")
            try:
                body = json.loads(read_body(environ) or b"{}")
            except ValueError:
                raise InvalidInput("body", "is not JSON") from None
            if not isinstance(body, dict):
                raise InvalidInput("body", "must be a JSON object")
            status, answer = self._apply(path, operation, handler, body)
        except CloudError as e:
            status, answer = error_answer(e)
        data = json.dumps(answer).encode()
        reason = {200: "OK", 400: "Bad Request", 404: "Not Found", 409: "Conflict"}.get(status, "Error")
        start_response(f"{status} {reason}", [("Content-Type", "application/json"),
                                              ("Content-Length", str(len(data)))])
        return [data]

    def _apply(self, path: str, operation: str, handler: Handler, body: Wire) -> tuple[int, Any]:
        """Run ``handler``: a read under the lock; a mutation through the gate, answered from memory when its token
        was seen (a re-send), its answer remembered otherwise."""
        doomed: list[Path] = []
        if operation not in _MUTATING:
            with self.cloud.gate.request(None), self._lock:
                return self._run(handler, body, doomed)
        token = body.get("token")
        token = token if isinstance(token, str) and token else None
        with self.cloud.gate.request(Change("compute", "POST", path, operation)):
            with self._lock:
                if token is not None and token in self.answers:
                    return self.answers[token]
                answer = self._run(handler, body, doomed)
                if token is not None:
                    self.answers[token] = answer
                    while len(self.answers) > REMEMBERED:
                        self.answers.popitem(last=False)
            _remove(doomed)  # (records gone already: nobody reaches these directories any more)
        return answer

    def _run(self, handler: Handler, body: Wire, doomed: list[Path]) -> tuple[int, Any]:
        """``(200, {"result": ...})``, or the error's status and body."""
        try:
            return 200, {"result": handler(self, body, doomed)}
        except CloudError as e:
            return error_answer(e)

    # ------------------------------------------------------------------------------------------------ operations
    # (each runs under the lock; a JSON-able result)

    def node_quota(self, body: Wire, doomed: list[Path]) -> int:
        """How many more nodes the local cloud may have."""
        return NODE_LIMIT - len(self.nodes)

    def list_sizes(self, body: Wire, doomed: list[Path]) -> list[Any]:
        """The size table."""
        return [{**s, "regions": list(s["regions"])} for s in SIZES]

    def import_key(self, body: Wire, doomed: list[Path]) -> KeyInfo:
        """Record a public key (an identical one is returned with ``created`` False)."""
        name, public_key = _text(body, "name"), _text(body, "public_key")
        fingerprint = md5_fingerprint(public_key_blob(public_key)[1])
        for key in self.keys.values():
            if key["fingerprint"] == fingerprint:
                return {"id": key["id"], "name": key["name"], "fingerprint": fingerprint, "created": False}
        made: KeyInfo = {"id": uuid.uuid4().hex[:12], "name": name, "fingerprint": fingerprint, "created": True}
        self.keys[made["id"]] = {**made, "public_key": public_key.strip()}
        return made

    def find_key(self, body: Wire, doomed: list[Path]) -> KeyInfo | None:
        """The key recorded under ``name``, or None."""
        name = _text(body, "name")
        found = next((k for k in self.keys.values() if k["name"] == name), None)
        return None if found is None else {"id": found["id"], "name": name, "fingerprint": found["fingerprint"],
                                           "created": False}

    def delete_key(self, body: Wire, doomed: list[Path]) -> None:
        """Forget a key (``NotFound`` if it is not there)."""
        key_id = _text(body, "key_id")
        if self.keys.pop(key_id, None) is None:
            raise NotFound(f"key {key_id!r} does not exist")

    def create_firewall(self, body: Wire, doomed: list[Path]) -> str:
        """Record a firewall for ``cluster``: SSH from ``cidrs``, every TCP port between its nodes (``peers``), no
        other ``ports`` (not enforced: local nodes have no network of their own)."""
        cluster, cidrs = _text(body, "cluster"), _texts(body, "cidrs")
        return self._new_firewall(cluster, cidrs, {})

    def _new_firewall(self, cluster: str, cidrs: list[str], ports: dict[str, list[str]]) -> str:
        firewall: Wire = {"id": uuid.uuid4().hex[:12], "name": f"cloudorm-{cluster}", "cluster": cluster,
                          "cidrs": cidrs, "peers": True, "ports": ports}
        self.firewalls[firewall["id"]] = firewall
        return str(firewall["id"])

    def _cluster_firewall(self, cluster: str) -> Wire | None:
        return next((f for f in self.firewalls.values() if f["cluster"] == cluster), None)

    def allow_peers(self, body: Wire, doomed: list[Path]) -> str | None:
        """Record the peer rule on the cluster's firewall (one recorded before it had none); its id, or None."""
        firewall = self._cluster_firewall(_text(body, "cluster"))
        if firewall is None:
            return None
        firewall["peers"] = True
        return str(firewall["id"])

    def open_port(self, body: Wire, doomed: list[Path]) -> str:
        """Record tcp ``port`` open to ``cidrs`` (and the peer rule) on the cluster's firewall; a cluster without
        one gets one with SSH open from everywhere. Its id."""
        cluster = _text(body, "cluster")
        port, cidrs = check_open_port(body.get("port"), body.get("cidrs"))
        firewall = self._cluster_firewall(cluster)
        if firewall is None:
            return self._new_firewall(cluster, list(EVERYWHERE), {str(port): list(cidrs)})
        firewall["peers"] = True
        ports = firewall.setdefault("ports", {})
        ports[str(port)] = list(dict.fromkeys([*ports.get(str(port), []), *cidrs]))
        return str(firewall["id"])

    def get_firewall(self, body: Wire, doomed: list[Path]) -> Wire:
        """A recorded firewall (``NotFound`` if it is not there)."""
        firewall_id = _text(body, "firewall_id")
        if firewall_id not in self.firewalls:
            raise NotFound(f"firewall {firewall_id!r} does not exist")
        return dict(self.firewalls[firewall_id])

    def find_firewall(self, body: Wire, doomed: list[Path]) -> str | None:
        """The id of the cluster's firewall, if any."""
        cluster = _text(body, "cluster")
        return next((str(f["id"]) for f in self.firewalls.values() if f["cluster"] == cluster), None)

    def delete_firewall(self, body: Wire, doomed: list[Path]) -> None:
        """Forget a firewall (``NotFound`` if it is not there)."""
        firewall_id = _text(body, "firewall_id")
        if self.firewalls.pop(firewall_id, None) is None:
            raise NotFound(f"firewall {firewall_id!r} does not exist")

    def create_nodes(self, body: Wire, doomed: list[Path]) -> list[Any]:
        """One directory per name, ``active`` at once; a name the cluster has already is ``AlreadyExists``."""
        cluster, names = _text(body, "cluster"), _texts(body, "names")
        if not names or len(set(names)) != len(names):
            raise InvalidInput("names", "give at least one node name, each once")
        size = check_size(body.get("size"))
        region, image = body.get("region"), body.get("image") or "local"
        if not (region is None or isinstance(region, str)) or not isinstance(image, str):
            raise InvalidInput("region" if isinstance(image, str) else "image", "must be a string")
        taken = sorted({n["name"] for n in self.nodes.values() if n["cluster"] == cluster} & set(names))
        if taken:
            raise AlreadyExists(f"cluster {cluster!r} has node(s) {', '.join(taken)} already")
        if len(self.nodes) + len(names) > NODE_LIMIT:
            raise InvalidInput("names", f"the local cloud has at most {NODE_LIMIT} nodes; it has {len(self.nodes)}")
        created = []
        for name in names:
            record: NodeInfo = {"id": uuid.uuid4().hex[:12], "name": name, "status": "active", "address": ADDRESS,
                                "private_address": ADDRESS, "size": size, "region": region, "image": image,
                                "cluster": cluster, "created": datetime.now(timezone.utc)}
            self.home(record["id"]).mkdir(mode=0o700)
            self.nodes[record["id"]] = record
            created.append(self._wire(record))
        return created

    def list_nodes(self, body: Wire, doomed: list[Path]) -> list[Any]:
        """Every node of ``cluster``."""
        cluster = _text(body, "cluster")
        return [self._wire(n) for n in self.nodes.values() if n["cluster"] == cluster]

    def list_clusters(self, body: Wire, doomed: list[Path]) -> list[str]:
        """The clusters with nodes or a firewall, sorted."""
        names = {n["cluster"] for n in self.nodes.values() if n["cluster"] is not None}
        names |= {str(f["cluster"]) for f in self.firewalls.values()}
        return sorted(names)

    def get_node(self, body: Wire, doomed: list[Path]) -> Any:
        """One node's record (``NotFound`` if it is gone)."""
        return self._wire(self._node(_text(body, "node_id")))

    def delete_nodes(self, body: Wire, doomed: list[Path]) -> None:
        """Missing ones are no error (deleting again after a lost answer is fine); the processes a node's commands
        started are stopped with it."""
        gone = []
        for node_id in _texts(body, "node_ids"):
            if self.nodes.pop(node_id, None) is not None:
                gone.append(self.home(node_id))
                self.reboots.pop(node_id, None)
        stop_processes(*gone)
        doomed.extend(gone)

    def delete_cluster_nodes(self, body: Wire, doomed: list[Path]) -> None:
        """Remove every node of ``cluster``."""
        cluster = _text(body, "cluster")
        ids = [i for i, n in self.nodes.items() if n["cluster"] == cluster]
        self.delete_nodes({"node_ids": ids}, doomed)

    def reboot_node(self, body: Wire, doomed: list[Path]) -> None:
        """Stop the node's processes (it is on afterwards, whether it was on or off) and count the reboot."""
        node_id = _text(body, "node_id")
        restart(self, node_id)
        self.reboots[node_id] += 1

    def resize_node(self, body: Wire, doomed: list[Path]) -> Any:
        """Record a new size for a node (its commands run on this machine whatever it says)."""
        record = self._node(_text(body, "node_id"))
        record["size"] = check_size(body.get("size"))
        return self._wire(record)

    def count_reboots(self, body: Wire, doomed: list[Path]) -> int:
        """How many times a node was rebooted."""
        return self.reboots[_text(body, "node_id")]

    def _node(self, node_id: str) -> NodeInfo:
        record = self.nodes.get(node_id)
        if record is None:
            raise NotFound(f"node {node_id!r} does not exist")
        return record

    def _wire(self, record: NodeInfo) -> Any:
        return wire_node(record, str(self.home(record["id"])))


def _remove(homes: Iterable[Path]) -> None:
    """Remove node directories (ones already gone are no error), killing their running jobs first (a deleted
    droplet's processes end with it)."""
    for home in homes:
        kill_jobs(home)
        with contextlib.suppress(FileNotFoundError):
            shutil.rmtree(home)


def _remove_root(root: Path) -> None:
    """Remove a directory of node directories (``_remove`` for each: their jobs killed)."""
    with contextlib.suppress(FileNotFoundError):
        _remove(list(root.iterdir()))
    shutil.rmtree(root, ignore_errors=True)


_OPERATIONS: dict[str, Handler] = {
    "NodeQuota": LocalNodes.node_quota, "ListSizes": LocalNodes.list_sizes, "ImportKey": LocalNodes.import_key,
    "FindKey": LocalNodes.find_key, "DeleteKey": LocalNodes.delete_key, "CreateFirewall": LocalNodes.create_firewall,
    "FindFirewall": LocalNodes.find_firewall, "DeleteFirewall": LocalNodes.delete_firewall,
    "AllowPeers": LocalNodes.allow_peers, "OpenPort": LocalNodes.open_port, "GetFirewall": LocalNodes.get_firewall,
    "CreateNodes": LocalNodes.create_nodes, "ListNodes": LocalNodes.list_nodes,
    "ListClusters": LocalNodes.list_clusters, "GetNode": LocalNodes.get_node, "DeleteNodes": LocalNodes.delete_nodes,
    "DeleteClusterNodes": LocalNodes.delete_cluster_nodes, "RebootNode": LocalNodes.reboot_node,
    "ResizeNode": LocalNodes.resize_node, "CountReboots": LocalNodes.count_reboots,
    "PowerOff": power_off, "PowerOn": power_on, **accounts.OPERATIONS}
"""Every operation of the compute API, by name."""


@register_part
def _nodes_part(cloud: LocalCloud) -> Part:
    """Every local cloud's clusters."""
    return LocalNodes(cloud)


__all__ = ["REMEMBERED", "LocalNodes"]
