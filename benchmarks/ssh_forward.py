"""cloudorm SSH port forwarding (``node.forward``, ``SSHShell.forward``) against OpenSSH's ``ssh -L`` and a direct
connection, and a command's round trip with and without Nagle's algorithm on the SSH socket.

Run: ``python benchmarks/ssh_forward.py`` or ``python benchmarks/ssh_forward.py --quick``.

The node is a real OpenSSH ``sshd`` stand-in (``cloudorm.testing.sshd``) on its own 127.0.0.x address; the target is
an echo server on another loopback address ("a port on the node's network"). Measured, median of ``--repeat``:

1. **open**: a new TCP connection to the forwarded address and a 1-byte round trip (a ``direct-tcpip`` channel
   opened per connection);
2. **round trip**: 1 byte there and back on an open connection (what a Dask ``client.submit`` pays per message);
   and the same with the answer written in two pieces (a header, then a body);
3. **throughput**: ``--mb`` MiB echoed (sent and read back at once), MiB/s;
4. **command**: ``shell.run("true")``, with ``TCP_NODELAY`` on the SSH socket (cloudorm's setting) and off (the
   socket's default, Nagle holding small packets until the server's delayed ACK).

The answer in two writes shows sshd's side: it keeps Nagle's algorithm on for forwarded data, so its second packet
waits for the ACK of the first; cloudorm acknowledges at once (``TCP_QUICKACK`` after each read, on Linux), while a
client that delays its ACK (``ssh -L``) waits ~40 ms each time.
"""

from __future__ import annotations

import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

from _bench import parser, table

from cloudorm.compute.keys import KeyPair
from cloudorm.compute.ssh import KnownHosts, SSHShell
from cloudorm.testing.sshd import SshdHost, allocate_address, sshd_unavailable

Address = tuple[str, int]


def echo_server() -> Address:
    """An echo server on a loopback address of its own, in daemon threads; its address."""
    listener = socket.create_server((allocate_address(), 0))

    def serve(conn: socket.socket) -> None:
        with conn:
            while data := conn.recv(1 << 16):
                if data == b"!":  # (a reply in two writes, as a server writing a header and then a body)
                    conn.sendall(b"!")
                    time.sleep(0.0005)
                conn.sendall(data)

    def accept() -> None:
        while True:
            conn, _ = listener.accept()
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            threading.Thread(target=serve, args=(conn,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    host, port = listener.getsockname()[:2]
    return str(host), int(port)


def connect(address: Address) -> socket.socket:
    conn = socket.create_connection(address, timeout=30)
    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return conn


def median_ms(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def opening(address: Address, repeat: int) -> float:
    def one() -> None:
        with connect(address) as conn:
            conn.sendall(b"p")
            assert conn.recv(1) == b"p"

    one()
    return median_ms(one, repeat)


def round_trip(address: Address, repeat: int, message: bytes = b"p") -> float:
    """``message`` sent and its answer read back on one open connection (``b"!"``: the server answers ``b"!!"`` in
    two writes)."""
    answer = b"!!" if message == b"!" else message
    with connect(address) as conn:
        def one() -> None:
            conn.sendall(message)
            got = b""
            while len(got) < len(answer):
                got += conn.recv(len(answer))

        one()
        return median_ms(one, repeat)


def throughput(address: Address, mb: int) -> float:
    payload = b"x" * (mb << 20)
    with connect(address) as conn:
        received = 0

        def read() -> None:
            nonlocal received
            while received < len(payload) and (data := conn.recv(1 << 20)):
                received += len(data)

        reader = threading.Thread(target=read)
        start = time.perf_counter()
        reader.start()
        conn.sendall(payload)
        reader.join()
        assert received == len(payload)
        return mb / (time.perf_counter() - start)


def openssh_forward(host: SshdHost, key: KeyPair, target: Address, root: Path) -> tuple[subprocess.Popen[bytes],
                                                                                          Address] | None:
    """``ssh -N -L`` to ``target`` through ``host`` (None without an ``ssh`` client)."""
    key.save(root / "id")
    (root / "known_hosts").write_text(f"[{host.address}]:{host.port} {host.host_key.public_key}\n"
                                      if host.port != 22 else f"{host.address} {host.host_key.public_key}\n")
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = int(probe.getsockname()[1])
    try:
        process = subprocess.Popen(
            ["ssh", "-N", "-p", str(host.port), "-i", str(root / "id"), "-o", "IdentitiesOnly=yes",
             "-o", f"UserKnownHostsFile={root / 'known_hosts'}", "-o", "StrictHostKeyChecking=yes",
             "-o", "ExitOnForwardFailure=yes", "-L", f"127.0.0.1:{port}:{target[0]}:{target[1]}",
             f"root@{host.address}"], stdin=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    except FileNotFoundError:
        return None
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return process, ("127.0.0.1", port)
        except OSError:
            time.sleep(0.05)
    process.kill()
    return None


def main(argv: list[str] | None = None) -> int:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--repeat", type=int, default=200, help="timed calls per measurement")
    p.add_argument("--mb", type=int, default=64, help="MiB echoed for the throughput")
    args = p.parse_args(argv)
    repeat, mb = (10, 2) if args.quick else (args.repeat, args.mb)
    reason = sshd_unavailable()
    if reason:
        print(f"cloudorm ssh_forward: skipped, no sshd stand-ins ({reason})")
        return 0
    root = Path(tempfile.mkdtemp(prefix="bench-forward-"))
    key = KeyPair.generate("bench")
    host = SshdHost(allocate_address(), root / "node", authorized_keys=[key.public_key]).start()
    target = echo_server()
    known = KnownHosts(None)
    known.pin(host.address, host.host_key.public_key, host.port)
    shell = SSHShell(host.address, user="root", key=key, known_hosts=known, port=host.port)
    openssh = openssh_forward(host, key, target, root)
    try:
        ways: list[tuple[str, Address]] = [("direct (no SSH)", target), ("cloudorm forward", shell.forward(*target))]
        if openssh is not None:
            ways.append(("OpenSSH ssh -L", openssh[1]))
        rows = [[label, opening(address, repeat), round_trip(address, repeat), round_trip(address, repeat, b"!"),
                 throughput(address, mb)] for label, address in ways]
        print(table(["way to the echo server", "open + 1 B round trip ms", "1 B round trip ms",
                     "reply in 2 writes ms", "echo MiB/s"], rows,
                    f"SSH port forwarding: median of {repeat}, {mb} MiB echoed ({sys.version.split()[0]})"))
        print()
        shell.run("true")
        transport = shell._transport
        assert transport is not None
        commands = []
        for label, nodelay in (("cloudorm (TCP_NODELAY)", 1), ("Nagle on (the socket's default)", 0)):
            transport.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, nodelay)
            shell.run("true")
            commands.append([label, median_ms(lambda: shell.run("true"), max(5, repeat // 4))])
        print(table(["shell.run('true') on an open connection", "median ms"], commands))
    finally:
        if openssh is not None:
            openssh[0].kill()
            openssh[0].wait()
        shell.close()
        host.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
