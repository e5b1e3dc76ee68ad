"""The Cluster entity: identical nodes created from a tag, bootstrapped and driven in parallel.

A cluster has no central controller: it is the set of nodes carrying the provider's tag for its name. What this
machine keeps about it lives in ``state_dir("clusters", provider, region, name)``: ``known_hosts`` (the nodes' host
keys), ``id_ed25519`` (0600; only when the login key was generated here) and ``cluster.json`` (the id of the key
``save()`` registered, so ``delete()`` removes only what cloudorm made). ``s.Cluster(name).refresh()`` re-attaches
to a running cluster from another process or another day.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, TypeVar

from cloudorm.cache import state_dir
from cloudorm.checks import check_flag, check_seconds, check_utf8
from cloudorm.compute.bootstrap import Bootstrap
from cloudorm.compute.keys import KeyPair
from cloudorm.compute.names import (
    MAX_NODE_NUMBER,
    MAX_NODES,
    check_cidrs,
    check_cluster_name,
    check_node_count,
    check_region,
    next_names,
)
from cloudorm.compute.node import Node, check_command, check_environment, check_local_file, check_remote, check_timeout
from cloudorm.compute.shell import CommandResult, CommandResults, Shell
from cloudorm.compute.sizes import size_for_price
from cloudorm.errors import CloudError, ClusterError, InvalidInput, NotFound, Timeout
from cloudorm.storage.transfer import Progress, progress_bar
from cloudorm.waiting import wait_until

if TYPE_CHECKING:
    from cloudorm.compute.ssh import KnownHosts
    from cloudorm.providers.base import ComputeService
    from cloudorm.session import Session

T = TypeVar("T")

POLL_INTERVAL = 1.0
"""Seconds between the first ``list_nodes`` polls while new nodes boot (then growing to ``POLL_MAX_INTERVAL``):
well within DigitalOcean's 250 requests a minute and EC2's describe limits."""

POLL_MAX_INTERVAL = 5.0
"""The longest pause between two polls while nodes boot."""

USER = re.compile(r"[a-z_][a-z0-9_.-]{0,31}\$?", re.IGNORECASE)


def _check_name(field: str, value: Any) -> str | None:
    if value is not None and (not isinstance(value, str) or not value.strip()):
        raise InvalidInput(field, f"must be a non-empty string, not {value!r}")
    return None if value is None else check_utf8(field, value)


def _check_price(price: Any) -> float | None:
    if price is None:
        return None
    if isinstance(price, bool) or not isinstance(price, (int, float)) or not price > 0:
        raise InvalidInput("price_per_node", f"must be a monthly price in USD > 0, not {price!r}")
    return float(price)


def _check_cidrs(cidrs: Any) -> tuple[str, ...] | None:
    if cidrs is None:
        return None
    return check_cidrs([cidrs] if isinstance(cidrs, str) else cidrs)  # one CIDR may be given as a string


def _check_key(key: Any) -> KeyPair | None:
    if key is None or isinstance(key, KeyPair):
        return key
    if not isinstance(key, (str, os.PathLike)):
        raise InvalidInput("ssh_key", f"must be a KeyPair or the path of a private key, not {type(key).__name__}")
    path = Path(key).expanduser()
    if not path.is_file():
        raise InvalidInput("ssh_key", f"{str(path)!r} is not a private key file")
    try:
        return KeyPair.load(path)
    except CloudError as e:
        raise InvalidInput("ssh_key", f"cannot load {str(path)!r}: {e.message}") from None
    except Exception as e:
        raise InvalidInput("ssh_key", f"cannot load {str(path)!r} ({type(e).__name__}); a key with a passphrase is "
                                      "given as KeyPair.load(path, password=...)") from None


def _check_positive_int(field: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidInput(field, f"must be an int >= 1, not {value!r}")
    return value


def _describe(error: BaseException) -> str:
    text = str(error).strip().replace("\n", " ")
    return f"{type(error).__name__}: {text[:300]}" if text else type(error).__name__


def _in_order(nodes: Iterable[Node]) -> list[Node]:
    """Nodes sorted by number (others after them, by name)."""
    return sorted(nodes, key=lambda n: (n.number is None, n.number or 0, n.name))


class Cluster:
    """Identical nodes that share a tag: ``s.Cluster("web", size=3, node_size="s-1vcpu-1gb").save()``.

    ``host_keys="strict"`` (the default) never accepts a host key silently: where the provider takes one through
    cloud-init, a host key generated here is handed to the nodes at creation and pinned, so even the first
    connection is verified; elsewhere the key is recorded on first use and any change is refused
    (``HostKeyMismatch``). ``host_keys="ignore"`` is the explicit opt-out for throwaway clusters: any key accepted,
    nothing recorded."""

    def __init__(self, session: Session, name: str, size: int | None = None, *, node_size: str | None = None,
                 price_per_node: float | None = None, image: str | None = None, region: str | None = None,
                 ssh_key: KeyPair | str | os.PathLike[str] | None = None, user: str | None = None,
                 runtime: str | None = "python3", requirements: Iterable[str] | str | os.PathLike[str] = (),
                 files: Iterable[Any] = (), setup: Iterable[str] = (), allow_ssh_from: Iterable[str] | None = None,
                 host_keys: str = "strict", ssh_config: str | os.PathLike[str] | None = None,
                 max_parallel: int = 16, boot_timeout: float = 600.0, progress: bool | None = None,
                 monitoring: bool = False, max_nodes: int = MAX_NODES) -> None:
        self.session = session
        self.name = check_cluster_name(name)
        """The cluster's name: its nodes are ``{name}-{n}``, tagged for it."""
        if isinstance(max_nodes, bool) or not isinstance(max_nodes, int) or not 1 <= max_nodes <= MAX_NODE_NUMBER:
            raise InvalidInput("max_nodes", f"must be an int from 1 to {MAX_NODE_NUMBER} (node names end at "
                                            f"-{MAX_NODE_NUMBER}), not {max_nodes!r}")
        self.max_nodes = max_nodes
        """The most nodes this cluster may have (default ``MAX_NODES``, 1000): a larger ``size`` or ``add_node(n)``
        is refused before any request. The provider's own limit (DigitalOcean's droplet limit) is checked too."""
        self.size = None if size is None else check_node_count("size", size, max_nodes)
        """How many nodes ``save()`` makes sure exist (None: an existing cluster named to attach to)."""
        self.node_size = _check_name("node_size", node_size)
        """The size slug or instance type of new nodes (None: by price, else the existing nodes', else the default)."""
        self.price_per_node = _check_price(price_per_node)
        """The most a new node may cost a month (USD): the largest size that fits is chosen."""
        if self.node_size is not None and self.price_per_node is not None:
            raise InvalidInput("node_size", "give node_size or price_per_node, not both")
        self.image = _check_name("image", image)
        """The image of new nodes (None: the existing nodes', else the provider's default)."""
        if region is None and session.region is not None:
            region = session.region
        self.region = None if region is None else check_region(region)
        """The region new nodes are made in (default: the session's); it names a directory of the cluster's state,
        so only a region's shape is taken (``nyc3``, ``us-east-1``), and the provider checks its own form."""
        self._given_key = _check_key(ssh_key)
        if user is not None and (not isinstance(user, str) or not USER.fullmatch(user)):
            raise InvalidInput("user", f"must be a login name, not {user!r}")
        self.user = user
        """The login user (None: the ``User`` of a matching ssh_config ``Host`` block, else the image's default,
        e.g. ``root`` on DigitalOcean, ``ubuntu`` on EC2)."""
        self.bootstrap = Bootstrap.of(runtime, requirements, files, setup)
        """What every new node gets: files, runtime, requirements, setup commands."""
        self.allow_ssh_from = _check_cidrs(allow_ssh_from)
        """CIDRs a firewall lets reach SSH (None: no firewall is made)."""
        if host_keys not in ("strict", "ignore"):
            raise InvalidInput("host_keys", f"must be 'strict' or 'ignore', not {host_keys!r}")
        self.host_keys = host_keys
        """``"strict"`` (pinned or recorded host keys, changes refused) or ``"ignore"`` (the explicit opt-out)."""
        if ssh_config is not None:
            if not isinstance(ssh_config, (str, os.PathLike)) or not Path(ssh_config).expanduser().is_file():
                raise InvalidInput("ssh_config", f"must be the path of an ssh_config file, not {ssh_config!r}")
            ssh_config = Path(ssh_config).expanduser()
        self.ssh_config: Path | None = ssh_config
        """An ssh_config file whose ``Host`` blocks (HostName, Port, User) are honoured when connecting."""
        self.max_parallel = _check_positive_int("max_parallel", max_parallel)
        """The most nodes worked on at once (bootstrap, run, file copies)."""
        self.boot_timeout = check_seconds("boot_timeout", boot_timeout)
        """Seconds new nodes have to become active, answer SSH and finish bootstrapping (a step still running then
        is stopped and fails the node: raise it for long setups)."""
        if progress is not None and not isinstance(progress, bool):
            raise InvalidInput("progress", f"must be True, False or None (a bar on terminals), not {progress!r}")
        self.progress = progress
        """Show a progress bar while bootstrapping (None: when stderr is a terminal)."""
        if not isinstance(monitoring, bool):
            raise InvalidInput("monitoring", f"must be True or False, not {monitoring!r}")
        self.monitoring = monitoring
        """Turn on the provider's monitoring of new nodes (DigitalOcean's metrics agent, EC2's detailed
        monitoring)."""
        self._nodes: list[Node] | None = None
        self._key: KeyPair | None = self._given_key
        self._known: KnownHosts | None = None
        self._lock = threading.RLock()

    def __repr__(self) -> str:
        parts = [repr(self.name), f"provider={self.session.provider!r}"]
        if self.size is not None:
            parts.append(f"size={self.size}")
        if self._nodes is not None:
            parts.append(f"nodes={[n.name for n in self._nodes]!r}")
        return f"Cluster({', '.join(parts)})"

    # ------------------------------------------------------------------------------------------------ state

    @property
    def _service(self) -> ComputeService:
        return self.session.compute

    @property
    def state_path(self) -> Path:
        """This cluster's directory in cloudorm's state (made on first use, mode 0700)."""
        return state_dir("clusters", self.session.provider, self.region or "default", self.name)

    def _state(self) -> dict[str, Any]:
        path = self.state_path / "cluster.json"
        try:
            data: dict[str, Any] = json.loads(path.read_text())
            return data
        except (FileNotFoundError, ValueError):
            return {}

    def _set_state(self, **values: Any) -> None:
        state = {**self._state(), **values}
        state = {k: v for k, v in state.items() if v is not None}
        path = self.state_path / "cluster.json"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(state, indent=1))
        tmp.replace(path)

    @property
    def key(self) -> KeyPair:
        """The login key: the one given, else the one kept in the state directory; ``InvalidInput("ssh_key")``
        when there is neither (a cluster made on another machine: pass the key its nodes were made with)."""
        return self._login_key(generate=False)

    def _login_key(self, generate: bool) -> KeyPair:
        """The login key; with ``generate`` (a new cluster being made), a new one saved in the state directory when
        none was given or kept."""
        with self._lock:
            if self._key is None:
                path = self.state_path / "id_ed25519"
                if path.exists():
                    self._key = KeyPair.load(path)
                elif generate:
                    key = KeyPair.generate(comment=f"cloudorm-{self.name}")
                    key.save(path)
                    self._key = key
                else:
                    raise InvalidInput("ssh_key", f"cluster {self.name!r} has no login key on this machine (none "
                                                  f"given and none in {str(self.state_path)!r}): pass ssh_key= the "
                                                  "key its nodes were made with")
            return self._key

    def _known_hosts(self) -> KnownHosts | None:
        """The cluster's known_hosts (None with ``host_keys="ignore"``)."""
        if self.host_keys == "ignore":
            return None
        with self._lock:
            if self._known is None:
                from cloudorm.compute.ssh import KnownHosts

                self._known = KnownHosts(self.state_path / "known_hosts")
            return self._known

    def _forget_host(self, record: dict[str, Any]) -> None:
        """Drop a destroyed node's host key (its address may be given to someone else's node next)."""
        if record.get("address") and self.host_keys != "ignore" and self._service.shell(record) is None:
            known = self._known_hosts()
            if known is not None:
                known.forget(record["address"])

    def _open_shell(self, record: dict[str, Any]) -> Shell:
        """The shell for one node: the provider's own (local nodes), else SSH to its address."""
        shell: Shell | None = self._service.shell(record)
        if shell is not None:
            return shell
        if not record.get("address"):
            raise CloudError(f"node {record.get('name')!r} has no address yet (status {record.get('status')!r})")
        from cloudorm.compute.ssh import SSHShell

        # an explicit user wins, then ssh_config's User for the address, then the image's default login
        default_user = self._image_user(record) if self.user is None else self.user
        return SSHShell(record["address"], user=self.user, default_user=default_user,
                        key=self.key, known_hosts=self._known_hosts(), ssh_config=self.ssh_config)

    def _image_user(self, record: dict[str, Any]) -> str:
        """The default login of the node's image (``InvalidInput`` asking for ``user=`` when it cannot be told)."""
        image = record.get("image") or self.image or self._service.default_image
        try:
            return self._service.default_user(image)
        except NotFound as e:
            raise InvalidInput("user", f"the login user of node {record.get('name')!r} cannot be told: its image "
                                       f"{image!r} is gone ({e.message}); give the cluster user=") from None

    def _adopt(self, records: Iterable[dict[str, Any]]) -> list[Node]:
        """Node objects for ``records`` (an existing one is kept, with its connection, and updated)."""
        known = {n.id: n for n in self._nodes or []}
        nodes = []
        for record in records:
            node = known.get(str(record["id"]))
            if node is None:
                node = Node(self, record)
            else:
                if node.address != record.get("address"):
                    node.close()
                node._record = dict(record)
            nodes.append(node)
        return _in_order(nodes)

    def _load(self) -> list[Node]:
        self._nodes = self._adopt(self._service.list_nodes(self.name))
        return self._nodes

    # ------------------------------------------------------------------------------------------------ nodes

    @property
    def nodes(self) -> list[Node]:
        """The nodes, sorted by number (loaded from the provider on first use)."""
        if self._nodes is None:
            self._load()
        assert self._nodes is not None
        return list(self._nodes)

    def __len__(self) -> int:
        return len(self.nodes)

    def __iter__(self) -> Iterator[Node]:
        return iter(self.nodes)

    def __getitem__(self, ref: Node | str | int) -> Node:
        return self._select([ref], "node")[0]

    @property
    def exists(self) -> bool:
        """True when the provider has nodes tagged for this cluster."""
        return bool(self._service.list_nodes(self.name))

    def _select(self, refs: Any, field: str = "nodes") -> list[Node]:
        """Nodes from Node objects, names, ids or indexes (None: every node)."""
        nodes = self.nodes
        if refs is None:
            return nodes
        if isinstance(refs, (Node, str, int)):
            refs = [refs]
        if not isinstance(refs, Iterable):
            raise InvalidInput(field, f"must be nodes, names or indexes, not {type(refs).__name__}")
        out = []
        for ref in refs:
            if isinstance(ref, Node):
                found = next((n for n in nodes if n.id == ref.id), None)
            elif isinstance(ref, str):
                found = next((n for n in nodes if ref in (n.name, n.id)), None)
            elif isinstance(ref, int) and not isinstance(ref, bool):
                found = nodes[ref] if -len(nodes) <= ref < len(nodes) else None
            else:
                raise InvalidInput(field, f"a node is given as a Node, a name or an index, not {ref!r}")
            if found is None:
                raise InvalidInput(field, f"cluster {self.name!r} has no node {ref!r} (nodes: "
                                          f"{', '.join(n.name for n in nodes) or 'none'})")
            if found not in out:
                out.append(found)
        return out

    def _reachable(self, nodes: list[Node]) -> list[Node]:
        """``nodes``, once it is sure they can be logged in to: a node reached over SSH needs the login key
        (``InvalidInput("ssh_key")`` at once, not once per node)."""
        if any(self._service.shell(n._record) is None for n in nodes):
            self._login_key(generate=False)
        return nodes

    def _each(self, nodes: Sequence[Node], work: Callable[[Node], T],
              bar: Progress | None = None) -> tuple[dict[str, T], dict[str, BaseException]]:
        """``work(node)`` on every node, at most ``max_parallel`` at a time: (results, errors) by node name."""
        results: dict[str, T] = {}
        errors: dict[str, BaseException] = {}
        if not nodes:
            return results, errors
        pool = ThreadPoolExecutor(max_workers=min(self.max_parallel, len(nodes)),
                                  thread_name_prefix=f"cloudorm-{self.name}")
        interrupted = True
        try:
            futures = {pool.submit(work, node): node for node in nodes}
            for future in as_completed(futures):
                node = futures[future]
                error = future.exception()
                if error is None:
                    results[node.name] = future.result()
                else:
                    errors[node.name] = error
                if bar is not None:
                    bar(1)
            interrupted = False
        finally:
            # on Ctrl-C: return at once (work not started is cancelled; running work ends at its own timeout)
            pool.shutdown(wait=not interrupted, cancel_futures=True)
        return results, errors

    def _raise(self, what: str, errors: dict[str, BaseException], results: Any = None) -> None:
        """``ClusterError`` naming each node of ``errors`` and why, carrying the other nodes' ``results``."""
        if errors:
            detail = "; ".join(f"{name}: {_describe(e)}" for name, e in sorted(errors.items()))
            raise ClusterError(f"cluster {self.name!r}: {what} failed on {len(errors)} node(s): {detail}",
                               causes=errors, results=results)

    def run(self, cmd: str, nodes: Any = None, timeout: float | None = None, check: bool = False,
            environment: dict[str, str] | None = None) -> CommandResults:
        """Run ``cmd`` on every node (or ``nodes``: Node objects, names or indexes) in parallel; one result per node
        in node order (a non-zero exit is a result, not an error). ``check=True``: ``CommandFailed`` carrying every
        failure. A node where the command could not run at all (unreachable, host key refused) has no result:
        ``ClusterError`` whose ``causes`` say why per node and whose ``results`` are the other nodes' results
        (raised before ``check``)."""
        cmd = check_command(cmd)
        check = check_flag("check", check)
        seconds = check_timeout(timeout)
        env = check_environment(environment)
        targets = self._reachable(self._select(nodes))
        results, errors = self._each(targets, lambda node: node.run(cmd, seconds, environment=env))
        out = CommandResults(results[n.name] for n in targets if n.name in results)
        self._raise(f"running {cmd!r}", errors, out)
        return out.check() if check else out

    def put_file(self, path: str | os.PathLike[str], remote: str | None = None, nodes: Any = None) -> str:
        """Copy a local file to every node (or ``nodes``) in parallel; the remote path (default: the file's name
        in the login home)."""
        local = check_local_file(path, "path")
        target = local.name if remote is None else check_remote(remote)
        targets = self._reachable(self._select(nodes))
        _, errors = self._each(targets, lambda node: node.put(local, target))
        self._raise(f"copying {str(local)!r}", errors)
        return target

    def get_file(self, remote: str, local_dir: str | os.PathLike[str], nodes: Any = None) -> dict[str, Path]:
        """Copy ``remote`` from every node (or ``nodes``) in parallel to ``local_dir/<node name>/<file name>``;
        the local paths by node name (a node that failed: ``ClusterError``, the others' paths as its ``results``)."""
        remote = check_remote(remote)
        if not PurePosixPath(remote).name or remote.endswith("/"):
            raise InvalidInput("remote", f"{remote!r} does not name a file")
        if not isinstance(local_dir, (str, os.PathLike)):
            raise InvalidInput("local_dir", f"must be a directory path, not {type(local_dir).__name__}")
        base = Path(local_dir).expanduser()
        targets = self._reachable(self._select(nodes))

        def fetch(node: Node) -> Path:
            directory = base / node.name
            directory.mkdir(parents=True, exist_ok=True)
            return node.get(remote, directory)

        paths, errors = self._each(targets, fetch)
        self._raise(f"fetching {remote!r}", errors, paths)
        return {n.name: paths[n.name] for n in targets}

    # -------------------------------------------------------------------------------------------- lifecycle

    def refresh(self) -> Cluster:
        """Re-attach: the nodes from the provider, the key and known hosts from the state directory
        (``NotFound`` when no node carries the cluster's tag)."""
        with self._lock:
            self._key = self._given_key
            self._known = None
        if not self._load():
            raise NotFound(f"cluster {self.name!r} has no nodes", provider=self.session.provider)
        return self

    def save(self, keep_on_failure: bool = False) -> Cluster:
        """Create the nodes missing to reach ``size``, wait until they answer and bootstrap them in parallel; a
        complete cluster is left as it is (and a larger one too: ``remove_node`` shrinks it). On failure the nodes,
        key and firewall this call made are destroyed (unless ``keep_on_failure``) and ``ClusterError`` gives the
        cause per node. Returns self.

        Where the provider takes host keys through cloud-init (``host_keys="strict"``), the nodes one call creates
        share a host key generated here and pinned for each of their addresses before the first connection."""
        keep_on_failure = check_flag("keep_on_failure", keep_on_failure)
        if self.size is None:
            raise InvalidInput("size", f"save() makes sure {self.name!r} has size nodes: give size=")
        check_node_count("size", self.size, self.max_nodes)
        self._check_region()
        existing = self._load()
        missing = self.size - len(existing)
        if missing > 0:
            self._grow(missing, keep_on_failure, "size")
        return self

    def add_node(self, n: int = 1, keep_on_failure: bool = False) -> list[Node]:
        """Create ``n`` more nodes and bootstrap them exactly like ``save()`` does; the new nodes. The cluster may
        not grow above ``max_nodes`` (``InvalidInput("n")`` before anything is made)."""
        n = check_node_count("n", n, self.max_nodes)
        keep_on_failure = check_flag("keep_on_failure", keep_on_failure)
        self._check_region()
        have = len(self.nodes)  # loads the current nodes, for the names and the size of the new ones
        if have + n > self.max_nodes:
            raise InvalidInput("n", f"cluster {self.name!r} has {have} nodes: {n} more would be more than its "
                                    f"max_nodes={self.max_nodes}; give Cluster(max_nodes=...) to allow more")
        return self._grow(n, keep_on_failure, "n")

    def _check_region(self) -> None:
        """The provider's check of the region new nodes go to (its form; EC2: the session's), before any request."""
        if self.region is not None:
            self._service.check_region(self.region)

    def _check_quota(self, count: int, field: str) -> None:
        """``InvalidInput(field)`` when the account may not have ``count`` more nodes (DigitalOcean's droplet limit),
        before anything is made; a read at most."""
        free = self._service.node_quota()
        if free is not None and count > free:
            raise InvalidInput(field, f"cluster {self.name!r} needs {count} new node(s) but the "
                                      f"{self.session.provider} account may have only {max(free, 0)} more (its limit "
                                      "on servers at once): ask the provider to raise it, or make fewer",
                               provider=self.session.provider)

    def _node_size(self) -> str:
        if self.node_size is not None:
            return self.node_size
        if self.price_per_node is not None:
            return size_for_price(self._service.list_sizes(), self.price_per_node, self.region)
        sizes = [n.size for n in self._nodes or [] if n.size]
        return sizes[0] if sizes else self._service.default_size

    def _wait_active(self, ids: Sequence[str], deadline: float) -> list[dict[str, Any]]:
        """Poll ``list_nodes`` until every node of ``ids`` is active with an address; their records."""
        last: dict[str, dict[str, Any]] = {}
        seconds = deadline - time.monotonic()

        def ready() -> list[dict[str, Any]] | None:
            last.clear()
            last.update({str(r["id"]): r for r in self._service.list_nodes(self.name)})
            # (a node not listed yet counts as pending: listings lag behind creation on EC2, and may on others)
            if all(i in last and last[i].get("status") == "active" and last[i].get("address") for i in ids):
                return [last[i] for i in ids]
            return None

        try:
            return wait_until(ready, timeout=max(0.0, seconds),
                              what=f"nodes of cluster {self.name!r} becoming active", interval=POLL_INTERVAL,
                              max_interval=POLL_MAX_INTERVAL)
        except Timeout:
            waiting = []
            for i in ids:
                r = last.get(i)
                if r is None:
                    waiting.append(f"{i} (not listed)")
                elif not (r.get("status") == "active" and r.get("address")):
                    waiting.append(f"{r.get('name')} ({r.get('status')})")
            raise Timeout(f"nodes of cluster {self.name!r} not active with an address after {seconds:.0f} s: "
                          f"{', '.join(waiting)}", provider=self.session.provider) from None

    def _bar(self, total: int, what: str) -> contextlib.AbstractContextManager[Progress | None]:
        """A tqdm bar counting nodes (``progress=None``: only when stderr is a terminal)."""
        enabled = sys.stderr.isatty() if self.progress is None else self.progress
        return progress_bar(enabled, total, f"{self.name}: {what}", unit="node")

    def _grow(self, count: int, keep_on_failure: bool, field: str) -> list[Node]:
        """Create ``count`` nodes, wait for them and bootstrap them; clean up what this call made on failure.

        One host key per ``create_nodes`` call: DigitalOcean's multi-create takes one user data for the whole
        batch, so the new nodes share the host key generated here (pinned for each new node's address)."""
        svc = self._service
        deadline = time.monotonic() + self.boot_timeout
        before = {n.id for n in self._nodes or []}
        names = next_names(self.name, [n.name for n in self._nodes or []], count)
        made: dict[str, str] = {}
        created_ids: list[str] = []
        causes: dict[str, BaseException] = {}
        new: list[Node] = []
        size = self._node_size()  # (a price that fits no size is InvalidInput, before anything is made)
        image = self.image or next((n.image for n in self._nodes or [] if n.image), None) or svc.default_image
        svc.default_user(image)  # a bad image fails here (InvalidInput, NotFound), before anything is registered
        self._check_quota(count, field)
        login = self._login_key(generate=not self._nodes)  # (nodes made elsewhere: their key, not a new one)
        try:
            key = svc.import_key(f"cloudorm-{self.name}", login.public_key)
            if key.get("created"):
                made["key"] = str(key["id"])
            if key.get("created") or key.get("name") == f"cloudorm-{self.name}":  # ours: delete() removes it
                self._set_state(key_id=str(key["id"]))
            firewall = svc.find_firewall(self.name)
            if firewall is None:
                # none before this call: one made now goes on failure, also one the provider makes itself in
                # create_nodes (EC2's cluster group, open on port 22, when no allow_ssh_from is given)
                made["firewall"] = ""
                if self.allow_ssh_from is not None:
                    firewall = made["firewall"] = svc.create_firewall(self.name, self.allow_ssh_from)
            host_key = user_data = None
            if self.host_keys == "strict" and svc.capabilities.accepts_host_keys:
                from cloudorm.compute.ssh import cloud_config

                host_key = KeyPair.generate(comment=f"cloudorm-{self.name}-host")
                user_data = cloud_config(host_key)
            spec = {"size": size, "image": image, "region": self.region, "key_id": str(key["id"]),
                    "user_data": user_data, "firewall_id": firewall, "monitoring": self.monitoring}
            created_ids = [str(r["id"]) for r in svc.create_nodes(self.name, names, spec)]
            records = self._wait_active(created_ids, deadline)
            for record in records:
                if svc.shell(record) is None and (known := self._known_hosts()) is not None:
                    if host_key is not None:
                        known.pin(record["address"], host_key.public_key)
                    else:  # a new node at an address an old one had: trust its key on first use, not the old one
                        known.forget(record["address"])
            new = self._adopt(records)
            self._nodes = _in_order([*(self._nodes or []), *new])
            with self._bar(len(new), "bootstrap") as bar:
                _, causes = self._each(new, lambda node: self._bootstrap(node, deadline), bar)
        except Exception as e:
            causes = dict.fromkeys(names, e)
        except BaseException:  # Ctrl-C (KeyboardInterrupt), SystemExit: what this call made goes all the same
            if not keep_on_failure:
                self._undo(created_ids, before, made)
            raise
        if causes:
            cleanup = "" if keep_on_failure else self._undo(created_ids, before, made)
            kept = "kept (keep_on_failure=True)" if keep_on_failure else "destroyed"
            detail = "; ".join(f"{name}: {_describe(e)}" for name, e in sorted(causes.items()))
            raise ClusterError(f"cluster {self.name!r}: {len(causes)} of {len(names)} new node(s) failed: {detail}; "
                               f"the nodes this call created were {kept}{cleanup}", causes=causes)
        return new

    def _bootstrap(self, node: Node, deadline: float) -> None:
        node.wait_ready(max(1.0, deadline - time.monotonic()))
        # nodes the provider runs itself (local working directories) share this machine: nothing is installed there
        self.bootstrap.apply(node, self.name, install=self._service.shell(node._record) is None, deadline=deadline)

    def _undo(self, created_ids: Sequence[str], before: set[str], made: dict[str, str]) -> str:
        """Destroy the nodes, key and firewall a failed call made; what could not be cleaned up, as text."""
        problems = []
        ids = set(created_ids)
        records: list[dict[str, Any]] = []
        try:
            records = self._service.list_nodes(self.name)
            ids |= {str(r["id"]) for r in records if str(r["id"]) not in before}
        except Exception as e:
            problems.append(f"listing nodes: {_describe(e)}")
        gone = [n for n in self._nodes or [] if n.id in ids]
        try:
            if ids:
                self._service.delete_nodes(sorted(ids))
        except Exception as e:
            problems.append(f"deleting nodes {sorted(ids)}: {_describe(e)}")
        for node in gone:
            node.close()
            self._forget_host(node._record)
        self._nodes = [n for n in self._nodes or [] if n.id not in ids]
        if "firewall" in made:
            try:
                firewall = made["firewall"] or self._service.find_firewall(self.name)
                if firewall:
                    self._service.delete_firewall(firewall)
            except Exception as e:
                problems.append(f"deleting firewall {made['firewall'] or 'cloudorm-' + self.name}: {_describe(e)}")
        if "key" in made:
            try:
                self._service.delete_key(made["key"])
                self._set_state(key_id=None)
            except Exception as e:
                problems.append(f"deleting key {made['key']}: {_describe(e)}")
        if not before and not self._nodes and not problems and ("key" in made or self._given_key is not None):
            self._forget_state()  # a cluster that never came to be leaves no key or known hosts behind
        return f" (cleanup incomplete: {'; '.join(problems)})" if problems else ""

    def _forget_state(self) -> None:
        """Remove the cluster's files from the state directory (its key, known hosts and registered key id)."""
        directory = self.state_path
        for name in ("known_hosts", "id_ed25519", "id_ed25519.pub", "cluster.json"):
            (directory / name).unlink(missing_ok=True)
        with contextlib.suppress(OSError):
            directory.rmdir()
        with self._lock:
            self._key = self._given_key
            self._known = None

    def remove_node(self, node: Node | str) -> None:
        """Destroy one node (a Node, its name or its id) and forget its host key."""
        found = self._select([node], "node")[0]
        self._service.delete_nodes([found.id])
        found.close()
        self._forget_host(found._record)
        self._nodes = [n for n in self._nodes or [] if n.id != found.id]

    def delete(self, missing_ok: bool = False) -> None:
        """Destroy the nodes, the firewall and the key this cluster registered, and its files in the state
        directory (``NotFound`` when there was nothing, unless ``missing_ok``)."""
        missing_ok = check_flag("missing_ok", missing_ok)
        svc = self._service
        records = svc.list_nodes(self.name)  # (their addresses: the host keys to forget)
        if records:
            svc.delete_cluster_nodes(self.name)
        for node in self._nodes or []:
            node.close()
        for record in records:
            self._forget_host(record)
        firewall = svc.find_firewall(self.name)
        if firewall is not None:
            svc.delete_firewall(firewall)
        key_id = self._state().get("key_id")
        if not key_id:  # made on another machine: the name says cloudorm registered it for this cluster
            key_id = (svc.find_key(f"cloudorm-{self.name}") or {}).get("id")
        if key_id:
            with contextlib.suppress(NotFound):
                svc.delete_key(key_id)
        self._nodes = []
        self._forget_state()
        if not (records or firewall or key_id or missing_ok):
            raise NotFound(f"cluster {self.name!r} does not exist", provider=self.session.provider)


__all__ = ["POLL_INTERVAL", "Cluster", "CommandResult", "CommandResults", "Node"]
