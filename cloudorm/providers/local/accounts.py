"""The local cloud's account as its compute API shows it: the account record, SSH keys by name (listed, read,
registered, as DigitalOcean's account keys are) and every node by name, whatever its cluster. Operations of the
``compute`` part (``nodes.py``), run under its lock."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cloudorm.compute.keys import md5_fingerprint, public_key_blob
from cloudorm.errors import AlreadyExists, ConflictError, InvalidInput, NotFound
from cloudorm.providers.contract import Wire
from cloudorm.providers.local.nodes_api import NODE_LIMIT

if TYPE_CHECKING:
    from cloudorm.providers.local.nodes import LocalNodes

ACCOUNT_ID = "local"
"""The id the local cloud's account reports."""


def _name(body: Wire, field: str = "name", required: bool = True) -> str | None:
    value = body.get(field)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value:
        raise InvalidInput(field, f"must be a non-empty string, not {value!r}")
    return value


def key_record(key: Wire) -> Wire:
    """A recorded key as the listing shows it (``created`` is an answer to one call, not part of the key)."""
    return {"id": key["id"], "name": key["name"], "fingerprint": key.get("fingerprint"),
            "public_key": key.get("public_key")}


def account(nodes: LocalNodes, body: Wire, doomed: list[Path]) -> Wire:
    """The local account: its limit on nodes and what it holds."""
    return {"id": ACCOUNT_ID, "email": None, "status": "active", "node_limit": NODE_LIMIT,
            "details": {"nodes": len(nodes.nodes), "ssh_keys": len(nodes.keys)}}


def list_ssh_keys(nodes: LocalNodes, body: Wire, doomed: list[Path]) -> list[Wire]:
    """Every recorded key, oldest first."""
    return [key_record(k) for k in nodes.keys.values()]


def get_ssh_key(nodes: LocalNodes, body: Wire, doomed: list[Path]) -> Wire:
    """The key recorded under ``name`` (``NotFound`` if none)."""
    name = _name(body)
    found = next((k for k in nodes.keys.values() if k["name"] == name), None)
    if found is None:
        raise NotFound(f"SSH key {name!r} does not exist")
    return key_record(found)


def create_ssh_key(nodes: LocalNodes, body: Wire, doomed: list[Path]) -> Wire:
    """Record ``public_key`` under ``name``: ``AlreadyExists`` when the name is taken, ``ConflictError`` when the
    key is recorded under another name."""
    name, public_key = _name(body), _name(body, "public_key")
    assert name is not None and public_key is not None
    fingerprint = md5_fingerprint(public_key_blob(public_key)[1])
    for key in nodes.keys.values():
        if key["name"] == name:
            raise AlreadyExists(f"SSH key {name!r} exists already")
        if key["fingerprint"] == fingerprint:
            raise ConflictError(f"this public key is recorded already, as {key['name']!r}")
    made: Any = {"id": uuid.uuid4().hex[:12], "name": name, "fingerprint": fingerprint, "created": True,
                 "public_key": public_key.strip()}
    nodes.keys[made["id"]] = made
    return key_record(made)


def list_servers(nodes: LocalNodes, body: Wire, doomed: list[Path]) -> list[Any]:
    """Every node of every cluster (``name``: only those so named)."""
    name = _name(body, required=False)
    return [nodes._wire(n) for n in nodes.nodes.values() if name is None or n["name"] == name]


OPERATIONS: dict[str, Any] = {"Account": account, "ListSshKeys": list_ssh_keys, "GetSshKey": get_ssh_key,
                              "CreateSshKey": create_ssh_key, "ListServers": list_servers}
"""These operations by name (``CreateSshKey`` changes state: gated and answered by token)."""

__all__ = ["ACCOUNT_ID", "OPERATIONS", "account", "create_ssh_key", "get_ssh_key", "key_record", "list_servers",
           "list_ssh_keys"]
