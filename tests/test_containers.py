"""Containers on nodes, against the real Docker engine of this machine: on the local cloud's nodes (this machine's
engine, ``docker.from_env()``) and over SSH to sshd stand-ins (the engine reached through the node's pinned SSH
connection and ``docker system dial-stdio``). The image is a few MiB made here from this machine's own ``sh`` and
coreutils (``docker import``), so no registry is needed and no other test's image is touched. Every container is
removed by name."""

from __future__ import annotations

import contextlib
import os
import re
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import cloudorm
from cloudorm.compute.container_spec import LABEL_NODE, ContainerSpec
from cloudorm.errors import (
    AccessDenied,
    AlreadyExists,
    CloudError,
    ClusterError,
    CommandFailed,
    ConflictError,
    HostKeyMismatch,
    InvalidInput,
    NotFound,
    OutcomeUnknown,
)
from cloudorm.providers.docker_engine import refused
from cloudorm.testing import FaultProxy
from cloudorm.testing.rootfs import TINY_IMAGE, engine_unavailable

IMAGE = TINY_IMAGE
"""An image of this machine's ``sh``, ``sleep``, ``cat``, ``ls``, ``mkdir`` and ``env`` with their libraries."""


REASON = engine_unavailable()
pytestmark = [pytest.mark.skipif(REASON is not None, reason=REASON or ""), pytest.mark.usefixtures("state")]


@pytest.fixture(scope="module")
def engine() -> Iterator[Any]:
    """The docker SDK's client of this machine's engine, with ``IMAGE`` imported."""
    import docker

    client = docker.from_env(timeout=60)  # (engine_unavailable() imported IMAGE)
    yield client
    client.close()


def ours(engine: Any, cluster: cloudorm.Cluster) -> list[str]:
    """The names of the containers cloudorm labelled for ``cluster``'s nodes, on this machine's engine (other test
    files share the engine: their containers are not counted)."""
    nodes = {str(node.id) for node in cluster}
    return sorted(c.name for c in engine.containers.list(all=True, filters={"label": LABEL_NODE})
                  if c.labels.get(LABEL_NODE) in nodes)




@pytest.fixture
def local(engine: Any) -> Iterator[cloudorm.Cluster]:
    """A local cluster of two nodes (working directories on this machine, sharing its engine)."""
    s = cloudorm.Session()
    cluster = s.Cluster(f"ctr-{uuid.uuid4().hex[:6]}", size=2, runtime=None, progress=False).save()
    try:
        yield cluster
    finally:
        for node in cluster.nodes:
            for c in node.containers.list():
                c.remove(force=True, missing_ok=True)
            node.close()
        cluster.delete()


# ----------------------------------------------------------------------------------------------- local nodes

def test_run_in_a_container_on_every_node(local: cloudorm.Cluster, engine: Any) -> None:
    results = local.containers.run(IMAGE, ["sh", "-c", 'echo "out $GREETING"; echo err >&2; exit 3'],
                                   environment={"GREETING": "hi"})
    assert [r.node.name for r in results] == [n.name for n in local.nodes]
    assert all((r.exit_code, r.stdout, r.stderr) == (3, "out hi\n", "err\n") for r in results)
    assert results[0].command == "sh -c 'echo \"out $GREETING\"; echo err >&2; exit 3'"
    with pytest.raises(CommandFailed) as failed:
        local.containers.run(IMAGE, "sh -c 'exit 4'", nodes=0, check=True)
    assert "exited 4" in str(failed.value)

    node = local[0]
    node.run("mkdir -p data && echo from-the-home > data/f.txt", check=True)  # ./data: the node's home
    seen = node.containers.run(IMAGE, "cat /in/f.txt", volumes={"./data": "/in:ro"}, check=True)
    assert seen.stdout == "from-the-home\n"
    started = time.monotonic()
    stopped = node.containers.run(IMAGE, "sleep 30", timeout=1)
    assert stopped.timed_out and time.monotonic() - started < 10
    assert ours(engine, local) == []  # every run's container is removed


def test_a_long_running_container_is_adopted_by_name(local: cloudorm.Cluster, engine: Any, tmp_path: Path) -> None:
    node = local[0]
    web = node.containers.start("web", IMAGE, "sleep 300", ports={8000: None}, environment={"TOKEN": "s3cret"},
                                restart="unless-stopped", memory="64m", cpus=0.5)
    assert web.running and web.name == "web" and web.engine_name == f"web.{node.id}" and web.ports["8000/tcp"] > 0
    inspected = engine.containers.get(web.engine_name).attrs
    assert inspected["HostConfig"]["RestartPolicy"]["Name"] == "unless-stopped"
    assert inspected["HostConfig"]["Memory"] == 64 << 20 and inspected["HostConfig"]["NanoCpus"] == 500_000_000
    assert "s3cret" not in repr(web) and "s3cret" not in inspected["Config"]["Labels"]["cloudorm.spec"]

    again = node.containers.start("web", IMAGE, ["sleep", "300"], ports={"8000/tcp": None},
                                  environment={"TOKEN": "s3cret"}, memory=64 << 20, cpus=0.5)
    assert again.id == web.id  # the same settings (spelled otherwise): adopted
    with pytest.raises(AlreadyExists) as other:
        node.containers.start("web", IMAGE, "sleep 301", ports={8000: None}, environment={"TOKEN": "x"})
    assert "command, environment, cpus, memory" in str(other.value) and "s3cret" not in str(other.value)
    assert [c.name for c in node.containers.list()] == ["web"] and local[1].containers.list() == []
    assert node.containers.get("web").id == web.id
    with pytest.raises(NotFound):
        local[1].containers.get("web")  # local nodes share this machine's engine, each its own names

    payload = tmp_path / "payload"
    (payload / "sub").mkdir(parents=True)
    (payload / "sub" / "run.sh").write_text("echo ran\n")
    (payload / "sub" / "run.sh").chmod(0o750)
    assert web.put(payload, "/tmp/") == "/tmp/payload"
    assert web.put(payload / "sub" / "run.sh", "/tmp/renamed.sh") == "/tmp/renamed.sh"
    listing = web.exec(["ls", "-ln", "/tmp/payload/sub/run.sh", "/tmp/renamed.sh"], check=True).stdout
    assert listing.count("-rwxr-x--- 1 0 0") == 2
    assert web.exec("sh /tmp/renamed.sh", check=True).stdout == "ran\n"
    assert web.exec(["sh", "-c", 'echo "$A" >&2; exit 2'], environment={"A": "b"}).stderr == "b\n"
    back = web.get("/tmp/renamed.sh", tmp_path)
    assert back == tmp_path / "renamed.sh" and back.read_text() == "echo ran\n" and back.stat().st_mode & 0o777 == 0o750
    with pytest.raises(NotFound):
        web.put(payload, "/no/such/dir/")
    with pytest.raises(InvalidInput):
        web.get("/tmp")  # a directory
    assert any("sleep 300" in p.get("CMD", "") for p in web.top())

    before = engine.containers.get(web.engine_name).attrs["State"]["StartedAt"]
    assert web.restart(timeout=0).running
    assert engine.containers.get(web.engine_name).attrs["State"]["StartedAt"] != before
    assert web.stop(timeout=0).status == "exited"
    assert node.containers.start("web", IMAGE, "sleep 300", ports={8000: None}, environment={"TOKEN": "s3cret"},
                                 memory="64m", cpus=0.5).running  # a stopped one is started again
    with pytest.raises(ConflictError):
        web.remove()  # running
    replaced = node.containers.start("web", IMAGE, "sleep 302", replace=True)
    assert replaced.id != web.id and replaced.running and replaced.ports == {}
    replaced.remove(force=True)
    assert not replaced.exists()
    with pytest.raises(NotFound):
        replaced.remove()
    replaced.remove(missing_ok=True)
    assert ours(engine, local) == []


def test_a_name_cloudorm_did_not_start_is_never_taken(local: cloudorm.Cluster, engine: Any) -> None:
    node = local[0]
    name = f"foreign.{node.id}"  # (the engine's name of a container "foreign" of this node)
    engine.containers.create(IMAGE, ["sleep", "300"], name=name)
    try:
        with pytest.raises(AlreadyExists, match="did not start"):
            node.containers.start("foreign", IMAGE, "sleep 300", replace=True)
        with pytest.raises(NotFound):
            node.containers.get("foreign")
        assert node.containers.list() == []
    finally:
        engine.containers.get(name).remove(force=True)


def test_cluster_wide_start_stop_restart_logs_remove(local: cloudorm.Cluster, engine: Any, tmp_path: Path) -> None:
    started = local.containers.start("svc", IMAGE, ["sh", "-c", "echo up; sleep 300"])
    assert sorted(started.by_target()) == [n.name for n in local.nodes] and started.ok
    assert [c.node.name for c in local.containers.list()] == [n.name for n in local.nodes]
    time.sleep(0.3)
    assert set(local.containers.logs("svc").values().values()) == {"up\n"}
    (tmp_path / "conf.txt").write_text("x=1\n")
    assert set(local.containers.put("svc", tmp_path / "conf.txt", "/tmp/").values().values()) == {"/tmp/conf.txt"}
    assert [r.stdout for r in local.containers.exec("svc", "cat /tmp/conf.txt", check=True)] == ["x=1\n"] * 2
    assert all(c.status == "exited" for c in local.containers.stop("svc", timeout=0).values().values())
    assert all(c.running for c in local.containers.restart("svc", timeout=0).values().values())
    local[1].containers.get("svc").remove(force=True)
    with pytest.raises(ClusterError) as missing:
        local.containers.stop("svc", timeout=0)
    assert isinstance(missing.value.causes[local[1].name], NotFound)
    results = missing.value.results
    assert [r.ok for r in results] == [True, False] and results.failed[0].target == local[1].name
    local.containers.remove("svc", force=True, missing_ok=True)
    assert ours(engine, local) == []


def test_bad_input_is_refused_before_the_engine_is_asked(local: cloudorm.Cluster) -> None:
    node = local[0]
    c = node.containers
    attempts: list[tuple[Any, str]] = [
        (lambda: c.run("", "true"), "image"),
        (lambda: c.run("a b", "true"), "image"),
        (lambda: c.run(IMAGE, []), "command"),
        (lambda: c.run(IMAGE, "echo 'unclosed"), "command"),
        (lambda: c.run(IMAGE, ["a", 1]), "command"),
        (lambda: c.run(IMAGE, "true", environment={"1A": "x"}), "environment"),
        (lambda: c.run(IMAGE, "true", volumes={"rel/path": "/x"}), "volumes"),
        (lambda: c.run(IMAGE, "true", volumes={"/a": "relative"}), "volumes"),
        (lambda: c.run(IMAGE, "true", volumes={"/a": "/x", "/b": "/x"}), "volumes"),
        (lambda: c.run(IMAGE, "true", workdir="tmp"), "workdir"),
        (lambda: c.run(IMAGE, "true", cpus=0), "cpus"),
        (lambda: c.run(IMAGE, "true", memory="1k"), "memory"),
        (lambda: c.run(IMAGE, "true", memory="lots"), "memory"),
        (lambda: c.run(IMAGE, "true", timeout=-1), "timeout"),
        (lambda: c.run(IMAGE, "true", check="yes"), "check"),
        (lambda: c.start("-bad", IMAGE), "name"),
        (lambda: c.start("a/b", IMAGE), "name"),
        (lambda: c.start("ok", IMAGE, ports={70000: 1}), "ports"),
        (lambda: c.start("ok", IMAGE, ports={80: "8080"}), "ports"),
        (lambda: c.start("ok", IMAGE, ports={80: 1, "80/tcp": 2}), "ports"),
        (lambda: c.start("ok", IMAGE, restart="sometimes"), "restart"),
        (lambda: c.start("ok", IMAGE, replace=1), "replace"),
        (lambda: c.get("a b"), "name"),
        (lambda: local.containers.run(IMAGE, "true", nodes=["nope"]), "nodes"),
        (lambda: local.containers.stop("ok", timeout=-1), "timeout"),
        (lambda: local.containers.put("ok", "/no/such/file", "/tmp/"), "local"),
        (lambda: local.containers.put("ok", __file__, "relative"), "remote"),
        (lambda: local.containers.exec("ok", None), "command"),  # type: ignore[arg-type]
        (lambda: local.containers.logs("ok", tail=-1), "tail"),
    ]
    for attempt, field in attempts:
        with pytest.raises(InvalidInput) as e:
            attempt()
        assert e.value.field == field, (field, e.value)
    assert all(n.containers._engine is None for n in local.nodes)  # no engine was even opened


def test_spec_canonical_form_and_digests() -> None:
    a = ContainerSpec("img:1", "a 'b c'", {"B": "2", "A": "1"}, {80: None, "53/udp": ("127.0.0.1", 53)},
                      {"/x": "/y:ro"}, "always", "/w", 1, "1g")
    b = ContainerSpec("img:1", ["a", "b c"], {"A": "1", "B": "2"}, {"53/udp": ("127.0.0.1", 53), "80/tcp": None},
                      {"/x": "/y:ro"}, "always", "/w", 1.0, 1 << 30)
    assert a == b and a.digests() == b.digests() and a.differences(a.labels("n", "x", "service")) == []
    assert a.ports == (("53/udp", "127.0.0.1", 53), ("80/tcp", "", None)) and a.volumes == (("/x", "/y", True),)
    assert ContainerSpec("img:1", volumes={"./d": "/d"}).resolved("/home/u").volumes == (("/home/u/d", "/d", False),)
    assert ContainerSpec("img:2").differences(a.labels("n", "x", "service"))[:2] == ["image", "command"]


def test_an_image_the_node_lacks_is_pulled_or_reported(local: cloudorm.Cluster) -> None:
    with pytest.raises(CloudError, match="could not be pulled"):
        local[0].containers.run("cloudorm-test/absent:1", "true")


# ----------------------------------------------------------------------------------------------- lost answers

class UnixBridge:
    """TCP on 127.0.0.1 to this machine's engine socket, so a FaultProxy can stand between the SDK and the engine."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.socket(socket.AF_UNIX)
            upstream.connect(self.path)
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._copy, args=(a, b), daemon=True).start()

    @staticmethod
    def _copy(a: socket.socket, b: socket.socket) -> None:
        try:
            while data := a.recv(1 << 16):
                b.sendall(data)
        except OSError:
            return
        finally:
            for s in (a, b):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self.listener.close()


class DropAnswers(FaultProxy):
    """A FaultProxy that forwards every request and loses the answer of the first ``count`` whose method and path
    match ``pattern`` (``"POST .*/containers/create"``)."""

    def __init__(self, upstream: str, pattern: str, count: int = 1) -> None:
        super().__init__(upstream, rate=0.0)
        self.pattern = re.compile(pattern)
        self.left = count
        self._now = threading.local()

    def _handle(self, handler: Any) -> None:
        self._now.request = f"{handler.command} {handler.path}"
        super()._handle(handler)

    def _pick_fault(self) -> str | None:
        with self._rng_lock:
            if self.left and self.pattern.match(getattr(self._now, "request", "")):
                self.left -= 1
                return "drop_after"
        return None


@pytest.fixture
def lossy(engine: Any, local: cloudorm.Cluster) -> Iterator[Any]:
    """``lossy(pattern)``: the local nodes' engine reached through a ``DropAnswers`` proxy for ``pattern`` (until
    the test ends: then ``DOCKER_HOST`` is as it was, before ``local`` removes its containers)."""
    before = os.environ.get("DOCKER_HOST")
    host = before or "unix:///var/run/docker.sock"
    if not host.startswith("unix://"):
        pytest.skip(f"the engine is not on a Unix socket here (DOCKER_HOST={host})")
    bridge = UnixBridge(host[len("unix://"):])
    proxies: list[FaultProxy] = []

    def make(pattern: str) -> DropAnswers:
        for node in local.nodes:
            node.containers.close()
        proxy = DropAnswers(bridge.url, pattern)
        proxy.start()
        proxies.append(proxy)
        os.environ["DOCKER_HOST"] = f"tcp://127.0.0.1:{proxy.port}"
        return proxy

    try:
        yield make
    finally:
        if before is None:
            os.environ.pop("DOCKER_HOST", None)
        else:
            os.environ["DOCKER_HOST"] = before
    for node in local.nodes:
        node.containers.close()
    for proxy in proxies:
        proxy.stop()
    bridge.close()


def test_a_lost_create_answer_adopts_what_was_created(local: cloudorm.Cluster, engine: Any, lossy: Any) -> None:
    proxy = lossy(r"POST .*/containers/create")
    web = local[0].containers.start("lost", IMAGE, "sleep 300")
    assert proxy.stats["drop_after"] == 1 and web.running
    assert [c.name for c in engine.containers.list(all=True, filters={"label": LABEL_NODE})] == [web.engine_name]

    proxy = lossy(r"POST .*/containers/create")
    result = local[0].containers.run(IMAGE, ["sh", "-c", "echo once"])
    assert proxy.stats["drop_after"] == 1 and result.stdout == "once\n" and result.ok
    web.remove(force=True)
    assert ours(engine, local) == []


def test_a_lost_start_answer_never_runs_a_command_twice(local: cloudorm.Cluster, engine: Any, lossy: Any) -> None:
    proxy = lossy(r"POST .*/containers/[^/]+/start")
    result = local[0].containers.run(IMAGE, ["sh", "-c", "echo ran"])
    assert proxy.stats["drop_after"] == 1 and result.stdout == "ran\n"  # one start, one line

    proxy = lossy(r"POST .*/containers/[^/]+/restart")
    web = local[0].containers.start("restarted", IMAGE, ["sh", "-c", "echo up; sleep 300"])
    web.restart(timeout=0)
    time.sleep(0.3)
    assert proxy.stats["drop_after"] == 1 and web.logs() == "up\nup\n"  # restarted once, not twice

    proxy = lossy(r"POST .*/exec/[^/]+/start")
    with pytest.raises(OutcomeUnknown, match="may have run"):
        web.exec("echo x")
    web.remove(force=True)
    assert ours(engine, local) == []


# ----------------------------------------------------------------------------------------------- over SSH

@pytest.fixture(scope="module")
def fake(engine: Any) -> Iterator[Any]:
    """The fake DigitalOcean API; its droplets are sshd stand-ins (all on this machine, sharing its engine)."""
    from cloudorm.testing.sshd import sshd_unavailable

    reason = sshd_unavailable()
    if reason:
        pytest.skip(f"no sshd stand-ins: {reason}")
    from cloudorm.testing.digitalocean import FakeDigitalOcean

    with FakeDigitalOcean(boot_delay=0.1) as do:
        yield do


def test_containers_over_ssh(fake: Any, engine: Any, tmp_path: Path) -> None:
    do = cloudorm.Session("digitalocean", creds={"access_token": fake.token}, endpoint_url=fake.url)
    cluster = do.Cluster(f"sshc-{uuid.uuid4().hex[:6]}", size=2, runtime=None, progress=False,
                         boot_timeout=60).save()
    name = f"ssh-{uuid.uuid4().hex[:6]}"
    try:
        results = cluster.containers.run(IMAGE, ["sh", "-c", "echo over ssh"], check=True)
        assert [r.stdout for r in results] == ["over ssh\n"] * 2
        node = cluster[0]
        assert node.containers.available() and re.match(r"\d+\.\d+", node.containers.version())
        (tmp_path / "shared.txt").write_text("bound\n")
        # (the stand-ins share this machine's engine and /tmp: an absolute source is the same path for both)
        svc = node.containers.start(name, IMAGE, "sleep 300", volumes={str(tmp_path): "/data:ro"})
        assert svc.engine_name == name and svc.exec("cat /data/shared.txt").stdout == "bound\n"
        assert node.containers.start(name, IMAGE, "sleep 300", volumes={str(tmp_path): "/data:ro"}).id == svc.id
        for _ in range(3):
            node.containers.list()
            svc.refresh()
            svc.logs()
        relayed = [t for t in threading.enumerate() if t.name.startswith("cloudorm-docker-relay-") and
                   t.name.endswith("-conn") and str(node.address) in t.name]
        assert len(relayed) <= 2  # the SDK's pools would keep a connection (an SSH session) per URL

        host = fake.droplets[int(str(node.id))].host
        host.restart(host_key=host.host_key)  # the connection drops; the next request reconnects, verified again
        assert [c.name for c in node.containers.list()] == [name]
        fake.change_host_key(int(str(node.id)))
        node.close()
        with pytest.raises(HostKeyMismatch):
            node.containers.list()
        with pytest.raises(ClusterError) as refused_key:
            cluster.containers.list()
        assert isinstance(refused_key.value.causes[node.name], HostKeyMismatch)
    finally:
        with contextlib.suppress(Exception):  # (the node's key changed: removed through this machine's engine)
            engine.containers.get(name).remove(force=True)
        cluster.delete()
    assert name not in [c.name for c in engine.containers.list(all=True)]


def test_a_node_without_docker_says_so(tmp_path: Path) -> None:
    from cloudorm.compute.keys import KeyPair
    from cloudorm.compute.ssh import KnownHosts, SSHShell
    from cloudorm.testing.sshd import SshdHost, allocate_address, sshd_unavailable

    reason = sshd_unavailable()
    if reason:
        pytest.skip(f"no sshd stand-ins: {reason}")
    key = KeyPair.generate("t")
    with SshdHost(allocate_address(), tmp_path / "n", authorized_keys=[key.public_key],
                  options={"PermitUserEnvironment": "yes"}) as host:
        (host.home / ".ssh").mkdir(mode=0o700)
        (host.home / ".ssh" / "environment").write_text("PATH=/nonexistent\n")
        known = KnownHosts(None)
        known.pin(host.address, host.host_key.public_key)
        with SSHShell(host.address, user="root", key=key, known_hosts=known) as shell:
            code, out, err = shell.run("docker version --format '{{.Server.APIVersion}}'")
    assert code == 127
    error = refused(err or out, "node 'n-1'", "root")
    assert type(error) is CloudError and "has no docker command" in str(error) and "docker-20-04" in str(error)
    denied = refused("permission denied while trying to connect to the Docker daemon socket at unix:///var/run/"
                     "docker.sock", "node 'n-1'", "ubuntu")
    assert isinstance(denied, AccessDenied) and "'docker' group" in str(denied)
    down = refused("Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon "
                   "running?", "node 'n-1'", "root")
    assert "is dockerd running" in str(down)
