"""Where cloudorm keeps files between runs (Lambda bundles, downloaded wheels, the local cloud's function code)."""

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
