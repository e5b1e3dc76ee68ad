"""Lambda's Python runtimes and architectures, the wheel platform tags each accepts, and the handler name rule."""

from __future__ import annotations

import keyword
from collections.abc import Mapping
from types import MappingProxyType

import attrs

from cloudorm.errors import InvalidInput


@attrs.frozen
class Runtime:
    """A Lambda Python runtime: its name, Python version and the glibc of the OS it runs on."""

    name: str
    python: tuple[int, int]
    glibc: tuple[int, int]

    @property
    def python_version(self) -> str:
        """``"3.12"``: the version as pip's ``--python-version`` takes it."""
        return f"{self.python[0]}.{self.python[1]}"

    @property
    def abi(self) -> str:
        """``"cp312"``: the CPython ABI tag of this runtime's binary wheels."""
        return f"cp{self.python[0]}{self.python[1]}"


_AL2 = (2, 26)      # Amazon Linux 2: python3.10, python3.11
_AL2023 = (2, 34)   # Amazon Linux 2023: python3.12 and later

RUNTIMES: Mapping[str, Runtime] = MappingProxyType({
    name: Runtime(name, python, glibc) for name, python, glibc in (
        ("python3.10", (3, 10), _AL2),
        ("python3.11", (3, 11), _AL2),
        ("python3.12", (3, 12), _AL2023),
        ("python3.13", (3, 13), _AL2023),
        ("python3.14", (3, 14), _AL2023),
    )
})
"""The supported runtimes. Lambda's API model lists python3.10 to python3.15; moto 5.2.5 stores any runtime string
without checking it, so this table (not the emulator) is what rejects an unknown name."""

ARCHITECTURES: Mapping[str, str] = MappingProxyType({"x86_64": "x86_64", "arm64": "aarch64"})
"""Lambda's architecture names and the machine names wheels use for them."""

_LEGACY_MANYLINUX = {(2, 17): "manylinux2014", (2, 12): "manylinux2010", (2, 5): "manylinux1"}
_LEGACY_MACHINES = {"manylinux2014": {"x86_64", "i686", "aarch64", "armv7l", "ppc64", "ppc64le", "s390x"},
                    "manylinux2010": {"x86_64", "i686"}, "manylinux1": {"x86_64", "i686"}}


def get_runtime(name: object) -> Runtime:
    """The runtime called ``name``; ``InvalidInput("runtime", ...)`` listing the supported ones otherwise."""
    runtime = RUNTIMES.get(name) if isinstance(name, str) else None
    if runtime is None:
        raise InvalidInput("runtime", f"unknown runtime {name!r}; supported: {', '.join(RUNTIMES)}")
    return runtime


def check_architecture(value: object) -> str:
    """``value`` if it is one of Lambda's architectures (``x86_64``, ``arm64``); ``InvalidInput`` otherwise."""
    if not isinstance(value, str) or value not in ARCHITECTURES:
        raise InvalidInput("architecture", f"unknown architecture {value!r}; supported: {', '.join(ARCHITECTURES)}")
    return value


def platform_tags(runtime: Runtime, architecture: str) -> list[str]:
    """Every manylinux platform tag ``runtime`` accepts on ``architecture``, newest first (PEP 600 tags from the
    runtime's glibc down to 2.5, each legacy alias such as ``manylinux2014`` right after its PEP 600 twin)."""
    machine = ARCHITECTURES[check_architecture(architecture)]
    major, newest = runtime.glibc
    tags: list[str] = []
    for minor in range(newest, 4, -1):
        tags.append(f"manylinux_{major}_{minor}_{machine}")
        legacy = _LEGACY_MANYLINUX.get((major, minor))
        if legacy and machine in _LEGACY_MACHINES[legacy]:
            tags.append(f"{legacy}_{machine}")
    return tags


def check_handler_name(handler: object) -> tuple[str, str]:
    """Split ``"pkg.mod.func"`` into ``("pkg.mod", "func")``; ``InvalidInput("handler", ...)`` unless every part is
    a Python identifier and there is a module and a function."""
    if not isinstance(handler, str) or not handler:
        raise InvalidInput("handler", f"a handler must be a non-empty str like 'module.function', not {handler!r}")
    module, _, function = handler.rpartition(".")
    parts = handler.split(".")
    if not module or any(not p.isidentifier() or keyword.iskeyword(p) for p in parts):
        raise InvalidInput("handler", f"{handler!r} is not 'module.function' (dotted Python names, e.g. "
                                      "'app.handler' or 'pkg.app.handler')")
    return module, function
