"""Where cloudorm keeps files between runs: a cache (Lambda bundles, downloaded wheels, the local cloud's function
code) that may be deleted, and state (a cluster's keys and known hosts) that must not be."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir(*parts: str) -> Path:
    """The directory ``parts`` under cloudorm's cache, created if needed: ``$CLOUDORM_CACHE_DIR``, else
    ``$XDG_CACHE_HOME/cloudorm``, else ``~/.cache/cloudorm``."""
    root = os.environ.get("CLOUDORM_CACHE_DIR")
    if not root:
        xdg = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        root = os.path.join(xdg, "cloudorm")
    path = Path(root, *parts)
    path.mkdir(parents=True, exist_ok=True)
    return path


def state_dir(*parts: str) -> Path:
    """The directory ``parts`` under cloudorm's state, created if needed with mode 0700: ``$CLOUDORM_STATE_DIR``,
    else ``$XDG_STATE_HOME/cloudorm``, else ``~/.local/state/cloudorm``."""
    root = os.environ.get("CLOUDORM_STATE_DIR")
    if not root:
        xdg = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
        root = os.path.join(xdg, "cloudorm")
    path = Path(root, *parts)
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path
