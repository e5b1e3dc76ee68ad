"""A container image for tests that needs no registry: ``tiny_rootfs()`` is a tar of this machine's own ``sh`` and a
few coreutils with the libraries ``ldd`` names for them, a few MiB, for ``docker import`` (the docker SDK's
``api.import_image_from_data(tiny_rootfs(), repository=..., tag=...)``). It has no ancestor, so no other image's
containers are counted with it."""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
import tarfile
from collections.abc import Sequence

TINY_IMAGE = "cloudorm-test/tiny:1"
"""The name tests and benchmarks import ``tiny_rootfs()`` under."""
TOOLS = ("sh", "sleep", "cat", "ls", "mkdir", "env")
"""The commands the image has (in ``/bin``)."""


def tiny_rootfs(tools: Sequence[str] = TOOLS) -> bytes:
    """A root filesystem tar: ``tools`` from this machine's ``PATH`` in ``/bin`` with their libraries at their
    paths, an empty ``/tmp`` (1777), ``/data`` and ``/etc``. ``RuntimeError`` when a tool or ``ldd`` is missing."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name in ("tmp", "data", "etc"):
            info = tarfile.TarInfo(name)
            info.type, info.mode = tarfile.DIRTYPE, 0o1777 if name == "tmp" else 0o755
            tar.addfile(info)
        files: dict[str, str] = {}
        for tool in tools:
            found = shutil.which(tool)
            if found is None or shutil.which("ldd") is None:
                raise RuntimeError(f"tiny_rootfs needs {tool!r} and 'ldd' on this machine's PATH")
            files[f"bin/{tool}"] = os.path.realpath(found)
            deps = subprocess.run(["ldd", found], capture_output=True, text=True, check=True, timeout=30).stdout
            for path in re.findall(r"(/\S+) \(0x", deps):
                files[path.lstrip("/")] = os.path.realpath(path)
        for arcname, real in sorted(files.items()):
            tar.add(real, arcname=arcname)
    return buffer.getvalue()


def engine_unavailable() -> str | None:
    """Why this machine's Docker engine cannot run ``TINY_IMAGE`` (no docker SDK, no engine answering), or None;
    the image is imported from ``tiny_rootfs()`` when the engine lacks it."""
    from cloudorm.errors import CloudError
    from cloudorm.providers.docker_engine import DockerEngine

    try:
        engine = DockerEngine.local("the tests")
    except (ImportError, CloudError) as e:
        return f"{e} (.ci/lambda-build-image.sh starts one)"
    try:
        engine.version()
        if not engine.has_image(TINY_IMAGE):
            engine.import_image(TINY_IMAGE, tiny_rootfs())
    except CloudError as e:
        return f"the Docker engine cannot be used: {e}"
    finally:
        engine.close()
    return None


__all__ = ["TINY_IMAGE", "TOOLS", "engine_unavailable", "tiny_rootfs"]
