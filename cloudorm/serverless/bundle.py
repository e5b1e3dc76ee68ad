"""The Lambda bundle: a deterministic zip of a handler's source, included files and vendored requirements, built
for the function's runtime and architecture (pip with Lambda's platform tags, or Docker) and cached by its inputs."""

from __future__ import annotations

import ast
import base64
import hashlib
import logging
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from urllib.parse import urlparse
from urllib.request import url2pathname

import attrs

from cloudorm.cache import cache_dir
from cloudorm.errors import CloudError, InvalidInput
from cloudorm.serverless import bundle_docker
from cloudorm.serverless.runtimes import (
    ARCHITECTURES,
    Runtime,
    check_architecture,
    check_handler_name,
    get_runtime,
    platform_tags,
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

FORMAT_VERSION = 2
"""Part of every cache key: bump it when the zip layout changes."""

_EPOCH = (1980, 1, 1, 0, 0, 0)
_LEVEL = 6
_SKIP_DIRS = frozenset({"__pycache__", ".git", ".hg", ".svn", ".venv", ".tox", ".nox", ".mypy_cache",
                        ".pytest_cache", ".ruff_cache", ".idea", ".vscode", ".aws-sam", ".chalice"})
_SKIP_FILES = frozenset({".DS_Store"})
_SKIP_SUFFIXES = (".pyc", ".pyo")
_PROJECT_SKIP_DIRS = _SKIP_DIRS | {"build", "dist"}
_FILE_URL = re.compile(r"([A-Za-z0-9][\w.-]*\s*@\s*)?(?P<url>file:\S+)")  # [name @ ]file:///path/to/project
_NO_MATCH = re.compile(r"No matching distribution found for (\S+)")
_WHEEL_NAME = re.compile(r"(?P<name>[^-]+)-(?P<version>[^-]+)(-\d[^-]*)?-(?P<py>[^-]+)-(?P<abi>[^-]+)-(?P<plat>[^-]+)"
                         r"\.whl")
_LEGACY_GLIBC = {"manylinux2014": (2, 17), "manylinux2010": (2, 12), "manylinux1": (2, 5)}
_SO_MACHINE = re.compile(r"\.cpython-\d+[a-z]*-(\w+?)-linux-gnu\.so$")
_PIP_TIMEOUT = 900


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


class _NeedsCompile(Exception):
    """A requirement exists only as code that must be compiled (the pip builder cannot vendor it)."""

    def __init__(self, name: str, detail: str, runs: int) -> None:
        super().__init__(name, detail, runs)
        self.name = name
        self.detail = detail
        self.runs = runs  # pip runs so far, this one included


@attrs.frozen
class _Requirements:
    """Parsed requirements: pip's lines (paths made absolute) and the local projects and files they refer to."""

    lines: tuple[str, ...]
    projects: tuple[Path, ...]      # local project directories or archives named as requirements
    files: tuple[Path, ...]         # constraint files and other files whose contents matter


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
    reqs = _parse_requirements(requirements)
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
    vendored: dict[str, _Member] = {}
    if reqs:
        site, pip_runs = _vendored(reqs, rt, arch, builder, image, vendor_key)
        vendored = dict(_walk(site, _SKIP_DIRS))
    vendored.update(members)  # the handler's own files win over a vendored module of the same name
    _check_sizes(None, sum(m.path.stat().st_size for m in vendored.values()))
    _write_zip(path, vendored)
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
        return root, dict(_walk(root, _SKIP_DIRS, follow_links=follow_links))
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
            found = dict(_walk(path, _SKIP_DIRS, prefix=f"{path.resolve().name}/", follow_links=follow_links,
                               field="include"))
        else:
            raise InvalidInput("include", f"{os.fspath(item)} does not exist")
        clash = sorted(found.keys() & members.keys())
        if clash:
            raise InvalidInput("include", f"{os.fspath(item)} would overwrite {clash[0]!r}, already in the bundle")
        members.update(found)


def _parse_requirements(requirements: object) -> _Requirements | None:
    """Requirement strings, or a requirements file (which must exist): pip's lines with local paths absolute."""
    if requirements is None:
        return None
    lines: list[str] = []
    projects: list[Path] = []
    files: list[Path] = []
    if isinstance(requirements, (str, os.PathLike)):
        path = Path(os.fspath(requirements)).expanduser()
        if not path.is_file():
            raise InvalidInput("requirements", f"requirements file {os.fspath(requirements)} does not exist (pass a "
                                               "list for requirement strings)")
        _read_requirements_file(path, lines, projects, files, seen=set())
    elif isinstance(requirements, Iterable):
        for item in requirements:
            if not isinstance(item, str) or not item.strip() or "\n" in item.strip():
                raise InvalidInput("requirements", f"each requirement is one line like 'requests>=2', not {item!r}")
            _add_line(item.strip(), Path.cwd(), lines, projects, files, seen=set())
    else:
        raise InvalidInput("requirements", f"requirements are a list of strings or a file's path, not "
                                           f"{type(requirements).__name__}")
    if not any(not line.startswith("-") for line in lines):
        return None
    return _Requirements(tuple(lines), tuple(projects), tuple(files))


def _read_requirements_file(path: Path, lines: list[str], projects: list[Path], files: list[Path],
                            seen: set[Path]) -> None:
    if path.resolve() in seen:
        return
    seen.add(path.resolve())
    text = path.read_text(encoding="utf-8").replace("\\\n", "")
    for raw in text.splitlines():
        line = re.sub(r"(^|\s)#.*$", "", raw).strip()
        if line:
            _add_line(line, path.parent, lines, projects, files, seen)


def _add_line(line: str, base: Path, lines: list[str], projects: list[Path], files: list[Path],
              seen: set[Path]) -> None:
    """One requirement line: nested files are read, constraint files and local projects made absolute."""
    option, _, value = line.partition("=" if re.match(r"--[\w-]+=", line) else " ")
    value = value.strip()
    file_url = _FILE_URL.fullmatch(line)
    if option in ("-r", "--requirement"):
        nested = base / value
        if not nested.is_file():
            raise InvalidInput("requirements", f"{line!r}: {nested} does not exist")
        _read_requirements_file(nested, lines, projects, files, seen)
    elif option in ("-c", "--constraint"):
        constraint = (base / value).resolve()
        if not constraint.is_file():
            raise InvalidInput("requirements", f"{line!r}: {constraint} does not exist")
        files.append(constraint)
        lines.append(f"-c {constraint}")
    elif option in ("-e", "--editable"):
        _add_line(value, base, lines, projects, files, seen)
    elif line.startswith("-"):
        lines.append(line)
    elif file_url is not None or _is_local(line):  # built from a copy, keyed by its contents
        local = url2pathname(urlparse(file_url["url"]).path) if file_url else line
        project = (base / os.path.expanduser(local)).resolve()
        if not project.exists():
            raise InvalidInput("requirements", f"local project {line!r} does not exist ({project})")
        projects.append(project)
        lines.append(str(project))
    else:
        lines.append(line)


def _is_local(line: str) -> bool:
    return line.startswith((".", "/", "~")) or (os.sep in line and "://" not in line and "@" not in line)


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
    return _digest(*(part for name, m in _walk(path, _PROJECT_SKIP_DIRS) for part in _member_parts(name, m)))


def _vendor_key(reqs: _Requirements, rt: Runtime, arch: str, builder: str, image: str | None) -> str:
    """The key of the vendored requirements: local projects and constraint files count by their contents, not by
    where they are; the image only when Docker may build."""
    local = {str(p): f"project {_tree_digest(p)}" for p in reqs.projects}
    local.update({f"-c {f}": f"-c {_digest(f.read_bytes())}" for f in reqs.files})
    return _digest(str(FORMAT_VERSION), rt.name, arch, builder, "" if builder == "pip" else image or "",
                   *(local.get(line, line) for line in reqs.lines))


# ---- vendoring ----------------------------------------------------------------------------------------------------

def _vendored(reqs: _Requirements, rt: Runtime, arch: str, builder: str, image: str | None,
              key: str) -> tuple[Path, int]:
    """The directory of installed requirements for these inputs (from the cache, or built now) and the pip runs."""
    root = cache_dir("bundles", "vendor")
    final = root / key
    if final.is_dir():
        return final, 0
    work = Path(tempfile.mkdtemp(prefix=f".{key[:16]}-", dir=root))
    try:
        runs = _install(reqs, rt, arch, builder, image, work)
        try:
            os.rename(work / "site", final)
        except OSError:
            if not final.is_dir():  # another build of the same inputs won the race: its result is as good
                raise
        return final, runs
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _install(reqs: _Requirements, rt: Runtime, arch: str, builder: str, image: str | None, work: Path) -> int:
    """Install ``reqs`` into ``work/site`` with the chosen builder; the number of pip runs."""
    needs: _NeedsCompile | None = None
    if builder != "docker":
        try:
            return _install_pip(reqs, rt, arch, work)
        except _NeedsCompile as e:
            if builder == "pip":
                raise InvalidInput("requirements", f"{e.name} has no wheel for {rt.name} on {arch} and would "
                                                   "compile for this machine; use builder='docker' to build it in a "
                                                   f"Lambda build image ({e.detail})") from None
            log.info("%s must be compiled: building the requirements with Docker", e.name)
            shutil.rmtree(work / "site", ignore_errors=True)
            needs = e
    try:
        _install_docker(reqs, rt, arch, image or bundle_docker.default_image(rt, arch), work)
    except bundle_docker.NoEngine as e:
        if needs is None:
            raise
        raise InvalidInput("requirements", f"{needs.name} has no wheel for {rt.name} on {arch} and would compile "
                                           f"for this machine; builder='docker' would build it in a Lambda build "
                                           f"image, and that needs {e.reason} ({needs.detail})") from None
    _verify(work / "site", rt, arch, built_here=True)
    return (needs.runs if needs else 0) + 1  # the container's pip


def _pip(*args: str) -> subprocess.CompletedProcess[str]:
    """Run this interpreter's pip (the user's pip configuration applies) and capture its output."""
    command = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input", *args]
    log.debug("running %s", " ".join(command))
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1", PIP_NO_WARN_SCRIPT_LOCATION="1")
    try:
        return subprocess.run(command, capture_output=True, text=True, env=env, timeout=_PIP_TIMEOUT, check=False)
    except subprocess.TimeoutExpired as e:
        raise CloudError(f"pip did not finish within {_PIP_TIMEOUT} s: {' '.join(args[:3])} ...") from e


def _tail(output: str, lines: int = 8) -> str:
    return "\n".join(line for line in output.strip().splitlines()[-lines:])


def _install_pip(reqs: _Requirements, rt: Runtime, arch: str, work: Path) -> int:
    """Install Lambda-platform wheels with pip; pure-Python sdists and local projects are built into wheels first.
    Raises ``_NeedsCompile`` naming a package that only a compiler could provide."""
    wheels = work / "wheels"
    wheels.mkdir()
    platform = f"{rt.name} on {arch}"
    runs = 0
    lines = list(reqs.lines)
    for i, line in enumerate(lines):
        if line.startswith("-") or not (Path(line).is_absolute() or "://" in line or " @ " in line):
            continue
        wheel, ran = _build_pure_wheel(line, wheels, work, runs, from_index=False, platform=platform)
        runs += ran
        lines[i] = str(wheel)
    platform_args = [arg for tag in platform_tags(rt, arch) for arg in ("--platform", tag)]
    built: set[str] = set()
    while True:
        req_file = work / "requirements.txt"
        req_file.write_text("\n".join(lines) + "\n", encoding="utf-8")
        shutil.rmtree(work / "site", ignore_errors=True)
        result = _pip("install", "--target", str(work / "site"), "--no-compile", "--no-user", "--only-binary=:all:",
                      *platform_args, "--implementation", "cp", "--python-version", rt.python_version,
                      "--abi", rt.abi, "--find-links", str(wheels), "-r", str(req_file))  # added to pip.conf's links
        runs += 1
        if result.returncode == 0:
            break
        missing = _NO_MATCH.search(result.stderr)
        if missing is None or missing.group(1) in built:
            raise InvalidInput("requirements", f"pip could not install them for {platform}:\n"
                                               f"{_tail(result.stderr)}")
        spec = missing.group(1)
        built.add(spec)
        _, ran = _build_pure_wheel(spec, wheels, work, runs, from_index=True, platform=platform)
        runs += ran
    _verify(work / "site", rt, arch, built_here=False)
    return runs


def _build_pure_wheel(spec: str, wheels: Path, work: Path, runs: int, *, from_index: bool,
                      platform: str) -> tuple[Path, int]:
    """Build ``spec`` (a requirement from the index, built from its sdist; a URL; a local project, copied first so
    its folder is left untouched) into a wheel in ``wheels``: the wheel if it is pure Python, else
    ``_NeedsCompile``. ``runs`` is the number of pip runs so far; ``platform`` names the target in messages."""
    name = re.split(r"[<>=!~;\[ @]", spec, maxsplit=1)[0] or spec
    target = spec
    no_binary = ["--no-binary", name] if from_index else []
    path = Path(spec)
    if path.is_absolute() and path.exists():
        if path.is_dir():
            copy = work / "projects" / f"{runs}-{path.name}"
            shutil.copytree(path, copy, ignore=shutil.ignore_patterns(*_PROJECT_SKIP_DIRS, "*.egg-info", "*.pyc"))
            target = str(copy)
        name = str(path)
    out = work / "build" / str(runs)
    result = _pip("wheel", "--no-deps", *no_binary, "--wheel-dir", str(out), target)
    if result.returncode != 0 and from_index and _NO_MATCH.search(result.stderr):
        raise InvalidInput("requirements", f"{spec}: the package index has neither a wheel for {platform} nor a "
                                           f"source distribution of it:\n{_tail(result.stderr, 3)}")
    if result.returncode != 0:
        raise _NeedsCompile(name, f"pip could not build it into a wheel: {_tail(result.stderr, 3)}", runs + 1)
    built = sorted(out.glob("*.whl"))
    if len(built) != 1:
        raise _NeedsCompile(name, f"building it gave {len(built)} wheels", runs + 1)
    match = _WHEEL_NAME.fullmatch(built[0].name)
    if match is None or match["abi"] != "none" or match["plat"] != "any" \
            or not all(p.startswith("py") for p in match["py"].split(".")):
        if match and not from_index:
            name = f"{match['name']} ({spec})" if path.is_absolute() else match["name"]
        raise _NeedsCompile(name, f"it builds into {built[0].name}, a binary for this machine", runs + 1)
    final = wheels / built[0].name
    os.replace(built[0], final)
    return final, 1


def _install_docker(reqs: _Requirements, rt: Runtime, arch: str, image: str, work: Path) -> None:
    """Install ``reqs`` into ``work/site`` inside ``image``: local projects and constraint files are copied into
    the mounted work folder and the requirement lines rewritten to their paths in the container."""
    mount = work / "docker"
    mount.mkdir()
    lines: list[str] = []
    for line in reqs.lines:
        if line.startswith("-c "):
            copy = mount / f"constraints-{len(lines)}.txt"
            shutil.copyfile(line[3:], copy)
            lines.append(f"-c {bundle_docker.WORKDIR}/{copy.name}")
        elif Path(line).is_absolute() and Path(line).exists():
            copy = mount / f"project-{len(lines)}-{Path(line).name}"
            if Path(line).is_dir():
                shutil.copytree(line, copy, ignore=shutil.ignore_patterns(*_PROJECT_SKIP_DIRS, "*.egg-info", "*.pyc"))
            else:
                shutil.copyfile(line, copy)
            lines.append(f"{bundle_docker.WORKDIR}/{copy.name}")
        else:
            lines.append(line)
    (mount / "requirements.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    bundle_docker.install_requirements(mount, f"{bundle_docker.WORKDIR}/requirements.txt", runtime=rt,
                                       architecture=arch, image=image)
    os.rename(mount / "out", work / "site")


def _verify(site: Path, rt: Runtime, arch: str, *, built_here: bool) -> None:
    """Every installed distribution has a wheel tag the runtime can load, and no extension module is for another
    machine; what pip leaves that holds local paths (``direct_url.json``, ``bin/`` scripts with this interpreter's
    shebang) is removed, and so are their lines in ``RECORD``.
    ``built_here``: wheels built inside a build image may carry a plain ``linux_<machine>`` tag."""
    shutil.rmtree(site / "bin", ignore_errors=True)
    machine = ARCHITECTURES[arch]
    for wheel in sorted(site.glob("*.dist-info/WHEEL")):
        (wheel.parent / "direct_url.json").unlink(missing_ok=True)
        _drop_from_record(wheel.parent / "RECORD", f"{wheel.parent.name}/direct_url.json")
        tags = [line.split(":", 1)[1].strip() for line in wheel.read_text(encoding="utf-8").splitlines()
                if line.startswith("Tag:")]
        if not any(tag_compatible(tag, rt, arch, allow_linux=built_here) for tag in tags):
            dist = wheel.parent.name.removesuffix(".dist-info")
            raise InvalidInput("requirements", f"{dist} was installed from a wheel tagged {', '.join(tags)}, which "
                                               f"{rt.name} on {arch} cannot load")
    for so in site.rglob("*.so"):
        found = _SO_MACHINE.search(so.name)
        if found and found.group(1) != machine:
            raise InvalidInput("requirements", f"{so.relative_to(site)} is built for {found.group(1)}, not {machine}")


def _drop_from_record(record: Path, direct_url: str) -> None:
    """Remove the lines of files that are not shipped (``direct_url.json``, ``bin/`` scripts) from ``RECORD``:
    their hashes depend on the build folder and the host's interpreter path."""
    if not record.is_file():
        return
    lines = record.read_text(encoding="utf-8").splitlines(keepends=True)
    kept = [line for line in lines if not line.startswith((f"{direct_url},", "../../bin/", '"../../bin/'))]
    if len(kept) != len(lines):
        record.write_text("".join(kept), encoding="utf-8")


def tag_compatible(tag: str, runtime: Runtime, architecture: str, *, allow_linux: bool = False) -> bool:
    """Whether a wheel tag (``cp312-cp312-manylinux_2_17_aarch64``, ``py3-none-any``, ...) loads on ``runtime``
    and ``architecture``; ``allow_linux`` also accepts ``linux_<machine>`` (a wheel built in a build image)."""
    machine = ARCHITECTURES[architecture]
    major, minor = runtime.python
    try:
        pys, abis, plats = tag.split("-")
    except ValueError:
        return False

    def platform_ok(plat: str) -> bool:
        if plat == "any" or (allow_linux and plat == f"linux_{machine}"):
            return True
        legacy, _, legacy_machine = plat.partition("_")
        if legacy in _LEGACY_GLIBC:
            return legacy_machine == machine and _LEGACY_GLIBC[legacy] <= runtime.glibc
        m = re.fullmatch(r"manylinux_(\d+)_(\d+)_(\w+)", plat)
        return bool(m) and m[3] == machine and (int(m[1]), int(m[2])) <= runtime.glibc  # type: ignore[index]

    def interpreter_ok(py: str, abi: str) -> bool:
        version = re.fullmatch(r"(py|cp)(\d)(\d*)", py)
        if version is None or int(version[2]) != major:
            return False
        py_minor = int(version[3]) if version[3] else None
        if abi == "none":
            return py_minor is None or (py_minor <= minor if version[1] == "py" else py_minor == minor)
        if abi == "abi3":
            return version[1] == "cp" and py_minor is not None and py_minor <= minor
        return version[1] == "cp" and py_minor == minor and abi == runtime.abi

    return any(platform_ok(plat) and interpreter_ok(py, abi)
               for py in pys.split(".") for abi in abis.split(".") for plat in plats.split("."))


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
