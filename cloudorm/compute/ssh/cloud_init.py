"""cloud-init user data that hands a new node its SSH host key at creation, so even its first connection is
verified."""

from __future__ import annotations

import json
from collections.abc import Iterable

from cloudorm.compute.keys import KeyPair, public_key_blob
from cloudorm.credentials import protect
from cloudorm.errors import InvalidInput


def cloud_config(host_key: KeyPair, authorized_keys: Iterable[str] = ()) -> str:
    """cloud-init user data that makes a new node use ``host_key`` (ed25519) from its first boot, so even the first
    connection is verified (plus optional ``ssh_authorized_keys``). The private key is kept out of every log."""
    if host_key.key_type != "ssh-ed25519":
        raise InvalidInput("host_key", f"must be an ed25519 key, not {host_key.key_type}")
    private = host_key.private_openssh()
    body = [ln for ln in private.splitlines() if ln and not ln.startswith("-----")]
    protect((private, private.strip(), *body))
    lines = [
        "#cloud-config",
        "ssh_deletekeys: true",
        "ssh_genkeytypes: []",
        "ssh_keys:",
        "  ed25519_private: |",
        *(f"    {ln}" for ln in private.strip().splitlines()),
        f"  ed25519_public: {json.dumps(host_key.public_key)}",
    ]
    keys = [k.strip() for k in authorized_keys if k.strip()]
    for key in keys:
        public_key_blob(key)  # an OpenSSH public key line, or InvalidInput
    if keys:
        lines.append("ssh_authorized_keys:")
        lines.extend(f"  - {json.dumps(k)}" for k in keys)
    return "\n".join(lines) + "\n"
