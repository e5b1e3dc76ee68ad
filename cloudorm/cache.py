"""Where cloudorm keeps files between runs: a cache (Lambda bundles, downloaded wheels, the local cloud's function
code) that may be deleted, and state (a cluster's keys and known hosts) that must not be."""

from __future__ import annotations

import os
import re
from pathlib import Path

from cloudorm.errors import InvalidInput

PART = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,254}")
"""What one directory name under the cache or state may be: letters, digits and ``._-``, not starting with a dot
(so never ``..``, ``.`` or a hidden name), no ``/``, NUL or lone surrogate; at most 255 characters."""


def _below(root: str, parts: tuple[str, ...]) -> Path:
    """``root/parts...``: every part a plain name (``PART``), else ``InvalidInput("path")`` before anything is made."""
    for part in parts:
        if not isinstance(part, str) or not PART.fullmatch(part):
            raise InvalidInput("path", f"{part!r} is not a plain directory name (letters, digits and ._- not "
                                       "starting with a dot): it could lead outside cloudorm's directory")
    return Path(root, *parts)


def cache_dir(*parts: str) -> Path:
    """The directory ``parts`` (plain names, ``PART``) under cloudorm's cache, created if needed:
    ``$CLOUDORM_CACHE_DIR``, else ``$XDG_CACHE_HOME/cloudorm``, else ``~/.cache/cloudorm``."""
    root = os.environ.get("CLOUDORM_CACHE_DIR")
    if not root:
        xdg = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        root = os.path.join(xdg, "cloudorm")
    path = _below(root, parts)
    path.mkdir(parents=True, exist_ok=True)
    return path


def state_dir(*parts: str) -> Path:
    """The directory ``parts`` (plain names, ``PART``) under cloudorm's state, created if needed with mode 0700:
    ``$CLOUDORM_STATE_DIR``, else ``$XDG_STATE_HOME/cloudorm``, else ``~/.local/state/cloudorm``."""
    root = os.environ.get("CLOUDORM_STATE_DIR")
    if not root:
        xdg = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
        root = os.path.join(xdg, "cloudorm")
    path = _below(root, parts)
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path
