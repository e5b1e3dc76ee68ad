"""``--state DIR``: the local cloud's state (moto's backends and every part's ``dump()``) kept in a directory, so it
survives a restart and a crash.

A mutating request is answered once a snapshot containing it is on disk (written to a temporary file, fsynced,
renamed over the last one, the directory fsynced): an answered write is durable, and a crash at any moment leaves the
last complete snapshot. Snapshots are group commits: a request holds the ``SnapshotGate`` shared while it is applied;
a snapshot takes it alone only to pickle the state to bytes, then writes them while requests go on; every change
applied meanwhile waits for the next snapshot, which they share.

The directory holds ``snapshot`` (the state), ``snapshot.tmp`` while one is written, and ``lock`` (held by the
process using the directory; the kernel drops it if that process dies).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from cloudorm.errors import InvalidInput
from cloudorm.providers.local import moto_state
from cloudorm.providers.local.app import Change, Gate, LocalCloud

log = logging.getLogger(__name__)

FORMAT = 1
"""The snapshot file's format (a new one is refused by an older cloudorm)."""
MAGIC = b"cloudorm-state"
SNAPSHOT, TEMPORARY, LOCK = "snapshot", "snapshot.tmp", "lock"
"""The files of a state directory."""

_active: Persistence | None = None
_active_lock = threading.Lock()


class StateError(InvalidInput):
    """The ``--state`` directory cannot be used (in use by another process, unreadable, or written by another
    version); the message is one line."""

    def __init__(self, reason: str) -> None:
        super().__init__("state_dir", reason)


def versions() -> dict[str, str]:
    """What a snapshot must have been written with to be read back: cloudorm's and moto's versions."""
    import moto

    from cloudorm import __version__

    return {"cloudorm": __version__, "moto": str(moto.__version__)}


def encode(payload: bytes) -> bytes:
    """A snapshot file's bytes: a magic line, a JSON header (format, versions, size and SHA-256 of the payload),
    then the payload (pickled)."""
    header = {"format": FORMAT, **versions(), "python": "{}.{}".format(*sys.version_info[:2]), "written": time.time(),
              "bytes": len(payload), "sha256": hashlib.sha256(payload).hexdigest()}
    return MAGIC + b"\n" + json.dumps(header).encode() + b"\n" + payload


def decode(data: bytes, where: Path) -> bytes:
    """The payload of a snapshot file, checked (StateError: not a snapshot, another version's, or damaged)."""
    magic, _, rest = data.partition(b"\n")
    line, _, payload = rest.partition(b"\n")
    if magic != MAGIC:
        raise StateError(f"{where} is not a cloudorm state snapshot")
    try:
        header = json.loads(line)
        size, digest = int(header["bytes"]), str(header["sha256"])
    except (ValueError, KeyError, TypeError):
        raise StateError(f"{where} is damaged (its header cannot be read)") from None
    wanted = {"format": FORMAT, **versions()}
    found = {key: header.get(key) for key in wanted}
    if found != wanted:
        written = ", ".join(f"{k} {v}" for k, v in found.items())
        raise StateError(f"{where} was written by another version ({written}; this is "
                         f"{', '.join(f'{k} {v}' for k, v in wanted.items())}): use another --state directory, "
                         "or the version that wrote it")
    if len(payload) != size or hashlib.sha256(payload).hexdigest() != digest:
        raise StateError(f"{where} is damaged ({len(payload)} bytes of {size}, or another checksum)")
    return payload


def write_atomically(directory: Path, data: bytes) -> None:
    """Make ``data`` the directory's snapshot: written to ``snapshot.tmp``, fsynced, renamed over ``snapshot``,
    and the directory fsynced (a crash leaves the old snapshot or the new one, never a part of one)."""
    temporary = directory / TEMPORARY
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_BINARY", 0), 0o600)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(temporary, directory / SNAPSHOT)
    if hasattr(os, "O_DIRECTORY"):  # POSIX: the rename itself must survive a crash
        dir_fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def _lock_directory(directory: Path) -> IO[str]:
    """Hold the directory's lock file for this process (StateError naming the holder if another process has it)."""
    handle = open(directory / LOCK, "a+")  # noqa: SIM115 (held until release)
    try:
        if sys.platform == "win32":  # pragma: no cover - not tested here
            import msvcrt

            msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)
        else:
            import fcntl

            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.seek(0)
        holder = handle.read().strip() or "another process"
        handle.close()
        raise StateError(f"{directory} is in use by {holder} (one process at a time keeps its state there)") from None
    handle.seek(0)
    handle.truncate()
    handle.write(f"cloudorm process {os.getpid()}\n")
    handle.flush()
    return handle


class Persistence:
    """The state of one ``LocalCloud`` kept in ``directory``: ``open()`` locks it and loads its snapshot, then
    mutating requests are answered once a snapshot containing them is written; ``close()`` writes a last one.

    Group commit without a thread of its own: the first request to wait for a snapshot takes it (the leader), the
    ones applied meanwhile wait for the next, which one of them takes for all."""

    def __init__(self, cloud: LocalCloud, directory: Path) -> None:
        """Nothing is read or locked before ``open()``."""
        self.cloud = cloud
        self.directory = directory
        self.users = 0
        """The servers using it (``attach``/``detach``)."""
        self.snapshots = 0
        """Snapshots written since ``open()``."""
        self.last_write_seconds = 0.0
        """How long the last snapshot took to pickle and write."""
        self._cv = threading.Condition()
        self._readers = 0  # requests being applied
        self._alone_now = False  # a snapshot is pickling the state
        self._alone_waiting = 0
        self._leading = False  # a snapshot is being taken (pickled, then written)
        self._applied = 0  # changes applied (the sequence number of the last one)
        self._durable = 0  # the last of them in a snapshot on disk
        self._failed = (0, "")  # the last of them in a snapshot that failed, and why
        self._open = False
        self._lock_file: IO[str] | None = None
        self._previous_gate: Gate | None = None

    def open(self) -> Persistence:
        """Create and lock the directory, load its snapshot (if any) into the cloud, and start keeping the state."""
        try:
            self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as e:
            raise StateError(f"cannot use {self.directory}: {e.strerror or e}") from None
        self._lock_file = _lock_directory(self.directory)
        try:
            self._load()
        except BaseException:
            self._release_lock()
            raise
        self._previous_gate, self.cloud.gate = self.cloud.gate, SnapshotGate(self)
        self._open = True
        return self

    def close(self) -> None:
        """Write a last snapshot (if anything changed since the last one), stop keeping the state and unlock."""
        if not self._open:
            return
        try:
            with self._cv:
                changed = self._applied > self._durable
            if changed:
                self.wait_durable(self._applied)
        finally:
            with self._cv:
                self._open = False  # a request still waiting is told its change may not be kept
                self._cv.notify_all()
            if self._previous_gate is not None:
                self.cloud.gate = self._previous_gate
            self._release_lock()

    def snapshot(self) -> None:
        """Write a snapshot of the state as it is now and return once it is on disk (StateError if it failed)."""
        with self._cv:
            self._applied += 1
            target = self._applied
        self.wait_durable(target)

    def _release_lock(self) -> None:
        if self._lock_file is not None:
            self._lock_file.close()  # closing the file drops its lock
            self._lock_file = None

    def _load(self) -> None:
        for part in self.cloud.parts:  # files a part makes (local nodes' directories) live beside the snapshot
            part.keep_files_in(self.directory / part.name)
        path = self.directory / SNAPSHOT
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return
        except OSError as e:
            raise StateError(f"cannot read {path}: {e.strerror or e}") from None
        payload = decode(data, path)
        try:
            state = moto_state.loads(payload)
            moto_state.install(state["moto"])
        except Exception as e:
            raise StateError(f"{path} cannot be loaded ({type(e).__name__}: {e})") from None
        parts: dict[str, Any] = state.get("parts", {})
        for part in self.cloud.parts:
            if part.name in parts:
                part.load(parts[part.name])

    # the gate: requests share it, a snapshot takes it alone (and goes first, so a busy server still snapshots)

    def enter(self) -> None:
        """A request starts being applied."""
        with self._cv:
            while self._alone_now or self._alone_waiting:
                self._cv.wait()
            self._readers += 1

    def leave(self, changed: bool) -> int:
        """A request was applied; returns its sequence number if it ``changed`` the state (else 0)."""
        with self._cv:
            self._readers -= 1
            if changed:
                self._applied += 1
            if not self._readers:
                self._cv.notify_all()
            return self._applied if changed else 0

    def wait_durable(self, sequence: int) -> None:
        """Return once a snapshot containing the ``sequence``-th change is on disk, taking it if no other request
        is (StateError if it failed)."""
        while True:
            with self._cv:
                while self._leading and self._durable < sequence:
                    self._cv.wait()
                if self._durable >= sequence:
                    return
                failed, reason = self._failed
                if failed >= sequence:
                    raise StateError(f"the change was applied but could not be kept in {self.directory}: {reason}")
                if not self._open:
                    raise StateError(f"the change was applied after the last snapshot in {self.directory}")
                self._leading = True
            try:
                self._take_snapshot()
            finally:
                with self._cv:
                    self._leading = False
                    self._cv.notify_all()

    @contextlib.contextmanager
    def _alone(self) -> Iterator[int]:
        """Hold the gate with no request in flight; yields the sequence number of the last change applied."""
        with self._cv:
            self._alone_waiting += 1
            while self._readers:
                self._cv.wait()
            self._alone_waiting -= 1
            self._alone_now = True
            target = self._applied
        try:
            yield target
        finally:
            with self._cv:
                self._alone_now = False
                self._cv.notify_all()

    def _take_snapshot(self) -> None:
        """Pickle the state with no request in flight, then write it (with requests going on)."""
        started = time.perf_counter()
        target = 0
        try:
            with self._alone() as target:
                payload = self._serialize()
            write_atomically(self.directory, encode(payload))
        except Exception as e:  # every request waiting for it is told; the next change tries again
            log.error("cloudorm: the local cloud's state could not be kept in %s: %s", self.directory, e)
            with self._cv:
                self._failed = (target, f"{type(e).__name__}: {e}")
            return
        with self._cv:
            self._durable = max(self._durable, target)
            self.snapshots += 1
            self.last_write_seconds = time.perf_counter() - started

    def _serialize(self) -> bytes:
        """The state as bytes (called with no request in flight)."""
        for attempt in range(3):
            state = {"moto": moto_state.live_state(),
                     "parts": {part.name: part.dump() for part in self.cloud.parts}}
            try:
                return moto_state.dumps(state)
            except RuntimeError:  # something outside any request (a timer of moto's) changed a dict meanwhile
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")


class SnapshotGate(Gate):
    """The gate of a cloud whose state is kept: a mutating request is answered once a snapshot containing it is on
    disk. Never hold it while waiting for another request to the same cloud (a snapshot waits for it)."""

    def __init__(self, persistence: Persistence) -> None:
        """The gate of ``persistence``'s cloud."""
        self.persistence = persistence

    @contextlib.contextmanager
    def request(self, change: Change | None, *, wait: bool = True) -> Iterator[None]:
        """Hold the gate while a request is applied, then (for a change, unless ``wait`` is False: it is then kept
        by the next snapshot) wait until a snapshot keeps it."""
        persistence = self.persistence
        persistence.enter()
        sequence = 0
        try:
            yield
        finally:
            sequence = persistence.leave(change is not None)
        if sequence and wait:
            persistence.wait_durable(sequence)


def attach(cloud: LocalCloud, directory: str | os.PathLike[str]) -> Persistence:
    """Keep ``cloud``'s state in ``directory`` (loading what it holds), or share the persistence already doing so;
    a process keeps its state in one directory at a time (StateError otherwise). Pair with ``detach``."""
    global _active
    path = Path(directory).expanduser().resolve()
    with _active_lock:
        if _active is not None:
            if _active.directory != path or _active.cloud is not cloud:
                raise StateError(f"this process's local cloud already keeps its state in {_active.directory}; "
                                 f"it cannot also use {path}")
            _active.users += 1
            return _active
        persistence = Persistence(cloud, path).open()
        persistence.users = 1
        _active = persistence
        return persistence


def detach(persistence: Persistence) -> None:
    """A server using ``persistence`` stopped; the last one to stop writes the last snapshot and unlocks."""
    global _active
    with _active_lock:
        persistence.users -= 1
        if persistence.users > 0:
            return
        persistence.close()
        if _active is persistence:
            _active = None


def active() -> Persistence | None:
    """The persistence keeping this process's local cloud's state (None without ``--state``)."""
    return _active
