"""The Lambda bundle: a deterministic zip of a handler's source, included files and vendored requirements, built
for the function's runtime and architecture (pip with Lambda's platform tags, or Docker) and cached by its inputs."""

from __future__ import annotations

import ast
import base64
import hashlib
import logging
import os
import stat
import tempfile
import zipfile
from collections.abc import Iterable, Iterator
from pathlib import Path

import attrs

from cloudorm.cache import cache_dir
from cloudorm.errors import InvalidInput
from cloudorm.serverless import bundle_docker
from cloudorm.serverless.runtimes import (
    Runtime,
    check_architecture,
    check_handler_name,
    get_runtime,
)
from cloudorm.serverless.vendor import (
    PROJECT_SKIP_DIRS,
    SKIP_DIRS,
    Requirements,
    parse_requirements,
    vendored,
)
from cloudorm.trees import walk_tree

log = logging.getLogger(__name__)

MAX_ZIPPED = 50 * 1024 * 1024
"""Lambda's limit for a zip uploaded directly (not through S3)."""
MAX_UNZIPPED = 250 * 1024 * 1024
"""Lambda's limit for a function's unzipped code."""

BUILDERS = ("auto", "pip", "docker")
"""``pip``: Lambda-platform wheels only; ``docker``: install inside a build image; ``auto``: pip, then Docker for
packages that must be compiled when an engine answers."""

FORMAT_VERSION = 3
"""Part of every cache key: bump it when the zip layout changes (3: what Lambda's runtime provides is left out)."""

_EPOCH = (1980, 1, 1, 0, 0, 0)
_LEVEL = 6
_SKIP_FILES = frozenset({".DS_Store"})
_SKIP_SUFFIXES = (".pyc", ".pyo")


@attrs.frozen
class Bundle:
    """A built bundle: the zip in cloudorm's cache, its hash as Lambda reports it, its sizes and how it was made."""

    path: Path
    sha256: str
    size: int
    unzipped_size: int
    runtime: str
    architecture: str
    pip_runs: int
    cached: bool

    def read(self) -> bytes:
        """The zip's bytes, as uploaded."""
        return self.path.read_bytes()

    def names(self) -> list[str]:
        """The zip's member names, in order."""
        with zipfile.ZipFile(self.path) as z:
            return z.namelist()


@attrs.frozen
class _Member:
    """One file of the bundle: where it is on disk and whether it was executable."""

    path: Path
    executable: bool


def build_bundle(*, source: str | os.PathLike[str], handler: str, runtime: str = "python3.12",
                 architecture: str = "x86_64", requirements: Iterable[str] | str | os.PathLike[str] | None = None,
                 include: Iterable[str | os.PathLike[str]] = (), builder: str = "auto", image: str | None = None,
                 follow_links: bool = False) -> Bundle:
    """Build (or take from the cache) the zip for a handler: ``source`` (a .py file, or a directory whose contents
    go at the zip's root), ``include`` files, and ``requirements`` vendored for ``runtime`` on ``architecture``.
    Everything is checked before pip runs; ``InvalidInput`` names the field at fault. Folders are walked by
    ``cloudorm.trees``' rule: a link leading out of them is refused unless ``follow_links=True``."""
    rt = get_runtime(runtime)
    arch = check_architecture(architecture)
    module, function = check_handler_name(handler)
    if builder not in BUILDERS:
        raise InvalidInput("builder", f"unknown builder {builder!r}; use one of {', '.join(BUILDERS)}")
    if image is not None and (not isinstance(image, str) or not image.strip()):
        raise InvalidInput("image", f"an image must be a non-empty str like 'repo/name:tag', not {image!r}")
    if not isinstance(follow_links, bool):
        raise InvalidInput("follow_links", f"must be True or False, not {follow_links!r}")
    root, members = _source_members(source, follow_links)
    _check_handler(members, module, function, handler, root)
    _add_includes(members, include, follow_links)
    reqs = parse_requirements(requirements)
    if builder == "docker" and image is None:
        image = bundle_docker.default_image(rt, arch)

    vendor_key = _vendor_key(reqs, rt, arch, builder, image) if reqs else ""  # runtime etc. matter only here
    key = _digest(str(FORMAT_VERSION), vendor_key,
                  *(part for name in sorted(members) for part in _member_parts(name, members[name])))
    path = cache_dir("bundles") / f"{key}.zip"
    if path.is_file():
        bundle = _describe(path, rt, arch, pip_runs=0, cached=True)
        _check_sizes(bundle.size, bundle.unzipped_size)
        return bundle

    pip_runs = 0
    files: dict[str, _Member] = {}
    if reqs:
        site, pip_runs = vendored(reqs, rt, arch, builder, image, vendor_key)
        files = dict(_walk(site, SKIP_DIRS))
    files.update(members)  # the handler's own files win over a vendored module of the same name
    _check_sizes(None, sum(m.path.stat().st_size for m in files.values()))
    _write_zip(path, files)
    bundle = _describe(path, rt, arch, pip_runs=pip_runs, cached=False)
    try:
        _check_sizes(bundle.size, bundle.unzipped_size)
    except InvalidInput:
        path.unlink(missing_ok=True)
        raise
    return bundle


# ---- inputs -------------------------------------------------------------------------------------------------------

def _skipped(name: str) -> bool:
    return name in _SKIP_FILES or name.endswith(_SKIP_SUFFIXES)


def _walk(root: Path, skip_dirs: frozenset[str], prefix: str = "", *, follow_links: bool = True,
          field: str = "source") -> Iterator[tuple[str, _Member]]:
    """(zip name, member) for every file under ``root`` by ``cloudorm.trees``' rule (links inside the tree are
    followed, as Lambda cannot resolve them; links out of it only with ``follow_links``), skipping caches, VCS
    folders and bytecode."""
    def skip_dir(name: str) -> bool:
        return name in skip_dirs or name.endswith(".egg-info")

    for rel, full in walk_tree(root, follow_links=follow_links, field=field, skip_dir=skip_dir, skip_file=_skipped):
        yield prefix + rel, _Member(full, bool(full.stat().st_mode & 0o111))


def _source_members(source: object, follow_links: bool = False) -> tuple[Path, dict[str, _Member]]:
    """The source's files by zip name: a file at the root under its own name, or a directory's contents."""
    if not isinstance(source, (str, os.PathLike)) or not os.fspath(source):
        raise InvalidInput("source", f"source must be a path to a .py file or a directory, not {source!r}")
    root = Path(os.fspath(source)).expanduser()
    if root.is_file():
        return root.parent, {root.name: _Member(root, bool(root.stat().st_mode & 0o111))}
    if root.is_dir():
        return root, dict(_walk(root, SKIP_DIRS, follow_links=follow_links))
    raise InvalidInput("source", f"{os.fspath(source)} does not exist")


def _check_handler(members: dict[str, _Member], module: str, function: str, handler: str, root: Path) -> None:
    """The handler's module is in the source and defines ``function`` at top level."""
    base = module.replace(".", "/")
    candidates = (f"{base}.py", f"{base}/__init__.py")
    found = next((c for c in candidates if c in members), None)
    if found is None:
        raise InvalidInput("handler", f"{handler!r}: the source ({root}) has no module {module!r} "
                                      f"(looked for {' or '.join(candidates)})")
    path = members[found].path
    try:
        tree = ast.parse(path.read_bytes(), filename=str(path))
    except (SyntaxError, ValueError) as e:
        raise InvalidInput("handler", f"{handler!r}: {path} does not parse: {e}") from None
    names = _top_level_names(tree.body)
    if function not in names and "*" not in names:  # a star import may define anything: let Lambda decide
        raise InvalidInput("handler", f"{handler!r}: {path} defines no top-level function {function!r}")


def _top_level_names(body: list[ast.stmt]) -> set[str]:
    """Names bound at a module's top level (defs, classes, assignments, imports; inside if/try/with too)."""
    names: set[str] = set()
    for node in body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            for target in node.targets:
                names.update(n.id for n in ast.walk(target) if isinstance(n, ast.Name))
        elif isinstance(node, ast.AnnAssign) and node.value is not None and isinstance(node.target, ast.Name):
            names.add(node.target.id)
        elif isinstance(node, ast.Import):
            names.update(a.asname or a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            names.update(a.asname or a.name for a in node.names)
        elif isinstance(node, ast.If):
            names |= _top_level_names(node.body) | _top_level_names(node.orelse)
        elif isinstance(node, ast.Try):
            names |= _top_level_names(node.body) | _top_level_names(node.orelse) | _top_level_names(node.finalbody)
            for h in node.handlers:
                names |= _top_level_names(h.body)
        elif isinstance(node, (ast.With, ast.AsyncWith)):
            names |= _top_level_names(node.body)
    return names


def _add_includes(members: dict[str, _Member], include: Iterable[str | os.PathLike[str]],
                  follow_links: bool = False) -> None:
    """Add each included file at the zip's root under its own name (a directory under its name, with its files)."""
    if isinstance(include, (str, os.PathLike)):
        include = [include]
    for item in include:
        if not isinstance(item, (str, os.PathLike)) or not os.fspath(item):
            raise InvalidInput("include", f"include holds paths, not {item!r}")
        path = Path(os.fspath(item)).expanduser()
        if path.is_file():
            found = {path.name: _Member(path, bool(path.stat().st_mode & 0o111))}
        elif path.is_dir():
            found = dict(_walk(path, SKIP_DIRS, prefix=f"{path.resolve().name}/", follow_links=follow_links,
                               field="include"))
        else:
            raise InvalidInput("include", f"{os.fspath(item)} does not exist")
        clash = sorted(found.keys() & members.keys())
        if clash:
            raise InvalidInput("include", f"{os.fspath(item)} would overwrite {clash[0]!r}, already in the bundle")
        members.update(found)


# ---- cache keys ---------------------------------------------------------------------------------------------------

def _digest(*parts: str | bytes) -> str:
    """A hex SHA-256 of ``parts`` (each length-prefixed, so no two lists of parts collide)."""
    h = hashlib.sha256()
    for part in parts:
        data = part.encode() if isinstance(part, str) else part
        h.update(len(data).to_bytes(8, "big"))
        h.update(data)
    return h.hexdigest()


def _member_parts(name: str, member: _Member) -> tuple[str, str, bytes]:
    return name, "x" if member.executable else "-", hashlib.sha256(member.path.read_bytes()).digest()


def _tree_digest(path: Path) -> str:
    if path.is_file():
        return _digest(path.read_bytes())
    return _digest(*(part for name, m in _walk(path, PROJECT_SKIP_DIRS) for part in _member_parts(name, m)))


def _vendor_key(reqs: Requirements, rt: Runtime, arch: str, builder: str, image: str | None) -> str:
    """The key of the vendored requirements: local projects and constraint files count by their contents, not by
    where they are; the image only when Docker may build."""
    local = {str(p): f"project {_tree_digest(p)}" for p in reqs.projects}
    local.update({f"-c {f}": f"-c {_digest(f.read_bytes())}" for f in reqs.files})
    return _digest(str(FORMAT_VERSION), rt.name, arch, builder, "" if builder == "pip" else image or "",
                   *(local.get(line, line) for line in reqs.lines))


# ---- the zip ------------------------------------------------------------------------------------------------------

def _check_sizes(zipped: int | None, unzipped: int) -> None:
    """Lambda's code size limits, before any upload."""
    mb = 1024 * 1024
    if unzipped > MAX_UNZIPPED:
        raise InvalidInput("bundle", f"the bundle is {unzipped / mb:.1f} MB unzipped; Lambda allows "
                                     f"{MAX_UNZIPPED / mb:.0f} MB unzipped: trim the requirements or included files")
    if zipped is not None and zipped > MAX_ZIPPED:
        raise InvalidInput("bundle", f"the bundle is {zipped / mb:.1f} MB zipped; a direct upload allows "
                                     f"{MAX_ZIPPED / mb:.0f} MB: trim the requirements or included files")


def _write_zip(path: Path, members: dict[str, _Member]) -> None:
    """Write the members, sorted, with fixed timestamps, modes and compression, atomically to ``path``."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem[:16]}-", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f, zipfile.ZipFile(f, "w", zipfile.ZIP_DEFLATED, compresslevel=_LEVEL) as z:
            for name in sorted(members):
                member = members[name]
                info = zipfile.ZipInfo(name, date_time=_EPOCH)
                info.create_system = 3  # unix, so the mode below is honoured on extraction
                info.external_attr = (stat.S_IFREG | (0o755 if member.executable else 0o644)) << 16
                info.compress_type = zipfile.ZIP_DEFLATED
                z.writestr(info, member.path.read_bytes(), compresslevel=_LEVEL)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _describe(path: Path, rt: Runtime, arch: str, *, pip_runs: int, cached: bool) -> Bundle:
    data = path.read_bytes()
    with zipfile.ZipFile(path) as z:
        unzipped = sum(i.file_size for i in z.infolist())
    return Bundle(path=path, sha256=base64.b64encode(hashlib.sha256(data).digest()).decode("ascii"),
                  size=len(data), unzipped_size=unzipped, runtime=rt.name, architecture=arch,
                  pip_runs=pip_runs, cached=cached)
