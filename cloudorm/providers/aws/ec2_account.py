"""What an AWS account holds for compute beyond clusters: the account (STS GetCallerIdentity and EC2's account
attributes), regions (DescribeRegions), the official Ubuntu and Amazon Linux images, key pairs by name and every
instance by its ``Name`` tag."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from cloudorm import errors as ce
from cloudorm.providers.aws.ec2_api import Ec2Api
from cloudorm.providers.aws.ec2_images import CANONICAL
from cloudorm.providers.aws.ec2_records import LIVE_STATES, node_record
from cloudorm.providers.aws.errors import map_error
from cloudorm.providers.contract import NodeInfo, Wire
from cloudorm.providers.contract.compute import AccountInfo, ImageInfo, RegionInfo, SshKeyInfo

IMAGE_OWNERS = (CANONICAL, "amazon")
"""Whose public images ``list_images`` lists: Canonical's Ubuntu and Amazon's own."""

IMAGE_NAMES = ("ubuntu/images/*ubuntu-*-server-*", "al2023-ami-2023.*")
"""The image families ``list_images`` lists: the ones ``Cluster(image="ubuntu-YY.MM" | "amazon-linux-2023")``
resolves to (Ubuntu server, Amazon Linux 2023)."""


def _paged(params: Wire, start: Any, limit: int | None) -> Wire:
    """``params`` asking for the page ``start`` (a NextToken) of ``limit`` items (EC2 takes 5 to 1000)."""
    if start is not None and not (isinstance(start, str) and start):
        raise ce.InvalidInput("start", f"{start!r} is not a page token of this listing")
    if start is not None:
        params["NextToken"] = start
    if limit is not None:
        params["MaxResults"] = max(5, min(limit, 1000))
    return params


def _created(value: Any) -> datetime | None:
    try:
        found = datetime.fromisoformat(str(value).replace("Z", "+00:00")) if value else None
    except ValueError:
        return None
    return found if found is None or found.tzinfo else found.replace(tzinfo=timezone.utc)


def image_record(raw: Wire) -> ImageInfo:
    """The neutral record of an AMI (its id is the name ``Cluster(image=)`` takes)."""
    return {"id": str(raw["ImageId"]), "slug": None, "name": str(raw.get("Name") or raw["ImageId"]),
            "distribution": raw.get("PlatformDetails"), "public": bool(raw.get("Public")), "regions": [],
            "created": _created(raw.get("CreationDate")), "description": raw.get("Description")}


def key_record(raw: Wire) -> SshKeyInfo:
    """The neutral record of a key pair."""
    return {"id": str(raw["KeyPairId"]), "name": str(raw["KeyName"]), "fingerprint": raw.get("KeyFingerprint"),
            "public_key": raw.get("PublicKey")}


class Ec2Account(Ec2Api):
    """The account part of ``AwsComputeService``: ``account``, ``list_regions``, ``list_images``, key pairs as SSH
    keys and ``list_servers``."""

    def account(self) -> AccountInfo:
        """The account id (STS GetCallerIdentity) and EC2's account attributes (DescribeAccountAttributes): its
        ``max-instances`` is the limit on instances."""
        try:
            who = self.clients.client("sts").get_caller_identity()
        except Exception as e:
            raise map_error(e, self.provider, "GetCallerIdentity", self.secrets) from None
        attributes = {a["AttributeName"]: [v.get("AttributeValue") for v in a.get("AttributeValues") or []]
                      for a in self._call("DescribeAccountAttributes").get("AccountAttributes") or []}
        limit = (attributes.get("max-instances") or [None])[0]
        return {"id": who.get("Account"), "email": None, "status": None,
                "node_limit": int(limit) if isinstance(limit, str) and limit.isdigit() else None,
                "details": {"arn": who.get("Arn"), "attributes": attributes}}

    def list_regions(self, start: str | None, limit: int | None) -> tuple[list[RegionInfo], str | None]:
        """DescribeRegions (the regions this account may use), one page."""
        regions = self._call("DescribeRegions").get("Regions") or []
        return [{"slug": r["RegionName"], "name": r["RegionName"],
                 "available": r.get("OptInStatus", "opt-in-not-required") != "not-opted-in", "sizes": [],
                 "features": []} for r in sorted(regions, key=lambda r: r["RegionName"])], None

    def list_images(self, start: str | None, limit: int | None) -> tuple[list[ImageInfo], str | None]:
        """A page of DescribeImages: the available Ubuntu server images of Canonical and Amazon Linux 2023 images of
        Amazon in the session's region (``IMAGE_NAMES``)."""
        found = self._call("DescribeImages", **_paged({"Owners": list(IMAGE_OWNERS), "Filters": [
            {"Name": "state", "Values": ["available"]}, {"Name": "name", "Values": list(IMAGE_NAMES)}]},
            start, limit))
        images = sorted(found.get("Images") or [], key=lambda i: (str(i.get("Name")), i["ImageId"]))
        return [image_record(i) for i in images], found.get("NextToken") or None

    def list_ssh_keys(self, start: str | None, limit: int | None) -> tuple[list[SshKeyInfo], str | None]:
        """DescribeKeyPairs with their public keys (EC2 answers them all at once)."""
        pairs = self._call("DescribeKeyPairs", IncludePublicKey=True).get("KeyPairs") or []
        return [key_record(k) for k in sorted(pairs, key=lambda k: k["KeyName"])], None

    def get_ssh_key(self, name: str) -> SshKeyInfo:
        """The key pair ``name`` (``NotFound`` if none)."""
        if not isinstance(name, str) or not name.strip():
            raise ce.InvalidInput("name", f"{name!r} is not a key pair name")
        pairs = self._call("DescribeKeyPairs", KeyNames=[name], IncludePublicKey=True).get("KeyPairs") or []
        if not pairs:
            raise ce.NotFound(f"key pair {name!r} does not exist in {self.region}", provider=self.provider,
                              operation="DescribeKeyPairs", code="InvalidKeyPair.NotFound")
        return key_record(pairs[0])

    def create_ssh_key(self, name: str, public_key: str) -> SshKeyInfo:
        """ImportKeyPair (settled by a look after a lost answer, as a cluster's key is): ``AlreadyExists`` when a
        key pair ``name`` was there before this call."""
        key = self.import_key(name, public_key)  # type: ignore[attr-defined]  # (Ec2KeyPairs, beside this part)
        if not key["created"]:
            raise ce.AlreadyExists(f"key pair {name!r} exists already", provider=self.provider,
                                   operation="ImportKeyPair", code="InvalidKeyPair.Duplicate")
        return {"id": str(key["id"]), "name": name, "fingerprint": key.get("fingerprint"),
                "public_key": public_key.strip()}

    def list_servers(self, name: str | None, start: str | None,
                     limit: int | None) -> tuple[list[NodeInfo], str | None]:
        """A page of DescribeInstances of every live instance (``name``: its ``Name`` tag)."""
        filters = [{"Name": "instance-state-name", "Values": list(LIVE_STATES)}]
        if name is not None:
            filters.append({"Name": "tag:Name", "Values": [name]})
        found = self._call("DescribeInstances", **_paged({"Filters": filters}, start, limit))
        records = [node_record(raw, self.region) for reservation in found.get("Reservations") or []
                   for raw in reservation.get("Instances") or []]
        return records, found.get("NextToken") or None


__all__ = ["IMAGE_NAMES", "IMAGE_OWNERS", "Ec2Account", "image_record", "key_record"]
