"""Local compute: cluster nodes are working directories on this machine, their commands run in ``/bin/sh`` there.

The clusters live in the local cloud's server (``nodes.py``), asked over its compute API (``nodes_api.py``), so
every process that talks to the same server (every ``Session()`` of a process, every user of ``cloudorm serve``) sees
the same nodes. A node is ``active`` as soon as it is created; its ``address`` is ``127.0.0.1`` (its commands run on
this machine, so a server a node starts is reached there, as a droplet's would be at its address) and its record
carries ``home``, its directory, where ``LocalShell`` runs its commands in this process. Keys and firewalls are
recorded, not enforced, so that ``cluster.delete()`` behaves as on a cloud. A node powered off refuses commands and
its processes are stopped (``power.py``); a reboot stops them too. Sizes mirror DigitalOcean's basic droplet slugs
and monthly prices, so ``price_per_node`` can be rehearsed offline; local nodes cost nothing.
"""

from __future__ import annotations

import contextlib
import getpass
import os
import shutil
import signal
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from cloudorm.compute.keys import public_key_blob
from cloudorm.compute.names import check_region
from cloudorm.counting import RequestHub
from cloudorm.errors import CloudError, ConflictError, InvalidInput, NotFound
from cloudorm.providers.contract import (
    ComputeCapabilities,
    ComputeService,
    KeyInfo,
    NodeInfo,
    Options,
    SizeInfo,
    Wire,
)
from cloudorm.providers.contract.compute import (
    AccountInfo,
    BillingInfo,
    ImageInfo,
    PriceInfo,
    RegionInfo,
    SshKeyInfo,
    check_open_port,
    check_power_action,
)
from cloudorm.providers.local.nodes_api import SIZES, NodesClient, check_size, node_from_wire
from cloudorm.providers.local.power import MARKER, is_off

LOGIN_ENVIRONMENT = ("PATH", "LANG", "LC_ALL", "TZ", "TMPDIR")
"""The variables a local node's commands inherit from this process (like a fresh login: nothing else leaks in)."""


def node_home(node: Mapping[str, Any]) -> Path:
    """The working directory (and HOME) of a local node: the ``home`` its record carries."""
    home = node.get("home")
    if not isinstance(home, str) or not home:
        raise InvalidInput("node", "a local node's record names its directory ('home'); this one does not")
    return Path(home)


class LocalComputeService(ComputeService):
    """The ``ComputeService`` of the local cloud: nodes are directories here, kept by the local cloud's server
    at ``url`` and driven by ``LocalShell``."""

    default_image = "local"
    default_size = "s-1vcpu-1gb"
    capabilities = ComputeCapabilities(accepts_host_keys=False, local_nodes=True)

    def __init__(self, provider_name: str, url: str, hub: RequestHub | None = None,
                 options: Options | None = None, region: str = "us-east-1") -> None:
        self.provider_name = provider_name
        self.region = region
        """The session's region (recorded on the nodes made; listed by ``list_regions``)."""
        self.hub = hub
        self.api = NodesClient(url, provider_name, options or Options(), hub.record if hub is not None else None)
        """The client of the server's compute API."""

    def default_user(self, image: str) -> str:
        """The user this process runs as (local commands run as it)."""
        return getpass.getuser()

    def check_region(self, region: str) -> str:
        """Any region of a region's form (local nodes are made here whatever it says; it is recorded)."""
        return check_region(region)

    def node_quota(self) -> int:
        """How many more nodes the local cloud may have (``NODE_LIMIT`` less the nodes it has)."""
        return int(self.api.call("NodeQuota"))

    def list_sizes(self) -> list[SizeInfo]:
        """The DigitalOcean-like size table."""
        sizes: list[SizeInfo] = self.api.call("ListSizes")
        return sizes

    def import_key(self, name: str, public_key: str) -> KeyInfo:
        """Record a public key (an identical one already recorded is returned with ``created`` False)."""
        public_key_blob(public_key)  # (InvalidInput before any request)
        key: KeyInfo = self.api.call("ImportKey", {"name": name, "public_key": public_key}, mutating=True)
        return key

    def find_key(self, name: str) -> KeyInfo | None:
        """The key recorded under ``name``, or None."""
        key: KeyInfo | None = self.api.call("FindKey", {"name": name})
        return key

    def delete_key(self, key_id: str) -> None:
        """Forget a recorded key."""
        self.api.call("DeleteKey", {"key_id": key_id}, mutating=True)

    def create_firewall(self, cluster: str, cidrs: Sequence[str]) -> str:
        """Record a firewall for ``cluster``, SSH from ``cidrs`` and every TCP port between its nodes (not enforced:
        local nodes have no network of their own)."""
        return str(self.api.call("CreateFirewall", {"cluster": cluster, "cidrs": list(cidrs)}, mutating=True))

    def find_firewall(self, cluster: str) -> str | None:
        """The id of ``cluster``'s recorded firewall, if any."""
        found = self.api.call("FindFirewall", {"cluster": cluster})
        return None if found is None else str(found)

    def delete_firewall(self, firewall_id: str) -> None:
        """Forget a recorded firewall."""
        self.api.call("DeleteFirewall", {"firewall_id": firewall_id}, mutating=True)

    def allow_peers(self, cluster: str) -> str | None:
        """Record the peer rule on ``cluster``'s firewall if it has one; its id, or None (re-sent with its token
        after a lost answer)."""
        found = self.api.call("AllowPeers", {"cluster": cluster}, mutating=True)
        return None if found is None else str(found)

    def open_port(self, cluster: str, port: int, cidrs: Sequence[str]) -> str:
        """Record tcp ``port`` open to ``cidrs`` on ``cluster``'s firewall, one recorded (SSH from everywhere) if it
        has none; its id (re-sent with its token after a lost answer)."""
        port, sources = check_open_port(port, cidrs)  # (InvalidInput before any request)
        body = {"cluster": cluster, "port": port, "cidrs": list(sources)}
        return str(self.api.call("OpenPort", body, mutating=True))

    def firewall(self, firewall_id: str) -> Wire:
        """A recorded firewall: ``cidrs`` (SSH), ``peers`` (the peer rule), ``ports`` (CIDRs by port)."""
        found: Wire = self.api.call("GetFirewall", {"firewall_id": firewall_id})
        return found

    def create_nodes(self, cluster: str, names: Sequence[str], spec: Wire) -> list[NodeInfo]:
        """Make one directory per name; the nodes are ``active`` at once. A name the cluster has is
        ``AlreadyExists``; a re-send after a lost answer gets the first answer (nothing made twice)."""
        size = check_size(spec.get("size"), self.provider_name)
        body = {"cluster": cluster, "names": list(names), "size": size, "region": spec.get("region"),
                "image": spec.get("image") or self.default_image}
        return [node_from_wire(n) for n in self.api.call("CreateNodes", body, mutating=True)]

    def list_nodes(self, cluster: str) -> list[NodeInfo]:
        """Every node of ``cluster``."""
        return [node_from_wire(n) for n in self.api.call("ListNodes", {"cluster": cluster})]

    def list_clusters(self) -> list[str]:
        """The clusters with nodes or a firewall, sorted."""
        return [str(c) for c in self.api.call("ListClusters")]

    def get_node(self, node_id: str) -> NodeInfo:
        """One node's record."""
        return node_from_wire(self.api.call("GetNode", {"node_id": node_id}))

    def delete_nodes(self, node_ids: Sequence[str]) -> None:
        """Remove nodes and their directories (missing ones are no error)."""
        self.api.call("DeleteNodes", {"node_ids": list(node_ids)}, mutating=True)

    def delete_cluster_nodes(self, cluster: str) -> None:
        """Remove every node of ``cluster`` and its directory."""
        self.api.call("DeleteClusterNodes", {"cluster": cluster}, mutating=True)

    def reboot_node(self, node_id: str) -> None:
        """Stop the processes the node's commands started (it is on afterwards) and count the reboot."""
        self.api.call("RebootNode", {"node_id": node_id}, mutating=True)

    def resize_node(self, node_id: str, size: str) -> NodeInfo:
        """Record a new size for a node (its commands run on this machine whatever it says); its record."""
        check_size(size, self.provider_name)
        return node_from_wire(self.api.call("ResizeNode", {"node_id": node_id, "size": size}, mutating=True))

    # ---- power, prices and the account's listings

    def power_node(self, node_id: str, action: str) -> None:
        """``PowerOff`` (the node's commands are refused from now on and the processes they started stopped),
        ``PowerOn`` or ``RebootNode`` (its processes stopped; on again); done when answered, re-sent with its token
        after a lost answer."""
        check_power_action(action)
        operation = {"power_off": "PowerOff", "power_on": "PowerOn", "reboot": "RebootNode"}[action]
        self.api.call(operation, {"node_id": node_id}, mutating=True)

    def billing(self) -> BillingInfo:
        """DigitalOcean's rule (hourly, up to 672 hours a month): the local prices are zero all the same."""
        return {"billing_seconds": 3600, "minimum_seconds": 0, "bills_off": True, "hours_per_month": 672}

    def node_prices(self, sizes: Sequence[str]) -> dict[str, PriceInfo]:
        """Zero for every local size: local nodes cost nothing."""
        known = {s["slug"] for s in SIZES}
        return {s: {"size": s, "hourly": 0.0, "monthly": 0.0} for s in sizes if s in known}

    def account(self) -> AccountInfo:
        """The local cloud's account: ``id`` ``local``, its limit on nodes."""
        found: AccountInfo = self.api.call("Account")
        return found

    def list_regions(self, start: str | None, limit: int | None) -> tuple[list[RegionInfo], str | None]:
        """The session's region (local nodes are made on this machine whatever region they name)."""
        sizes = [s["slug"] for s in SIZES]
        return [{"slug": self.region, "name": f"{self.region} (this machine)", "available": True, "sizes": sizes,
                 "features": []}], None

    def list_images(self, start: str | None, limit: int | None) -> tuple[list[ImageInfo], str | None]:
        """The one local image: this machine's shell."""
        return [{"id": self.default_image, "slug": self.default_image, "name": "this machine's /bin/sh",
                 "distribution": None, "public": True, "regions": [], "created": None,
                 "description": "local nodes are working directories on this machine"}], None

    def list_ssh_keys(self, start: str | None, limit: int | None) -> tuple[list[SshKeyInfo], str | None]:
        """Every recorded key (one page)."""
        keys: list[SshKeyInfo] = self.api.call("ListSshKeys")
        return keys, None

    def get_ssh_key(self, name: str) -> SshKeyInfo:
        """The key recorded under ``name`` (``NotFound`` if none)."""
        key: SshKeyInfo = self.api.call("GetSshKey", {"name": name})
        return key

    def create_ssh_key(self, name: str, public_key: str) -> SshKeyInfo:
        """Record ``public_key`` under ``name`` (re-sent with its token after a lost answer)."""
        public_key_blob(public_key)  # (InvalidInput before any request)
        key: SshKeyInfo = self.api.call("CreateSshKey", {"name": name, "public_key": public_key}, mutating=True)
        return key

    def list_servers(self, name: str | None, start: str | None,
                     limit: int | None) -> tuple[list[NodeInfo], str | None]:
        """Every node of every cluster (``name``: only those so named), one page."""
        body = {} if name is None else {"name": name}
        return [node_from_wire(n) for n in self.api.call("ListServers", body)], None

    def reboots(self, node_id: str) -> int:
        """How many times ``node_id`` was rebooted."""
        return int(self.api.call("CountReboots", {"node_id": node_id}))

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
        self._check_on()
        env = {k: os.environ[k] for k in LOGIN_ENVIRONMENT if k in os.environ}
        env.setdefault("PATH", os.defpath)
        user = getpass.getuser()
        env.update({"HOME": str(self.home), "USER": user, "LOGNAME": user, "SHELL": "/bin/sh"})
        env.update(environment or {})
        env[MARKER] = str(self.home)  # (every process the command starts carries it: powering off stops them)
        proc = subprocess.Popen(["/bin/sh", "-c", command], cwd=self.home, env=env, stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
        if is_off(self.home):  # powered off while it started: the server's sweep may have come before it
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            self._check_on()
        try:
            out, err = proc.communicate(timeout=timeout)
            code: int | None = proc.returncode
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            out, err = proc.communicate()
            code = None
        if code is not None and code < 0 and is_off(self.home):
            raise CloudError(f"local node {self.home.name} was powered off while {command!r} ran (its processes "
                             "were stopped)")
        return code, out.decode("utf-8", "replace"), err.decode("utf-8", "replace")

    def _check_on(self) -> None:
        """``NotFound`` for a deleted node, ``ConflictError`` for one powered off (nothing is run or copied)."""
        if not self.home.is_dir():
            raise NotFound(f"the node's directory {str(self.home)!r} is gone (the node was deleted)")
        if is_off(self.home):
            raise ConflictError(f"local node {self.home.name} is powered off: node.power_on() starts it again")

    def put(self, local: Path, remote: str) -> None:
        """Copy ``local`` to ``remote`` (parents made, permission bits kept)."""
        self._check_on()
        target = self.path(remote)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(local, target)
        os.chmod(target, os.stat(local).st_mode & 0o7777)

    def get(self, remote: str, local: Path) -> None:
        """Copy ``remote`` to ``local`` (parents made)."""
        self._check_on()
        source = self.path(remote)
        if not source.is_file():
            raise NotFound(f"{remote!r} is not a file on the node")
        local.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, local)

    def forward(self, host: str, port: int) -> tuple[str, int]:
        """``(host, port)`` itself: the node is this machine, nothing to relay."""
        self._check_on()
        return host, port

    def close(self) -> None:
        """Nothing to release."""
