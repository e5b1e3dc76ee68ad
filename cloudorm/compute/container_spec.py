"""What a container on a node is made from (``ContainerSpec``), the checks of each setting (``InvalidInput`` before
any request), the labels that mark cloudorm's containers, and the ``Engine`` protocol a node's container engine
implements (``cloudorm.providers.docker_engine`` does, with the docker SDK)."""

from __future__ import annotations

import hashlib
import json
import math
import re
import shlex
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import PurePosixPath
from typing import IO, Any, Protocol, TypeVar

import attrs

from cloudorm.checks import check_utf8
from cloudorm.compute.node import check_environment
from cloudorm.errors import CloudError, InvalidInput

T = TypeVar("T")

RESTART_POLICIES = ("no", "always", "unless-stopped", "on-failure")
"""Docker's restart policies; cloudorm's default for ``start`` is ``"unless-stopped"`` (back after a reboot)."""

LABEL_NODE = "cloudorm.node"
"""The id of the node a container was started for: what ``list()`` filters on (local nodes share one engine)."""
LABEL_NAME = "cloudorm.name"
"""The container's name as the user gave it (on local nodes the engine's name carries the node id too)."""
LABEL_SPEC = "cloudorm.spec"
"""A digest per setting, so a second ``start`` tells "the same container" from "another one under that name"."""
LABEL_KIND = "cloudorm.kind"
"""``"service"`` (``start``) or ``"run"`` (``run``'s throwaway container)."""

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}\Z")
_VOLUME_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*\Z")
_PORT_KEY = re.compile(r"(\d{1,5})(?:/(tcp|udp|sctp))?\Z")
_MEMORY = re.compile(r"(\d+(?:\.\d+)?)\s*([kmg]?)i?b?\Z", re.IGNORECASE)
_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}
MIN_MEMORY = 6 << 20
"""The smallest memory limit Docker accepts (6 MiB)."""


class Unanswered(CloudError):
    """The engine's answer to a request was lost (the connection dropped or timed out): it may have been applied."""


def settled(send: Callable[[], T], look: Callable[[], T | None]) -> T:
    """``send()``; when its answer is lost (``Unanswered``), ``look()`` at the engine: a value means the request was
    applied (that is the outcome), None that it was not, and it is sent once more."""
    try:
        return send()
    except Unanswered:
        found = look()
        return found if found is not None else send()


def done(send: Callable[[], None]) -> Callable[[], bool]:
    """``send`` answering True once it returned: a request with no answer of its own, for ``settled``."""

    def sent() -> bool:
        send()
        return True

    return sent


def reread(read: Callable[[], T]) -> T:
    """A request that reads, or sets a state (sent twice, it does what it does once), sent again once when its
    answer was lost."""
    try:
        return read()
    except Unanswered:
        return read()


def check_container_name(name: Any, field: str = "name") -> str:
    """A Docker container name: letters, digits, ``_``, ``.`` and ``-``, starting with a letter or digit."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise InvalidInput(field, f"must be a container name (letters, digits, '_', '.', '-'; starting with a letter "
                                  f"or digit; at most 128 characters), not {name!r}")
    return name


def check_image(image: Any) -> str:
    """An image reference such as ``python:3.12-slim`` or ``ghcr.io/org/app@sha256:...``."""
    if not isinstance(image, str) or not image.strip() or any(c.isspace() for c in image) or "\0" in image:
        raise InvalidInput("image", f"must be an image reference such as 'python:3.12-slim', not {image!r}")
    return check_utf8("image", image)


def check_container_command(command: Any, field: str = "command") -> tuple[str, ...] | None:
    """None (the image's own command), a list of arguments, or a string split like a shell would (no shell runs:
    give ``["sh", "-c", "..."]`` for pipes and variables)."""
    if command is None:
        return None
    if isinstance(command, str):
        try:
            argv = shlex.split(command)
        except ValueError as e:
            raise InvalidInput(field, f"cannot be split into arguments: {e}") from None
    elif isinstance(command, Sequence) and not isinstance(command, (bytes, bytearray)):
        argv = list(command)
    else:
        raise InvalidInput(field, f"must be a list of arguments or a string, not {type(command).__name__}")
    if not argv or not all(isinstance(a, str) and "\0" not in a for a in argv):
        raise InvalidInput(field, "must be one or more string arguments without NUL characters")
    for arg in argv:
        check_utf8(field, arg)
    return tuple(argv)


def check_container_path(path: Any, field: str) -> str:
    """An absolute path inside a container."""
    if not isinstance(path, str) or not path.startswith("/") or "\0" in path or ":" in path:
        raise InvalidInput(field, f"must be an absolute path in the container (no ':'), not {path!r}")
    return check_utf8(field, path)


def check_ports(ports: Any) -> tuple[tuple[str, str, int | None], ...]:
    """``{container_port: host_port}``: the port as ``80`` or ``"53/udp"``; the host port an int, None (one the engine
    picks) or ``(host_ip, port)``. Sorted ``(port/proto, host_ip, host_port)`` triples."""
    if ports is None:
        return ()
    if isinstance(ports, tuple):  # (the canonical form again, as ``attrs.evolve`` gives it)
        ports = {key: (ip, port) if ip else port for key, ip, port in ports}
    if not isinstance(ports, Mapping):
        raise InvalidInput("ports", f"must map container ports to host ports ({{80: 8080}}), not "
                                    f"{type(ports).__name__}")
    out = []
    for key, value in ports.items():
        match = _PORT_KEY.match(str(key)) if isinstance(key, (int, str)) and not isinstance(key, bool) else None
        if match is None or not 0 < int(match[1]) < 65536:
            raise InvalidInput("ports", f"{key!r} is no container port (80, '80/tcp' or '53/udp')")
        ip, port = value if isinstance(value, tuple) and len(value) == 2 else ("", value)
        if not isinstance(ip, str) or "\0" in ip or isinstance(port, (bool, tuple)) \
                or not (port is None or (isinstance(port, int) and 0 < port < 65536)):
            raise InvalidInput("ports", f"the host side of {key!r} must be a port, None or (host_ip, port), "
                                        f"not {value!r}")
        out.append((f"{int(match[1])}/{match[2] or 'tcp'}", ip, port))
    keys = [k for k, _, _ in out]
    if len(set(keys)) != len(keys):
        raise InvalidInput("ports", f"a container port is given twice: {sorted(keys)}")
    return tuple(sorted(out, key=lambda p: p[0]))


def check_volumes(volumes: Any) -> tuple[tuple[str, str, bool], ...]:
    """``{source: target}``: the source an absolute path on the node, ``./path`` (from the node's home) or a volume
    name; the target an absolute path in the container, ``":ro"`` after it for read-only. Sorted
    ``(source, target, read_only)`` triples."""
    if volumes is None:
        return ()
    if isinstance(volumes, tuple):  # (the canonical form again)
        volumes = {source: f"{target}:ro" if read_only else target for source, target, read_only in volumes}
    if not isinstance(volumes, Mapping):
        raise InvalidInput("volumes", f"must map sources on the node to paths in the container ({{'./data': "
                                      f"'/data'}}), not {type(volumes).__name__}")
    out = []
    for source, target in volumes.items():
        if not isinstance(source, str) or not source or "\0" in source or ":" in source or not (
                source.startswith(("/", "./", "../")) or _VOLUME_NAME.match(source)):
            raise InvalidInput("volumes", f"a source is an absolute path, './path' from the node's home or a volume "
                                          f"name, not {source!r}")
        check_utf8("volumes", source)
        read_only = isinstance(target, str) and target.endswith(":ro")
        path = target[:-3] if read_only else target
        out.append((source, check_container_path(path, "volumes"), read_only))
    targets = [t for _, t, _ in out]
    if len(set(targets)) != len(targets):
        raise InvalidInput("volumes", f"two sources are mounted at the same path: {sorted(targets)}")
    return tuple(sorted(out))


def check_restart(restart: Any) -> str:
    """One of ``RESTART_POLICIES``."""
    if restart not in RESTART_POLICIES:
        raise InvalidInput("restart", f"must be one of {', '.join(RESTART_POLICIES)}, not {restart!r}")
    return str(restart)


def check_cpus(cpus: Any) -> float | None:
    """None or a positive number of CPUs (``0.5``: half of one)."""
    if cpus is None:
        return None
    if isinstance(cpus, bool) or not isinstance(cpus, (int, float)) or not math.isfinite(cpus) or not 0 < cpus <= 1024:
        raise InvalidInput("cpus", f"must be a number of CPUs > 0, not {cpus!r}")
    return float(cpus)


def check_memory(memory: Any) -> int | None:
    """None, a number of bytes, or ``"512m"`` / ``"2g"`` (at least 6 MiB, Docker's least)."""
    if memory is None:
        return None
    if isinstance(memory, int) and not isinstance(memory, bool):
        size = memory
    elif isinstance(memory, str) and (match := _MEMORY.match(memory.strip())):
        size = int(float(match[1]) * _UNITS[match[2].lower()])
    else:
        raise InvalidInput("memory", f"must be a number of bytes or a size such as '512m' or '2g', not {memory!r}")
    if size < MIN_MEMORY:
        raise InvalidInput("memory", f"must be at least 6 MiB (Docker's least), not {memory!r}")
    return size


def _environment(environment: Any) -> tuple[tuple[str, str], ...]:
    if isinstance(environment, tuple):  # (the canonical form again)
        environment = dict(environment)
    return tuple(sorted((check_environment(environment) or {}).items()))


def _workdir(path: Any) -> str | None:
    return None if path is None else check_container_path(path, "workdir")


@attrs.frozen
class ContainerSpec:
    """What a container is made from, checked and in one canonical form (two specs that mean the same are equal)."""

    image: str = attrs.field(converter=check_image)
    command: tuple[str, ...] | None = attrs.field(default=None, converter=check_container_command)
    environment: tuple[tuple[str, str], ...] = attrs.field(default=(), converter=_environment, repr=False)
    ports: tuple[tuple[str, str, int | None], ...] = attrs.field(default=(), converter=check_ports)
    volumes: tuple[tuple[str, str, bool], ...] = attrs.field(default=(), converter=check_volumes)
    restart: str = attrs.field(default="no", converter=check_restart)
    workdir: str | None = attrs.field(default=None, converter=_workdir)
    cpus: float | None = attrs.field(default=None, converter=check_cpus)
    memory: int | None = attrs.field(default=None, converter=check_memory)

    def relative_sources(self) -> bool:
        """True when a volume's source is a path from the node's home (``./data``)."""
        return any(s.startswith(("./", "../")) for s, _, _ in self.volumes)

    def resolved(self, home: str) -> ContainerSpec:
        """This spec with ``./`` volume sources made absolute from the node's home ``home``."""
        volumes = {(str(PurePosixPath(home, source)) if source.startswith(("./", "../")) else source):
                   f"{target}:ro" if read_only else target for source, target, read_only in self.volumes}
        return attrs.evolve(self, volumes=volumes)

    def digests(self) -> dict[str, str]:
        """A short digest of each setting (values, environment values among them, are not readable from it)."""
        out = {}
        for a in attrs.fields(ContainerSpec):
            text = json.dumps(getattr(self, a.name), sort_keys=True, separators=(",", ":"))
            out[a.name] = hashlib.sha256(text.encode()).hexdigest()[:16]
        return out

    def labels(self, node_id: str, name: str, kind: str) -> dict[str, str]:
        """The labels that mark a container cloudorm made from this spec for node ``node_id``."""
        return {LABEL_NODE: node_id, LABEL_NAME: name, LABEL_KIND: kind,
                LABEL_SPEC: json.dumps(self.digests(), sort_keys=True, separators=(",", ":"))}

    def differences(self, labels: Mapping[str, str]) -> list[str]:
        """The settings in which a container with ``labels`` differs from this spec (every one if unreadable)."""
        try:
            theirs = json.loads(labels.get(LABEL_SPEC, ""))
        except ValueError:
            theirs = {}
        return [k for k, v in self.digests().items() if not isinstance(theirs, dict) or theirs.get(k) != v]


class Engine(Protocol):
    """A node's container engine: what ``NodeContainers`` asks of it. Records are dicts (``id``, ``engine_name``,
    ``image``, ``status``, ``exit_code``, ``started``, ``created``, ``labels``, ``ports``); a missing container is
    ``NotFound``, a lost answer ``Unanswered``."""

    def version(self) -> str:
        """The engine's version."""

    def create(self, engine_name: str, spec: ContainerSpec, labels: dict[str, str]) -> dict[str, Any]:
        """Create (pulling a missing image first); ``AlreadyExists`` when the name is taken."""

    def inspect(self, engine_name: str) -> dict[str, Any]:
        """The container's record."""

    def listing(self, node_id: str) -> list[dict[str, Any]]:
        """The records of the containers labelled for ``node_id``, running or not."""

    def start(self, engine_name: str) -> None:
        """Start it (nothing when running)."""

    def stop(self, engine_name: str, timeout: float) -> None:
        """Stop it (TERM, then KILL after ``timeout`` s)."""

    def restart(self, engine_name: str, timeout: float) -> None:
        """Stop and start it."""

    def kill(self, engine_name: str) -> None:
        """KILL it now (nothing when not running)."""

    def remove(self, engine_name: str, force: bool) -> None:
        """Remove it (``force``: even running); ``ConflictError`` for a running one without ``force``."""

    def wait(self, engine_name: str, timeout: float | None) -> int | None:
        """Its exit code once it exits; None when ``timeout`` s passed first."""

    def logs(self, engine_name: str, stdout: bool, stderr: bool, tail: int | None, since: float | None) -> bytes:
        """What it wrote so far."""

    def put_archive(self, engine_name: str, directory: str, data: IO[bytes]) -> None:
        """Unpack a tar archive into ``directory`` (which must exist)."""

    def get_archive(self, engine_name: str, path: str) -> Iterator[bytes]:
        """A tar archive of ``path``."""

    def exec(self, engine_name: str, argv: Sequence[str], environment: dict[str, str] | None,
             workdir: str | None) -> tuple[int | None, bytes, bytes]:
        """Run ``argv`` in the running container: exit code, stdout, stderr."""

    def top(self, engine_name: str) -> list[dict[str, str]]:
        """Its processes, one dict (``ps`` column -> value) each."""

    def stats(self, engine_name: str) -> dict[str, Any]:
        """One sample of its CPU, memory and process use."""

    def close(self) -> None:
        """Release the connection."""
