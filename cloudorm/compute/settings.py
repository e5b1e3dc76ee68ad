"""The checks of a cluster's settings (its desired state): each refuses bad input with ``InvalidInput`` naming the
field, before any request."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from cloudorm.checks import check_flag, check_seconds, check_utf8
from cloudorm.compute.hardening import Hardening
from cloudorm.compute.keys import KeyPair
from cloudorm.compute.names import MAX_NODE_NUMBER, check_cidrs
from cloudorm.core import UNSET
from cloudorm.errors import CloudError, InvalidInput

USER = re.compile(r"[a-z_][a-z0-9_.-]{0,31}\$?", re.IGNORECASE)
"""A login name."""


def check_count(value: Any) -> Any:
    """A cluster's ``size``: None (not given: ``UNSET``) or an int >= 1 (its cap, ``max_nodes``, is checked with it)."""
    if value is None:
        return UNSET
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidInput("size", f"must be a number of nodes >= 1, not {value!r}")
    return value


def check_max_nodes(value: Any) -> int:
    """From 1 to ``MAX_NODE_NUMBER`` (node names end at ``-99999``)."""
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_NODE_NUMBER:
        raise InvalidInput("max_nodes", f"must be an int from 1 to {MAX_NODE_NUMBER} (node names end at "
                                        f"-{MAX_NODE_NUMBER}), not {value!r}")
    return value


def _name(field: str) -> Any:
    def check(value: Any) -> str | None:
        if value is not None and (not isinstance(value, str) or not value.strip()):
            raise InvalidInput(field, f"must be a non-empty string, not {value!r}")
        return None if value is None else check_utf8(field, value)
    return check


check_node_size = _name("node_size")
"""None or a size slug / instance type."""

check_image = _name("image")
"""None or an image slug / AMI id."""


def check_price(price: Any) -> float | None:
    """None or a monthly price in USD above 0."""
    if price is None:
        return None
    if isinstance(price, bool) or not isinstance(price, (int, float)) or not price > 0:
        raise InvalidInput("price_per_node", f"must be a monthly price in USD > 0, not {price!r}")
    return float(price)


def check_allowed(cidrs: Any) -> tuple[str, ...] | None:
    """None or the CIDRs that may reach SSH (one may be given as a string)."""
    if cidrs is None:
        return None
    return check_cidrs([cidrs] if isinstance(cidrs, str) else cidrs)


def check_key(key: Any) -> KeyPair | None:
    """None, a ``KeyPair`` or the path of a private key file (loaded here)."""
    if key is None or isinstance(key, KeyPair):
        return key
    if not isinstance(key, (str, os.PathLike)):
        raise InvalidInput("ssh_key", f"must be a KeyPair or the path of a private key, not {type(key).__name__}")
    path = Path(key).expanduser()
    if not path.is_file():
        raise InvalidInput("ssh_key", f"{str(path)!r} is not a private key file")
    try:
        return KeyPair.load(path)
    except CloudError as e:
        raise InvalidInput("ssh_key", f"cannot load {str(path)!r}: {e.message}") from None
    except Exception as e:
        raise InvalidInput("ssh_key", f"cannot load {str(path)!r} ({type(e).__name__}); a key with a passphrase is "
                                      "given as KeyPair.load(path, password=...)") from None


def check_user(user: Any) -> str | None:
    """None or a login name."""
    if user is not None and (not isinstance(user, str) or not USER.fullmatch(user)):
        raise InvalidInput("user", f"must be a login name, not {user!r}")
    return user


def check_host_keys(value: Any) -> str:
    """``"strict"`` or ``"ignore"``."""
    if value not in ("strict", "ignore"):
        raise InvalidInput("host_keys", f"must be 'strict' or 'ignore', not {value!r}")
    return str(value)


def check_ssh_config(value: Any) -> Path | None:
    """None or the path of an existing ssh_config file."""
    if value is None:
        return None
    if not isinstance(value, (str, os.PathLike)) or not Path(value).expanduser().is_file():
        raise InvalidInput("ssh_config", f"must be the path of an ssh_config file, not {value!r}")
    return Path(value).expanduser()


MAX_PARALLEL = 64
"""The default ``max_parallel``: every node at once up to 64 (a fan-out's pool has ``min(nodes, max_parallel)``
threads). Threads that wait on SSH are cheap and each node's connection is kept whatever the bound; it caps the
bursts a large cluster would send at once from this machine: new SSH handshakes and uploads, and the file
descriptors and threads (paramiko adds one per connection) that open with them."""


def check_parallel(value: Any) -> int:
    """An int >= 1."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidInput("max_parallel", f"must be an int >= 1, not {value!r}")
    return value


def check_boot_timeout(value: Any) -> float:
    """Seconds (``cloudorm.checks.check_seconds``)."""
    return check_seconds("boot_timeout", value)


def check_progress(value: Any) -> bool | None:
    """True, False or None (a bar on terminals)."""
    if value is not None and not isinstance(value, bool):
        raise InvalidInput("progress", f"must be True, False or None (a bar on terminals), not {value!r}")
    return value


def check_monitoring(value: Any) -> bool:
    """True or False."""
    return check_flag("monitoring", value)


def check_hardening(value: Any) -> Hardening | None:
    """None (no hardening) or a ``cloudorm.Hardening``."""
    if value is not None and not isinstance(value, Hardening):
        raise InvalidInput("hardening", f"must be a cloudorm.Hardening (or None), not {type(value).__name__}")
    return value
