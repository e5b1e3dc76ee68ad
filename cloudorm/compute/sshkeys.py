"""The SshKey entity: an SSH public key registered on the account under a name (DigitalOcean's account keys, EC2
key pairs, the local cloud's recorded keys), for nodes made outside cloudorm or keys shared between clusters:
``s.SshKey("laptop", public_key=...).save()``, ``.delete()``, listed by ``s.ssh_keys()``."""

from __future__ import annotations

import contextlib
from typing import Any

from cloudorm.checks import check_utf8
from cloudorm.compute.keys import KeyPair, public_key_blob
from cloudorm.core import Plan, Record, Resource, call, field, resource, stored
from cloudorm.errors import InvalidInput, NotFound


def _check_name(name: Any) -> str:
    if not isinstance(name, str) or not name.strip() or len(name) > 255 or not name.isprintable():
        raise InvalidInput("name", f"an SSH key's name is 1 to 255 printable characters, not {name!r}")
    return check_utf8("name", name)


def _check_public_key(key: Any) -> str:
    """An OpenSSH public key line (a ``KeyPair`` gives its own)."""
    if isinstance(key, KeyPair):
        return key.public_key
    if not isinstance(key, str) or len(key.strip().splitlines()) != 1:
        raise InvalidInput("public_key", "must be one OpenSSH public key line ('ssh-ed25519 AAAA... comment') "
                                         "or a KeyPair")
    public_key_blob(key)
    return key.strip()


def _same_key(new: Any, old: Any) -> bool:
    """Two public key lines hold the same key (their comments aside)."""
    return isinstance(new, str) and isinstance(old, str) and new.split()[:2] == old.split()[:2]


@resource
class SshKey(Resource):
    """An SSH public key registered under ``name``. ``save()`` registers ``public_key`` (a line or a ``KeyPair``;
    a key of that name already there is adopted, ``exists_ok=False``: ``AlreadyExists``; the same key under another
    name is ``ConflictError`` where the provider keeps keys unique, as DigitalOcean does); a registered key cannot
    change (another ``public_key`` for a saved name is ``InvalidInput``)."""

    kind = "ssh_key"

    name: str = field(_check_name, fixed=True)
    """The name the key is registered under."""
    public_key: str | None = field(_check_public_key, default=None, fixed=True, compare=_same_key)
    """The OpenSSH public key line (None on a key not loaded yet or named only, to refresh or delete it)."""

    id: str | None = stored(convert=str)
    """The provider's id of the key."""
    fingerprint: str | None = stored()
    """The fingerprint the provider shows (MD5 ``aa:bb:…`` on DigitalOcean, EC2's own form)."""

    def _co_fetch(self) -> Plan[Record]:
        record: Record = yield from call("compute", "get_ssh_key", self._co_ref()[0])
        return record

    def _co_create(self) -> Plan[Record]:
        if self.public_key is None:
            raise InvalidInput("public_key", f"registering SSH key {self.name!r} needs its public_key")
        record: Record = yield from call("compute", "create_ssh_key", self.name, self.public_key)
        return record

    def _co_remove(self, **options: Any) -> Plan[None]:
        record = yield from self._co_fetch()  # (NotFound when it is not there)
        # (there a moment ago, NotFound now: a delete re-sent after its lost answer, or a concurrent one)
        with contextlib.suppress(NotFound):
            yield from call("compute", "delete_key", str(record["id"]))


__all__ = ["SshKey"]
