"""Vendoring a bundle's requirements: requirement lines and files parsed, then installed for Lambda's runtime and
architecture (pip with Lambda's platform tags, or Docker when something must be compiled) into a cache keyed by
their inputs, less what the runtime provides (``provided.py``: boto3 and its dependencies, unless named), and the
result checked against the runtime."""

from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import urlparse
from urllib.request import url2pathname

import attrs

from cloudorm.cache import cache_dir
from cloudorm.errors import CloudError, InvalidInput
from cloudorm.serverless import bundle_docker
from cloudorm.serverless.provided import leave_out_provided, named
from cloudorm.serverless.runtimes import ARCHITECTURES, Runtime, platform_tags

log = logging.getLogger(__name__)

SKIP_DIRS = frozenset({"__pycache__", ".git", ".hg", ".svn", ".venv", ".tox", ".nox", ".mypy_cache",
                       ".pytest_cache", ".ruff_cache", ".idea", ".vscode", ".aws-sam", ".chalice"})
"""Folders never bundled (VCS, tool caches, virtual environments)."""
PROJECT_SKIP_DIRS = SKIP_DIRS | {"build", "dist"}
"""Folders of a local project left out of its build and its cache key."""
_FILE_URL = re.compile(r"([A-Za-z0-9][\w.-]*\s*@\s*)?(?P<url>file:\S+)")  # [name @ ]file:///path/to/project
_NO_MATCH = re.compile(r"No matching distribution found for (\S+)")
_WHEEL_NAME = re.compile(r"(?P<name>[^-]+)-(?P<version>[^-]+)(-\d[^-]*)?-(?P<py>[^-]+)-(?P<abi>[^-]+)-(?P<plat>[^-]+)"
                         r"\.whl")
_LEGACY_GLIBC = {"manylinux2014": (2, 17), "manylinux2010": (2, 12), "manylinux1": (2, 5)}
_SO_MACHINE = re.compile(r"\.cpython-\d+[a-z]*-(\w+?)-linux-gnu\.so$")
_PIP_TIMEOUT = 900


class _NeedsCompile(Exception):
    """A requirement exists only as code that must be compiled (the pip builder cannot vendor it)."""

    def __init__(self, name: str, detail: str, runs: int) -> None:
        super().__init__(name, detail, runs)
        self.name = name
        self.detail = detail
        self.runs = runs  # pip runs so far, this one included


@attrs.frozen
class Requirements:
    """Parsed requirements: pip's lines (paths made absolute) and the local projects and files they refer to."""

    lines: tuple[str, ...]
    projects: tuple[Path, ...]      # local project directories or archives named as requirements
    files: tuple[Path, ...]         # constraint files and other files whose contents matter


def parse_requirements(requirements: object) -> Requirements | None:
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
    return Requirements(tuple(lines), tuple(projects), tuple(files))


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


# ---- installing ---------------------------------------------------------------------------------------------------

def vendored(reqs: Requirements, rt: Runtime, arch: str, builder: str, image: str | None,
             key: str) -> tuple[Path, int]:
    """The directory of installed requirements for these inputs (from the cache, or built now) and the pip runs;
    what Lambda's runtime provides is left out unless the requirements name it."""
    root = cache_dir("bundles", "vendor")
    final = root / key
    if final.is_dir():
        return final, 0
    work = Path(tempfile.mkdtemp(prefix=f".{key[:16]}-", dir=root))
    try:
        runs = _install(reqs, rt, arch, builder, image, work)
        leave_out_provided(work / "site", named(reqs.lines))
        try:
            os.rename(work / "site", final)
        except OSError:
            if not final.is_dir():  # another build of the same inputs won the race: its result is as good
                raise
        return final, runs
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _install(reqs: Requirements, rt: Runtime, arch: str, builder: str, image: str | None, work: Path) -> int:
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


def _install_pip(reqs: Requirements, rt: Runtime, arch: str, work: Path) -> int:
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
            shutil.copytree(path, copy, ignore=shutil.ignore_patterns(*PROJECT_SKIP_DIRS, "*.egg-info", "*.pyc"))
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


def _install_docker(reqs: Requirements, rt: Runtime, arch: str, image: str, work: Path) -> None:
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
                shutil.copytree(line, copy, ignore=shutil.ignore_patterns(*PROJECT_SKIP_DIRS, "*.egg-info", "*.pyc"))
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


