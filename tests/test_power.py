"""Power off, power on and reboot of nodes and clusters: local nodes (commands refused and processes stopped while
off), DigitalOcean droplets through real pydo against FakeDigitalOcean (powering off stops a droplet's sshd, on
starts it again, each action followed to completion), EC2 instances on the moto server; and what happens when a
power action's answer is lost."""

from __future__ import annotations

import os
import pickle
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import cloudorm
from cloudorm import errors as ce
from cloudorm.compute.keys import KeyPair
from cloudorm.compute.power import PowerResults
from cloudorm.providers.local.compute import LocalComputeService, node_home
from cloudorm.providers.local.nodes import LocalNodes
from cloudorm.providers.local.nodes_api import PREFIX
from cloudorm.providers.local.power import MARKER, node_processes, off_flag
from cloudorm.testing import FakeDigitalOcean
from cloudorm.testing.sshd import sshd_unavailable
from cloudorm.waiting import wait_until
from tests.conftest import FAKE_CREDS
from tests.test_local_clusters import served, unique  # noqa: F401  (served: a fixture)
from tests.test_lost_responses_deletes import LoseFirst

pytestmark = pytest.mark.usefixtures("state")  # cluster state in the test's directory (conftest)

UBUNTU_1604 = "ami-785db401"


@pytest.fixture
def local() -> Iterator[Any]:
    """A saved local cluster of two nodes (removed afterwards)."""
    s = cloudorm.Session()
    cluster = s.Cluster(unique("pw"), size=2, runtime=None, progress=False).save()
    yield cluster
    cluster.delete(missing_ok=True)


class DropFirst(LoseFirst):
    """Drops the first matching request before it is forwarded (it never reaches the service)."""

    def _pick_fault(self) -> str | None:
        return "drop" if super()._pick_fault() else None


# ------------------------------------------------------------------------------------------------------ local


def test_a_local_node_off_refuses_commands_and_files_and_on_again_works(local: Any, tmp_path: Path) -> None:
    node = local.nodes[0]
    node.run("echo kept > data.txt", check=True)
    with local.session.count_requests() as c:
        assert node.power_off() is node
    assert node.status == "off" and c["compute.PowerOff"] == 1
    for attempt in (lambda: node.run("echo hi"), lambda: node.put(tmp_path / "x", "x"),
                    lambda: node.get("data.txt", tmp_path / "back.txt")):
        (tmp_path / "x").write_text("x")
        with pytest.raises(ce.ConflictError, match=r"powered off: node\.power_on"):
            attempt()
    assert not (tmp_path / "back.txt").exists()
    other = local.nodes[1]
    assert other.run("echo still on").ok  # only that node is off
    again = local.session.Cluster(local.name).refresh()  # another object sees the state the server keeps
    assert [n.status for n in again.nodes] == ["off", "active"]
    with pytest.raises(ce.ClusterError) as err:
        again.run("true")
    assert isinstance(err.value.causes[node.name], ce.ConflictError) and [r.node.name for r in
                                                                          err.value.results] == [other.name]
    node.power_off()  # off already: nothing changes, no error
    assert node.power_on().status == "active"
    assert node.run("cat data.txt").stdout == "kept\n"  # its files are kept


def test_powering_off_stops_what_the_node_started_even_in_the_background(local: Any) -> None:
    node, other = local.nodes
    node.run("nohup sleep 300 >/dev/null 2>&1 & (sleep 301 >/dev/null 2>&1 &); true", check=True)
    other.run("nohup sleep 302 >/dev/null 2>&1 &", check=True)
    home = Path(node._co_record["home"])
    other_home = Path(other._co_record["home"])
    running = node_processes(home)
    assert len(running) == 2 and len(node_processes(other_home)) == 1
    assert f"{MARKER}={home}".encode() in Path(f"/proc/{running[0]}/environ").read_bytes()
    result: dict[str, Any] = {}

    def long_command() -> None:
        try:
            result["value"] = node.run("sleep 303")
        except ce.CloudError as e:
            result["error"] = e

    thread = threading.Thread(target=long_command)
    thread.start()
    wait_until(lambda: len(node_processes(home)) == 4, timeout=10, what="the long command running")
    started = time.monotonic()
    node.power_off()
    thread.join(10)
    assert time.monotonic() - started < 5 and not thread.is_alive()
    assert "powered off while" in str(result["error"])  # the command was cut, as a dropped session would be
    wait_until(lambda: not node_processes(home), timeout=5, what="the node's processes gone")
    assert len(node_processes(other_home)) == 1  # the other node's are not touched
    node.power_on()
    assert node.run("echo back").stdout == "back\n"
    other.reboot()  # a reboot stops a node's processes too
    wait_until(lambda: not node_processes(other_home), timeout=5, what="the rebooted node's processes gone")
    node.run("nohup sleep 304 >/dev/null 2>&1 &", check=True)
    assert len(node_processes(home)) == 1
    local.delete()  # and deleting the node stops them with it
    wait_until(lambda: not node_processes(home), timeout=5, what="the deleted node's processes gone")


def test_cluster_wide_power_gives_one_result_per_node(local: Any) -> None:
    results = local.power_off()
    assert isinstance(results, PowerResults) and results.ok
    assert [(r.node.name, r.action, r.status) for r in results] == [(n.name, "power_off", "off") for n in local]
    assert results.by_node()[local.nodes[1].name].status == "off"
    on = local.power_on(nodes=[0])
    assert [r.target for r in on] == [local.nodes[0].name]
    assert [n["status"] for n in local.session.compute.list_nodes(local.name)] == ["active", "off"]
    local.power_off(nodes=[0], wait=False)
    rebooted = local.reboot()  # a reboot of an off node brings it back on
    assert rebooted.ok and {r.status for r in rebooted} == {"active"}
    assert local.session.compute.reboots(str(local.nodes[0].id)) == 1  # type: ignore[attr-defined]
    local.nodes[1].delete()
    gone = local.power_off(nodes=[local.nodes[0]])
    assert gone.ok


def test_one_failing_node_does_not_hide_the_others(local: Any) -> None:
    doomed = local.nodes[1]
    local.session.compute.delete_nodes([doomed.id])  # gone behind the cluster's back
    results = local.power_off()
    assert [r.ok for r in results] == [True, False]
    assert results.failed[0].node is doomed and isinstance(results.failed[0].error, ce.NotFound)
    with pytest.raises(ce.ClusterError) as err:
        results.raise_for_errors()
    assert set(err.value.causes) == {doomed.name} and err.value.results is results


def test_bad_power_calls_are_refused_before_any_request(local: Any) -> None:
    node = local.nodes[0]
    with local.session.count_requests() as c:
        for call, field in [(lambda: node.power_off(wait="yes"), "wait"),
                            (lambda: node.power_on(timeout=-1), "timeout"),
                            (lambda: node.reboot(timeout=float("inf")), "timeout"),
                            (lambda: local.power_off(timeout=0), "timeout"),
                            (lambda: local.power_on(wait=None), "wait"),
                            (lambda: local.session.compute.power_node(str(node.id), "hibernate"), "action")]:
            with pytest.raises(ce.InvalidInput) as err:
                call()
            assert err.value.field == field
    assert c.total == 0
    with pytest.raises(ce.InvalidInput) as err:
        local.reboot(nodes=["no-such-node"])
    assert err.value.field == "nodes"
    new = local.Node()
    with pytest.raises(ce.NotFound), local.session.count_requests() as c:
        new.power_off()  # not made yet
    assert c.total == 0


@pytest.mark.parametrize("operation", ["PowerOff", "PowerOn", "RebootNode"])
def test_a_local_power_call_whose_answer_is_lost_is_applied_once(local: Any, operation: str) -> None:
    direct = local.session
    node = local.nodes[0]
    if operation == "PowerOn":
        node.power_off()
    with LoseFirst(str(direct.endpoint_url)) as proxy:
        proxy.matches = lambda method, path, target, body: path == PREFIX + operation
        s = cloudorm.Session("local", endpoint_url=proxy.url)
        flaky = s.Cluster(local.name).refresh().nodes[0]
        with s.count_requests() as c:
            action = {"PowerOff": flaky.power_off, "PowerOn": flaky.power_on, "RebootNode": flaky.reboot}[operation]
            action()
        assert proxy.lost == 1 and c[f"compute.{operation}"] == 2  # sent again, with the same token
    assert flaky.status == ("off" if operation == "PowerOff" else "active")
    if operation == "RebootNode":
        assert direct.compute.reboots(str(node.id)) == 1  # type: ignore[attr-defined]  # rebooted once


def test_a_node_off_stays_off_across_a_restart(served: tuple[LocalNodes, LocalComputeService]) -> None:  # noqa: F811
    part, svc = served
    [record] = svc.create_nodes("kept", ["kept-1"], {"size": "s-1vcpu-1gb"})
    svc.power_node(record["id"], "power_off")
    saved = pickle.dumps(part.dump())
    off_flag(node_home(record)).unlink()  # (its mark lost while the server was down: made again from the record)
    part.load(pickle.loads(saved))
    assert svc.get_node(record["id"])["status"] == "off"
    with pytest.raises(ce.ConflictError):
        svc.shell(dict(record)).run("true")
    svc.power_node(record["id"], "power_on")
    assert svc.shell(dict(record)).run("echo on")[1] == "on\n"


# ------------------------------------------------------------------------------------------------ DigitalOcean


@pytest.fixture(scope="module")
def fake(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FakeDigitalOcean]:
    reason = sshd_unavailable()
    if reason:
        pytest.skip(reason)
    with FakeDigitalOcean(root=tmp_path_factory.mktemp("do"), boot_delay=0.1, reboot_delay=0.2) as do:
        yield do


@pytest.fixture
def droplets(fake: FakeDigitalOcean) -> Iterator[Any]:
    """A saved DigitalOcean cluster of two droplets on the fake."""
    s = cloudorm.Session("digitalocean", creds={"access_token": fake.token}, endpoint_url=fake.url)
    cluster = s.Cluster(unique("pw"), size=2, runtime=None, progress=False, boot_timeout=60).save()
    yield cluster
    cluster.delete(missing_ok=True)


def actions_sent(fake: FakeDigitalOcean, droplet_id: str) -> list[str]:
    return [m for m, p, _ in fake.requests if m == "POST" and p == f"/v2/droplets/{droplet_id}/actions"]


def test_a_droplet_powered_off_stops_its_sshd_and_on_starts_it(droplets: Any, fake: FakeDigitalOcean) -> None:
    node = droplets.nodes[0]
    droplet = fake.droplets[int(node.id)]
    assert droplet.host is not None and droplet.host.running
    fake.reset_requests()
    with droplets.session.count_requests() as c:
        node.power_off()
    assert node.status == "off" and not droplet.host.running and droplet.data["status"] == "off"
    assert c["POST /v2/droplets/{id}/actions"] == 1 and c["GET /v2/actions/{id}"] >= 1  # the action followed
    assert fake.create_requests == [] and len(actions_sent(fake, node.id)) == 1
    with droplets.session.count_requests() as c:
        node.power_off()  # off already: read (and read again by the wait), nothing sent
    assert c["POST /v2/droplets/{id}/actions"] == 0 and c["GET /v2/droplets/{id}"] == 2
    node.power_on()
    assert node.status == "active" and droplet.host.running
    assert node.run("echo back").stdout == "back\n"  # SSH answers again, with the same pinned host key
    [action] = [a for a in fake._actions.values() if a["resource_id"] == int(node.id) and a["type"] == "power_on"]
    assert action["status"] == "completed" and action["completed_at"]


def test_cluster_power_on_droplets(droplets: Any, fake: FakeDigitalOcean) -> None:
    off = droplets.power_off()
    assert off.ok and [r.status for r in off] == ["off", "off"]
    assert not any(fake.droplets[int(n.id)].host.running for n in droplets)  # type: ignore[union-attr]
    on = droplets.power_on()
    assert on.ok and [r.status for r in on] == ["active", "active"]
    assert [r.stdout for r in droplets.run("echo $CLOUDORM_NODE")] == [f"{n.name}\n" for n in droplets]
    rebooted = droplets.reboot(nodes=[1])
    assert rebooted.ok and droplets.nodes[1].run("true").ok


def test_a_busy_droplet_and_an_errored_action(droplets: Any, fake: FakeDigitalOcean,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    node = droplets.nodes[0]
    fake.droplets[int(node.id)].data["locked"] = True  # another action under way
    with pytest.raises(ce.ConflictError, match="cannot be powered off now: Droplet already has a pending event"):
        node.power_off()
    fake.droplets[int(node.id)].data["locked"] = False

    def errs(droplet_id: int, action: dict[str, Any], on: bool) -> None:
        fake._finish(action, "errored")
        fake.droplets[droplet_id].data["locked"] = False

    monkeypatch.setattr(fake, "_switch", errs)
    with pytest.raises(ce.CloudError, match="errored"):
        node.power_off(timeout=10)
    assert fake.droplets[int(node.id)].data["status"] == "active"


@pytest.mark.parametrize("proxy_class", [LoseFirst, DropFirst], ids=["answer-lost", "request-lost"])
def test_a_droplet_action_whose_answer_is_lost_is_sent_once(droplets: Any, fake: FakeDigitalOcean,
                                                            proxy_class: type[LoseFirst]) -> None:
    """An action that arrived (its answer lost) is found among the droplet's newest actions, not sent again; one
    that never arrived is sent again."""
    node = droplets.nodes[0]
    fake.reset_requests()
    with proxy_class(fake.url) as proxy:
        proxy.matches = lambda method, path, target, body: method == "POST" and path.endswith("/actions")
        s = cloudorm.Session("digitalocean", creds={"access_token": fake.token}, endpoint_url=proxy.url)
        flaky = s.Cluster(droplets.name).refresh().nodes[0]
        flaky.reboot()  # was CloudError "could not reach DigitalOcean"
        assert proxy.lost == 1
    assert len(actions_sent(fake, node.id)) == 1  # the one that arrived
    assert [a["type"] for a in fake._actions.values() if a["resource_id"] == int(node.id)].count("reboot") == 1
    assert ("GET", f"/v2/droplets/{node.id}/actions", {"per_page": "50", "page": "1"}) in fake.requests
    assert flaky.status == "active" and flaky.run("true").ok


# ------------------------------------------------------------------------------------------------------ EC2


def test_ec2_instances_stop_and_start(moto_url: str) -> None:
    s = cloudorm.Session("aws", creds=FAKE_CREDS, endpoint_url=moto_url)
    name = unique("pw")
    login = KeyPair.generate()
    key = s.compute.import_key(f"cloudorm-{name}", login.public_key)
    s.compute.create_nodes(name, [f"{name}-1"], {"size": "t3.micro", "image": UBUNTU_1604, "key_id": key["id"]})
    try:
        cluster = s.Cluster(name, ssh_key=login)
        node = cluster.nodes[0]
        with s.count_requests() as c:
            node.power_off()  # waited for: EC2 reports it stopped
        assert node.status == "off" and c["ec2.StopInstances"] == 1
        raw = s._provider.clients.client("ec2")  # type: ignore[attr-defined]
        state = raw.describe_instances(InstanceIds=[node.id])["Reservations"][0]["Instances"][0]["State"]["Name"]
        assert state == "stopped"
        handle = s.compute.power_node(str(node.id), "power_on")
        assert handle == f"{node.id}:running" and s.compute.action_status(handle) == "completed"
        assert node.refresh().status == "active"
        # started again at another address: the host key pinned for the old one moves with it (no first-use trust)
        known = cluster._files.known_hosts()
        pinned = KeyPair.generate("host").public_key
        known.pin(str(node.address), pinned)
        old = node.address
        node.power_off()
        with pytest.raises(ce.Timeout):
            node.power_on(timeout=2)  # (the moto instance has no sshd to answer)
        assert node.address != old and known.lookup(str(node.address)) == [" ".join(pinned.split()[:2])]
        assert known.lookup(str(old)) == []
        results = cluster.power_off(wait=True)
        assert results.ok and [r.status for r in results] == ["off"]
        with pytest.raises(ce.InvalidInput):
            s.compute.action_status("i-0123456789abcdef0:sleeping")
    finally:
        s.compute.delete_cluster_nodes(name)
        s.compute.delete_key(key["id"])


@pytest.mark.parametrize("action", ["StopInstances", "RebootInstances"])
def test_an_ec2_power_action_whose_answer_is_lost_is_sent_again(moto_url: str, action: str) -> None:
    """Stop, start and reboot set a state: botocore sends them again after a lost answer, and that is no error."""
    direct = cloudorm.Session("aws", creds=FAKE_CREDS, endpoint_url=moto_url)
    name = unique("pw")
    key = direct.compute.import_key(f"cloudorm-{name}", KeyPair.generate().public_key)
    [record] = direct.compute.create_nodes(name, [f"{name}-1"], {"size": "t3.micro", "image": UBUNTU_1604,
                                                                 "key_id": key["id"]})
    try:
        with LoseFirst(moto_url) as proxy:
            proxy.matches = lambda method, path, target, body: f"Action={action}".encode() in body
            s = cloudorm.Session("aws", creds=FAKE_CREDS, endpoint_url=proxy.url, max_attempts=3)
            with s.count_requests() as c:
                s.compute.power_node(record["id"], "power_off" if action == "StopInstances" else "reboot")
            assert proxy.lost == 1 and c[f"ec2.{action}"] == 2
        assert direct.compute.get_node(record["id"])["status"] == ("off" if action == "StopInstances" else "active")
    finally:
        direct.compute.delete_cluster_nodes(name)
        direct.compute.delete_key(key["id"])


def test_ec2_power_is_refused_for_a_bad_id_before_any_request(moto_url: str) -> None:
    s = cloudorm.Session("aws", creds=FAKE_CREDS, endpoint_url=moto_url)
    with s.count_requests() as c, pytest.raises(ce.InvalidInput):
        s.compute.power_node("not-an-instance", "power_off")
    assert c.total == 0
    assert os.environ.get(MARKER) is None  # (this process is no local node's)
