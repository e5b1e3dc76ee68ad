"""Which Python interpreter runs a local function (``python{X.Y}`` for its runtime when this machine has it), and
whether a bundle's compiled extensions fit it."""

from __future__ import annotations

import functools
import json
import logging
import os
import platform
import re
import shutil
import subprocess
import sys
from pathlib import Path

import attrs

from cloudorm.errors import CloudError

log = logging.getLogger(__name__)

_ELF_MACHINES = {0x3E: "x86_64", 0xB7: "aarch64", 0x03: "i686", 0x28: "armv7l"}
_EXT_TAG = re.compile(r"\.(cpython-(\d)(\d+)[a-z]*)(?:-([A-Za-z0-9_]+)-([a-z]+-[a-z]+))?\.so$")


@attrs.frozen
class Interpreter:
    """A Python interpreter: its path, version, extension-module suffix and machine."""

    path: str
    version: tuple[int, int]
    ext_suffix: str
    machine: str


@functools.cache
def _describe(path: str) -> Interpreter | None:
    """The facts of the interpreter at ``path`` (asked once; None if it does not run, e.g. a pyenv shim of a
    version that is not installed)."""
    if path == sys.executable:
        import sysconfig

        suffix = sysconfig.get_config_var("EXT_SUFFIX") or ".so"
        return Interpreter(path, (sys.version_info[0], sys.version_info[1]), suffix, platform.machine())
    code = ("import json,platform,sys,sysconfig;print(json.dumps([list(sys.version_info[:2]),"
            "sysconfig.get_config_var('EXT_SUFFIX') or '.so',platform.machine()]))")
    try:
        out = subprocess.run([path, "-I", "-c", code], capture_output=True, text=True, timeout=30,
                             check=True).stdout
        version, suffix, machine = json.loads(out)
    except (OSError, subprocess.SubprocessError, ValueError) as e:
        log.debug("ignoring %s: %s", path, e)
        return None
    return Interpreter(path, (version[0], version[1]), suffix, machine)


@functools.cache
def choose_interpreter(python: tuple[int, int]) -> Interpreter:
    """``python{X.Y}`` for the runtime's version when one is on PATH (and runs), else the interpreter running
    cloudorm (looked up once per process: every invocation asks)."""
    found = shutil.which(f"python{python[0]}.{python[1]}")
    chosen = _describe(found) if found and os.path.realpath(found) != os.path.realpath(sys.executable) else None
    if chosen is None or chosen.version != python:
        chosen = _describe(sys.executable)
    assert chosen is not None  # this interpreter always describes itself
    return chosen


def _elf_machine(path: Path) -> str | None:
    try:
        with path.open("rb") as f:
            head = f.read(20)
    except OSError:
        return None
    if len(head) < 20 or head[:4] != b"\x7fELF":
        return None
    number = int.from_bytes(head[18:20], "little" if head[5] == 1 else "big")
    return _ELF_MACHINES.get(number, f"ELF machine {number}")


def check_extensions(code_dir: Path, interpreter: Interpreter) -> None:
    """Refuse (``CloudError``) a bundle whose compiled extensions (``*.so``) were built for another Python version
    or machine than ``interpreter``: better than the handler's confusing ImportError."""
    host_tag = _EXT_TAG.search(interpreter.ext_suffix)
    for path in code_dir.rglob("*.so"):
        machine = _elf_machine(path)
        tag = _EXT_TAG.search(path.name)
        wrong = None
        if machine is not None and machine != interpreter.machine:
            wrong = f"it is built for {machine}"
        elif tag and host_tag and (tag.group(2), tag.group(3)) != (host_tag.group(2), host_tag.group(3)):
            wrong = f"it is built for Python {tag.group(2)}.{tag.group(3)}"
        if wrong:
            raise CloudError(f"the bundle holds {path.relative_to(code_dir)}: {wrong}, but the local cloud runs "
                             f"this function with {interpreter.path} (Python {interpreter.version[0]}."
                             f"{interpreter.version[1]} on {interpreter.machine}); install python"
                             f"{'.'.join(map(str, interpreter.version))} for the function's runtime or build the "
                             "bundle for this machine", code="Runtime.InvalidEntrypoint", operation="Invoke")
