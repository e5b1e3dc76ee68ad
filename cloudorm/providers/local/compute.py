"""Local compute: cluster nodes are working directories on this machine, their commands run in ``/bin/sh`` there.

Every local Session of a process shares one set of nodes (like it shares the local cloud): they live under one
directory per process (``cloudorm-nodes-*`` in the temp dir), removed when the process exits. A node is ``active`` as
soon as it is created; its ``address`` is ``127.0.0.1`` (its commands run on this machine, so a server a node starts
is reached there, as a droplet's would be at its address). Keys and firewalls are recorded, not enforced, so that
``cluster.delete()`` behaves as on a cloud; reboots are recorded no-ops. Sizes mirror DigitalOcean's basic droplet
slugs and monthly prices, so ``price_per_node`` can be rehearsed offline. Nothing here is shared between processes.
"""

from __future__ import annotations

import atexit
import contextlib
import getpass
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import uuid
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from cloudorm.compute.keys import md5_fingerprint, public_key_blob
from cloudorm.compute.names import check_region
from cloudorm.counting import RequestHub
from cloudorm.errors import InvalidInput, NotFound
from cloudorm.providers.contract import ComputeCapabilities, ComputeService, KeyInfo, NodeInfo, SizeInfo, Wire

ADDRESS = "127.0.0.1"
"""The address every local node reports: commands run on this machine."""

SIZES: tuple[SizeInfo, ...] = tuple(
    SizeInfo(slug=slug, price_monthly=price, vcpus=vcpus, memory_mb=memory, disk_gb=disk, regions=[], available=True)
    for slug, price, vcpus, memory, disk in (
        ("s-1vcpu-512mb-10gb", 4.0, 1, 512, 10),
        ("s-1vcpu-1gb", 6.0, 1, 1024, 25),
        ("s-1vcpu-2gb", 12.0, 1, 2048, 50),
        ("s-2vcpu-2gb", 18.0, 2, 2048, 60),
        ("s-2vcpu-4gb", 24.0, 2, 4096, 80),
        ("s-4vcpu-8gb", 48.0, 4, 8192, 160),
        ("s-8vcpu-16gb", 96.0, 8, 16384, 320),
    ))
"""DigitalOcean's basic droplet sizes and monthly USD prices (``regions`` empty: offered everywhere)."""

NODE_LIMIT = 1000
"""The most local nodes one process may have at once (each is a directory here whose commands are processes on
this machine): the local counterpart of DigitalOcean's droplet limit, read by ``node_quota``."""

LOGIN_ENVIRONMENT = ("PATH", "LANG", "LC_ALL", "TZ", "TMPDIR")
"""The variables a local node's commands inherit from this process (like a fresh login: nothing else leaks in)."""


class _Nodes:
    """The process-wide state of local compute: node records, keys, firewalls and recorded reboots."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.root_lock = threading.Lock()
        self.root: Path | None = None
        self.nodes: dict[str, NodeInfo] = {}
        self.keys: dict[str, KeyInfo] = {}
        self.firewalls: dict[str, Wire] = {}
        self.reboots: Counter[str] = Counter()

    def directory(self) -> Path:
        """The per-process root of node directories, made on first use and removed at exit."""
        with self.root_lock:
            if self.root is None:
                self.root = Path(tempfile.mkdtemp(prefix="cloudorm-nodes-"))
                atexit.register(shutil.rmtree, self.root, ignore_errors=True)
            return self.root


_STATE = _Nodes()


def node_home(node: Mapping[str, Any]) -> Path:
    """The working directory (and HOME) of a local node."""
    return _STATE.directory() / str(node["id"])


class LocalComputeService(ComputeService):
    """The ``ComputeService`` of the local cloud: nodes are directories here, driven by ``LocalShell``."""

    default_image = "local"
    default_size = "s-1vcpu-1gb"
    capabilities = ComputeCapabilities(accepts_host_keys=False)

    def __init__(self, provider_name: str, hub: RequestHub | None = None) -> None:
        self.provider_name = provider_name
        self.hub = hub

    def _count(self, operation: str) -> None:
        """Count a call like a request, so ``s.count_requests()`` sees what a cloud would be sent."""
        if self.hub is not None:
            self.hub.record(f"compute.{operation}")

    def default_user(self, image: str) -> str:
        """The user this process runs as (local commands run as it)."""
        return getpass.getuser()

    def check_region(self, region: str) -> str:
        """Any region of a region's form (local nodes are made here whatever it says; it is recorded)."""
        return check_region(region)

    def node_quota(self) -> int:
        """How many more local nodes this process may have (``NODE_LIMIT`` less the nodes it has)."""
        self._count("NodeQuota")
        with _STATE.lock:
            return NODE_LIMIT - len(_STATE.nodes)

    def list_sizes(self) -> list[SizeInfo]:
        """The DigitalOcean-like size table."""
        self._count("ListSizes")
        return [{**s, "regions": list(s["regions"])} for s in SIZES]

    def import_key(self, name: str, public_key: str) -> KeyInfo:
        """Record a public key (an identical one already recorded is returned with ``created`` False)."""
        self._count("ImportKey")
        fingerprint = md5_fingerprint(public_key_blob(public_key)[1])
        with _STATE.lock:
            for key in _STATE.keys.values():
                if key["fingerprint"] == fingerprint:
                    return {**key, "created": False}
            made: KeyInfo = {"id": uuid.uuid4().hex[:12], "name": name, "fingerprint": fingerprint, "created": True}
            _STATE.keys[made["id"]] = made
        return made.copy()

    def find_key(self, name: str) -> KeyInfo | None:
        """The key recorded under ``name``, or None."""
        self._count("FindKey")
        with _STATE.lock:
            found = next((k for k in _STATE.keys.values() if k["name"] == name), None)
        return None if found is None else {**found, "created": False}

    def delete_key(self, key_id: str) -> None:
        """Forget a recorded key."""
        self._count("DeleteKey")
        with _STATE.lock:
            if _STATE.keys.pop(key_id, None) is None:
                raise NotFound(f"key {key_id!r} does not exist", provider=self.provider_name)

    def create_firewall(self, cluster: str, cidrs: Sequence[str]) -> str:
        """Record a firewall for ``cluster`` (not enforced: local nodes have no network of their own)."""
        self._count("CreateFirewall")
        firewall: Wire = {"id": uuid.uuid4().hex[:12], "name": f"cloudorm-{cluster}", "cluster": cluster,
                    "cidrs": list(cidrs)}
        with _STATE.lock:
            _STATE.firewalls[firewall["id"]] = firewall
        return str(firewall["id"])

    def find_firewall(self, cluster: str) -> str | None:
        """The id of ``cluster``'s recorded firewall, if any."""
        self._count("FindFirewall")
        with _STATE.lock:
            return next((f["id"] for f in _STATE.firewalls.values() if f["cluster"] == cluster), None)

    def delete_firewall(self, firewall_id: str) -> None:
        """Forget a recorded firewall."""
        self._count("DeleteFirewall")
        with _STATE.lock:
            if _STATE.firewalls.pop(firewall_id, None) is None:
                raise NotFound(f"firewall {firewall_id!r} does not exist", provider=self.provider_name)

    def _check_size(self, size: Any) -> str:
        """``size`` if it is one of ``SIZES``' slugs, else ``InvalidInput("size")``."""
        if size not in {s["slug"] for s in SIZES}:
            raise InvalidInput("size", f"unknown size {size!r}; local sizes: {', '.join(s['slug'] for s in SIZES)}",
                               provider=self.provider_name)
        return str(size)

    def create_nodes(self, cluster: str, names: Sequence[str], spec: Wire) -> list[NodeInfo]:
        """Make one directory per name; the nodes are ``active`` at once."""
        self._count("CreateNodes")
        size = self._check_size(spec.get("size"))
        created = []
        for name in names:
            record: NodeInfo = {"id": uuid.uuid4().hex[:12], "name": name, "status": "active", "address": ADDRESS,
                                "private_address": ADDRESS, "size": size, "region": spec.get("region"),
                                "image": spec.get("image") or self.default_image, "cluster": cluster,
                                "created": datetime.now(timezone.utc)}
            node_home(record).mkdir(mode=0o700)
            with _STATE.lock:
                _STATE.nodes[record["id"]] = record
            created.append(record.copy())
        return created

    def list_nodes(self, cluster: str) -> list[NodeInfo]:
        """Every node of ``cluster``."""
        self._count("ListNodes")
        with _STATE.lock:
            return [n.copy() for n in _STATE.nodes.values() if n["cluster"] == cluster]

    def list_clusters(self) -> list[str]:
        """The clusters with nodes or a firewall, sorted."""
        self._count("ListClusters")
        with _STATE.lock:
            names = {n["cluster"] for n in _STATE.nodes.values() if n["cluster"] is not None}
            names |= {f["cluster"] for f in _STATE.firewalls.values()}
        return sorted(names)

    def get_node(self, node_id: str) -> NodeInfo:
        """One node's record."""
        self._count("GetNode")
        with _STATE.lock:
            record = _STATE.nodes.get(node_id)
        if record is None:
            raise NotFound(f"node {node_id!r} does not exist", provider=self.provider_name)
        return record.copy()

    def delete_nodes(self, node_ids: Sequence[str]) -> None:
        """Remove nodes and their directories (missing ones are no error)."""
        self._count("DeleteNodes")
        for node_id in node_ids:
            with _STATE.lock:
                record = _STATE.nodes.pop(node_id, None)
            if record is not None:
                shutil.rmtree(node_home(record), ignore_errors=True)

    def delete_cluster_nodes(self, cluster: str) -> None:
        """Remove every node of ``cluster`` and its directory."""
        self._count("DeleteClusterNodes")
        with _STATE.lock:
            ids = [i for i, r in _STATE.nodes.items() if r.get("cluster") == cluster]
        self.delete_nodes(ids)

    def reboot_node(self, node_id: str) -> None:
        """Record a reboot (nothing runs between commands of a local node, so there is nothing to restart)."""
        self._count("RebootNode")
        self.get_node(node_id)
        with _STATE.lock:
            _STATE.reboots[node_id] += 1

    def resize_node(self, node_id: str, size: str) -> NodeInfo:
        """Record a new size for a node (its commands run on this machine whatever it says); its record."""
        self._count("ResizeNode")
        self._check_size(size)
        with _STATE.lock:
            record = _STATE.nodes.get(node_id)
            if record is None:
                raise NotFound(f"node {node_id!r} does not exist", provider=self.provider_name)
            record["size"] = size
            return record.copy()

    def reboots(self, node_id: str) -> int:
        """How many times ``node_id`` was rebooted."""
        with _STATE.lock:
            return _STATE.reboots[node_id]

    def shell(self, node: Wire) -> LocalShell:
        """The node's shell: ``/bin/sh`` in its directory."""
        return LocalShell(node_home(node))


class LocalShell:
    """A ``Shell`` on a local node: ``/bin/sh -c`` with cwd and HOME = the node's directory; files are copies.

    Relative remote paths and ``~/`` resolve in the node's directory; absolute ones are paths on this machine."""

    def __init__(self, home: Path) -> None:
        self.home = home

    def __repr__(self) -> str:
        return f"LocalShell({str(self.home)!r})"

    def path(self, remote: str) -> Path:
        """Where ``remote`` is on this machine."""
        if remote == "~" or remote.startswith("~/"):
            remote = remote[2:]
        return self.home / remote

    def run(self, command: str, timeout: float | None = None,
            environment: Mapping[str, str] | None = None) -> tuple[int | None, str, str]:
        """Run ``command`` in ``/bin/sh``; a timeout kills its whole process group and gives exit code None."""
        if not self.home.is_dir():
            raise NotFound(f"the node's directory {str(self.home)!r} is gone (the node was deleted)")
        env = {k: os.environ[k] for k in LOGIN_ENVIRONMENT if k in os.environ}
        env.setdefault("PATH", os.defpath)
        user = getpass.getuser()
        env.update({"HOME": str(self.home), "USER": user, "LOGNAME": user, "SHELL": "/bin/sh"})
        env.update(environment or {})
        proc = subprocess.Popen(["/bin/sh", "-c", command], cwd=self.home, env=env, stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
        try:
            out, err = proc.communicate(timeout=timeout)
            code: int | None = proc.returncode
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            out, err = proc.communicate()
            code = None
        return code, out.decode("utf-8", "replace"), err.decode("utf-8", "replace")

    def put(self, local: Path, remote: str) -> None:
        """Copy ``local`` to ``remote`` (parents made, permission bits kept)."""
        target = self.path(remote)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(local, target)
        os.chmod(target, os.stat(local).st_mode & 0o7777)

    def get(self, remote: str, local: Path) -> None:
        """Copy ``remote`` to ``local`` (parents made)."""
        source = self.path(remote)
        if not source.is_file():
            raise NotFound(f"{remote!r} is not a file on the node")
        local.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, local)

    def close(self) -> None:
        """Nothing to release."""
