"""The Docker builder: installs a bundle's requirements inside a Lambda build image through the docker SDK, for
packages that must be compiled for Lambda's OS (the SDK is the ``docker`` extra and is imported only here)."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from cloudorm.errors import CloudError
from cloudorm.serverless.runtimes import Runtime

log = logging.getLogger(__name__)

WORKDIR = "/cloudorm"
"""Where the build directory (requirements file, copied local projects, ``out/``) is mounted in the container."""

_CA_IN_CONTAINER = "/etc/cloudorm-ca-bundle.crt"
_DOCKER_ARCH = {"x86_64": "amd64", "arm64": "arm64"}
_WRONG_PYTHON = 97
_TIMEOUT = 900

# Runs in the container: refuse an image whose Python is not the runtime's, then pip install into the mount.
_SCRIPT = """\
import subprocess, sys
have = "{}.{}".format(*sys.version_info[:2])
if have != sys.argv[1]:
    print("cloudorm: this image runs Python " + have + ", not " + sys.argv[1])
    sys.exit(WRONG_PYTHON)
sys.exit(subprocess.call([sys.executable, "-m", "pip", *sys.argv[2:]]))
""".replace("WRONG_PYTHON", str(_WRONG_PYTHON))


class NoEngine(CloudError):
    """There is nothing to build in: the docker SDK is not installed, or no Docker engine answers."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"builder='docker' needs {reason}, or use builder='pip'")
        self.reason = reason


def default_image(runtime: Runtime, architecture: str) -> str:
    """AWS SAM's build image for ``runtime`` on ``architecture`` (the image ``sam build --use-container`` uses)."""
    return f"public.ecr.aws/sam/build-python{runtime.python_version}:latest-{architecture}"


def _client() -> Any:
    """A docker SDK client for the environment's engine; ``NoEngine`` naming the fix when there is none."""
    try:
        import docker
    except ImportError as e:
        raise NoEngine("the docker SDK: pip install 'cloudorm[docker]'") from e
    try:
        client = docker.from_env(timeout=30)
        client.ping()
    except Exception as e:  # the SDK raises DockerException, requests' errors or OSError depending on the transport
        raise NoEngine(f"a Docker engine and none answers ({type(e).__name__}): start dockerd (or point "
                       "DOCKER_HOST at an engine)") from None
    return client


def _host_ca_bundle() -> Path | None:
    """The CA bundle the host's pip trusts (``PIP_CERT`` and friends), to trust the same in the container."""
    for var in ("PIP_CERT", "REQUESTS_CA_BUNDLE", "SSL_CERT_FILE"):
        value = os.environ.get(var)
        if value and Path(value).is_file():
            return Path(value)
    return None


def install_requirements(workdir: Path, requirements: str, *, runtime: Runtime, architecture: str,
                         image: str) -> None:
    """Run ``pip install --target out -r requirements`` in ``image`` with ``workdir`` mounted at ``/cloudorm``;
    the installed tree lands in ``workdir/out``, owned by the calling user. ``requirements`` is the file's path
    inside the container. The container shares the host's network and trusts the host's CA bundle, so it reaches
    the package index exactly as the host's pip does; it is removed afterwards. ``NoEngine`` when Docker is not
    there."""
    import docker.errors

    client = _client()
    try:
        _ensure_image(client, image, architecture)
        out = workdir / "out"
        out.mkdir(exist_ok=True)
        volumes = {str(workdir): {"bind": WORKDIR, "mode": "rw"}}
        environment = {"HOME": "/tmp", "PYTHONDONTWRITEBYTECODE": "1", "PIP_ROOT_USER_ACTION": "ignore",
                       "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_NO_INPUT": "1"}
        ca = _host_ca_bundle()
        if ca is not None:
            volumes[str(ca.resolve())] = {"bind": _CA_IN_CONTAINER, "mode": "ro"}
            environment["PIP_CERT"] = _CA_IN_CONTAINER
        index = os.environ.get("PIP_INDEX_URL")
        if index and index.startswith(("http://", "https://")):
            environment["PIP_INDEX_URL"] = index
        command = ["python3", "-c", _SCRIPT, runtime.python_version, "install", "--no-compile", "--no-user",
                   "--no-cache-dir", "--target", f"{WORKDIR}/out", "-r", requirements]
        log.debug("docker run %s pip install -r %s", image, requirements)
        try:
            container = client.containers.run(
                image, command, detach=True, volumes=volumes, environment=environment, network_mode="host",
                user=f"{os.getuid()}:{os.getgid()}", working_dir=WORKDIR)
        except docker.errors.APIError as e:
            raise CloudError(f"could not start a build container from {image!r}: {e.explanation or e}") from None
        try:
            status = container.wait(timeout=_TIMEOUT).get("StatusCode", 1)
            output = container.logs(stdout=True, stderr=True).decode("utf-8", "replace")
        except OSError as e:  # requests' timeouts and dropped connections are OSErrors
            raise CloudError(f"the build container ({image!r}) did not finish within {_TIMEOUT} s or the engine "
                             f"stopped answering ({type(e).__name__}); the container was removed") from None
        finally:
            try:
                container.remove(force=True)
            except docker.errors.APIError as e:
                log.warning("could not remove build container %s: %s", container.short_id, e)
    finally:
        client.close()
    if status == _WRONG_PYTHON:
        raise CloudError(f"image {image!r} cannot build for {runtime.name}: {output.strip().splitlines()[-1]}")
    if status != 0:
        tail = "\n".join(output.strip().splitlines()[-15:])
        raise CloudError(f"pip install in image {image!r} failed with exit status {status}:\n{tail}")


def _ensure_image(client: Any, image: str, architecture: str) -> None:
    """Make sure ``image`` is present (pulling it if not) and built for ``architecture``."""
    import docker.errors

    try:
        found = client.images.get(image)
    except docker.errors.ImageNotFound:
        try:
            found = client.images.pull(image, platform=f"linux/{_DOCKER_ARCH[architecture]}")
        except docker.errors.APIError as e:
            raise CloudError(f"build image {image!r} is not on this machine and could not be pulled "
                             f"({e.explanation or e}); pull or build it, or pass image=") from None
    arch = found.attrs.get("Architecture")
    if arch and arch != _DOCKER_ARCH[architecture]:
        raise CloudError(f"build image {image!r} is for {arch}, not {architecture}; pass an image for "
                         f"{_DOCKER_ARCH[architecture]}")
