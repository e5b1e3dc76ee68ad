"""EC2 images: named images (``ubuntu-24.04``, ``amazon-linux-2023``) resolved to the newest official AMI of the
region for an instance type's architecture, and the login user of an image."""

from __future__ import annotations

import re
import threading

from cloudorm import errors as ce
from cloudorm.providers.aws.clients import ClientFactory
from cloudorm.providers.aws.ec2_api import Ec2Api

CANONICAL = "099720109477"
"""Canonical's account: the owner of the official Ubuntu AMIs."""

_AMI_ID = re.compile(r"ami-[0-9a-f]{8,17}\Z")
_UBUNTU = re.compile(r"ubuntu-(\d\d\.\d\d)\Z")


class Ec2Images(Ec2Api):
    """The image part of ``AwsComputeService``: ``resolve_image`` and ``default_user``, each AMI looked up once."""

    def __init__(self, clients: ClientFactory, provider: str, secrets: tuple[str, ...] = ()) -> None:
        super().__init__(clients, provider, secrets)
        self._image_names: dict[str, str] = {}  # AMI id -> its name and description, for default_user
        self._image_lock = threading.Lock()  # held while an AMI is looked up: one DescribeImages per AMI

    def default_user(self, image: str) -> str:
        """The login user of instances made from ``image``: ``ubuntu`` for Ubuntu, ``ec2-user`` for Amazon Linux,
        ``admin`` for Debian, else ``ubuntu``. An ``ami-…`` id is looked up (DescribeImages) to know which
        (``NotFound`` when the region has no such image)."""
        kind = self._image_kind(image)
        if kind is None:
            name = self._image_name(image)
            kind = "amazon" if re.search(r"amzn|al20\d\d|amazon linux", name, re.I) else (
                "debian" if re.search(r"debian", name, re.I) else "ubuntu")
        return {"ubuntu": "ubuntu", "amazon": "ec2-user", "debian": "admin"}[kind]

    def _image_kind(self, image: str) -> str | None:
        """``ubuntu`` or ``amazon`` for a named image, None for an AMI id; ``InvalidInput`` for anything else."""
        if not isinstance(image, str):
            raise ce.InvalidInput("image", f"must be a str, not {type(image).__name__}")
        if _UBUNTU.match(image):
            return "ubuntu"
        if image == "amazon-linux-2023":
            return "amazon"
        if _AMI_ID.match(image):
            return None
        raise ce.InvalidInput("image", f"{image!r} is neither an AMI id ('ami-…') nor a known name "
                                       "('ubuntu-24.04', 'ubuntu-22.04', …, 'amazon-linux-2023')")

    def _image_name(self, ami: str) -> str:
        """The name and description of an AMI, looked up once (nodes connecting in parallel wait for the one
        DescribeImages); ``NotFound`` when the region has no such image."""
        with self._image_lock:
            known = self._image_names.get(ami)
            if known is None:
                images = self._call("DescribeImages", ImageIds=[ami]).get("Images") or []
                if not images:
                    raise ce.NotFound(f"image {ami!r} does not exist in {self.region}", provider=self.provider,
                                      operation="DescribeImages")
                known = self._image_names[ami] = f"{images[0].get('Name') or ''} {images[0].get('Description') or ''}"
        return known

    def _architecture(self, size: str) -> str:
        """``x86_64`` or ``arm64``: what instances of type ``size`` run (DescribeInstanceTypes)."""
        try:
            types = self._call("DescribeInstanceTypes", InstanceTypes=[size]).get("InstanceTypes") or []
        except ce.InvalidInput as e:  # InvalidInstanceType
            raise ce.InvalidInput("node_size", f"{size!r}: {e.reason}", **e.provider_details()) from None
        if not types:
            raise ce.InvalidInput("node_size", f"{size!r} is not an EC2 instance type offered in {self.region}")
        arches = (types[0].get("ProcessorInfo") or {}).get("SupportedArchitectures") or ["x86_64"]
        return "x86_64" if "x86_64" in arches else "arm64"

    def resolve_image(self, image: str, size: str) -> str:
        """The AMI id for ``image``: an ``ami-…`` id as is, or the newest available official image of that name for
        the architecture of ``size`` (``NotFound`` when the region has none)."""
        kind = self._image_kind(image)
        if kind is None:
            return image
        arch = self._architecture(size)
        if kind == "ubuntu":
            version = _UBUNTU.match(image).group(1)  # type: ignore[union-attr]
            ubuntu_arch = "amd64" if arch == "x86_64" else "arm64"
            owner, pattern = CANONICAL, f"ubuntu/images/*ubuntu-*-{version}-{ubuntu_arch}-server-*"
        else:
            owner, pattern = "amazon", f"al2023-ami-2023.*-{arch}"
        images = list(self._pages("DescribeImages", "Images", Owners=[owner], Filters=[
            {"Name": "name", "Values": [pattern]}, {"Name": "state", "Values": ["available"]},
            {"Name": "architecture", "Values": [arch]}]))
        if not images:
            others = ", ".join(repr(n) for n in ("ubuntu-24.04", "ubuntu-22.04", "amazon-linux-2023") if n != image)
            raise ce.NotFound(f"no {image} image for {arch} in {self.region} (no available image of owner {owner} "
                              f"named {pattern!r}): give the cluster image='ami-…', an AMI id this region has, or "
                              f"another image name ({others})", provider=self.provider, operation="DescribeImages")
        newest = max(images, key=lambda i: (i.get("CreationDate") or "", i.get("Name") or ""))
        ami: str = newest["ImageId"]
        with self._image_lock:
            self._image_names[ami] = f"{newest.get('Name') or ''} {newest.get('Description') or ''}"
        return ami
