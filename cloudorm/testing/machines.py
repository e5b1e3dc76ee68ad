"""Whole machines for tests that change a node's system (hardening): Docker containers of a Debian image running
sshd, each with its own ``/etc``, users, network namespace and firewall, so nothing they do reaches this machine.

``FakeDigitalOcean(machines=DockerMachines())`` boots its droplets as such containers. Containers get
``NET_ADMIN`` (nftables in their own network namespace) and a writable ``/proc/sys`` (the ``net.*`` settings of
their namespace; the kernel refuses them the global ones without ``SYS_ADMIN``), never ``--privileged``.

The image (``IMAGE``) is built once from ``BASE_IMAGE`` (the Debian bookworm stand-in that
``.ci/lambda-build-image.sh`` makes): openssh-server installed, and the packages hardening installs (sudo,
nftables, fail2ban, python3-systemd, procps) downloaded but not installed, so installing them needs no network.
``docker_unavailable()`` says why the machines cannot run here (tests skip with that reason).
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from cloudorm.compute.keys import KeyPair

BASE_IMAGE = os.environ.get("CLOUDORM_BUILD_IMAGE", "cloudorm/lambda-build:python3.11")
"""The Debian image machines are built on."""

LABEL = "cloudorm-test-machine"
"""The label every machine's container carries."""

DOWNLOADED = ("sudo", "nftables", "fail2ban", "python3-systemd", "procps")
"""Packages in the image's apt cache, not installed."""

DOCKERFILE = f"""FROM {BASE_IMAGE}
RUN apt-get update -qq \\
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends openssh-server >/dev/null \\
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends --download-only \\
    {' '.join(DOWNLOADED)} >/dev/null \\
 && sed -i 's/^session\\s\\+required\\s\\+pam_loginuid.so/session optional pam_loginuid.so/' /etc/pam.d/sshd \\
 && echo force-unsafe-io > /etc/dpkg/dpkg.cfg.d/cloudorm-unsafe-io && groupadd --system docker \
 && mkdir -p /run/sshd /root/.ssh && chmod 700 /root/.ssh
"""
"""The image: ``pam_loginuid`` optional (a container may not set a login uid), dpkg without fsync (a throwaway
machine), a ``docker`` group (as a node with Docker has), sshd's privilege separation directory made."""

IMAGE = f"cloudorm/test-machine:{hashlib.sha256(DOCKERFILE.encode()).hexdigest()[:12]}"
"""The machines' image (built from ``DOCKERFILE`` when missing; its tag changes with it)."""

START = "mkdir -p /run/sshd && touch /var/log/auth.log && exec /usr/sbin/sshd -D -E /var/log/auth.log"
"""A machine's command: sshd logging to the file fail2ban reads (a container has no journal)."""

_lock = threading.Lock()
_built: list[str] = []
_running: set[DockerMachine] = set()


def _docker(*args: str, timeout: float = 60, check: bool = True, input: str | None = None,
            ) -> subprocess.CompletedProcess[str]:
    out = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout, input=input,
                         check=False)
    if check and out.returncode != 0:
        raise RuntimeError(f"docker {' '.join(args[:2])} failed ({out.returncode}): {out.stderr.strip()[-1000:]}")
    return out


def docker_unavailable() -> str | None:
    """Why machines cannot run here (no docker CLI, no engine, no base image, the image cannot be built), or
    None; the image is built on the first call that finds it missing."""
    with _lock:
        if _built:
            return _built[0] or None
        reason = _probe()
        _built.append(reason or "")
        return reason


def _probe() -> str | None:
    if not shutil.which("docker"):
        return "the docker CLI is not installed"
    try:
        if _docker("info", "--format", "{{.ServerVersion}}", timeout=20, check=False).returncode != 0:
            return "no docker engine answers (docker info failed)"
        if _docker("image", "inspect", IMAGE, timeout=20, check=False).returncode == 0:
            return None
        if _docker("image", "inspect", BASE_IMAGE, timeout=20, check=False).returncode != 0:
            return f"the base image {BASE_IMAGE} is missing (bash .ci/lambda-build-image.sh makes it)"
        built = _docker("build", "-q", "-t", IMAGE, "-", input=DOCKERFILE, timeout=900, check=False)
    except subprocess.TimeoutExpired as e:
        return f"docker did not answer in time: {e}"
    if built.returncode != 0:
        return f"building {IMAGE} failed (apt must reach Debian's mirror): {built.stderr.strip()[-500:]}"
    return None


class DockerMachine:
    """One machine: a container running sshd as root's login with ``authorized_keys`` and ``host_key``."""

    def __init__(self, name: str, host_key: KeyPair | None = None, authorized_keys: Iterable[str] = ()) -> None:
        self.name = name
        self.host_key: KeyPair = host_key or KeyPair.generate(f"root@{name}")
        """The ed25519 key sshd proves itself with."""
        self.authorized_keys = [k.strip() for k in authorized_keys if k.strip()]
        self.address = ""
        """The container's address on Docker's bridge (reachable from this machine)."""
        self.container: str | None = None

    def __repr__(self) -> str:
        return f"DockerMachine({self.name!r}, address={self.address!r})"

    def start(self) -> DockerMachine:
        """Create and start the container; returns once sshd accepts connections."""
        self.container = _docker(
            "create", "--name", self.name, "--label", LABEL, "--init", "--cap-add", "NET_ADMIN",
            "--security-opt", "systempaths=unconfined", "--hostname", self.name[:63], IMAGE, "sh", "-c", START,
        ).stdout.strip()
        with _lock:
            _running.add(self)
        self._copy_keys()
        _docker("start", self.container)
        self._wait_listening()
        return self

    def _copy_keys(self) -> None:
        assert self.container is not None
        with tempfile.TemporaryDirectory() as tmp:
            key = Path(tmp, "ssh_host_ed25519_key")
            self.host_key.save(key)
            keys = Path(tmp, "authorized_keys")
            keys.write_text("".join(f"{k}\n" for k in self.authorized_keys))
            for path, target in ((key, "/etc/ssh/ssh_host_ed25519_key"),
                                 (Path(f"{key}.pub"), "/etc/ssh/ssh_host_ed25519_key.pub"),
                                 (keys, "/root/.ssh/authorized_keys")):
                _docker("cp", str(path), f"{self.container}:{target}")

    def _wait_listening(self, timeout: float = 30.0) -> None:
        assert self.container is not None
        deadline = time.monotonic() + timeout
        while True:
            inspect = _docker("inspect", "-f", "{{.State.Running}} {{range .NetworkSettings.Networks}}"
                                               "{{.IPAddress}}{{end}}", self.container)
            running, _, address = inspect.stdout.strip().partition(" ")
            if running != "true":
                logs = _docker("logs", "--tail", "20", self.container, check=False)
                raise RuntimeError(f"machine {self.name} stopped: {(logs.stdout + logs.stderr).strip()[-1000:]}")
            if address:
                self.address = address
                with contextlib.suppress(OSError), socket.create_connection((address, 22), timeout=1) as sock:
                    if sock.recv(4).startswith(b"SSH-"):
                        return
            if time.monotonic() > deadline:
                raise RuntimeError(f"machine {self.name}: sshd did not answer at {address or '?'}:22 in {timeout} s")
            time.sleep(0.1)

    def exec(self, command: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """Run ``command`` (sh) as root inside the machine, not over SSH: what the tests look at."""
        assert self.container is not None
        return _docker("exec", self.container, "sh", "-c", command, timeout=timeout, check=False)

    def restart(self, host_key: KeyPair | None = None) -> DockerMachine:
        """Reboot: the container restarts with ``host_key`` (a new one when None); its files are kept."""
        assert self.container is not None
        self.host_key = host_key or KeyPair.generate(f"root@{self.name}")
        _docker("stop", "-t", "2", self.container)
        self._copy_keys()
        _docker("start", self.container)
        self._wait_listening()
        return self

    def stop(self) -> None:
        """Remove the container (safe to call twice)."""
        container, self.container = self.container, None
        with _lock:
            _running.discard(self)
        if container is not None:
            _docker("rm", "-f", container, check=False)


class DockerMachines:
    """Boots ``FakeDigitalOcean`` droplets as ``DockerMachine`` s and removes them all at ``stop()``."""

    def __init__(self) -> None:
        self.machines: list[DockerMachine] = []
        self._lock = threading.Lock()

    def __call__(self, droplet: Any, host_key: KeyPair | None, authorized_keys: Iterable[str]) -> DockerMachine:
        """Start a machine for ``droplet``."""
        name = f"cloudorm-machine-{droplet.data['name']}-{uuid.uuid4().hex[:8]}"
        machine = DockerMachine(name, host_key, authorized_keys)
        with self._lock:
            self.machines.append(machine)
        return machine.start()

    def by_address(self, address: str) -> DockerMachine:
        """The machine at ``address``."""
        with self._lock:
            return next(m for m in self.machines if m.address == address)

    def stop(self) -> None:
        """Remove every machine made."""
        with self._lock:
            machines, self.machines = self.machines, []
        for machine in machines:
            machine.stop()


@atexit.register
def _cleanup() -> None:
    """No machine outlives the process that started it."""
    with _lock:
        machines = list(_running)
    for machine in machines:
        with contextlib.suppress(Exception):
            machine.stop()


__all__ = ["BASE_IMAGE", "DOCKERFILE", "IMAGE", "DockerMachine", "DockerMachines", "docker_unavailable"]
