"""Copying files into and out of a container on a node (``docker cp``): tar archives through the engine, spooled
in temporary files so a large directory is never held in memory."""

from __future__ import annotations

import os
import posixpath
import tarfile
import tempfile
from pathlib import Path
from typing import Any

from cloudorm.compute.container_spec import Engine, check_container_path, reread
from cloudorm.compute.node import fetched_to
from cloudorm.errors import InvalidInput


def _root_owned(info: tarfile.TarInfo) -> tarfile.TarInfo:
    """Files copied in belong to root in the container (as ``docker cp``'s), their modes kept."""
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    return info


def copy_in(engine: Engine, engine_name: str, local: Any, remote: Any) -> str:
    """Copy the local file or directory ``local`` to ``remote`` in the container (into the directory ``remote``
    when it ends with ``/``); the path it got. Sent again after a lost answer: unpacking twice gives the same."""
    if not isinstance(local, (str, os.PathLike)):
        raise InvalidInput("local", f"must be a path, not {type(local).__name__}")
    path = Path(local).expanduser()
    if not path.exists():
        raise InvalidInput("local", f"{str(path)!r} does not exist")
    remote = check_container_path(remote, "remote")
    if remote.endswith("/"):
        directory, name = remote.rstrip("/") or "/", path.name
    else:
        directory, name = posixpath.split(remote)
    if not name or name in (".", ".."):
        raise InvalidInput("remote", f"{remote!r} does not name a file or directory")
    with tempfile.TemporaryFile() as archive:
        with tarfile.open(fileobj=archive, mode="w") as tar:
            tar.add(path, arcname=name, filter=_root_owned)

        def send() -> None:
            archive.seek(0)
            engine.put_archive(engine_name, directory or "/", archive)

        reread(send)
    return posixpath.join(directory or "/", name)


def copy_out(engine: Engine, engine_name: str, remote: Any, local: Any) -> Path:
    """Copy the file ``remote`` out of the container to ``local`` (a file path, or a directory to put it in; None:
    the current directory); the local path. The file is written whole or not at all."""
    remote = check_container_path(remote, "remote")
    target = fetched_to(remote, local)
    with tempfile.TemporaryFile() as archive:

        def fetch() -> None:
            archive.seek(0)
            archive.truncate()
            for chunk in engine.get_archive(engine_name, remote):
                archive.write(chunk)

        reread(fetch)
        archive.seek(0)
        with tarfile.open(fileobj=archive) as tar:
            member = tar.next()
            source = tar.extractfile(member) if member is not None and member.isfile() else None
            if source is None:
                raise InvalidInput("remote", f"{remote!r} in container {engine_name!r} is not a regular file "
                                             f"(get copies one file)")
            target.parent.mkdir(parents=True, exist_ok=True)
            part = target.with_name(f".{target.name}.cloudorm-part")
            with open(part, "wb") as out:
                while chunk := source.read(1 << 20):
                    out.write(chunk)
            os.chmod(part, member.mode & 0o777 if member is not None else 0o644)
            os.replace(part, target)
    return target
