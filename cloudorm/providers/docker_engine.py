"""The provider of containers on nodes: the one module that drives the docker SDK for them (the ``docker`` extra),
kept behind the providers like every SDK. ``DockerEngine`` is a node's engine (the ``Engine`` protocol of
``cloudorm.compute.container_spec``), reached on this machine with ``docker.from_env()`` (local nodes) or over the
node's own SSH connection (``cloudorm.compute.ssh.docker_relay``). The SDK's exceptions stop here: what leaves is
``cloudorm.errors``, and ``Unanswered`` for an answer that was lost."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import IO, TYPE_CHECKING, Any

from cloudorm.compute.container_spec import LABEL_NODE, ContainerSpec, Unanswered
from cloudorm.errors import AccessDenied, AlreadyExists, CloudError, ConflictError, NotFound

if TYPE_CHECKING:
    from cloudorm.compute.ssh.connection import SSHConnection
    from cloudorm.compute.ssh.docker_relay import EngineRelay

TIMEOUT = 60.0
"""Seconds a request to an engine may take (a pull's progress, a wait and an exec's output are not bounded by it)."""

POOL = 2
"""Connections kept open to a node's engine over SSH (each one an SSH session on the node)."""

_EXITED = re.compile(r"Exited \((-?\d+)\)")
_NEVER = "0001-01-01T00:00:00Z"  # the engine's StartedAt of a container that never started


def _sdk() -> Any:
    try:
        import docker
    except ImportError:
        raise ImportError("containers on nodes need the docker SDK: pip install 'cloudorm[docker]'") from None
    return docker


@contextlib.contextmanager
def _mapping(where: str, what: str, relay: EngineRelay | None = None) -> Iterator[None]:
    """The SDK's and requests' exceptions as cloudorm's: 404 ``NotFound``, 409 ``AlreadyExists`` (a name in use)
    or ``ConflictError``, a lost or timed-out answer ``Unanswered`` (or, over SSH, why the relay could not reach the
    node: ``HostKeyMismatch``, ``AccessDenied``, ``Timeout``), anything else ``CloudError``."""
    import requests.exceptions

    docker = _sdk()
    try:
        yield
    except docker.errors.APIError as e:
        status = e.status_code
        text = f"{what} on {where}: {e.explanation or e}"
        if status == 404:
            raise NotFound(text, status=status, operation=what) from None
        if status == 409:
            cls = AlreadyExists if "already in use" in str(e.explanation) else ConflictError
            raise cls(text, status=status, operation=what) from None
        raise CloudError(text, status=status, operation=what) from None
    except (requests.exceptions.ConnectionError, requests.exceptions.Timeout,
            requests.exceptions.ChunkedEncodingError, OSError) as e:
        failure = relay.failure if relay is not None else None
        if failure is not None:
            raise failure.with_traceback(None) from None
        raise Unanswered(f"{what} on {where}: no answer came ({type(e).__name__}): the engine may be unreachable, "
                         f"or the request applied") from None
    except docker.errors.DockerException as e:
        raise CloudError(f"{what} on {where}: {e}") from None


def _time(text: Any) -> datetime | None:
    """A datetime from the engine's RFC 3339 time (nanoseconds cut to microseconds)."""
    if not isinstance(text, str) or not text or text.startswith("0001-"):
        return None
    text = re.sub(r"(\.\d{6})\d+", r"\1", text).replace("Z", "+00:00")
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


def _inspected(attrs: dict[str, Any]) -> dict[str, Any]:
    """The record of ``inspect_container``'s answer."""
    state, config = attrs.get("State") or {}, attrs.get("Config") or {}
    status = state.get("Status", "")
    ports = {}
    for key, bindings in ((attrs.get("NetworkSettings") or {}).get("Ports") or {}).items():
        if bindings:
            ports[key] = int(bindings[0]["HostPort"])
    return {"id": attrs["Id"], "engine_name": attrs.get("Name", "").lstrip("/"), "image": config.get("Image"),
            "status": status, "exit_code": state.get("ExitCode") if status in ("exited", "dead") else None,
            "started": state.get("StartedAt", _NEVER) != _NEVER, "started_at": state.get("StartedAt"),
            "created": _time(attrs.get("Created")),
            "labels": dict(config.get("Labels") or {}), "ports": ports}


def _listed(summary: dict[str, Any]) -> dict[str, Any]:
    """The record of one container of a listing (the exit code read from its status text)."""
    status = summary.get("State", "")
    exited = _EXITED.search(summary.get("Status", ""))
    ports = {f"{p['PrivatePort']}/{p['Type']}": int(p["PublicPort"]) for p in summary.get("Ports") or []
             if p.get("PublicPort")}
    created = summary.get("Created")
    return {"id": summary["Id"], "engine_name": (summary.get("Names") or ["/"])[0].lstrip("/"),
            "image": summary.get("Image"), "status": status,
            "exit_code": int(exited[1]) if exited and status in ("exited", "dead") else None,
            "started": status != "created", "started_at": None,
            "created": datetime.fromtimestamp(created).astimezone() if isinstance(created, int) else None,
            "labels": dict(summary.get("Labels") or {}), "ports": ports}


def _one_pool(docker: Any, path: str) -> Any:
    """The SDK's Unix socket adapter with one pool of at most ``POOL`` kept connections: docker-py keeps a pool per
    URL (25 of them, ``num_pools`` is ignored for sockets), and through the relay each connection is an SSH
    session, of which sshd allows 10 by default (``MaxSessions``)."""

    class OnePool(docker.transport.UnixHTTPAdapter):  # type: ignore[misc]
        def get_connection(self, url: str, proxies: Any = None) -> Any:
            return super().get_connection("http+docker://localhost", proxies)

    return OnePool(f"http+unix://{path}", TIMEOUT, pool_connections=1, max_pool_size=POOL)


class DockerEngine:
    """One node's Docker engine through the docker SDK's low-level client; ``where`` names the node in messages."""

    def __init__(self, client: Any, where: str, relay: EngineRelay | None = None) -> None:
        self.client = client
        self.api = client.api
        self.where = where
        self._relay = relay

    def __repr__(self) -> str:
        return f"DockerEngine({self.where!r})"

    @classmethod
    def local(cls, where: str) -> DockerEngine:
        """The engine of this machine (``DOCKER_HOST`` and friends, as ``docker.from_env()``); a clear error when
        none answers."""
        docker = _sdk()
        try:
            client = docker.from_env(timeout=int(TIMEOUT))
        except docker.errors.DockerException as e:
            raise CloudError(f"no Docker engine answers on this machine for {where} ({e}): start dockerd, or point "
                             f"DOCKER_HOST at an engine") from None
        return cls(client, where)

    @classmethod
    def over_ssh(cls, connection: SSHConnection, api_version: str, where: str) -> DockerEngine:
        """The engine of the node ``connection`` reaches, through an ``EngineRelay`` (``api_version``: the
        engine's, as its ``docker version`` said, so no request is spent asking)."""
        from cloudorm.compute.ssh.docker_relay import EngineRelay

        docker = _sdk()
        relay = EngineRelay(connection)
        try:
            client = docker.DockerClient(base_url=relay.url, version=api_version, timeout=int(TIMEOUT))
            client.api.mount("http+docker://", _one_pool(docker, relay.path))
        except BaseException:
            relay.close()
            raise
        return cls(client, where, relay)

    def _mapped(self, what: str) -> contextlib.AbstractContextManager[None]:
        return _mapping(self.where, what, self._relay)

    def close(self) -> None:
        """Close the SDK's connections and the relay."""
        self.client.close()
        if self._relay is not None:
            self._relay.close()

    def version(self) -> str:
        """The engine's version (``24.0.7``)."""
        with self._mapped("version"):
            return str(self.api.version()["Version"])

    def has_image(self, image: str) -> bool:
        """Whether the engine holds ``image`` (``repository:tag``)."""
        with self._mapped("inspect image"):
            try:
                self.api.inspect_image(image)
            except _sdk().errors.ImageNotFound:
                return False
        return True

    def import_image(self, image: str, rootfs: bytes) -> None:
        """Make ``image`` (``repository:tag``) from a root filesystem tar, as ``docker import`` does."""
        repository, _, tag = image.rpartition(":")
        with self._mapped("import image"):
            self.api.import_image_from_data(rootfs, repository=repository, tag=tag)

    # ------------------------------------------------------------------------------------------- containers

    def create(self, engine_name: str, spec: ContainerSpec, labels: dict[str, str]) -> dict[str, Any]:
        """Create the container (its image pulled first when the engine lacks it); its record."""
        docker = _sdk()
        restart = None if spec.restart == "no" else {"Name": spec.restart}
        host = self.api.create_host_config(
            binds={source: {"bind": target, "mode": "ro" if ro else "rw"} for source, target, ro in spec.volumes},
            port_bindings={key: (ip, port) if ip else port for key, ip, port in spec.ports},
            restart_policy=restart, nano_cpus=int(spec.cpus * 1e9) if spec.cpus else None, mem_limit=spec.memory)
        exposed = [(int(key.split("/")[0]), key.split("/")[1]) for key, _, _ in spec.ports]

        def send() -> Any:
            return self.api.create_container(
                spec.image, command=list(spec.command) if spec.command is not None else None, name=engine_name,
                environment=[f"{k}={v}" for k, v in spec.environment], labels=labels, host_config=host,
                ports=exposed or None, working_dir=spec.workdir, detach=True)

        with self._mapped(f"creating container {engine_name!r} from {spec.image!r}"):
            try:
                send()
            except docker.errors.ImageNotFound:
                self._pull(spec.image)
                send()
        return self.inspect(engine_name)

    def _pull(self, image: str) -> None:
        docker = _sdk()
        try:
            self.client.images.pull(image)
        except docker.errors.NotFound as e:
            raise NotFound(f"image {image!r} is not on {self.where} and could not be pulled: "
                           f"{e.explanation or e}") from None
        except docker.errors.APIError as e:
            raise CloudError(f"image {image!r} is not on {self.where} and could not be pulled: "
                             f"{e.explanation or e}", status=e.status_code) from None

    def inspect(self, engine_name: str) -> dict[str, Any]:
        """The container's record (``NotFound``)."""
        with self._mapped(f"container {engine_name!r}"):
            return _inspected(self.api.inspect_container(engine_name))

    def listing(self, node_id: str) -> list[dict[str, Any]]:
        """The records of the containers labelled for ``node_id``."""
        with self._mapped("listing containers"):
            found = self.api.containers(all=True, filters={"label": [f"{LABEL_NODE}={node_id}"]})
        return [_listed(s) for s in found]

    def start(self, engine_name: str) -> None:
        """Start the container (a running one: nothing)."""
        with self._mapped(f"starting container {engine_name!r}"):
            self.api.start(engine_name)

    def stop(self, engine_name: str, timeout: float) -> None:
        """Stop the container: TERM, then KILL after ``timeout`` s."""
        with self._mapped(f"stopping container {engine_name!r}"):
            self.api.stop(engine_name, timeout=int(timeout))

    def restart(self, engine_name: str, timeout: float) -> None:
        """Restart the container (a stopped one is started)."""
        with self._mapped(f"restarting container {engine_name!r}"):
            self.api.restart(engine_name, timeout=int(timeout))

    def kill(self, engine_name: str) -> None:
        """KILL the container (one that is not running: nothing)."""
        with contextlib.suppress(ConflictError), self._mapped(f"killing container {engine_name!r}"):
            self.api.kill(engine_name)

    def remove(self, engine_name: str, force: bool) -> None:
        """Remove the container and its anonymous volumes."""
        with self._mapped(f"removing container {engine_name!r}"):
            self.api.remove_container(engine_name, force=force, v=True)

    def wait(self, engine_name: str, timeout: float | None) -> int | None:
        """The exit code once the container exits; None when ``timeout`` s passed first."""
        import requests.exceptions

        with self._mapped(f"waiting for container {engine_name!r}"):
            try:
                answer = self.api.wait(engine_name, timeout=timeout if timeout is not None else 365 * 24 * 3600)
            except requests.exceptions.ReadTimeout:
                return None
            except requests.exceptions.ConnectionError as e:
                if "Read timed out" in str(e):
                    return None
                raise
        return int(answer.get("StatusCode", -1))

    def logs(self, engine_name: str, stdout: bool, stderr: bool, tail: int | None, since: float | None) -> bytes:
        """What the container wrote (``tail``: the last lines only; ``since``: from that Unix time on)."""
        with self._mapped(f"logs of container {engine_name!r}"):
            data: bytes = self.api.logs(engine_name, stdout=stdout, stderr=stderr, tail=tail if tail is not None
                                        else "all", since=since)
        return data

    def put_archive(self, engine_name: str, directory: str, data: IO[bytes]) -> None:
        """Unpack the tar ``data`` into ``directory`` of the container (``NotFound`` when it does not exist)."""
        with self._mapped(f"copying into {directory!r} of container {engine_name!r}"):
            self.api.put_archive(engine_name, directory, data)

    def get_archive(self, engine_name: str, path: str) -> Iterator[bytes]:
        """A tar archive of ``path`` in the container, in chunks."""
        with self._mapped(f"copying {path!r} out of container {engine_name!r}"):
            stream, _ = self.api.get_archive(engine_name, path)
            yield from stream

    def exec(self, engine_name: str, argv: Sequence[str], environment: dict[str, str] | None,
             workdir: str | None) -> tuple[int | None, bytes, bytes]:
        """Run ``argv`` in the running container: (exit code, stdout, stderr)."""
        with self._mapped(f"creating an exec in container {engine_name!r}"):
            created = self.api.exec_create(engine_name, list(argv), environment=environment, workdir=workdir)
        with self._mapped(f"running an exec in container {engine_name!r}"):
            out, err = self.api.exec_start(created["Id"], demux=True)
            code = self.api.exec_inspect(created["Id"]).get("ExitCode")
        return code, out or b"", err or b""

    def top(self, engine_name: str) -> list[dict[str, str]]:
        """The container's processes as ``ps`` shows them, one dict per process."""
        with self._mapped(f"processes of container {engine_name!r}"):
            answer = self.api.top(engine_name)
        titles = answer.get("Titles") or []
        return [dict(zip(titles, row, strict=False)) for row in answer.get("Processes") or []]

    def stats(self, engine_name: str) -> dict[str, Any]:
        """One sample: ``cpu_percent`` (of one CPU, since the engine's previous sample), ``memory`` and
        ``memory_limit`` in bytes, ``pids``."""
        with self._mapped(f"stats of container {engine_name!r}"):
            s = self.api.stats(engine_name, stream=False)
        cpu, pre = s.get("cpu_stats") or {}, s.get("precpu_stats") or {}
        used = (cpu.get("cpu_usage") or {}).get("total_usage", 0) - (pre.get("cpu_usage") or {}).get("total_usage", 0)
        system = cpu.get("system_cpu_usage", 0) - pre.get("system_cpu_usage", 0)
        cpus = cpu.get("online_cpus") or len((cpu.get("cpu_usage") or {}).get("percpu_usage") or []) or 1
        memory = s.get("memory_stats") or {}
        return {"cpu_percent": 100.0 * used / system * cpus if used > 0 and system > 0 else 0.0,
                "memory": int(memory.get("usage", 0)), "memory_limit": int(memory.get("limit", 0)),
                "pids": int((s.get("pids_stats") or {}).get("current", 0))}


def refused(stderr: str, where: str, user: str | None) -> CloudError:
    """The error for a ``docker version`` on a node that failed with ``stderr``: no docker, no access, no engine."""
    text = stderr.strip().splitlines()[-1][:300] if stderr.strip() else "no output"
    low = stderr.lower()
    if "not found" in low or "no such file" in low:
        return CloudError(f"{where} has no docker command ({text}): Docker is not installed there. Use an image "
                          f"that has it (DigitalOcean: 'docker-20-04') or install it in the cluster's setup")
    if "permission denied" in low:
        return AccessDenied(f"the login user {user or ''!r} on {where} may not use the Docker engine ({text}): add "
                            f"it to the 'docker' group, or log in as root")
    return CloudError(f"the Docker engine on {where} does not answer ({text}): is dockerd running there?")
