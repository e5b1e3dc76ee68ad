"""What this machine keeps about a cluster: ``state_dir("clusters", provider, region, name)`` holds ``known_hosts``
(the nodes' host keys), ``id_ed25519`` (0600; only when the login key was generated here) and ``cluster.json`` (the
id of the key ``save()`` registered, so ``delete()`` removes only what cloudorm made; the login user of each hardened
node)."""

from __future__ import annotations

import contextlib
import json
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cloudorm.cache import state_dir
from cloudorm.compute.keys import KeyPair
from cloudorm.errors import InvalidInput

if TYPE_CHECKING:
    from cloudorm.compute.cluster import Cluster
    from cloudorm.compute.ssh import KnownHosts

STATE_FILES = ("known_hosts", "id_ed25519", "id_ed25519.pub", "cluster.json")
"""The files of a cluster's state directory."""


class ClusterFiles:
    """A cluster's state directory: its login key, known hosts and ``cluster.json``, read lazily and cached."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self._key: KeyPair | None = None
        self._known: KnownHosts | None = None
        self._lock = threading.RLock()

    @property
    def path(self) -> Path:
        """The cluster's directory (made on first use, mode 0700)."""
        c = self.cluster
        return state_dir("clusters", c.session.provider, c.region or "default", c.name)

    def state(self) -> dict[str, Any]:
        """``cluster.json`` (empty when there is none)."""
        try:
            data: dict[str, Any] = json.loads((self.path / "cluster.json").read_text())
            return data
        except (FileNotFoundError, ValueError):
            return {}

    def set_state(self, **values: Any) -> None:
        """Update ``cluster.json`` atomically (a None value removes its key)."""
        state = {k: v for k, v in {**self.state(), **values}.items() if v is not None}
        path = self.path / "cluster.json"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(state, indent=1))
        tmp.replace(path)

    def logins(self) -> dict[str, str]:
        """The login user of each hardened node, by node id (``cluster.json``'s ``logins``)."""
        logins = self.state().get("logins")
        return dict(logins) if isinstance(logins, dict) else {}

    def set_login(self, node_id: str, user: str | None) -> None:
        """Record the login user of a node (None forgets it: the cluster's ``user`` or the image's is used)."""
        with self._lock:
            logins = self.logins()
            if user is None:
                logins.pop(node_id, None)
            else:
                logins[node_id] = user
            self.set_state(logins=logins or None)

    def login_key(self, generate: bool) -> KeyPair:
        """The login key: the one given, else the one kept here; with ``generate`` (a new cluster being made) a new
        one saved here when there is neither, else ``InvalidInput("ssh_key")``."""
        with self._lock:
            given = self.cluster.ssh_key
            if isinstance(given, KeyPair):  # (a path given was loaded as a KeyPair)
                return given
            if self._key is None:
                path = self.path / "id_ed25519"
                if path.exists():
                    self._key = KeyPair.load(path)
                elif generate:
                    key = KeyPair.generate(comment=f"cloudorm-{self.cluster.name}")
                    key.save(path)
                    self._key = key
                else:
                    raise InvalidInput("ssh_key", f"cluster {self.cluster.name!r} has no login key on this machine "
                                                  f"(none given and none in {str(self.path)!r}): pass ssh_key= the "
                                                  "key its nodes were made with")
            return self._key

    def known_hosts(self) -> KnownHosts | None:
        """The cluster's known_hosts (None with ``host_keys="ignore"``)."""
        if self.cluster.host_keys == "ignore":
            return None
        with self._lock:
            if self._known is None:
                from cloudorm.compute.ssh import KnownHosts

                self._known = KnownHosts(self.path / "known_hosts")
            return self._known

    def reset(self) -> None:
        """Forget what was read: the next use reads the directory again (another process may have written it)."""
        with self._lock:
            self._key = None
            self._known = None

    def remove(self) -> None:
        """Remove the cluster's files (its key, known hosts and registered key id) and its directory if empty."""
        directory = self.path
        for name in STATE_FILES:
            (directory / name).unlink(missing_ok=True)
        with contextlib.suppress(OSError):
            directory.rmdir()
        self.reset()
