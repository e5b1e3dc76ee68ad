"""Moving files to and from a node over SFTP: ``~`` paths in the login home, parent directories made, permission
bits kept, and no partial local file left by a failed copy."""

from __future__ import annotations

import errno
import os
import socket
import stat
import threading
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, TypeVar

from cloudorm.compute.ssh.connection import SSHConnection
from cloudorm.compute.ssh.ssh_sdk import paramiko_module
from cloudorm.errors import AccessDenied, CloudError, InvalidInput, NotFound

if TYPE_CHECKING:
    from cloudorm.compute.ssh.ssh_sdk import paramiko

T = TypeVar("T")


class SSHFiles(SSHConnection):
    """The files part of ``SSHShell``: ``put`` and ``get`` over an SFTP channel of the connection."""

    def _sftp(self, operation: Callable[[paramiko.SFTPClient], T]) -> T:
        sdk = paramiko_module()

        with self._session() as chan:
            chan.invoke_subsystem("sftp")
            return operation(sdk.SFTPClient(chan))

    def put(self, local: Path, remote: str) -> None:
        """Copy a local file to ``remote`` (``~/x`` and relative paths are in the login home; a path ending in
        ``/`` or naming a directory gets the file's own name), creating parent directories and keeping the
        permission bits."""
        source = Path(local)
        try:
            mode = source.stat().st_mode
        except FileNotFoundError:
            raise NotFound(f"no local file {source}") from None
        if not stat.S_ISREG(mode):
            raise InvalidInput("local", f"{source} is not a file")
        target = _remote_path(remote)

        def send(sftp: paramiko.SFTPClient) -> None:
            path = target
            if remote.endswith("/") or remote == "~" or _is_dir(sftp, path):
                path = str(PurePosixPath(path) / source.name)
            _makedirs(sftp, str(PurePosixPath(path).parent))
            sftp.put(str(source), path)
            sftp.chmod(path, stat.S_IMODE(mode))

        self._file_errors(remote, lambda: self._sftp(send))

    def get(self, remote: str, local: Path) -> None:
        """Copy ``remote`` (``~/x`` and relative paths are in the login home) to a local file (into it, when
        ``local`` is a directory) with the same permission bits, creating its parent directories; a failed copy
        leaves no partial file."""
        source = _remote_path(remote)
        target = Path(local)
        if target.is_dir():
            target = target / PurePosixPath(source).name
        target.parent.mkdir(parents=True, exist_ok=True)
        part = target.with_name(f".{target.name}.{os.getpid()}.{threading.get_ident()}.part")
        os.close(os.open(part, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600))  # local errors are raised here

        def fetch(sftp: paramiko.SFTPClient) -> None:
            mode = sftp.stat(source).st_mode or 0o600
            sftp.get(source, str(part))
            os.chmod(part, stat.S_IMODE(mode))
            os.replace(part, target)

        try:
            self._file_errors(remote, lambda: self._sftp(fetch))
        finally:
            part.unlink(missing_ok=True)

    def _file_errors(self, remote: str, action: Callable[[], None]) -> None:
        try:
            action()
        except OSError as e:
            if isinstance(e, FileNotFoundError) or e.errno == errno.ENOENT:
                raise NotFound(f"{remote!r} does not exist on {self}") from None
            if isinstance(e, PermissionError) or e.errno == errno.EACCES:
                raise AccessDenied(f"{remote!r} on {self}: permission denied") from None
            if e.errno is None and not isinstance(e, (ConnectionError, socket.timeout)):
                raise CloudError(f"{remote!r} on {self}: {e}") from None
            raise


def _remote_path(remote: str) -> str:
    """``remote`` as SFTP wants it: ``~`` and ``~/x`` become relative (SFTP starts in the login home)."""
    if not isinstance(remote, str) or not remote or "\0" in remote:
        raise InvalidInput("remote", f"must be a path, not {remote!r}")
    if remote == "~":
        return "."
    if remote.startswith("~/"):
        return remote[2:] or "."
    if remote.startswith("~"):
        raise InvalidInput("remote", "~user paths are not supported: give an absolute path")
    return remote


def _is_dir(sftp: paramiko.SFTPClient, path: str) -> bool:
    """True when ``path`` is a directory on the node."""
    try:
        return stat.S_ISDIR(sftp.stat(path).st_mode or 0)
    except OSError:
        return False


def _makedirs(sftp: paramiko.SFTPClient, directory: str) -> None:
    """``mkdir -p`` over SFTP."""
    if directory in ("", ".", "/"):
        return
    try:
        if stat.S_ISDIR(sftp.stat(directory).st_mode or 0):
            return
        raise InvalidInput("remote", f"{directory} exists and is not a directory")
    except FileNotFoundError:
        pass
    _makedirs(sftp, str(PurePosixPath(directory).parent))
    try:
        sftp.mkdir(directory)
    except OSError:
        if not stat.S_ISDIR(sftp.stat(directory).st_mode or 0):  # made by someone else meanwhile is fine
            raise
