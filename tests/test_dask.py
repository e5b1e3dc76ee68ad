"""Dask on local clusters (nodes are processes on this machine): ``Cluster(engine=...)`` and ``cluster.dask()``
install ``distributed`` at the client's version in the nodes' venvs, start the scheduler and the workers as jobs, and
give a ``distributed.Client``; nodes join, retire and die during computations; teardown leaves no process.

One cluster serves the module (installing Dask into two venvs costs seconds): the tests run in file order.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
import traceback
import urllib.request
import uuid
from collections.abc import Iterator
from importlib import metadata
from typing import Any

import pytest

import cloudorm
from cloudorm.compute.dask_engine import SCHEDULER_JOB, WORKER_JOB
from cloudorm.errors import ConflictError, InvalidInput
from cloudorm.testing.wheelhouse import DEFAULT_FOLDER
from tests.conftest import assert_refused_before_any_request, cluster_processes
from tests.dask_helpers import relabelled, tasks, worker_names

distributed = pytest.importorskip("distributed")


slow_square, divide = tasks()


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[cloudorm.Session]:
    """The local cloud, with cluster state in the module's directory."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CLOUDORM_STATE_DIR", str(tmp_path_factory.mktemp("state")))
        yield cloudorm.Session()


@pytest.fixture(scope="module")
def cluster(session: cloudorm.Session) -> Iterator[cloudorm.Cluster]:
    """Two local nodes running Dask (two threads per worker, the dashboard installed)."""
    c = session.Cluster(f"dask-{uuid.uuid4().hex[:6]}", size=2, progress=False,
                        engine=cloudorm.Dask(threads=2, dashboard=True))
    c.save()
    yield c
    c.delete(missing_ok=True)


@pytest.fixture
def client(cluster: cloudorm.Cluster) -> Any:
    return cluster.dask()


def test_bad_settings_are_refused_before_any_request(session: cloudorm.Session) -> None:
    version = metadata.version("distributed")
    assert_refused_before_any_request(session, [
        (lambda: cloudorm.Dask(threads=0), "threads"),
        (lambda: cloudorm.Dask(processes=True), "processes"),
        (lambda: cloudorm.Dask(memory_limit="lots"), "memory_limit"),
        (lambda: cloudorm.Dask(memory_limit="1.5"), "memory_limit"),   # (Dask would read 1 byte: endless restarts)
        (lambda: cloudorm.Dask(memory_limit="100MB"), "memory_limit"),
        (lambda: cloudorm.Dask(scheduler_port=80), "scheduler_port"),
        (lambda: cloudorm.Dask(expose_to=["not a cidr"]), "expose_to"),
        (lambda: session.Cluster("x", size=1, engine="spark"), "engine"),
        # Dask refuses mismatched versions: another distributed (or dask) pinned is refused, saying both
        (lambda: session.Cluster("x", size=1, engine="dask", requirements=["distributed==2024.1.0"]),
         "requirements"),
        (lambda: session.Cluster("x", size=1, requirements=["dask<2000"]).dask(), "requirements"),
        (lambda: session.Cluster("x", size=1, runtime=None).dask(), "runtime"),
        # an exposed scheduler on hardened nodes needs its port let in by their own firewall too
        (lambda: session.Cluster("x", size=1, hardening=cloudorm.Hardening(admin_user="ops"),
                                 engine=cloudorm.Dask(expose_to=["203.0.113.0/24"])), "expose_to"),
    ])
    assert [cloudorm.Dask(memory_limit=v).memory_limit for v in ("auto", 0, "0.25", "4GB", "512MiB", 2**30)] == \
        ["auto", "0", "0.25", "4000000000", "536870912", str(2**30)]
    session.Cluster("x", size=1, hardening=cloudorm.Hardening(admin_user="ops", allow_ports=[8786]),
                    engine=cloudorm.Dask(expose_to=["203.0.113.0/24"]))
    with pytest.raises(InvalidInput) as e:
        session.Cluster("x", size=1, engine="dask", requirements=["distributed==2024.1.0"])
    assert "2024.1.0" in str(e.value) and version in str(e.value)
    # (an unpinned mention, or the client's own version, is fine)
    session.Cluster("x", size=1, engine="dask", requirements=["distributed", f"dask=={metadata.version('dask')}"])


def test_save_with_the_engine_starts_a_scheduler_and_a_worker_per_node(cluster: cloudorm.Cluster,
                                                                       client: Any) -> None:
    first, second = cluster.nodes
    assert {j.id for j in first.jobs()} >= {SCHEDULER_JOB, WORKER_JOB}
    assert WORKER_JOB in {j.id for j in second.jobs()} and SCHEDULER_JOB not in {j.id for j in second.jobs()}
    assert worker_names(client) == [first.name, second.name]
    assert all(w["nthreads"] == 2 for w in client.scheduler_info(n_workers=-1)["workers"].values())
    # the nodes' venvs have the client's versions of what Dask needs alike everywhere
    out = first.run("python -c 'import distributed, dask; print(distributed.__version__, dask.__version__)'",
                    check=True).stdout.split()
    assert out == [metadata.version("distributed"), metadata.version("dask")]
    assert cluster.dask() is client  # (connected: the same client)


def test_submit_map_and_gather(client: Any) -> None:
    assert client.submit(lambda x: x + 1, 41).result() == 42
    results = client.gather(client.map(slow_square, range(50)))
    assert [r[0] for r in results] == [i * i for i in range(50)]
    data = client.scatter(list(range(1000)))
    assert client.submit(sum, data).result() == sum(range(1000))


def test_an_exception_arrives_with_its_remote_traceback(client: Any) -> None:
    future = client.submit(divide, 1, 0)
    with pytest.raises(ZeroDivisionError) as e:
        future.result()
    frames = "".join(traceback.format_tb(e.value.__traceback__))
    # the frame of the node where it was raised: the function and its line (the source stays here)
    assert f"line {divide.__code__.co_firstlineno + 1}, in divide" in frames, frames
    assert isinstance(future.traceback(), type(e.value.__traceback__))


def test_the_dashboard_is_a_local_url(cluster: cloudorm.Cluster, client: Any) -> None:
    url = cluster.dashboard_url
    assert url is not None and url.startswith("http://127.0.0.1:") and url.endswith("/status")
    assert client.dashboard_link == url and repr(client.cluster).startswith("CloudormDask(")
    with urllib.request.urlopen(url, timeout=30) as answer:
        assert answer.status == 200 and b"bokeh" in answer.read().lower()  # (dashboard=True: bokeh's live page)


def test_processes_listen_on_the_nodes_addresses_only(cluster: cloudorm.Cluster) -> None:
    psutil = pytest.importorskip("psutil")
    pids = cluster_processes(cluster.name)
    listening = {c.laddr.ip for c in psutil.net_connections("tcp") if c.pid in pids and c.status == "LISTEN"}
    assert listening and listening <= {"127.0.0.1"}, listening


REATTACH = """
import sys, cloudorm
s = cloudorm.Session("local", endpoint_url=sys.argv[1])
cluster = s.Cluster(sys.argv[2])
client = cluster.dask()
print(client.submit(lambda: 6 * 7).result(), len(client.scheduler_info(n_workers=-1)["workers"]))
client.close()
"""


def test_another_process_reattaches_to_the_running_scheduler(session: cloudorm.Session,
                                                              cluster: cloudorm.Cluster) -> None:
    before = {j.id: j.started for n in cluster.nodes for j in n.jobs()}
    out = subprocess.run([sys.executable, "-c", REATTACH, str(session.endpoint_url), cluster.name],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.split() == ["42", "2"]
    assert {j.id: j.started for n in cluster.nodes for j in n.jobs()} == before  # nothing started again


def test_a_node_added_during_a_computation_gets_a_worker_that_joins(cluster: cloudorm.Cluster,
                                                                   client: Any) -> None:
    running = client.map(slow_square, range(24), seconds=0.5)
    (new,) = cluster.add_node()
    assert worker_names(client) == sorted(n.name for n in cluster.nodes)
    assert [r[0] for r in client.gather(running)] == [i * i for i in range(24)]
    assert client.submit(slow_square, 7, workers=[new.name]).result() == (49, new.name)


def test_removing_a_node_retires_its_worker_and_keeps_its_results(cluster: cloudorm.Cluster, client: Any) -> None:
    leaving = cluster.nodes[-1]
    held = client.submit(slow_square, 12, workers=[leaving.name], pure=False)
    assert held.result() == (144, leaving.name)
    assert client.who_has([held])[held.key]  # held in that worker's memory
    cluster.remove_node(leaving)
    assert leaving.name not in worker_names(client)
    assert held.result() == (144, leaving.name)  # moved to another worker before the node went
    assert client.submit(lambda x: x[0] + 1, held).result() == 145


def test_the_schedulers_node_is_not_removed(session: cloudorm.Session, cluster: cloudorm.Cluster,
                                            client: Any) -> None:
    first = cluster.nodes[0]
    with pytest.raises(ConflictError, match="scheduler"):
        cluster.remove_node(first)
    assert first.name in [n.name for n in session.Cluster(cluster.name).nodes]
    assert client.submit(lambda: 1).result() == 1


def test_a_killed_node_s_tasks_are_rescheduled(cluster: cloudorm.Cluster, client: Any) -> None:
    victim = cluster.nodes[1]
    futures = client.map(slow_square, range(16), seconds=1.0, pure=False)
    time.sleep(1.5)  # (both workers are computing)
    victim.power_off()  # a local node's processes are killed: its worker dies mid-task
    assert [r[0] for r in client.gather(futures)] == [i * i for i in range(16)]
    assert victim.name not in worker_names(client)
    victim.power_on()
    again = cluster.dask()  # the lost worker is started again
    assert again is client and worker_names(client) == sorted(n.name for n in cluster.nodes)


def test_two_callers_at_once_start_one_scheduler(session: cloudorm.Session, cluster: cloudorm.Cluster) -> None:
    cluster.stop_dask()
    assert not [j for n in cluster.nodes for j in n.jobs() if j.id in (SCHEDULER_JOB, WORKER_JOB)]
    clients: list[Any] = []
    errors: list[BaseException] = []

    def attach() -> None:
        try:
            clients.append(session.Cluster(cluster.name).dask(cloudorm.Dask(threads=2, dashboard=True)))
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=attach) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    schedulers = [j for n in cluster.nodes for j in n.jobs() if j.id == SCHEDULER_JOB]
    assert len(schedulers) == 1 and schedulers[0].node.name == cluster.nodes[0].name
    for c in clients:
        assert c.submit(lambda: 2).result() == 2
        c.close()


def test_a_scheduler_of_another_version_is_a_clear_conflict(cluster: cloudorm.Cluster) -> None:
    cluster.stop_dask()
    first = cluster.nodes[0]
    other = "2026.7.1" if metadata.version("distributed") != "2026.7.1" else "2026.7.0"
    wheels = " ".join(str(w) for w in relabelled(DEFAULT_FOLDER / "relabelled", other))  # (this code as `other`)
    first.run(f"python -m pip install -q --disable-pip-version-check --no-deps --no-index --no-compile {wheels}",
              check=True)
    # a scheduler and a worker started at that version (as an older client would have): cloudorm's own commands
    engine, settings = cluster._dask, cloudorm.Dask(threads=2, dashboard=True)
    job = first.run(engine._scheduler_command(first, settings), wait=False, job_id=SCHEDULER_JOB)
    scheduler = engine._scheduler_info(first, job, time.monotonic() + 60)["address"]
    first.run(engine._worker_command(first, scheduler, settings), wait=False, job_id=WORKER_JOB)
    with pytest.raises(ConflictError) as e:
        cluster.dask()
    assert other in str(e.value) and metadata.version("distributed") in str(e.value)
    cluster.stop_dask()
    # (a local node's venv sees the client's packages: without the older ones it has the client's versions again;
    # on other machines cloudorm installs them: tests/test_dask_digitalocean.py)
    first.run("python -m pip uninstall -q -y dask distributed", check=True)
    client = cluster.dask()
    assert client.submit(lambda: 3).result() == 3
    assert first.run("python -c 'import distributed; print(distributed.__version__)'").stdout.strip() == \
        metadata.version("distributed")


def test_client_shutdown_stops_dask_on_the_nodes(cluster: cloudorm.Cluster) -> None:
    client = cluster.dask()
    client.shutdown()  # Dask's spelling of cluster.stop_dask(): the nodes stay
    assert client.status == "closed" and not cluster_processes(cluster.name)
    assert not [j for n in cluster.nodes for j in n.jobs() if j.id in (SCHEDULER_JOB, WORKER_JOB)]
    assert cluster.dask().submit(lambda: 4).result() == 4


def test_stopping_and_deleting_leave_no_process(cluster: cloudorm.Cluster) -> None:
    assert cluster_processes(cluster.name)
    cluster.stop_dask()
    assert not cluster_processes(cluster.name)
    assert cluster.dashboard_url is None
    cluster.dask()
    assert cluster_processes(cluster.name)
    cluster.delete()
    assert not cluster_processes(cluster.name)
