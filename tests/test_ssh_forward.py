"""Port forwarding over a node's SSH connection (``node.forward``, ``SSHShell.forward``: ``ssh -L``) against real
sshd stand-ins: bytes both ways, concurrency, refused targets, reconnects with the host key checked again, sshd
forbidding forwarding, ``close()``; and local nodes, where the address is the target itself."""

from __future__ import annotations

import contextlib
import hashlib
import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import cloudorm
from cloudorm.compute.cluster import Cluster
from cloudorm.compute.keys import KeyPair
from cloudorm.compute.node import Node
from cloudorm.compute.ssh import KnownHosts, SSHShell
from cloudorm.compute.ssh.forward import Forward
from cloudorm.errors import CloudError, HostKeyMismatch, InvalidInput
from cloudorm.testing.sshd import SshdHost, allocate_address, sshd_unavailable
from tests import test_cluster
from tests.test_cluster import unique
from tests.test_jobs import do_session

pytestmark = pytest.mark.usefixtures("state")  # cluster state in the test's directory (conftest)

droplet_api = test_cluster.fake
"""The fake DigitalOcean API (module-scoped); its droplets are sshd stand-ins."""

SSHD_REASON = sshd_unavailable()
needs_sshd = pytest.mark.skipif(SSHD_REASON is not None, reason=SSHD_REASON or "")


# ----------------------------------------------------------------------------------------------- helpers

class Echo:
    """A TCP server on a loopback address of its own ("a port on the node's network": the stand-ins share this
    machine's network) sending back what it reads, half-closing after the client's end of file."""

    def __init__(self) -> None:
        self.listener = socket.create_server((allocate_address(), 0))
        self.host, self.port = self.listener.getsockname()[:2]
        self.accepted = 0
        threading.Thread(target=self._accept, name="test-echo", daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.accepted += 1
            threading.Thread(target=self._echo, args=(conn,), name="test-echo-conn", daemon=True).start()

    @staticmethod
    def _echo(conn: socket.socket) -> None:
        with conn:
            while data := conn.recv(1 << 16):
                conn.sendall(data)
            conn.shutdown(socket.SHUT_WR)

    def close(self) -> None:
        self.listener.shutdown(socket.SHUT_RDWR)
        self.listener.close()


def round_trip(address: tuple[str, int], payload: bytes, timeout: float = 30) -> bytes:
    """Send ``payload`` (from a second thread, so both ways flow at once) and end the sending side; all read back."""
    with socket.create_connection(address, timeout=timeout) as conn:
        def send() -> None:
            conn.sendall(payload)
            conn.shutdown(socket.SHUT_WR)

        sender = threading.Thread(target=send)
        sender.start()
        chunks = []
        while data := conn.recv(1 << 16):
            chunks.append(data)
        sender.join()
    return b"".join(chunks)


def closed_at_once(address: tuple[str, int], within: float = 5.0) -> float:
    """Seconds until a connection to ``address`` was closed by the other side (it must be, within ``within``)."""
    started = time.monotonic()
    with socket.create_connection(address, timeout=within) as conn, contextlib.suppress(ConnectionResetError):
        assert conn.recv(1) == b""
    return time.monotonic() - started


def forward_threads() -> list[str]:
    """The live threads of forwards."""
    return [t.name for t in threading.enumerate() if t.name.startswith("cloudorm-forward-")]


def relay_of(shell: SSHShell, port: int) -> Forward:
    return next(f for f in shell.forwards() if f.port == port)


def eventually(check: object, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return True
        time.sleep(0.05)
    return bool(check())  # type: ignore[operator]


@pytest.fixture(scope="module")
def user_key() -> KeyPair:
    return KeyPair.generate("tester")


def start(root: Path, key: KeyPair, **options: str) -> SshdHost:
    if SSHD_REASON:
        pytest.skip(SSHD_REASON)
    return SshdHost(allocate_address(), root, authorized_keys=[key.public_key], options=options).start()


def pinned(host: SshdHost, key: KeyPair, **kwargs: int) -> SSHShell:
    known = KnownHosts(None)
    known.pin(host.address, host.host_key.public_key, host.port)
    return SSHShell(host.address, user="root", key=key, known_hosts=known, port=host.port, connect_timeout=5,
                    **kwargs)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, user_key: KeyPair) -> Iterator[SshdHost]:
    host = start(tmp_path_factory.mktemp("fwd"), user_key)
    yield host
    host.stop()


@pytest.fixture(scope="module")
def echo() -> Iterator[Echo]:
    e = Echo()
    yield e
    e.close()


@pytest.fixture
def shell(server: SshdHost, user_key: KeyPair) -> Iterator[SSHShell]:
    sh = pinned(server, user_key)
    yield sh
    sh.close()


# ----------------------------------------------------------------------------------------------- over SSH

@needs_sshd
def test_bytes_both_ways_ten_megabytes_intact(shell: SSHShell, echo: Echo) -> None:
    address = shell.forward(echo.host, echo.port)
    assert address[0] == "127.0.0.1" and address[1] != echo.port
    assert shell.forward(echo.host, echo.port) == address  # the same target: the same forward
    assert round_trip(address, b"hello") == b"hello"
    payload = os.urandom(10 << 20)
    back = round_trip(address, payload, timeout=60)
    assert len(back) == len(payload) and hashlib.sha256(back).digest() == hashlib.sha256(payload).digest()
    assert relay_of(shell, echo.port).failure is None


@needs_sshd
def test_twenty_concurrent_connections(shell: SSHShell, echo: Echo) -> None:
    address = shell.forward(echo.host, echo.port)
    payloads = [os.urandom(200_000 + i) for i in range(20)]
    results: dict[int, bytes] = {}
    barrier = threading.Barrier(20)

    def one(i: int) -> None:
        barrier.wait()
        results[i] = round_trip(address, payloads[i])

    threads = [threading.Thread(target=one, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert [results.get(i) == payloads[i] for i in range(20)] == [True] * 20


@needs_sshd
def test_forwards_take_no_session_slot(tmp_path: Path, user_key: KeyPair, echo: Echo) -> None:
    # sshd allows one session a connection and the shell one at a time: forwarded connections held open take none
    host = start(tmp_path / "one", user_key, MaxSessions="1")
    try:
        with pinned(host, user_key, max_sessions=1) as sh:
            address = sh.forward(echo.host, echo.port)
            held = [socket.create_connection(address, timeout=10) for _ in range(5)]
            try:
                for conn in held:
                    conn.sendall(b"ping")
                    assert conn.recv(4) == b"ping"
                assert sh.run("echo still", timeout=10)[:2] == (0, "still\n")
                assert round_trip(address, b"more") == b"more"
            finally:
                for conn in held:
                    conn.close()
    finally:
        host.stop()


@needs_sshd
def test_a_port_nobody_listens_on_closes_at_once(shell: SSHShell, echo: Echo) -> None:
    with socket.create_server((echo.host, 0)) as probe:  # a port known to be free on that address
        free = probe.getsockname()[1]
    address = shell.forward(echo.host, free)
    assert closed_at_once(address) < 3
    failure = relay_of(shell, free).failure
    assert isinstance(failure, CloudError) and "connect failed" in str(failure)
    assert f"{echo.host}:{free}" in str(failure)
    assert round_trip(shell.forward(echo.host, echo.port), b"ok") == b"ok"  # the connection itself is fine


@needs_sshd
def test_reconnect_same_host_key_and_refuse_a_new_one(tmp_path: Path, user_key: KeyPair) -> None:
    host = start(tmp_path / "node", user_key)
    echo = Echo()
    try:
        with pinned(host, user_key) as sh:
            address = sh.forward(echo.host, echo.port)
            assert round_trip(address, b"one") == b"one"
            host.restart(host_key=host.host_key)  # the connection drops; the next one reconnects, verified again
            assert round_trip(address, b"two") == b"two"
            assert relay_of(sh, echo.port).failure is None
            seen = echo.accepted
            host.restart()  # a new host key: nothing may be relayed
            assert closed_at_once(address) < 5
            assert isinstance(relay_of(sh, echo.port).failure, HostKeyMismatch)
            assert echo.accepted == seen
            with pytest.raises(HostKeyMismatch):  # asking again says so at once
                sh.forward(echo.host, echo.port + 1)
            assert len(sh.forwards()) == 1 and echo.accepted == seen
    finally:
        echo.close()
        host.stop()


@needs_sshd
def test_close_refuses_the_port_and_ends_every_thread(server: SshdHost, user_key: KeyPair, echo: Echo) -> None:
    before = set(forward_threads())
    sh = pinned(server, user_key)
    address = sh.forward(echo.host, echo.port)
    other = sh.forward(echo.host, echo.port + 0)
    assert other == address
    held = socket.create_connection(address, timeout=10)
    held.sendall(b"x")
    assert held.recv(1) == b"x"
    assert len(set(forward_threads()) - before) >= 3  # the accept loop, a connection's two ways
    sh.close()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(address, timeout=5).close()
    assert held.recv(1) == b""  # the relayed connection was ended
    held.close()
    assert eventually(lambda: not set(forward_threads()) - before), forward_threads()
    assert sh.forwards() == []
    # the next forward opens anew (a new connection, a new port)
    assert round_trip(sh.forward(echo.host, echo.port), b"again") == b"again"
    sh.close()


@needs_sshd
def test_sshd_forbidding_forwarding_is_a_clear_failure(tmp_path: Path, user_key: KeyPair, echo: Echo) -> None:
    host = start(tmp_path / "noforward", user_key, AllowTcpForwarding="no")
    try:
        with pinned(host, user_key) as sh:
            address = sh.forward(echo.host, echo.port)
            assert closed_at_once(address) < 3
            failure = relay_of(sh, echo.port).failure
            assert isinstance(failure, CloudError) and "administratively prohibited" in str(failure)
            assert sh.run("echo commands still run")[0] == 0
    finally:
        host.stop()


@needs_sshd
def test_forward_checks_its_target(shell: SSHShell) -> None:
    for host, port in (("127.0.0.1", 0), ("127.0.0.1", 65536), ("127.0.0.1", True), ("a b", 80), ("", 80)):
        with pytest.raises(InvalidInput):
            shell.forward(host, port)  # type: ignore[arg-type]
    assert shell.forwards() == []


# ----------------------------------------------------------------------------------------------- local nodes

@pytest.fixture
def local() -> Iterator[Cluster]:
    cluster = cloudorm.Session().Cluster(unique("fwd"), size=1, runtime=None, progress=False).save()
    yield cluster
    cluster.delete(missing_ok=True)


def free_port() -> int:
    with socket.create_server(("127.0.0.1", 0)) as probe:
        return int(probe.getsockname()[1])


def serve_through_forward(node: Node) -> tuple[str, int]:
    """Start a server on the node (a detached job on its 127.0.0.1), reach it through ``node.forward``; the
    address."""
    port = free_port()
    address = node.forward(port)
    assert node.forward(port) == address
    server = (f"python3 -c 'import socket; s = socket.create_server((\"127.0.0.1\", {port})); "
              f"c, _ = s.accept(); c.sendall(c.recv(5).upper())'")
    job = node.run(server, wait=False)
    try:
        deadline = time.monotonic() + 20
        while True:  # (not listening yet: refused locally, closed at once over SSH)
            try:
                with socket.create_connection(address, timeout=5) as conn:
                    conn.sendall(b"hello")
                    if conn.recv(5) == b"HELLO":
                        break
            except (ConnectionRefusedError, ConnectionResetError, BrokenPipeError):
                pass
            assert time.monotonic() < deadline, job.logs()
            time.sleep(0.05)
        assert job.wait(timeout=20).exit_code == 0
    finally:
        job.stop(grace=1)
    return address


def test_local_node_forward_is_the_address_itself(local: Cluster) -> None:
    node = local[0]
    port = free_port()
    assert node.forward(port) == ("127.0.0.1", port)
    assert node.forward(port, "10.1.2.3") == ("10.1.2.3", port)
    address = serve_through_forward(node)
    assert address[0] == "127.0.0.1"


def test_a_droplets_forward_over_its_connection(droplet_api: Any) -> None:
    cluster = do_session(droplet_api).Cluster(unique("fwd"), size=1, runtime=None, progress=False,
                                              boot_timeout=60).save()
    try:
        node = cluster[0]
        address = serve_through_forward(node)
        node.close()  # the forward ends with the connection
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(address, timeout=5).close()
    finally:
        cluster.delete(missing_ok=True)


def test_node_forward_checks_before_any_connection(local: Cluster) -> None:
    node = local[0]
    node.close()
    for port, host in ((0, "127.0.0.1"), (65536, "127.0.0.1"), ("80", "127.0.0.1"), (80, "a b"), (80, ""),
                       (80, "x\0y")):
        with pytest.raises(InvalidInput):
            node.forward(port, host)  # type: ignore[arg-type]
    assert node._shell is None  # nothing was opened
