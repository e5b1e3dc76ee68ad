"""Jobs (``run(..., wait=False)``) on local nodes (working directories, real processes) and on the fake
DigitalOcean's droplets (real sshd stand-ins over real SSH): detached, found again from another session, read,
stopped with their child processes, and started once however often the start is sent."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

import cloudorm
from cloudorm.compute.cluster import Cluster
from cloudorm.compute.jobs import Job, Jobs
from cloudorm.compute.jobscript import JOBS_DIR
from cloudorm.compute.node import Node
from cloudorm.compute.shell import Shell
from cloudorm.errors import AlreadyExists, CloudError, ClusterError, CommandFailed, ConflictError, NotFound, Timeout
from cloudorm.providers.local.compute import node_home
from tests import test_cluster
from tests.conftest import assert_refused_before_any_request, running
from tests.test_cluster import unique

pytestmark = pytest.mark.usefixtures("state")  # cluster state in the test's directory (conftest)


def eventually(condition: Callable[[], bool], timeout: float = 10.0) -> bool:
    """True once ``condition()`` is, False if it is not within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


def group(pgid: int) -> list[int]:
    """The live processes (zombies excluded) of process group ``pgid`` on this machine."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError, IndexError):
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            members.append(int(entry.name))
    return members


class Faulty:
    """A node's real shell whose first ``lose`` answers are lost after the command ran on the node (what a
    connection dropping before the answer does), counting every command sent."""

    def __init__(self, inner: Shell, lose: int = 0) -> None:
        self.inner = inner
        self.lose = lose
        self.sent = 0

    def run(self, command: str, timeout: float | None = None,
            environment: Mapping[str, str] | None = None) -> tuple[int | None, str, str]:
        self.sent += 1
        answer = self.inner.run(command, timeout, environment)
        if self.lose:
            self.lose -= 1
            raise CloudError("the connection to the node was lost while a command ran; it may have run in part")
        return answer

    def put(self, local: Path, remote: str) -> None:
        self.inner.put(local, remote)

    def get(self, remote: str, local: Path) -> None:
        self.inner.get(remote, local)

    def forward(self, host: str, port: int) -> tuple[str, int]:
        return self.inner.forward(host, port)

    def close(self) -> None:
        self.inner.close()


def faulty(node: Node, lose: int = 0) -> Faulty:
    """Put a ``Faulty`` around ``node``'s shell."""
    shell = Faulty(node.shell, lose)
    node._shell = shell
    return shell


# ------------------------------------------------------------------------------------------------ the flow


def job_flow(cluster: Cluster, home: Callable[[Node], Path], reopen: Callable[[], Cluster]) -> None:
    """Start, find from another session, read, stop (children gone), exit codes, cluster-wide, forget."""
    node = cluster[0]
    command = "echo begin; sleep 300 & echo $! > child.pid; echo to-err >&2; sleep 300"
    job = node.run(command, wait=False, job_id="sleeper")
    assert isinstance(job, Job) and job.id == "sleeper" and job.state == "running" and job.running()
    files = home(node) / JOBS_DIR / "sleeper"
    pgid = int((files / "pid").read_text().split()[0])
    assert eventually(lambda: (home(node) / "child.pid").exists() and job.logs().stderr == "to-err\n")
    assert job.logs() == type(job.logs())("begin\n", "to-err\n")
    child = int((home(node) / "child.pid").read_text())
    assert running(child) and child in group(pgid)

    # the connection closes and another session finds the job by listing the node's jobs
    node.close()
    again = reopen()[0]
    assert again is not node
    found = again.jobs()
    assert isinstance(found, Jobs) and [j.id for j in found] == ["sleeper"]
    twin = found[0]
    assert twin.command == command and twin.state == "running" and twin.started is not None and running(child)
    assert again.job("sleeper").state == "running" and twin.logs(tail=1).stdout == "begin\n"
    with pytest.raises(ConflictError):
        twin.forget()
    with pytest.raises(Timeout):
        twin.wait(timeout=0.3)

    # stop: the whole process group goes, and the exit code is recorded
    result = twin.stop(grace=5)
    assert (result.exit_code, twin.state, result.stdout) == (143, "stopped", "begin\n")
    assert result.stderr.startswith("to-err\n")  # (then the shell's own word on its child, "Terminated")
    assert not running(child) and group(pgid) == [] and (files / "exit").read_text().split()[0] == "143"
    assert job.status() == "stopped" and not job.ok and job.wait().exit_code == 143

    # the environment is the job's; a job that exits on its own; one that ignores TERM is killed after the grace
    greeting = again.run('echo "$GREETING"', wait=False, environment={"GREETING": "it's s3cr3t $x"})
    assert greeting.wait(timeout=30).stdout == "it's s3cr3t $x\n"
    assert "s3cr3t" not in (home(node) / JOBS_DIR / greeting.id / "job.json").read_text()
    finished = again.run("echo out; echo err >&2; exit 7", wait=False)
    done = finished.wait(timeout=30)
    assert (done.exit_code, done.stdout, done.stderr, finished.state) == (7, "out\n", "err\n", "exited")
    assert done.command == "echo out; echo err >&2; exit 7" and done.node is again and finished.finished
    stubborn = again.run("trap '' TERM; echo armed; while :; do sleep 1; done", wait=False)
    assert eventually(lambda: stubborn.logs().stdout == "armed\n")
    started = time.monotonic()
    assert stubborn.stop(grace=0.5).exit_code == 137 and stubborn.state == "stopped"
    assert time.monotonic() - started < 5

    # cluster-wide: one job per node, waited for together
    jobs = cluster.run("echo $CLOUDORM_NODE; sleep 0.5", wait=False, job_id="all")
    assert [j.node.name for j in jobs] == [n.name for n in cluster.nodes] and all(j.id == "all" for j in jobs)
    results = jobs.wait(timeout=60)
    assert [r.stdout for r in results] == [f"{n.name}\n" for n in cluster.nodes] and results.ok and jobs.ok
    assert jobs.status() == ["exited"] * len(jobs) and not jobs.running()
    assert [j.id for j in reopen().jobs("all")] == ["all"] * len(jobs)
    failing = reopen().run("exit 3", wait=False, check=True)
    with pytest.raises(CommandFailed) as failed:
        failing.wait(timeout=60)
    assert len(failed.value.failures) == len(cluster.nodes) and not failing.ok
    with pytest.raises(ClusterError) as summary:
        failing.raise_for_errors()
    assert sorted(summary.value.causes) == sorted(n.name for n in cluster.nodes)

    # forgetting: one job, then every ended job of the cluster
    finished.forget()
    finished.forget()  # (gone already: no error)
    assert not (home(node) / JOBS_DIR / finished.id).exists()
    with pytest.raises(NotFound):
        again.job(finished.id)
    forgotten = cluster.forget_jobs()
    assert {j.id for j in forgotten} >= {"sleeper", "all", stubborn.id} and cluster.jobs() == []


# ------------------------------------------------------------------------------------------------ local


@pytest.fixture
def s() -> cloudorm.Session:
    """A local session."""
    return cloudorm.Session()


@pytest.fixture
def local(s: cloudorm.Session) -> Iterator[Cluster]:
    """A local cluster of two nodes, deleted afterwards (with whatever jobs it still runs)."""
    cluster = s.Cluster(unique("jobs"), size=2, runtime=None, progress=False).save()
    yield cluster
    cluster.delete(missing_ok=True)


def local_home(node: Node) -> Path:
    """A local node's directory."""
    return node_home(node._made())


def test_local_jobs(local: Cluster) -> None:
    job_flow(local, local_home, lambda: cloudorm.Session().Cluster(local.name).refresh())


def test_a_job_outlives_its_timeout_never(local: Cluster) -> None:
    node = local[0]
    job = node.run("echo hi; sleep 300 & echo $! > tchild; wait", wait=False, timeout=0.5)
    assert job.timeout == 0.5
    result = job.wait(timeout=30)
    assert result.timed_out and result.exit_code is None and result.stdout == "hi\n" and job.state == "timed_out"
    assert not running(int((local_home(node) / "tchild").read_text())) and not job.ok
    assert node.job(job.id).timeout == 0.5


def test_a_start_is_sent_again_after_a_lost_answer_and_runs_once(local: Cluster) -> None:
    node = local[0]
    shell = faulty(node, lose=1)
    job = node.run("echo $$ >> starts; sleep 0.3", wait=False, job_id="once")
    assert shell.lose == 0 and shell.sent == 2 and job.state in ("running", "exited")  # (sent, lost, sent again)
    again = node.run("echo $$ >> starts; sleep 0.3", wait=False, job_id="once")  # a re-send by hand
    assert again.created == job.created and again.wait(timeout=30).exit_code == 0
    assert len((local_home(node) / "starts").read_text().split()) == 1
    with pytest.raises(AlreadyExists):
        node.run("echo another", wait=False, job_id="once")


def test_a_job_whose_runner_died_is_lost(local: Cluster) -> None:
    node = local[0]
    job = node.run("sleep 300", wait=False)
    pid, runner = (int(x) for x in (local_home(node) / JOBS_DIR / job.id / "pid").read_text().split()[:2])
    os.killpg(runner, signal.SIGKILL)
    os.killpg(pid, signal.SIGKILL)
    assert eventually(lambda: job.status() == "lost")
    assert job.exit_code is None and not job.ok
    with pytest.raises(CloudError, match="without an exit code"):
        job.wait(timeout=5)
    with pytest.raises(CloudError, match="without an exit code"):
        job.stop()  # (nothing left to signal, and no exit code to give)
    job.forget()
    assert node.jobs() == []


def test_deleting_a_local_node_ends_its_jobs(local: Cluster) -> None:
    node = local[1]
    job = node.run("sleep 300 & wait", wait=False)
    pgid = int((local_home(node) / JOBS_DIR / job.id / "pid").read_text().split()[0])
    assert group(pgid)
    node.delete()
    assert eventually(lambda: group(pgid) == [])


def test_bad_input_is_refused_before_anything_is_sent(s: cloudorm.Session, local: Cluster) -> None:
    node = local[0]
    job = node.run("sleep 300", wait=False)
    jobs = local.run("true", wait=False)
    shell = faulty(node)
    assert_refused_before_any_request(s, [
        (lambda: node.run("", wait=False), "cmd"),
        (lambda: node.run("  ", wait=False), "cmd"),
        (lambda: node.run("true", wait=False, timeout=-1), "timeout"),
        (lambda: node.run("true", wait=False, timeout=float("inf")), "timeout"),
        (lambda: node.run("true", wait="no"), "wait"),  # type: ignore[call-overload]
        (lambda: node.run("true", wait=False, job_id="../escape"), "job_id"),
        (lambda: node.run("true", wait=False, job_id=".hidden"), "job_id"),
        (lambda: node.run("true", job_id="only-for-jobs"), "job_id"),  # type: ignore[call-overload]
        (lambda: local.run("true", wait=False, job_id="a b"), "job_id"),
        (lambda: local.run("", wait=False), "cmd"),
        (lambda: local.jobs(job_id=""), "job_id"),
        (lambda: node.job("../../etc"), "job_id"),
        (lambda: job.stop(signal="STOP"), "signal"),
        (lambda: job.stop(signal=True), "signal"),
        (lambda: job.stop(signal=10), "signal"),
        (lambda: job.stop(grace=-1), "grace"),
        (lambda: job.stop(grace=float("nan")), "grace"),
        (lambda: job.wait(timeout=-1), "timeout"),
        (lambda: job.wait(check="yes"), "check"),  # type: ignore[arg-type]
        (lambda: job.logs(tail=0), "tail"),
        (lambda: job.logs(tail=True), "tail"),
        (lambda: jobs.stop(signal="BOGUS"), "signal"),
        (lambda: jobs.wait(timeout=float("nan")), "timeout"),
        (lambda: jobs.logs(tail=-3), "tail"),
    ])
    assert shell.sent == 0 and job.running()
    assert job.stop(signal=signal.SIGINT, grace=2).exit_code == 130  # (a name, a signal.Signals or a number)


# ------------------------------------------------------------------------------------------------ over SSH


droplet_api = test_cluster.fake
"""The fake DigitalOcean API (module-scoped); its droplets are sshd stand-ins."""


def do_session(api: Any) -> cloudorm.Session:
    """A DigitalOcean session on the fake API."""
    return cloudorm.Session("digitalocean", creds={"access_token": api.token}, endpoint_url=api.url)


@pytest.fixture
def droplets(droplet_api: Any) -> Iterator[Cluster]:
    """Two droplets reached over SSH, deleted afterwards."""
    cluster = do_session(droplet_api).Cluster(unique("sshjobs"), size=2, runtime=None, progress=False,
                                       boot_timeout=60).save()
    yield cluster
    cluster.delete(missing_ok=True)


def test_jobs_over_ssh(droplet_api: Any, droplets: Cluster) -> None:
    def home(node: Node) -> Path:
        return Path(droplet_api.droplets[int(str(node.id))].host.home)

    job_flow(droplets, home, lambda: do_session(droplet_api).Cluster(droplets.name).refresh())


def test_a_start_whose_answer_ssh_lost_runs_once(droplet_api: Any, droplets: Cluster) -> None:
    node = droplets[1]
    shell = faulty(node, lose=1)
    job = node.run("echo $$ >> starts; echo started", wait=False)
    assert shell.lose == 0 and shell.sent == 2
    assert job.wait(timeout=30).stdout == "started\n"
    home = Path(droplet_api.droplets[int(str(node.id))].host.home)
    assert len((home / "starts").read_text().split()) == 1
    assert [j.id for j in node.jobs()] == [job.id]


def test_every_job_of_a_listing_is_kept_by_target(local: Cluster) -> None:
    """Two jobs on one node stay two entries of ``by_target()`` (keyed ``node/id``), one job is keyed by its node."""
    first, second = local[0].run("true", wait=False), local[0].run("true", wait=False)
    listed = local.jobs(nodes=[0])
    by_target = listed.by_target()
    assert len(by_target) == len(listed) >= 2
    assert by_target[f"{local[0].name}/{first.id}"].id == first.id
    assert by_target[f"{local[0].name}/{second.id}"].id == second.id
    one = local.run("true", nodes=[1], wait=False)
    assert list(one.by_target()) == [local[1].name]
