"""Containers on a node (``node.containers``): run a command in a throwaway container, start a long-running one by
name (idempotent: the same name and settings adopt the container there), list, stop, restart and remove them, copy
files in and out, read their logs. The node's Docker engine is reached on this machine (local nodes) or over the
node's own SSH connection, with its pinned host key (``cloudorm.providers.docker_engine``).

A lost answer is settled by looking at the engine (docs/compute.md, "Containers"): a create is never made twice (the
name is the proof), a start is not repeated once the container started, and only reads are re-sent blindly."""

from __future__ import annotations

import contextlib
import logging
import shlex
import threading
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from cloudorm.checks import check_flag, check_seconds
from cloudorm.compute.container_files import copy_in, copy_out
from cloudorm.compute.container_spec import (
    LABEL_NAME,
    LABEL_NODE,
    LABEL_SPEC,
    ContainerSpec,
    Engine,
    Unanswered,
    check_container_command,
    check_container_name,
    check_container_path,
    done,
    reread,
    settled,
)
from cloudorm.compute.node import check_environment, check_timeout
from cloudorm.compute.shell import CommandResult
from cloudorm.errors import AlreadyExists, CloudError, InvalidInput, NotFound, OutcomeUnknown

if TYPE_CHECKING:
    import os

    from cloudorm.compute.node import Node

log = logging.getLogger(__name__)

STOP_TIMEOUT = 10.0
"""Seconds a stopping container has between TERM and KILL (Docker's default)."""


def _text(data: bytes) -> str:
    return data.decode("utf-8", errors="replace")


@attrs.define(eq=False)
class Container:
    """A container cloudorm started on a node, as its engine last described it: ``name``, ``id``, ``image``,
    ``status`` (``created``, ``running``, ``restarting``, ``exited``...), ``exit_code``, published ``ports``."""

    node: Node = attrs.field(repr=lambda n: repr(n.name))
    """The node the container runs on."""
    name: str
    """The name it was started with."""
    id: str = attrs.field(repr=lambda i: repr(i[:12]))
    """The engine's id."""
    image: str
    """The image it was made from, as given."""
    status: str
    """The engine's status, as last loaded."""
    exit_code: int | None = attrs.field(default=None, repr=False)
    """How it exited (None while it has not)."""
    created: datetime | None = attrs.field(default=None, repr=False)
    """When it was created."""
    ports: dict[str, int] = attrs.field(factory=dict, repr=False)
    """Published ports: ``{"80/tcp": 8080}`` (container port -> port on the node)."""
    engine_name: str = attrs.field(default="", repr=False)
    """Its name in the engine (``docker ps``): ``name`` on SSH nodes; ``{name}.{node id}`` on local nodes, which
    share this machine's engine."""

    @property
    def running(self) -> bool:
        """True when the engine said it was running (or restarting), as last loaded."""
        return self.status in ("running", "restarting")

    def _engine(self) -> Engine:
        return self.node.containers._open()

    def _take(self, record: Mapping[str, Any]) -> Container:
        self.id, self.status, self.exit_code = record["id"], record["status"], record["exit_code"]
        self.created, self.ports = record["created"], dict(record["ports"])
        return self

    def refresh(self) -> Container:
        """Reload from the engine; ``NotFound`` once the container is gone."""
        return self._take(reread(lambda: self._engine().inspect(self.engine_name)))

    def exists(self) -> bool:
        """True while the engine has the container."""
        try:
            self._engine().inspect(self.engine_name)
        except NotFound:
            return False
        return True

    def start(self) -> Container:
        """Start it again (a running one: nothing); returns it, reloaded."""
        engine = self._engine()
        reread(lambda: engine.start(self.engine_name))  # (sets a state: sent twice, it starts once)
        return self.refresh()

    def stop(self, timeout: float = STOP_TIMEOUT) -> Container:
        """Stop it (TERM, then KILL after ``timeout`` s; a stopped one: nothing); returns it, reloaded. Its restart
        policy does not bring it back until it is started again."""
        seconds = check_seconds("timeout", timeout, zero=True)
        engine = self._engine()
        reread(lambda: engine.stop(self.engine_name, seconds))
        return self.refresh()

    def restart(self, timeout: float = STOP_TIMEOUT) -> Container:
        """Stop it (as ``stop``) and start it again (a stopped one is started); returns it, reloaded. After a lost
        answer it is restarted again only if it did not restart."""
        seconds = check_seconds("timeout", timeout, zero=True)
        engine = self._engine()
        before = engine.inspect(self.engine_name)["started_at"]

        def look() -> bool | None:
            return True if engine.inspect(self.engine_name)["started_at"] != before else None

        settled(done(lambda: engine.restart(self.engine_name, seconds)), look)
        return self.refresh()

    def remove(self, force: bool = False, missing_ok: bool = False) -> None:
        """Remove it (``force``: even while running, else ``ConflictError``); ``NotFound`` when it is gone already,
        unless ``missing_ok``."""
        force, missing_ok = check_flag("force", force), check_flag("missing_ok", missing_ok)
        engine = self._engine()

        def look() -> bool | None:
            try:
                engine.inspect(self.engine_name)
            except NotFound:
                return True  # the lost request removed it
            return None

        try:
            settled(done(lambda: engine.remove(self.engine_name, force)), look)
        except NotFound:
            if not missing_ok:
                raise
        self.status = "removed"

    def logs(self, tail: int | None = None, since: datetime | None = None, stdout: bool = True,
             stderr: bool = True) -> str:
        """What it wrote (both streams interleaved as written; ``stdout``/``stderr`` pick one), the last ``tail``
        lines only or from ``since`` on."""
        if tail is not None and (isinstance(tail, bool) or not isinstance(tail, int) or tail < 0):
            raise InvalidInput("tail", f"must be a number of lines >= 0 or None, not {tail!r}")
        if since is not None and not isinstance(since, datetime):
            raise InvalidInput("since", f"must be a datetime or None, not {since!r}")
        out, err = check_flag("stdout", stdout), check_flag("stderr", stderr)
        if not (out or err):
            raise InvalidInput("stdout", "give stdout=True or stderr=True (or both)")
        stamp = None if since is None else since.timestamp()
        engine = self._engine()
        return _text(reread(lambda: engine.logs(self.engine_name, out, err, tail, stamp)))

    def put(self, local: str | os.PathLike[str], remote: str) -> str:
        """Copy a local file or directory into the container (``docker cp``): to the path ``remote``, or into the
        directory ``remote`` when it ends with ``/`` (which must exist, as for ``docker cp``); files are owned by
        root, their modes kept. The path it got."""
        return copy_in(self._engine(), self.engine_name, local, remote)

    def get(self, remote: str, local: str | os.PathLike[str] | None = None) -> Path:
        """Copy one file out of the container to ``local`` (a file path, or a directory to put it in; default: the
        current directory under its name); the local path."""
        return copy_out(self._engine(), self.engine_name, remote, local)

    def exec(self, command: str | Sequence[str], *, environment: Mapping[str, str] | None = None,
             workdir: str | None = None, check: bool = False) -> CommandResult:
        """Run ``command`` (arguments, or a string split into them: no shell runs) in the running container
        (``docker exec``); its result (``check=True``: ``CommandFailed`` unless it exited 0). A lost answer is
        ``OutcomeUnknown``: it may have run, and it is not run again."""
        argv = check_container_command(command)
        if argv is None:
            raise InvalidInput("command", "exec needs a command")
        env = check_environment(environment)
        where = None if workdir is None else check_container_path(workdir, "workdir")
        check = check_flag("check", check)
        started = time.monotonic()
        try:
            code, out, err = self._engine().exec(self.engine_name, argv, env, where)
        except Unanswered as e:
            raise OutcomeUnknown(f"{e.message}; the command may have run, and was not run again") from None
        result = CommandResult(self.node, shlex.join(argv), code, _text(out), _text(err), time.monotonic() - started)
        return result.check() if check else result

    def top(self) -> list[dict[str, str]]:
        """Its processes (``docker top``): one dict per process, ``ps``'s column titles as keys."""
        engine = self._engine()
        return reread(lambda: engine.top(self.engine_name))

    def stats(self) -> dict[str, Any]:
        """One sample of its use (``docker stats --no-stream``; takes about a second): ``cpu_percent``, ``memory``
        and ``memory_limit`` in bytes, ``pids``."""
        engine = self._engine()
        return reread(lambda: engine.stats(self.engine_name))


class NodeContainers:
    """The containers of one node, on its Docker engine (opened on first use): ``node.containers``."""

    def __init__(self, node: Node) -> None:
        self.node = node
        self._engine: Engine | None = None
        self._home: str | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"NodeContainers({self.node.name!r})"

    # ------------------------------------------------------------------------------------------- the engine

    @property
    def _remote(self) -> bool:
        return self.node.cluster._transport(self.node._made()).remote

    def _open(self) -> Engine:
        """The node's engine, opened once: ``CloudError``/``AccessDenied`` saying why when it cannot be used."""
        from cloudorm.providers.docker_engine import DockerEngine, refused

        with self._lock:
            if self._engine is None:
                where = f"node {self.node.name!r}"
                if not self._remote:
                    self._engine = DockerEngine.local(where)
                else:
                    from cloudorm.compute.ssh.connection import SSHConnection

                    shell = self.node.shell
                    if not isinstance(shell, SSHConnection):
                        raise CloudError(f"{where} is not reached over SSH: its Docker engine cannot be reached")
                    code, out, err = shell.run("docker version --format '{{.Server.APIVersion}}'", 60)
                    if code != 0 or not out.strip():
                        raise refused(err or out, where, shell.user)
                    self._engine = DockerEngine.over_ssh(shell, out.strip(), where)
            return self._engine

    def close(self) -> None:
        """Close the connection to the engine (the next call opens a new one)."""
        with self._lock:
            engine, self._engine = self._engine, None
        if engine is not None:
            engine.close()

    def available(self) -> bool:
        """True when the node's Docker engine answers (False when it has none, or it is not running)."""
        try:
            self._open().version()
        except (CloudError, ImportError):
            return False
        return True

    def version(self) -> str:
        """The version of the node's Docker engine (``24.0.7``)."""
        engine = self._open()
        return reread(engine.version)

    def _engine_name(self, name: str) -> str:
        return name if self._remote else f"{name}.{self.node._made()['id']}"

    def _node_id(self) -> str:
        return str(self.node._made()["id"])

    def _container(self, record: Mapping[str, Any]) -> Container:
        labels = record["labels"]
        return Container(self.node, labels.get(LABEL_NAME) or record["engine_name"], record["id"],
                         record["image"], record["status"], record["exit_code"], record["created"],
                         dict(record["ports"]), record["engine_name"])

    def _resolved(self, spec: ContainerSpec) -> ContainerSpec:
        """``spec`` with ``./`` volume sources from the node's home (asked of the node once)."""
        if not spec.relative_sources():
            return spec
        if self._home is None:
            code, out, err = self.node.shell.run("pwd", 60)
            if code != 0 or not out.strip().startswith("/"):
                raise CloudError(f"the home of node {self.node.name!r} could not be told: {err.strip()[-200:]}")
            self._home = out.strip()
        return spec.resolved(self._home)

    def _create(self, engine: Engine, engine_name: str, spec: ContainerSpec,
                labels: dict[str, str]) -> dict[str, Any]:
        """Create the container; after a lost answer, the one found under its name with these labels is it."""

        def look() -> dict[str, Any] | None:
            try:
                record = engine.inspect(engine_name)
            except NotFound:
                return None
            same = all(record["labels"].get(k) == labels[k] for k in (LABEL_NODE, LABEL_SPEC))
            return record if same else None

        return settled(lambda: engine.create(engine_name, spec, labels), look)

    # ------------------------------------------------------------------------------------------- run

    def run(self, image: str, command: str | Sequence[str] | None = None, *,
            environment: Mapping[str, str] | None = None, volumes: Mapping[str, str] | None = None,
            workdir: str | None = None, cpus: float | None = None, memory: int | str | None = None,
            timeout: float | None = None, check: bool = False) -> CommandResult:
        """Run ``command`` (arguments, or a string split into them; None: the image's own) in a new container from
        ``image`` and remove it after (``docker run --rm``; the image is pulled when the node lacks it); its result:
        exit code, stdout, stderr (``check=True``: ``CommandFailed`` unless it exited 0). ``timeout`` kills it after
        that many seconds (exit code None)."""
        spec = ContainerSpec(image, command, environment, None, volumes, "no", workdir, cpus, memory)
        seconds = check_timeout(timeout)
        check = check_flag("check", check)
        return self._run(spec, seconds, check)

    def _run(self, spec: ContainerSpec, seconds: float | None, check: bool) -> CommandResult:
        engine = self._open()
        spec = self._resolved(spec)
        name = f"cloudorm-run-{uuid.uuid4().hex[:12]}"
        engine_name = self._engine_name(name)
        started = time.monotonic()
        self._create(engine, engine_name, spec, spec.labels(self._node_id(), name, "run"))
        try:
            settled(done(lambda: engine.start(engine_name)),  # (a command is never started twice)
                    lambda: True if engine.inspect(engine_name)["started"] else None)
            deadline = None if seconds is None else started + seconds
            code = reread(lambda: engine.wait(engine_name, None if deadline is None else
                                               max(0.1, deadline - time.monotonic())))
            if code is None:
                engine.kill(engine_name)
            out = reread(lambda: engine.logs(engine_name, True, False, None, None))
            err = reread(lambda: engine.logs(engine_name, False, True, None, None))
        finally:
            try:
                reread(lambda: engine.remove(engine_name, True))
            except NotFound:
                pass
            except CloudError as e:
                log.warning("could not remove the container %s of a run on %s: %s", engine_name, self.node.name, e)
        shown = shlex.join(spec.command) if spec.command is not None else spec.image
        result = CommandResult(self.node, shown, code, _text(out), _text(err), time.monotonic() - started)
        return result.check() if check else result

    # ------------------------------------------------------------------------------------------- services

    def start(self, name: str, image: str, command: str | Sequence[str] | None = None, *,
              environment: Mapping[str, str] | None = None, ports: Mapping[int | str, Any] | None = None,
              volumes: Mapping[str, str] | None = None, restart: str = "unless-stopped", workdir: str | None = None,
              cpus: float | None = None, memory: int | str | None = None, replace: bool = False) -> Container:
        """Make sure a container ``name`` runs ``image`` (``docker run -d --name``) with these settings: created and
        started (the image pulled first when the node lacks it); when the node has one under that name started
        with the same settings it is adopted (and started if stopped). One with other settings is
        ``AlreadyExists`` naming them, unless ``replace`` (it is removed and made again); a container under that
        name that cloudorm did not start for this node is always ``AlreadyExists``. ``restart`` defaults to
        ``"unless-stopped"``: it comes back after a reboot."""
        name = check_container_name(name)
        spec = ContainerSpec(image, command, environment, ports, volumes, restart, workdir, cpus, memory)
        return self._start(name, spec, check_flag("replace", replace))

    def _start(self, name: str, spec: ContainerSpec, replace: bool) -> Container:
        engine = self._open()
        spec = self._resolved(spec)
        engine_name = self._engine_name(name)
        labels = spec.labels(self._node_id(), name, "service")
        try:
            record = self._create(engine, engine_name, spec, labels)
        except AlreadyExists:
            record = engine.inspect(engine_name)
            if record["labels"].get(LABEL_NODE) != labels[LABEL_NODE]:
                raise AlreadyExists(f"node {self.node.name!r} has a container {engine_name!r} that cloudorm did not "
                                    f"start for it: choose another name, or remove it") from None
            differs = spec.differences(record["labels"])
            if differs and not replace:
                raise AlreadyExists(f"container {name!r} on node {self.node.name!r} was started with another "
                                    f"{', '.join(differs)}: remove it first, or pass replace=True") from None
            if differs:
                with contextlib.suppress(NotFound):
                    reread(lambda: engine.remove(engine_name, True))
                record = self._create(engine, engine_name, spec, labels)
        if record["status"] not in ("running", "restarting", "paused"):
            reread(lambda: engine.start(engine_name))  # (a service: starting one that runs does nothing)
        return self._container(engine.inspect(engine_name))

    def get(self, name: str) -> Container:
        """The container ``name`` cloudorm started on this node; ``NotFound`` when there is none."""
        name = check_container_name(name)
        engine = self._open()
        engine_name = self._engine_name(name)
        record = reread(lambda: engine.inspect(engine_name))
        if record["labels"].get(LABEL_NODE) != self._node_id():
            raise NotFound(f"node {self.node.name!r} has no container {name!r} started by cloudorm")
        return self._container(record)

    def list(self) -> list[Container]:
        """The containers cloudorm started on this node, running or not, by name (``docker ps -a``)."""
        engine = self._open()
        records = reread(lambda: engine.listing(self._node_id()))
        return sorted((self._container(r) for r in records), key=lambda c: c.name)

    def __iter__(self) -> Iterator[Container]:
        return iter(self.list())


__all__ = ["STOP_TIMEOUT", "Container", "NodeContainers"]
