"""Dask on a cluster's nodes: the scheduler on its first node and a worker on every node, each a cloudorm job
(``run(..., wait=False)``) with a fixed id, so any process finds them again and a start re-sent after a lost answer
never starts a second one. Nodes get ``distributed`` at this client's version; the client reaches the scheduler and
its dashboard through SSH port forwarding (``node.forward``) unless the scheduler is exposed to given CIDRs.

A scheduler or worker job (ids ``dask-scheduler``, ``dask-worker``) lives in ``~/.cloudorm/jobs/<id>/`` on its node
like every job; the scheduler writes its address and dashboard port to ``scheduler.json`` there, so a file read
belongs to the scheduler that job started, never to an earlier one.
"""

from __future__ import annotations

import json
import logging
import shlex
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cloudorm.compute.bootstrap import HOME_DIR
from cloudorm.compute.dask_client import (
    ClusterHandle,
    check_installed,
    check_versions,
    close,
    connect,
    retire,
    wait_for_workers,
    worker_addresses,
)
from cloudorm.compute.dask_settings import (
    SCHEDULER_PORT,
    Dask,
    check_pins,
    pinned,
    python_version,
    wanted_versions,
)
from cloudorm.compute.fanout import causes_text
from cloudorm.compute.jobs import Job, listed, start
from cloudorm.compute.jobscript import ACTIVE, JOBS_DIR
from cloudorm.compute.shell import command, failure_message, quote
from cloudorm.errors import CloudError, ClusterError, CommandFailed, ConflictError, InvalidInput, NotFound, Timeout

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from distributed import Client

    from cloudorm.compute.cluster import Cluster
    from cloudorm.compute.node import Node

SCHEDULER_JOB = "dask-scheduler"
"""The job id of the scheduler (on the cluster's first node)."""

WORKER_JOB = "dask-worker"
"""The job id of a node's worker (``dask worker``: one or more worker processes under a nanny)."""

SCHEDULER_FILE = f"{JOBS_DIR}/{SCHEDULER_JOB}/scheduler.json"
"""Where the scheduler writes its address and dashboard port (relative to its node's home)."""

SETTINGS_VARIABLE = "CLOUDORM_DASK"
"""The environment variable of the scheduler's job that holds the cluster's Dask settings as JSON."""

WORK_DIR = f"{HOME_DIR}/dask"
"""The workers' local directory (spilled data, worker files), relative to the node's home."""

_VERSIONS = """import sys
from importlib import metadata
want = {want!r}
have = "%d.%d" % sys.version_info[:2]
if have != {python!r}:
    print(have)
    sys.exit(3)
def version(name):
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None
sys.exit(0 if all(version(n) == v if v else version(n) for n, v in want.items()) else 1)
"""
"""The node-side check: exit 0 when the venv has ``want`` (name -> version, None: any), 3 (printing its Python)
when its Python is not the client's, 1 when something must be installed."""


def client_site_dirs() -> list[str]:
    """This client's site-packages directories (what a local node's venv may see instead of downloading)."""
    return [p for p in sys.path if Path(p).name in ("site-packages", "dist-packages") and Path(p).is_dir()]


_LINK = f"""import sys, sysconfig
if "%d.%d" % sys.version_info[:2] == {python_version()!r}:
    with open(sysconfig.get_paths()["purelib"] + "/cloudorm-client.pth", "w") as f:
        f.write({{lines!r}})
"""
"""Writes the ``.pth`` file that lets a local node's venv see the client's packages (only on the client's Python)."""


def _install_command(dashboard: bool, local: bool) -> str:
    """The shell text that installs the pinned packages into the node's venv unless they are there already. A
    ``local`` node (this machine) of the client's Python first sees the client's own packages through a ``.pth``
    file in its venv: the versions are the client's, nothing is downloaded (the venv's own packages still win)."""
    check = _VERSIONS.format(want=wanted_versions(dashboard), python=python_version())
    link = ""
    if local:
        lines = "".join(f"import site; site.addsitedir({d!r})\n" for d in client_site_dirs())
        link = (f"python -c {quote(_LINK.format(lines=lines))} && ")
    return (f"{link}python -c {quote(check)}; rc=$?\n"
            "if [ $rc -eq 3 ]; then exit 3; fi\n"
            "if [ $rc -ne 0 ]; then\n"
            "  { python -m pip --version >/dev/null 2>&1 || python -m ensurepip >/dev/null; } &&\n"
            f"  {command('python', '-m', 'pip', 'install', '--disable-pip-version-check', '-q', *pinned(dashboard))}\n"
            "fi")


class DaskEngine:
    """Dask on one cluster (``cluster.dask()``, ``cluster.stop_dask()``, and the hooks ``add_node``,
    ``remove_node`` and ``delete`` call)."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.dashboard_url: str | None = None
        """The dashboard's URL on this machine, once connected (None before)."""
        self._client: Client | None = None
        self._settings: Dask | None = None
        self._scheduler_node: str | None = None
        self._lock = threading.RLock()

    # ------------------------------------------------------------------------------------------- settings

    def settings(self, given: Dask | None = None) -> Dask | None:
        """``given``, else the cluster's ``engine`` (None: whatever runs, else the defaults), after checking the
        cluster's Python and requirements (``InvalidInput`` before any request)."""
        check_installed()
        bootstrap = self.cluster.bootstrap
        if bootstrap.runtime is None:
            raise InvalidInput("runtime", "Dask runs in the cluster's Python venv: give the cluster a runtime "
                                          "(runtime='python3')")
        check_pins(bootstrap.requirements, bootstrap.requirements_file)
        chosen = given or self.cluster.engine
        hardening = self.cluster.hardening
        if chosen is not None and chosen.expose_to and hardening is not None:
            port = chosen.scheduler_port or SCHEDULER_PORT
            if not any(p.protocol == "tcp" and p.first <= port <= p.last for p in hardening.allow_ports) and \
                    not set(chosen.expose_to) <= set(hardening.allow_from):
                raise InvalidInput("expose_to", f"the nodes' hardening firewall drops tcp/{port}: give the cluster "
                                                f"Hardening(allow_ports=[{port}], ...) (or allow_from those CIDRs)")
        return chosen

    # ------------------------------------------------------------------------------------------- the nodes

    def install(self, node: Node, dashboard: bool = False, deadline: float | None = None) -> None:
        """Make sure ``node``'s venv has ``distributed`` (and what Dask pins with it) at this client's versions,
        installing only what differs; ``ConflictError`` when the node's Python is not the client's."""
        timeout = None if deadline is None else max(1.0, deadline - time.monotonic())
        local = not self.cluster._transport(node._co_record or {}).remote
        result = node.run(_install_command(dashboard, local), timeout=timeout)
        if result.exit_code == 3:
            raise ConflictError(
                f"node {node.name} runs Python {result.stdout.strip()} and this client Python {python_version()}: "
                "Dask sends functions pickled by value, which needs one Python version; give the cluster "
                f"runtime='python{python_version()}' or run the client on the nodes' Python")
        if not result.ok:
            raise CommandFailed(f"installing Dask on {node.name} failed: {failure_message([result])}",
                                failures=[result])

    def _jobs(self, nodes: Sequence[Node]) -> tuple[dict[str, dict[str, Job]], dict[str, BaseException]]:
        """Every node's Dask jobs (scheduler, worker) by node name, then job id, read in parallel; and why the
        nodes that could not be asked could not (a node that died: Dask runs on without it)."""
        found, errors = self.cluster._each(nodes, _dask_jobs)
        if errors:
            log.warning("cluster %r: Dask runs without node(s) that cannot be reached (remove_node() them, or "
                        "power them on and call dask() again): %s", self.cluster.name, causes_text(errors))
        return found, errors

    @staticmethod
    def _running(job: Job | None) -> bool:
        return job is not None and job.state in ACTIVE

    def _start(self, node: Node, job_id: str, cmd: str, existing: Job | None) -> Job:
        """Start ``cmd`` as ``job_id`` on ``node``, forgetting an ended job of that id first."""
        if existing is not None and not self._running(existing):
            existing.forget()
        return start(node, cmd, None, False, None, job_id)

    def _scheduler_command(self, node: Node, settings: Dask) -> str:
        """The scheduler's job command; it carries ``settings`` (``CLOUDORM_DASK``) for other processes to adopt."""
        remote = self.cluster._transport(node._co_record or {}).remote
        port = settings.scheduler_port or (SCHEDULER_PORT if remote else 0)
        host = "0.0.0.0" if settings.expose_to else _private(node)
        return ("exec " + command("env", f"{SETTINGS_VARIABLE}={settings.to_json()}", "python", "-m", "dask",
                                  "scheduler", "--host", host, "--port", str(port), "--dashboard-address",
                                  "127.0.0.1:0")
                + f' --scheduler-file "$HOME/{SCHEDULER_FILE}"')

    @staticmethod
    def _settings_of(job: Job) -> Dask | None:
        """The settings a scheduler job was started with (None: not readable, e.g. started by hand)."""
        try:
            words = shlex.split(job.command)
        except ValueError:
            return None
        found = next((w.split("=", 1)[1] for w in words if w.startswith(f"{SETTINGS_VARIABLE}=")), None)
        try:
            return None if found is None else Dask.from_json(found)
        except (InvalidInput, TypeError):
            return None

    def _worker_command(self, node: Node, scheduler: str, settings: Dask) -> str:
        return ("exec " + command("python", "-m", "dask", "worker", scheduler, "--name", str(node.name), "--host",
                                  _private(node), "--no-dashboard", "--dashboard-address", "127.0.0.1:0",
                                  *settings.worker_options())
                + f' --local-directory "$HOME/{WORK_DIR}"')

    def _scheduler_info(self, node: Node, job: Job, deadline: float) -> dict[str, Any]:
        """What the scheduler wrote to its file: its address and dashboard port (``CloudError`` with the job's last
        words when it ended, ``Timeout`` at ``deadline``)."""
        while True:
            left = deadline - time.monotonic()
            wait = max(1, min(30, int(left)))
            result = node.run(f'i=0; while [ "$i" -lt {wait * 5} ]; do if [ -s "$HOME/{SCHEDULER_FILE}" ]; then '
                              f'cat "$HOME/{SCHEDULER_FILE}"; exit 0; fi; sleep 0.2; i=$((i+1)); done; exit 1',
                              timeout=wait + 30)
            if result.ok:
                try:
                    info: dict[str, Any] = json.loads(result.stdout)
                    if str(info.get("address", "")).startswith("tcp://"):
                        return info
                except ValueError:
                    pass  # (being written: read again)
            if not job.running():
                logs = job.logs(tail=20)
                raise CloudError(f"the Dask scheduler on {node.name} ended ({job.state}, exit code {job.exit_code}):"
                                 f" {logs.stderr.strip()[-1500:] or logs.stdout.strip()[-1500:]}")
            if time.monotonic() >= deadline:
                raise Timeout(f"the Dask scheduler on {node.name} did not start within the time given")

    # ------------------------------------------------------------------------------------------- starting

    def ensure(self, given: Dask | None, timeout: float) -> Client:
        """Make sure the scheduler runs on the first node and a worker on every node (installing Dask where it is
        missing, on all those nodes at once), then connect; the client (the same one while it is connected).
        ``given`` None: the settings Dask runs with on the cluster, else the defaults."""
        wanted = self.settings(given)
        with self._lock:
            if self._connected() and wanted in (None, self._settings) and self._complete():
                assert self._client is not None
                return self._client
            deadline = time.monotonic() + timeout
            nodes = self.cluster._targets(None)
            if not nodes:
                raise NotFound(f"cluster {self.cluster.name!r} has no nodes to run Dask on",
                               provider=self.cluster.session.provider)
            jobs, lost = self._jobs(nodes)
            nodes = [n for n in nodes if str(n.name) in jobs]
            found = self._running_scheduler(nodes, jobs, wanted)
            if found is not None:
                node, job, settings = found
                info = self._scheduler_info(node, job, deadline)
                scheduler = f"tcp://{_private(node)}:{_port(info)}"
                idle = self._idle_workers(nodes, jobs, scheduler, settings)
                self._install(idle, None, False, deadline)
            else:
                if not nodes or str(nodes[0].name) != str(self.cluster._known_nodes()[0].name):
                    first = self.cluster._known_nodes()[0]
                    raise ClusterError(f"cluster {self.cluster.name!r}: the Dask scheduler starts on the first node, "
                                       f"{first.name}, which cannot be reached: remove_node() it or power it on",
                                       causes=lost)
                settings, node, idle = wanted or Dask(), nodes[0], list(nodes)
                self._open_firewall(node, settings)
                self._install(idle, node, settings.dashboard, deadline)
                job = self._start(node, SCHEDULER_JOB, self._scheduler_command(node, settings),
                                  jobs[str(node.name)].get(SCHEDULER_JOB))
                info = self._scheduler_info(node, job, deadline)
                scheduler = f"tcp://{_private(node)}:{_port(info)}"
            self._start_workers(idle, jobs, scheduler, settings)
            if found is not None and self._connected() and self._client is not None:
                client = self._client  # (the same scheduler: its client stays)
            else:
                if self._client is not None:
                    close(self._client)
                client = self._connect(node, _port(info), int(info["services"]["dashboard"]), settings, deadline)
            count = len(nodes) * settings.processes
            wait_for_workers(client, count, max(1.0, deadline - time.monotonic()), self.cluster.name)
            self._client, self._settings, self._scheduler_node = client, settings, str(node.name)
            return client

    def _running_scheduler(self, nodes: Sequence[Node], jobs: dict[str, dict[str, Job]],
                           wanted: Dask | None) -> tuple[Node, Job, Dask] | None:
        """The node a scheduler runs on, its job and its settings (None: no scheduler runs); one with settings
        other than ``wanted`` is a ``ConflictError``."""
        running = [n for n in nodes if self._running(jobs[str(n.name)].get(SCHEDULER_JOB))]
        if len(running) > 1:
            raise ConflictError(f"cluster {self.cluster.name!r} has Dask schedulers on {[n.name for n in running]}:"
                                " cluster.stop_dask() stops them all")
        if not running:
            return None
        node = running[0]
        job = jobs[str(node.name)][SCHEDULER_JOB]
        settings = self._settings_of(job)
        if settings is None or (wanted is not None and wanted != settings):
            raise ConflictError(f"the Dask scheduler on {node.name} runs with other settings ({settings!r}): "
                                "cluster.stop_dask() first to start it with these")
        return node, job, settings

    def _idle_workers(self, nodes: Sequence[Node], jobs: dict[str, dict[str, Job]], scheduler: str,
                      settings: Dask) -> list[Node]:
        """The nodes whose worker must be started; one running with other settings is a ``ConflictError``."""
        idle, other = [], []
        for node in nodes:
            job = jobs[str(node.name)].get(WORKER_JOB)
            if not self._running(job) or job is None:
                idle.append(node)
            elif job.command != self._worker_command(node, scheduler, settings):
                other.append(str(node.name))
        if other:
            raise ConflictError(f"Dask workers on {other} run with other settings: cluster.stop_dask() first to "
                                "start them with these")
        return idle

    def _open_firewall(self, node: Node, settings: Dask) -> None:
        """Where nodes are other machines: the cluster's firewall lets its nodes reach each other (and the
        scheduler's port in from ``expose_to``)."""
        if not self.cluster._transport(node._co_record or {}).remote:
            return
        svc = self.cluster.session.compute
        if settings.expose_to:
            svc.open_port(self.cluster.name, settings.scheduler_port or SCHEDULER_PORT, list(settings.expose_to))
        else:
            svc.allow_peers(self.cluster.name)

    def _install(self, nodes: Sequence[Node], scheduler: Node | None, dashboard: bool, deadline: float) -> None:
        """``install`` on every node of ``nodes`` (and ``scheduler``, with the dashboard) at once."""
        targets = list(nodes) if scheduler is None or scheduler in nodes else [scheduler, *nodes]
        _, errors = self.cluster._each(
            targets, lambda n: self.install(n, dashboard and n is scheduler, deadline))
        self.cluster._raise("installing Dask", errors)

    def _start_workers(self, nodes: Sequence[Node], jobs: dict[str, dict[str, Job]], scheduler: str,
                       settings: Dask) -> None:
        """Start a worker on every node of ``nodes``, pointed at ``scheduler`` (a worker still running there
        served an earlier scheduler: it is stopped first)."""
        def one(node: Node) -> None:
            job = jobs[str(node.name)].get(WORKER_JOB)
            if job is not None and self._running(job):
                job.stop(grace=10)
            self._start(node, WORKER_JOB, self._worker_command(node, scheduler, settings), job)

        _, errors = self.cluster._each(nodes, one)
        self.cluster._raise("starting Dask workers", errors)

    def _connect(self, node: Node, port: int, dashboard: int, settings: Dask, deadline: float) -> Client:
        """A client of the scheduler on ``node``: through the node's SSH connection, or straight to its public
        address when the scheduler is exposed."""
        if settings.expose_to:
            address = f"tcp://{node.address}:{port}"
        else:
            host, local = node.forward(port, _private(node))
            address = f"tcp://{host}:{local}"
        host, local = node.forward(dashboard)
        self.dashboard_url = f"http://{host}:{local}/status"
        handle = ClusterHandle(self.cluster.name, address, self.dashboard_url,
                               lambda: self.stop(close_client=False))
        client = connect(handle, max(1.0, min(60.0, deadline - time.monotonic())))
        check_versions(client, self.cluster.name)
        return client

    # ------------------------------------------------------------------------------------------- changes

    def _connected(self) -> bool:
        """True while this process's client is connected."""
        return self._client is not None and self._client.status == "running"

    def _complete(self) -> bool:
        """True when a worker of every known node is with the scheduler (none was lost, or killed)."""
        client, settings = self._client, self._settings
        if client is None or settings is None:
            return False
        expected = len(self.cluster._known_nodes()) * settings.processes
        return len(worker_addresses(client, [str(n.name) for n in self.cluster._known_nodes()])) >= expected

    def running(self) -> bool:
        """True when this process knows Dask runs on the cluster, or the cluster's ``engine`` says it should."""
        return self.cluster.engine is not None or self._connected()

    def joined(self, nodes: Sequence[Node]) -> None:
        """New nodes joined: where Dask runs, they get a worker (the scheduler is started if the cluster's
        ``engine`` asks for Dask and none runs yet)."""
        with self._lock:
            if not self.running():
                others = [n for n in self.cluster._known_nodes() if n not in nodes]
                if not others or not any(self._running(jobs.get(SCHEDULER_JOB))
                                         for jobs in self._jobs(others)[0].values()):
                    return  # (no Dask on this cluster)
            self.ensure(self._settings, self.cluster.boot_timeout)  # (the client stays; the new workers join)

    def leaving(self, node: Node) -> None:
        """``node`` is about to be destroyed: its worker retires gracefully (its results move to the other
        workers); the scheduler's node is a ``ConflictError`` (its results would be lost). A node that cannot be
        reached is let go. With this process connected, the scheduler says whether the node has a worker (a node
        that died is not asked over SSH)."""
        with self._lock:
            client = self._client if self._connected() else None
            if client is not None and node.name != self._scheduler_node:
                addresses = worker_addresses(client, [str(node.name)])
                if not addresses:
                    return  # (its worker is gone already: nothing on it to save)
                retire(client, addresses, self.cluster.name)
        try:
            jobs = _dask_jobs(node)
        except (CloudError, OSError):
            return  # (unreachable: nothing on it can be saved)
        if self._running(jobs.get(SCHEDULER_JOB)):
            raise ConflictError(f"node {node.name} runs cluster {self.cluster.name!r}'s Dask scheduler: "
                                "cluster.stop_dask() first (its results are lost), or delete the whole cluster")
        worker = jobs.get(WORKER_JOB)
        if not self._running(worker) or worker is None:
            return
        if client is None:  # (not connected here: connect, to retire it)
            with self._lock:
                connected = self.ensure(self._settings, self.cluster.boot_timeout)
                retire(connected, worker_addresses(connected, [str(node.name)]), self.cluster.name)
        worker.stop(grace=30)

    def stop(self, nodes: Sequence[Node] | None = None, quiet: bool = False, close_client: bool = True) -> None:
        """Stop the workers, then the scheduler, on every node (or ``nodes``), and close this process's client
        (``close_client`` False: it is closing itself, ``client.shutdown()``); ``quiet``: nodes that cannot be
        reached are skipped (they are being destroyed)."""
        with self._lock:
            client, self._client = self._client, None
            if client is not None and close_client:
                close(client)
            self.dashboard_url = None
        targets = list(self.cluster._known_nodes() if nodes is None else nodes) or self.cluster.nodes
        found, errors = self.cluster._each(targets, _dask_jobs)  # (read once; workers go first, then the scheduler)
        for job_id in (WORKER_JOB, SCHEDULER_JOB):
            def one(node: Node, job_id: str = job_id) -> None:
                job = found[str(node.name)].get(job_id)
                if job is not None:
                    if self._running(job):
                        job.stop(grace=10)
                    job.forget()

            _, failed = self.cluster._each([n for n in targets if str(n.name) in found], one)
            errors.update(failed)
        if errors and not quiet:
            raise ClusterError(f"cluster {self.cluster.name!r}: stopping Dask failed on {len(errors)} node(s): "
                               f"{causes_text(errors)}", causes=errors)


def _dask_jobs(node: Node) -> dict[str, Job]:
    """The node's Dask jobs (scheduler, worker) by id: one round trip."""
    return {j.id: j for j in listed(node) if j.id in (SCHEDULER_JOB, WORKER_JOB)}


def _port(info: dict[str, Any]) -> int:
    """The scheduler's port, from what it wrote to its file."""
    return int(str(info["address"]).rsplit(":", 1)[1])


def _private(node: Node) -> str:
    """The address the cluster's nodes reach ``node`` at: its private address, else its public one."""
    address = node.private_address or node.address
    if not address:
        raise CloudError(f"node {node.name} has no address yet (status {node.status!r})")
    return str(address)


__all__ = ["SCHEDULER_FILE", "SCHEDULER_JOB", "WORKER_JOB", "DaskEngine"]
