"""The Node entity: one server of a cluster (a droplet, an instance or a local working directory). A new node of a
cluster (``cluster.Node()``) is created, booted and bootstrapped by ``save()``; ``size`` is the one setting a saved
node's ``save()`` sends (a resize, where the provider has one)."""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, Literal, overload

import attrs

from cloudorm.checks import check_flag, check_seconds, check_utf8
from cloudorm.compute.bootstrap import with_environment
from cloudorm.compute.jobs import Job, Jobs, check_job_id, find, listed, new_id
from cloudorm.compute.jobs import start as start_job
from cloudorm.compute.names import MAX_NODE_NUMBER, node_number
from cloudorm.compute.shell import CommandResult, Shell
from cloudorm.core import UNSET, Plan, Record, Resource, call, field, resource, run, stored
from cloudorm.errors import AlreadyExists, InvalidInput, NotFound

if TYPE_CHECKING:
    from typing_extensions import Self

    from cloudorm.compute.cluster import Cluster
    from cloudorm.compute.containers import NodeContainers
    from cloudorm.compute.hardening import Hardening, HardeningReport

ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def check_command(cmd: Any) -> str:
    """A non-empty shell command string."""
    if not isinstance(cmd, str) or not cmd.strip():
        raise InvalidInput("cmd", f"must be a non-empty shell command string, not {cmd!r}")
    return check_utf8("cmd", cmd)


def check_timeout(timeout: Any) -> float | None:
    """None or a positive number of seconds (``cloudorm.checks.check_seconds``)."""
    return None if timeout is None else check_seconds("timeout", timeout)


def check_environment(environment: Any) -> dict[str, str] | None:
    """None or a mapping of variable names to string values."""
    if environment is None:
        return None
    if not isinstance(environment, Mapping):
        raise InvalidInput("environment", f"must be a mapping of names to strings, not {type(environment).__name__}")
    for key, value in environment.items():
        if not isinstance(key, str) or not ENV_NAME.fullmatch(key):
            raise InvalidInput("environment", f"{key!r} is not a variable name")
        if not isinstance(value, str) or "\0" in value:
            raise InvalidInput("environment", f"the value of {key} must be a string (without NUL)")
        check_utf8(f"environment[{key!r}]", value, secret=True)
    return dict(environment)


def check_remote(remote: Any, field: str = "remote") -> str:
    """A non-empty remote path."""
    if not isinstance(remote, (str, os.PathLike)) or not str(remote) or "\0" in str(remote):
        raise InvalidInput(field, f"must be a path on the node, not {remote!r}")
    return check_utf8(field, str(remote))


def check_local_file(local: Any, field: str = "local") -> Path:
    """An existing local file."""
    if not isinstance(local, (str, os.PathLike)):
        raise InvalidInput(field, f"must be a path, not {type(local).__name__}")
    path = Path(local).expanduser()
    if not path.is_file():
        raise InvalidInput(field, f"{str(path)!r} is not a file")
    return path


def fetched_to(remote: str, local: Any) -> Path:
    """Where a file fetched from ``remote`` goes: ``local`` (a file path, or a directory to put it in under its
    name; None: the current directory); ``InvalidInput`` when ``remote`` names no file."""
    name = PurePosixPath(remote).name
    if not name or remote.endswith("/"):
        raise InvalidInput("remote", f"{remote!r} does not name a file")
    if local is not None and not isinstance(local, (str, os.PathLike)):
        raise InvalidInput("local", f"must be a path, not {type(local).__name__}")
    target = Path.cwd() / name if local is None else Path(local).expanduser()
    return target / name if target.is_dir() else target


def _check_size(size: Any) -> Any:
    if size is None:
        return UNSET  # (not given: a new node gets the cluster's, a saved one keeps its own)
    if not isinstance(size, str) or not size.strip():
        raise InvalidInput("size", f"must be a size slug or instance type, not {size!r}")
    return check_utf8("size", size)


def _check_name(name: Any) -> Any:
    if name is None:
        return UNSET  # (not given: the smallest free number when saved)
    if not isinstance(name, str):
        raise InvalidInput("name", f"must be a node name such as 'web-3', not {name!r}")
    return name


@resource
class Node(Resource):
    """One server of a cluster: ``id``, ``name``, ``address``, ``status``, ``size``; ``run``, ``put``, ``get``.

    Commands run in the login user's home with the node's environment file sourced (the cluster's venv first on
    ``PATH``); relative remote paths are relative to that home. ``cluster.Node()`` is a new one, made by ``save()``."""

    kind = "node"
    identity = ("cluster_name", "name")

    cluster: Cluster = attrs.field(repr=False)
    """The cluster the node belongs to."""
    name: str = field(_check_name, default=None, fixed=True)
    """``{cluster}-{n}`` (None on a new node given none: it gets the smallest free number when saved)."""
    size: str | None = field(_check_size, default=None)
    """The size slug or instance type (a new node without one: the cluster's; changing it resizes on save)."""

    id: str | None = stored(convert=str)
    """The provider's id of the node (None until it is created)."""
    address: str | None = stored()
    """The public IPv4 address SSH uses (``127.0.0.1`` for local nodes)."""
    private_address: str | None = stored()
    """The address inside the provider's network, if any."""
    status: str | None = stored()
    """The provider's status: ``pending``, ``active``, ``off`` or ``deleted``, as last loaded (None while new)."""
    region: str | None = stored()
    """The region the node runs in."""
    image: str | None = stored()
    """The image the node was made from."""
    created: datetime | None = stored()
    """When the node was created."""

    bootstrap_log: list[CommandResult] = attrs.field(factory=list, init=False)
    """The result of every command the last bootstrap of this node ran, in order."""
    _shell: Shell | None = attrs.field(default=None, init=False)
    _lock: threading.Lock = attrs.field(factory=threading.Lock, init=False)
    _keep_on_failure: bool = attrs.field(default=False, init=False)
    _containers: NodeContainers | None = attrs.field(default=None, init=False)

    def __attrs_post_init__(self) -> None:
        name = self.__dict__.get("name")
        if isinstance(name, str) and not 1 <= (node_number(self.cluster.name, name) or 0) <= MAX_NODE_NUMBER:
            raise InvalidInput("name", f"a node of cluster {self.cluster.name!r} is named "
                                       f"{self.cluster.name}-<n> (n from 1 to {MAX_NODE_NUMBER}), not {name!r}")

    def __repr__(self) -> str:
        return f"Node({self.name!r}, id={self.id!r}, address={self.address!r}, status={self.status!r})"

    @property
    def cluster_name(self) -> str:
        """The name of the node's cluster."""
        return self.cluster.name

    @property
    def number(self) -> int | None:
        """``n`` of ``{cluster}-{n}`` (None for a node named otherwise, or not yet named)."""
        return None if self.name is None else node_number(self.cluster.name, self.name)

    # ----------------------------------------------------------------------------------------------- shell

    @property
    def shell(self) -> Shell:
        """The connection to this node (opened on first use)."""
        record = self._made()
        with self._lock:
            if self._shell is None:
                self._shell = self.cluster._transport(record).open(record)
            return self._shell

    @property
    def login_user(self) -> str | None:
        """The user cloudorm logs in as over SSH (a hardened node: its admin user); None for nodes the provider
        runs itself. Opens no connection."""
        user = getattr(self.shell, "user", None)
        return user if isinstance(user, str) else None

    def harden(self, hardening: Hardening | None = None) -> HardeningReport:
        """Apply ``hardening`` (None: the cluster's ``hardening``) to this node; what it did (nothing the second
        time). From then on cloudorm logs in as the admin user. See ``cloudorm.Hardening``."""
        from cloudorm.compute.hardening_apply import harden_node
        from cloudorm.compute.settings import check_hardening

        chosen = check_hardening(hardening) or self.cluster.hardening
        if chosen is None:
            raise InvalidInput("hardening", "give node.harden(cloudorm.Hardening(...)) or the cluster hardening=")
        return harden_node(self, chosen, rebootstrap=True)

    def _made(self) -> Record:
        """The node's record; ``NotFound`` (before any request) for a node not made yet, or deleted."""
        if self._co_record is None:
            raise NotFound(f"node {self.name!r} of cluster {self.cluster.name!r} does not exist (save() makes it)",
                           provider=self.session.provider)
        return self._co_record

    def close(self) -> None:
        """Close the connection (the next command opens a new one)."""
        with self._lock:
            shell, self._shell = self._shell, None
        if self._containers is not None:
            self._containers.close()
        if shell is not None:
            shell.close()

    @property
    def containers(self) -> NodeContainers:
        """The node's containers, on its Docker engine: ``node.containers.run(image, cmd)``, ``.start(name, image)``
        (``cloudorm.compute.containers``)."""
        from cloudorm.compute.containers import NodeContainers

        with self._lock:
            if self._containers is None:
                self._containers = NodeContainers(self)
            return self._containers

    def wait_ready(self, timeout: float) -> None:
        """Wait until the node answers (SSH: connect, retrying while it boots; ``Timeout`` after ``timeout`` s)."""
        check_seconds("timeout", timeout)
        wait = getattr(self.shell, "wait_ready", None)
        if wait is not None:
            wait(timeout)

    @overload
    def run(self, cmd: str, timeout: float | None = None, check: bool = False,
            environment: Mapping[str, str] | None = None, *, wait: Literal[True] = True,
            job_id: None = None) -> CommandResult: ...

    @overload
    def run(self, cmd: str, timeout: float | None = None, check: bool = False,
            environment: Mapping[str, str] | None = None, *, wait: Literal[False],
            job_id: str | None = None) -> Job: ...

    @overload
    def run(self, cmd: str, timeout: float | None = None, check: bool = False,
            environment: Mapping[str, str] | None = None, *, wait: bool,
            job_id: str | None = None) -> CommandResult | Job: ...

    def run(self, cmd: str, timeout: float | None = None, check: bool = False,
            environment: Mapping[str, str] | None = None, *, wait: bool = True,
            job_id: str | None = None) -> CommandResult | Job:
        """Run ``cmd`` in a POSIX shell on the node; its result (``check=True``: ``CommandFailed`` unless it exited
        0). ``timeout`` stops it after that many seconds (exit code None).

        ``wait=False`` starts it detached as a ``Job`` (``cloudorm.compute.jobs``) and returns at once: poll, wait
        for, read the logs of and stop it, from this or any other process (``node.jobs()``). ``job_id`` (default: a
        new one) names it: a start re-sent with the same id finds the job, never starts a second one."""
        cmd = check_command(cmd)
        check = check_flag("check", check)
        seconds = check_timeout(timeout)
        env = check_environment(environment)
        if not check_flag("wait", wait):
            return start_job(self, cmd, seconds, check, env, new_id() if job_id is None else check_job_id(job_id))
        if job_id is not None:
            raise InvalidInput("job_id", "names a job: give it with wait=False")
        start = time.monotonic()
        code, out, err = self.shell.run(with_environment(cmd), seconds, env)
        result = CommandResult(self, cmd, code, out, err, time.monotonic() - start)
        return result.check() if check else result

    def jobs(self) -> Jobs:
        """The node's jobs (``run(..., wait=False)``), running and ended, oldest first; from any process."""
        return Jobs(listed(self))

    def job(self, job_id: str) -> Job:
        """The node's job ``job_id`` (``NotFound`` if it has none)."""
        return find(self, job_id)

    def forget_jobs(self) -> Jobs:
        """Remove the files of the node's ended jobs; the jobs forgotten."""
        return Jobs(listed(self, finished_only=True))

    def put(self, local: str | os.PathLike[str], remote: str | None = None) -> str:
        """Copy a local file to the node (``remote`` defaults to its name in the home); the remote path."""
        path = check_local_file(local)
        target = path.name if remote is None else check_remote(remote)
        self.shell.put(path, target)
        return target

    def get(self, remote: str, local: str | os.PathLike[str] | None = None) -> Path:
        """Copy a file from the node to ``local`` (a file path, or a directory to put it in; default: the current
        directory under its name); the local path."""
        remote = check_remote(remote)
        target = fetched_to(remote, local)
        self.shell.get(remote, target)
        return target

    def forward(self, port: int, host: str = "127.0.0.1") -> tuple[str, int]:
        """Like ``ssh -L``: a TCP address on this machine (127.0.0.1, a free port) whose connections reach ``port`` on
        ``host`` as the node sees it (default: the node itself), over its verified SSH connection; the same address
        again for the same target, until ``close()``. A local node is this machine: ``(host, port)`` itself."""
        from cloudorm.compute.ssh.forward import check_target

        target = check_target(host, port)
        return self.shell.forward(*target)

    # ------------------------------------------------------------------------------------------- lifecycle

    def _co_check(self) -> None:
        if self._co_record is None:
            self.cluster._check_hardening()  # (a new node of a hardened local cluster: before any request)

    def _co_take(self, record: Record, *, partial: bool = False, keep_local: bool = False) -> None:
        if self._co_record is not None and record.get("address") != self.address:
            self.close()  # a new address: a new connection
        super()._co_take(record, partial=partial, keep_local=keep_local)

    def _co_fetch(self) -> Plan[Record]:
        found: Record | None = None
        if self.id is not None:
            try:
                found = yield from call("compute", "get_node", self.id)
            except NotFound:
                found = None
        elif self.name is not None:
            listed = yield from call("compute", "list_nodes", self.cluster.name)
            found = next((r for r in listed if r.get("name") == self.name), None)
        if found is None or found.get("status") == "deleted":
            raise NotFound(f"node {self.name!r} of cluster {self.cluster.name!r} does not exist",
                           provider=self.session.provider)
        return found

    def _co_create(self) -> Plan[Record]:
        listed = yield from call("compute", "list_nodes", self.cluster.name)
        self.cluster._adopt(listed)  # (the cluster's nodes now: the names taken, the key and size to use)
        if self.name is not None and any(r.get("name") == self.name for r in listed):
            raise AlreadyExists(f"cluster {self.cluster.name!r} has a node {self.name!r}",
                                provider=self.session.provider)
        self.cluster._provisioner.add([self], self._keep_on_failure, "name")
        return dict(self._co_record or {})

    def _co_update(self, changed: set[str]) -> Plan[Record | None]:
        record: Record = yield from call("compute", "resize_node", self.id, self.size)
        return record

    def _co_remove(self, **options: Any) -> Plan[None]:
        record = yield from self._co_fetch()
        self.cluster._dask.leaving(self)  # (its Dask worker retires first; the scheduler's node is refused)
        yield from call("compute", "delete_nodes", [str(record["id"])])
        self.cluster._dropped(self, dict(record))
        self.cluster._peers_changed()

    def save(self, *, exists_ok: bool = True, keep_on_failure: bool = False) -> Self:
        """A new node: create it in its cluster, wait until it answers and bootstrap it like the cluster's other
        nodes (on failure it is destroyed unless ``keep_on_failure``: ``ClusterError``); a saved one: send a changed
        ``size``. A new node whose name the cluster has already is adopted (``exists_ok=False``:
        ``AlreadyExists``)."""
        self._keep_on_failure = check_flag("keep_on_failure", keep_on_failure)
        return run(self.session, self._co_save(exists_ok))

    def reboot(self, wait: bool = True, timeout: float | None = None) -> Node:
        """Reboot the node through the provider; with ``wait``, return once the provider's action completed and the
        node is active and answers again (within ``timeout`` s, default the cluster's ``boot_timeout``).

        Where the provider has no action to follow (EC2, local), SSH is tried again as soon as the node reports
        active: a provider that reports it before the node went down may let the old session answer once more."""
        from cloudorm.compute.power import power

        return power(self, "reboot", wait, timeout)

    def power_off(self, wait: bool = True, timeout: float | None = None) -> Node:
        """Power the node off (DigitalOcean's hard power-off, EC2's stop; a local node's commands are refused and
        its processes stopped); with ``wait``, return once it is ``off``. A node already off is left as it is."""
        from cloudorm.compute.power import power

        return power(self, "power_off", wait, timeout)

    def power_on(self, wait: bool = True, timeout: float | None = None) -> Node:
        """Power the node on; with ``wait``, return once it is active and answers again (within ``timeout`` s,
        default the cluster's ``boot_timeout``). A node already on is left as it is."""
        from cloudorm.compute.power import power

        return power(self, "power_on", wait, timeout)

    def running_cost(self, until: datetime | None = None, prices: Mapping[str, Any] | None = None) -> Decimal:
        """What the provider has billed for this node from its creation until ``until`` (default now), in USD, by
        its size's price (``prices``: hourly USD by size, for a provider without prices) — see
        ``cloudorm.compute.costs``."""
        from cloudorm.compute.costs import check_prices, check_until, running_cost

        moment, given = check_until(until), check_prices(prices)
        record = self.session.compute.get_node(str(self._made()["id"]))
        self._co_take(record)
        return running_cost(self.session.compute, [record], moment, given, self.cluster.price_per_node)

    def _unmade(self, values: dict[str, Any]) -> None:
        """Back to a new node holding ``values``: its creation was undone."""
        self.close()
        self._co_forget(values)
        self._co_deleted = False
