"""Dask on DigitalOcean droplets of ``FakeDigitalOcean``: every droplet is a real sshd stand-in with a public and a
private 127.0.0.x address; ``distributed`` is really pip-installed into each node's venv, the client reaches the
scheduler and the dashboard through SSH port forwarding, and the processes listen on private addresses only.

One cluster serves the module (installing Dask on a node costs seconds): the tests run in file order.
"""

from __future__ import annotations

import logging
import time
import traceback
import urllib.request
import uuid
from collections.abc import Iterator
from importlib import metadata
from typing import Any

import pytest

import cloudorm
from cloudorm.compute.dask_engine import SCHEDULER_JOB
from tests.conftest import cluster_processes
from tests.dask_helpers import tasks, worker_names

distributed = pytest.importorskip("distributed")


slow_square, divide = tasks()


@pytest.fixture(scope="module")
def fake(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """The fake DigitalOcean API (droplets are sshd stand-ins), cluster state in the module's directory."""
    from cloudorm.testing.sshd import sshd_unavailable

    reason = sshd_unavailable()
    if reason:
        pytest.skip(f"no sshd stand-ins: {reason}")
    from cloudorm.compute.dask_settings import pinned
    from cloudorm.testing.digitalocean import FakeDigitalOcean
    from cloudorm.testing.wheelhouse import pip_settings, wheelhouse

    # the droplets' pip installs the client's versions from wheels of this environment, not from the package index
    wheels = pip_settings(wheelhouse(pinned(dashboard=False)))
    with pytest.MonkeyPatch.context() as mp, FakeDigitalOcean(boot_delay=0.2, environment=wheels) as do:
        mp.setenv("CLOUDORM_STATE_DIR", str(tmp_path_factory.mktemp("state")))
        yield do


@pytest.fixture(scope="module")
def cluster(fake: Any) -> Iterator[cloudorm.Cluster]:
    """Two droplets running Dask, behind a firewall that lets SSH in from this machine only."""
    s = cloudorm.Session("digitalocean", creds={"access_token": fake.token}, endpoint_url=fake.url)
    c = s.Cluster(f"dask-{uuid.uuid4().hex[:6]}", size=2, progress=False, boot_timeout=300,
                  allow_ssh_from=["127.0.0.0/8"], engine=cloudorm.Dask(threads=2))
    c.save()
    yield c
    c.delete(missing_ok=True)


@pytest.fixture
def client(cluster: cloudorm.Cluster) -> Any:
    return cluster.dask()


def test_the_client_goes_through_the_tunnel_to_the_private_address(cluster: cloudorm.Cluster, client: Any) -> None:
    first = cluster.nodes[0]
    assert first.private_address and first.private_address != first.address
    assert client.scheduler.address.startswith("tcp://127.0.0.1:")  # the forward's end on this machine
    assert client.scheduler_info()["address"].startswith(f"tcp://{first.private_address}:")
    assert worker_names(client) == [n.name for n in cluster.nodes]
    version = first.run("python -c 'import distributed; print(distributed.__version__)'", check=True)
    assert version.stdout.strip() == metadata.version("distributed")  # pip-installed at the client's version


def test_submit_map_gather_and_a_remote_traceback(client: Any) -> None:
    assert client.submit(lambda x: x + 1, 41).result() == 42
    assert [r[0] for r in client.gather(client.map(slow_square, range(40)))] == [i * i for i in range(40)]
    with pytest.raises(ZeroDivisionError) as e:
        client.submit(divide, 1, 0).result()
    frames = "".join(traceback.format_tb(e.value.__traceback__))
    assert f"line {divide.__code__.co_firstlineno + 1}, in divide" in frames, frames


def test_the_dashboard_is_reached_through_the_tunnel(cluster: cloudorm.Cluster, client: Any) -> None:
    url = cluster.dashboard_url
    assert url is not None and url.startswith("http://127.0.0.1:") and client.dashboard_link == url
    with urllib.request.urlopen(url.replace("/status", "/health"), timeout=30) as answer:
        assert answer.status == 200 and answer.read() == b"ok"


def test_nothing_listens_on_a_public_address(cluster: cloudorm.Cluster, fake: Any) -> None:
    psutil = pytest.importorskip("psutil")
    pids = cluster_processes(cluster.name)
    listening = {c.laddr.ip for c in psutil.net_connections("tcp") if c.pid in pids and c.status == "LISTEN"}
    private = {n.private_address for n in cluster.nodes}
    assert listening and listening <= private | {"127.0.0.1"}, (listening, private)
    # the cluster's firewall lets its own nodes reach each other (by its tag), and SSH in from this machine
    (firewall,) = [f for f in fake.firewalls.values() if f["name"] == f"cloudorm-{cluster.name}"]
    assert any(r.get("sources", {}).get("tags") for r in firewall["inbound_rules"]), firewall["inbound_rules"]


def test_a_droplet_added_during_a_computation_joins(cluster: cloudorm.Cluster, client: Any) -> None:
    running = client.map(slow_square, range(24), seconds=0.5)
    (new,) = cluster.add_node()
    assert new.name in worker_names(client)
    assert [r[0] for r in client.gather(running)] == [i * i for i in range(24)]
    assert client.submit(slow_square, 5, workers=[new.name]).result() == (25, new.name)


def test_removing_a_droplet_retires_its_worker_first(cluster: cloudorm.Cluster, client: Any) -> None:
    leaving = cluster.nodes[-1]
    held = client.submit(slow_square, 9, workers=[leaving.name], pure=False)
    assert held.result() == (81, leaving.name)
    cluster.remove_node(leaving)
    assert leaving.name not in worker_names(client)
    assert held.result() == (81, leaving.name) and client.who_has([held])[held.key]


def test_a_killed_droplet_s_tasks_are_rescheduled(cluster: cloudorm.Cluster, client: Any, fake: Any,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    victim = cluster.nodes[1]
    futures = client.map(slow_square, range(12), seconds=1.0, pure=False)
    time.sleep(1.5)
    droplet = fake.droplets[int(str(victim.id))]
    droplet.host.stop()  # the stand-in dies with every process on it, its worker mid-task
    assert [r[0] for r in client.gather(futures)] == [i * i for i in range(12)]
    assert victim.name not in worker_names(client)
    with caplog.at_level(logging.WARNING, logger="cloudorm.compute.dask_engine"):
        assert cluster.dask() is client  # Dask runs on without the node it cannot reach, and says so
    assert victim.name in caplog.text and "cannot be reached" in caplog.text
    cluster.remove_node(victim)  # (its worker is gone: the node is asked nothing, it simply goes)


def test_delete_stops_dask_first_and_leaves_no_process(cluster: cloudorm.Cluster) -> None:
    first = cluster.nodes[0]
    assert SCHEDULER_JOB in {j.id for j in first.jobs()}
    assert cluster_processes(cluster.name)
    cluster.delete()
    assert not cluster_processes(cluster.name)
