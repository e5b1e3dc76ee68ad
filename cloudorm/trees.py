"""The one rule for walking a directory tree whose files leave this machine (``upload_many(dir)``, Lambda bundles).

Nothing outside the given tree is taken unless asked:

* regular files and folders are walked, in name order;
* a symbolic link (to a file or a folder) whose target is inside the tree is followed: its files are taken under
  the link's name (object storage and zips have no links); a link back to a folder above it (a cycle) is walked once;
* a link whose target is outside the tree is refused with ``InvalidInput`` naming the link and its target, unless
  ``follow_links=True`` (then it is followed like one inside);
* a dangling link (its target does not exist) holds nothing: it is skipped with a warning.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator
from pathlib import Path

from cloudorm.errors import InvalidInput

log = logging.getLogger(__name__)


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def walk_tree(root: Path, *, follow_links: bool = False, field: str = "path",
              skip_dir: Callable[[str], bool] = lambda name: False,
              skip_file: Callable[[str], bool] = lambda name: False) -> Iterator[tuple[str, Path]]:
    """(relative path with ``/`` separators, path) for every file under ``root`` by the module's rule, sorted by
    name within each folder; folders and files whose names ``skip_dir``/``skip_file`` accept are left out.
    ``InvalidInput(field, ...)`` for a link leading out of the tree when ``follow_links`` is False."""
    real_root = os.path.realpath(root)

    def walk(folder: Path, rel: str, ancestors: frozenset[str]) -> Iterator[tuple[str, Path]]:
        try:
            with os.scandir(folder) as entries:
                ordered = sorted(entries, key=lambda e: e.name)
        except OSError as e:
            raise InvalidInput(field, f"{folder} cannot be read: {e.strerror}") from None
        for entry in ordered:
            path = Path(entry.path)
            name = f"{rel}{entry.name}"
            if entry.is_symlink():
                target = os.path.realpath(path)
                if not os.path.exists(target):
                    log.warning("skipping %s: a link to %s, which does not exist", path, os.readlink(path))
                    continue
                if not follow_links and not _inside(target, real_root):
                    raise InvalidInput(field, f"{path} is a link to {target}, outside {root}: remove it, or pass "
                                              "follow_links=True to take what it points to")
            is_dir = entry.is_dir(follow_symlinks=True)
            if is_dir:
                real = os.path.realpath(path)
                if skip_dir(entry.name) or real in ancestors:  # a link back to a folder above: a cycle
                    continue
                yield from walk(path, f"{name}/", ancestors | {real})
            elif entry.is_file(follow_symlinks=True) and not skip_file(entry.name):
                yield name, path

    yield from walk(Path(root), "", frozenset({real_root}))
