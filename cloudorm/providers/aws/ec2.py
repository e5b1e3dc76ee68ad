"""The compute service on EC2 through botocore: instances tagged for a cluster, a key pair and a security group.

A cluster is the set of instances tagged ``cloudorm:cluster`` = its name (each also gets ``Name`` = the node name);
its key pair and security group are both named ``cloudorm-{cluster}``. Records are the neutral dicts
``ComputeService`` describes.
"""

from __future__ import annotations

import base64
import contextlib
import ipaddress
import re
import threading
import time
import urllib.parse
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from botocore import exceptions as bx
from botocore import xform_name

from cloudorm import errors as ce
from cloudorm.compute.names import check_cidrs
from cloudorm.credentials import protect
from cloudorm.providers.aws.clients import ClientFactory, paginate
from cloudorm.providers.aws.errors import map_error
from cloudorm.providers.aws.settle import send_settled
from cloudorm.providers.contract import ComputeCapabilities, ComputeService, Wire
from cloudorm.waiting import backoff

CLUSTER_TAG = "cloudorm:cluster"
"""The tag whose value is the cluster name, on instances, their volumes and the security group."""

IMPORT_TAG = "cloudorm:import"
"""The tag whose value is a token unique to one ``import_key`` call: the key pair that call imported carries it."""

CANONICAL = "099720109477"
"""Canonical's account: the owner of the official Ubuntu AMIs."""

STATES = {"pending": "pending", "running": "active", "stopping": "off", "stopped": "off",
          "shutting-down": "deleted", "terminated": "deleted"}
"""EC2 instance states and the neutral node status of each."""

LIVE_STATES = ("pending", "running", "stopping", "stopped")
"""Instance states that still count as a cluster's nodes."""

USER_DATA_LIMIT = 16 * 1024
"""EC2 refuses user data above 16 KB (before base64)."""

_INSTANCE_ID = re.compile(r"i-[0-9a-f]{8,17}\Z")
_AMI_ID = re.compile(r"ami-[0-9a-f]{8,17}\Z")
_UBUNTU = re.compile(r"ubuntu-(\d\d\.\d\d)\Z")


def node_record(raw: Wire, region: str) -> Wire:
    """A neutral node record from an EC2 Instance."""
    tags = {t["Key"]: t["Value"] for t in raw.get("Tags") or []}
    state = (raw.get("State") or {}).get("Name", "pending")
    return {
        "id": raw["InstanceId"],
        "name": tags.get("Name") or raw["InstanceId"],
        "status": STATES.get(state, "pending"),
        "address": raw.get("PublicIpAddress"),
        "private_address": raw.get("PrivateIpAddress"),
        "size": raw.get("InstanceType"),
        "region": region,
        "image": raw.get("ImageId"),
        "cluster": tags.get(CLUSTER_TAG),
        "created": raw.get("LaunchTime"),
    }


def group_name(cluster: str) -> str:
    """The security group (and key pair) name of ``cluster``."""
    return f"cloudorm-{cluster}"


def _networks(cidrs: Iterable[str]) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    """Parse ``cidrs`` (``InvalidInput("allow_ssh_from", ...)`` naming a bad one); at least one is needed."""
    return [ipaddress.ip_network(cidr) for cidr in check_cidrs(cidrs)]


def _user_data_secrets(user_data: str) -> tuple[str, ...]:
    """The forms in which user data (it may carry a private host key) could reach a log line or message: as
    sent (base64, and URL-encoded in the request body) and each of its longer lines."""
    encoded = base64.b64encode(user_data.encode()).decode()
    lines = tuple(line.strip() for line in user_data.splitlines() if len(line.strip()) >= 20)
    return (user_data, encoded, urllib.parse.quote_plus(encoded), urllib.parse.quote(encoded, safe=""), *lines)


class AwsComputeService(ComputeService):
    """``ComputeService`` over botocore's EC2 client. Nodes are reached over SSH at their public address."""

    default_image = "ubuntu-24.04"
    """The newest official Ubuntu 24.04 LTS AMI of the region (owner Canonical), looked up at create time. Other
    names: ``ubuntu-YY.MM`` (e.g. ``ubuntu-22.04``), ``amazon-linux-2023``, or an ``ami-…`` id used as is."""

    default_size = "t3.micro"
    """The instance type a cluster gets when none is named."""

    capabilities = ComputeCapabilities(accepts_host_keys=True)
    """Instances take their SSH host key from cloud-init user data."""

    firewall_delete_timeout = 300.0
    """Seconds ``delete_firewall`` keeps retrying while instances in the group are still terminating."""

    firewall_poll_interval = 5.0
    """Seconds between the looks ``delete_firewall`` takes at the instances it waits for."""

    tag_timeout = 60.0
    """Seconds ``create_nodes`` keeps retrying CreateTags on instances EC2 does not know yet (its API is eventually
    consistent: a new instance id can be ``InvalidInstanceID.NotFound`` for a moment)."""

    def __init__(self, clients: ClientFactory, provider: str, secrets: tuple[str, ...] = ()) -> None:
        self.clients = clients
        """The session's ClientFactory (``clients.client("ec2")`` is the botocore client)."""
        self.provider = provider
        """The provider's name, for errors."""
        self.secrets = secrets
        """Values never shown in error messages."""
        self._key_names: dict[str, str] = {}  # key pair id -> name (RunInstances and DeleteKeyPair take the name)
        self._image_names: dict[str, str] = {}  # AMI id -> its name and description, for default_user
        self._image_lock = threading.Lock()  # held while an AMI is looked up: one DescribeImages per AMI
        self._lock = threading.Lock()
        clients.hook("before-parse", "ec2", ("DescribeInstanceAttribute",), _protect_user_data_response)
        # (settled by a look instead: a re-send would be "not found" / "duplicate" for what the first send did)
        clients.no_resend("ec2", ("DeleteSecurityGroup", "ImportKeyPair"))

    # ------------------------------------------------------------------------------------------------ plumbing

    @property
    def client(self) -> Any:
        """The botocore EC2 client of the session's region."""
        return self.clients.client("ec2")

    def _call(self, operation: str, secrets: tuple[str, ...] = (), **params: Any) -> Wire:
        """Send one EC2 operation (e.g. ``RunInstances``), mapping errors (``secrets`` redacted from them)."""
        method = getattr(self.client, xform_name(operation))
        try:
            response: Wire = method(**params)
        except (bx.ClientError, bx.BotoCoreError) as e:
            raise map_error(e, self.provider, operation, (*self.secrets, *secrets)) from None
        return response

    def _call_until_settled(self, operation: str, code: str, timeout: float, **params: Any) -> Wire:
        """``_call`` again while EC2 answers ``code`` (a state that settles by itself: instances still
        terminating, a new instance not yet known), with backoff, for at most ``timeout`` seconds."""
        return self._until_settled(lambda: self._call(operation, **params), code, timeout)

    @staticmethod
    def _until_settled(send: Callable[[], Wire], code: str, timeout: float) -> Wire:
        """``send()`` again while it raises a CloudError with ``code``, with backoff, for at most ``timeout`` s."""
        deadline = time.monotonic() + timeout
        attempt = 0
        while True:
            try:
                return send()
            except ce.CloudError as e:
                if e.code != code or time.monotonic() >= deadline:
                    raise
            time.sleep(min(max(0.5, backoff(attempt, base=1.0, cap=15.0)), max(0.0, deadline - time.monotonic())))
            attempt += 1

    def _pages(self, operation: str, key: str, **params: Any) -> Iterator[Wire]:
        """Every item under ``key`` of every page of a paginated operation."""
        return paginate(self.client, operation, key, self.provider, self.secrets, **params)

    def _instances(self, **params: Any) -> Iterator[Wire]:
        """Every instance DescribeInstances returns for ``params``, all pages read."""
        for reservation in self._pages("DescribeInstances", "Reservations", **params):
            yield from reservation.get("Instances") or []

    @property
    def region(self) -> str:
        """The session's region (EC2 clusters live there)."""
        return self.clients.region

    # ------------------------------------------------------------------------------------------------ sizes and images

    def list_sizes(self) -> list[Wire]:
        """EC2's API publishes no prices (DescribeInstanceTypes has none, and the moto server cloudorm is tested
        against lacks the Pricing API), so sizes are not listed: ``Unsupported``, before any request."""
        raise ce.Unsupported(self.provider, "price_per_node",
                             "EC2 reports no instance prices; name the instance type instead, "
                             f"e.g. node_size={self.default_size!r}")

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

    # ------------------------------------------------------------------------------------------------ keys

    def import_key(self, name: str, public_key: str) -> Wire:
        """ImportKeyPair; an identical key already registered under ``name`` is returned (``created`` False), a
        different one is ``AlreadyExists``. After a lost answer DescribeKeyPairs settles it: the key this call
        imported (it carries this call's ``IMPORT_TAG`` token) is ``created`` True; none is imported again."""
        if not isinstance(public_key, str) or len(public_key.split()) < 2:
            raise ce.InvalidInput("public_key", "must be one OpenSSH public key line ('ssh-ed25519 AAAA… comment')")
        token = uuid.uuid4().hex

        def send() -> Wire:
            raw: Wire = self.client.import_key_pair(
                KeyName=name, PublicKeyMaterial=public_key.encode(),
                TagSpecifications=[{"ResourceType": "key-pair", "Tags": [{"Key": IMPORT_TAG, "Value": token}]}])
            return {"id": raw["KeyPairId"], "name": name, "fingerprint": raw.get("KeyFingerprint"), "created": True}

        def look() -> Wire | None:
            try:
                return self._same_key(name, public_key, token)
            except ce.NotFound:
                return None

        try:
            key = send_settled(send, look, attempts=self.clients.options.max_attempts)
        except bx.ClientError as e:
            if e.response.get("Error", {}).get("Code") != "InvalidKeyPair.Duplicate":
                raise map_error(e, self.provider, "ImportKeyPair", self.secrets) from None
            key = self._same_key(name, public_key, token)
        except bx.BotoCoreError as e:
            raise map_error(e, self.provider, "ImportKeyPair", self.secrets) from None
        with self._lock:
            self._key_names[key["id"]] = name
        return key

    def _same_key(self, name: str, public_key: str, token: str) -> Wire:
        """The key registered as ``name`` if it holds ``public_key`` (``created`` True when it carries the import
        ``token``), else ``AlreadyExists``; ``NotFound`` when there is none."""
        found = self._call("DescribeKeyPairs", KeyNames=[name], IncludePublicKey=True).get("KeyPairs") or []
        if not found:
            raise ce.NotFound(f"key pair {name!r} vanished while being imported", provider=self.provider,
                              operation="DescribeKeyPairs")
        key = found[0]
        registered = (key.get("PublicKey") or "").split()[:2]
        if registered != public_key.split()[:2]:
            raise ce.AlreadyExists(f"key pair {name!r} is registered with a different public key (fingerprint "
                                   f"{key.get('KeyFingerprint')}); delete it or use that key",
                                   provider=self.provider, operation="ImportKeyPair",
                                   code="InvalidKeyPair.Duplicate")
        with self._lock:
            self._key_names[key["KeyPairId"]] = name
        created = {"Key": IMPORT_TAG, "Value": token} in (key.get("Tags") or [])
        return {"id": key["KeyPairId"], "name": name, "fingerprint": key.get("KeyFingerprint"), "created": created}

    def _key_name(self, key_id: str, remembered: bool = True) -> str:
        """The name of key pair ``key_id`` (remembered from import_key, else looked up: ``NotFound`` if missing)."""
        with self._lock:
            name = self._key_names.get(key_id) if remembered else None
        if name is None:
            found = self._call("DescribeKeyPairs", Filters=[{"Name": "key-pair-id", "Values": [key_id]}])
            pairs = found.get("KeyPairs") or []
            if not pairs:
                raise ce.NotFound(f"key pair {key_id!r} does not exist in {self.region}", provider=self.provider,
                                  operation="DescribeKeyPairs", code="InvalidKeyPair.NotFound")
            name = str(pairs[0]["KeyName"])
            with self._lock:
                self._key_names[key_id] = name
        return name

    def find_key(self, name: str) -> Wire | None:
        """The key pair named ``name`` (DescribeKeyPairs), or None."""
        if not isinstance(name, str) or not name.strip():
            raise ce.InvalidInput("name", f"{name!r} is not a key pair name")
        try:
            found = self._call("DescribeKeyPairs", KeyNames=[name]).get("KeyPairs") or []
        except ce.NotFound:
            return None
        if not found:
            return None
        key = found[0]
        with self._lock:
            self._key_names[key["KeyPairId"]] = name
        return {"id": key["KeyPairId"], "name": name, "fingerprint": key.get("KeyFingerprint"), "created": False}

    def delete_key(self, key_id: str) -> None:
        """DeleteKeyPair by name, looked up by id first (EC2 answers success for a missing name; some emulators
        ignore ``KeyPairId``): a missing key is ``NotFound``."""
        name = self._key_name(key_id, remembered=False)
        self._call("DeleteKeyPair", KeyName=name)
        with self._lock:
            self._key_names.pop(key_id, None)

    # ------------------------------------------------------------------------------------------------ firewall

    def create_firewall(self, cluster: str, cidrs: Sequence[str]) -> str:
        """A security group ``cloudorm-{cluster}`` in the default VPC, tagged for the cluster, letting tcp/22 in
        from ``cidrs`` (outbound: EC2's default, everything). An existing one gets the missing CIDRs added."""
        return self._open_ssh(cluster, _networks(cidrs), self.find_firewall(cluster))

    def _open_ssh(self, cluster: str, networks: Sequence[ipaddress.IPv4Network | ipaddress.IPv6Network],
                  group_id: str | None) -> str:
        """Make the cluster's security group unless ``group_id`` is given, and let tcp/22 in from ``networks``."""
        if group_id is None:
            vpcs = self._call("DescribeVpcs", Filters=[{"Name": "is-default", "Values": ["true"]}]).get("Vpcs")
            if not vpcs:
                raise ce.NotFound(f"the region {self.region} has no default VPC to put the cluster's security "
                                  "group in", provider=self.provider, operation="DescribeVpcs")
            existing: set[str] = set()
            try:
                group_id = str(self._call(
                    "CreateSecurityGroup", GroupName=group_name(cluster), VpcId=vpcs[0]["VpcId"],
                    Description=f"cloudorm cluster {cluster}: SSH in",
                    TagSpecifications=[{"ResourceType": "security-group",
                                        "Tags": [{"Key": CLUSTER_TAG, "Value": cluster}]}])["GroupId"])
            except ce.AlreadyExists:  # botocore's re-send of a create whose answer was lost, or another creator
                group_id = self.find_firewall(cluster)
                if group_id is None:  # a group of that name not tagged for the cluster: not ours
                    raise
                existing = self._ssh_ranges(group_id)
        else:
            existing = self._ssh_ranges(group_id)
        v4 = [{"CidrIp": str(n), "Description": "cloudorm ssh"} for n in networks
              if n.version == 4 and str(n) not in existing]
        v6 = [{"CidrIpv6": str(n), "Description": "cloudorm ssh"} for n in networks
              if n.version == 6 and str(n) not in existing]
        if v4 or v6:
            permission: Wire = {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22}
            if v4:
                permission["IpRanges"] = v4
            if v6:
                permission["Ipv6Ranges"] = v6
            try:
                self._call("AuthorizeSecurityGroupIngress", GroupId=group_id, IpPermissions=[permission])
            except ce.AlreadyExists:  # a re-send after a lost answer: done if every range is there now
                wanted = {r.get("CidrIp") or r.get("CidrIpv6") for r in [*v4, *v6]}
                if not wanted <= self._ssh_ranges(group_id):
                    raise
        return group_id

    def _ssh_ranges(self, group_id: str) -> set[str]:
        """The CIDRs a security group already lets in on tcp/22."""
        groups = self._call("DescribeSecurityGroups", GroupIds=[group_id]).get("SecurityGroups") or []
        out: set[str] = set()
        for perm in (groups[0].get("IpPermissions") or []) if groups else []:
            protocol = perm.get("IpProtocol")
            # ("-1" is all traffic: EC2 gives it no ports, or -1)
            if protocol == "-1" or (protocol == "tcp" and perm.get("FromPort", 0) <= 22 <= perm.get("ToPort", 65535)):
                out.update(r["CidrIp"] for r in perm.get("IpRanges") or [])
                out.update(r["CidrIpv6"] for r in perm.get("Ipv6Ranges") or [])
        return out

    def find_firewall(self, cluster: str) -> str | None:
        """The id of the security group ``cloudorm-{cluster}`` tagged for the cluster, if any."""
        groups = list(self._pages("DescribeSecurityGroups", "SecurityGroups", Filters=[
            {"Name": "group-name", "Values": [group_name(cluster)]},
            {"Name": f"tag:{CLUSTER_TAG}", "Values": [cluster]}]))
        return str(groups[0]["GroupId"]) if groups else None

    def delete_firewall(self, firewall_id: str) -> None:
        """DeleteSecurityGroup. While instances in the group are still there (``DependencyViolation``), botocore's
        ``instance_terminated`` waiter waits for them and the delete is retried (their network interfaces go a
        little later), within ``firewall_delete_timeout`` seconds; then ``ConflictError`` names the instances.
        After a lost answer DescribeSecurityGroups settles it: a group gone is deleted (no false ``NotFound``)."""
        deadline = time.monotonic() + self.firewall_delete_timeout
        try:
            self._delete_group(firewall_id)
            return
        except ce.ConflictError as e:
            if e.code != "DependencyViolation":
                raise
            refused = e
        holders = [raw["InstanceId"] for raw in self._instances(Filters=[
            {"Name": "instance.group-id", "Values": [firewall_id]}])
            if (raw.get("State") or {}).get("Name") != "terminated"]
        if holders:
            self._wait_terminated(firewall_id, holders, deadline, refused)
        elif time.monotonic() >= deadline:
            raise refused
        self._until_settled(lambda: self._delete_group(firewall_id), "DependencyViolation",
                            max(0.0, deadline - time.monotonic()))

    def _delete_group(self, group_id: str) -> Wire:
        """One DeleteSecurityGroup, settled by DescribeSecurityGroups when its answer is lost (``send_settled``)."""

        def gone() -> Wire | None:
            try:
                self._call("DescribeSecurityGroups", GroupIds=[group_id])
            except ce.NotFound as e:
                if e.code == "InvalidGroup.NotFound":
                    return {}
                raise
            return None

        try:
            return send_settled(lambda: self.client.delete_security_group(GroupId=group_id), gone,
                                attempts=self.clients.options.max_attempts)
        except (bx.ClientError, bx.BotoCoreError) as e:
            raise map_error(e, self.provider, "DeleteSecurityGroup", self.secrets) from None

    def _wait_terminated(self, firewall_id: str, ids: Sequence[str], deadline: float, refused: ce.CloudError) -> None:
        """Wait (botocore's ``instance_terminated`` waiter) until instances ``ids`` are terminated, or ``deadline``:
        then ``ConflictError`` naming those still holding security group ``firewall_id``."""
        delay = self.firewall_poll_interval
        attempts = max(1, int((deadline - time.monotonic()) / delay))
        try:
            self.client.get_waiter("instance_terminated").wait(
                InstanceIds=list(ids), WaiterConfig={"Delay": delay, "MaxAttempts": attempts})
        except bx.WaiterError as e:
            last: Wire = dict(e.last_response or {})
            if "Error" in last:  # the waiter's DescribeInstances was refused
                refusal = bx.ClientError(last, "DescribeInstances")  # type: ignore[arg-type]
                raise map_error(refusal, self.provider, "DescribeInstances", self.secrets) from None
            states = [f"{i['InstanceId']} ({(i.get('State') or {}).get('Name')})"
                      for r in last.get("Reservations") or [] for i in r.get("Instances") or []
                      if (i.get("State") or {}).get("Name") != "terminated"]
            raise ce.ConflictError(f"security group {firewall_id} is still used by instance(s) "
                                   f"{', '.join(states) or ', '.join(ids)}: terminate them (or move them to another "
                                   "group), then delete it again", **refused.provider_details()) from None
        except bx.BotoCoreError as e:
            raise map_error(e, self.provider, "DescribeInstances", self.secrets) from None

    # ------------------------------------------------------------------------------------------------ nodes

    def check_region(self, region: str) -> str:
        """``region`` if it is the session's (an EC2 client works in one region); no request."""
        if region != self.region:
            raise ce.InvalidInput("region", f"EC2 clusters are made in the session's region ({self.region}), not "
                                            f"{region!r}: use Session('aws', region={region!r})")
        return region

    def node_quota(self) -> None:
        """None: EC2 enforces the account's vCPU quota itself, all or nothing (RunInstances with MinCount =
        MaxCount launches every node or none, ``VcpuLimitExceeded``)."""
        return None

    def create_nodes(self, cluster: str, names: Sequence[str], spec: Wire) -> list[Wire]:
        """One RunInstances for all ``names`` (tagged ``cloudorm:cluster`` with their volumes, idempotent through a
        ClientToken), then one CreateTags per instance for its ``Name``. Without ``firewall_id`` the cluster's
        security group is used, made if missing (and removed again if RunInstances fails) and open on tcp/22 to
        0.0.0.0/0: EC2's default group lets no SSH in. User data (it carries the nodes' private host key) never
        reaches a log line or an error message."""
        names = list(names)
        if not names:
            return []
        size = spec.get("size") or self.default_size
        if not isinstance(size, str):
            raise ce.InvalidInput("node_size", f"must be an EC2 instance type ('t3.micro'), not {size!r}")
        image = spec.get("image") or self.default_image
        if spec.get("region") is not None:
            self.check_region(spec["region"])
        if not spec.get("key_id"):
            raise ce.InvalidInput("key_id", "a key pair id from import_key is needed")
        user_data: str | None = spec.get("user_data")
        hidden: tuple[str, ...] = ()
        if user_data is not None:
            if not isinstance(user_data, str):
                raise ce.InvalidInput("user_data", f"must be cloud-init text (str), not {type(user_data).__name__}")
            if len(user_data.encode()) > USER_DATA_LIMIT:
                raise ce.InvalidInput("user_data", f"is {len(user_data.encode())} bytes; EC2 takes at most "
                                                   f"{USER_DATA_LIMIT}")
            hidden = _user_data_secrets(user_data)
            protect(hidden[:4])  # as sent: botocore's DEBUG log of the request shows these
        ami = self.resolve_image(image, size)  # a bad image name fails here, before any request
        key_name = self._key_name(spec["key_id"])
        made_group = None
        group_id = spec.get("firewall_id") or self.find_firewall(cluster)
        if group_id is None:
            group_id = made_group = self._open_ssh(cluster, _networks(["0.0.0.0/0"]), None)
        tags = [{"Key": CLUSTER_TAG, "Value": cluster}]
        params: Wire = {
            "ImageId": ami, "InstanceType": size, "MinCount": len(names), "MaxCount": len(names),
            "KeyName": key_name, "SecurityGroupIds": [group_id],
            "TagSpecifications": [{"ResourceType": "instance", "Tags": tags},
                                  {"ResourceType": "volume", "Tags": tags}],
            "ClientToken": f"cloudorm-{uuid.uuid4().hex}",
            "Monitoring": {"Enabled": bool(spec.get("monitoring"))},
        }
        if user_data is not None:
            params["UserData"] = user_data
        try:
            reservation = self._call("RunInstances", hidden, **params)
        except ce.CloudError:
            if made_group is not None:  # nothing uses the group this call made: it goes too
                with contextlib.suppress(ce.CloudError):
                    self._delete_group(made_group)
            raise
        instances = sorted(reservation.get("Instances") or [], key=lambda i: i.get("AmiLaunchIndex", 0))
        records = []
        for raw, name in zip(instances, names, strict=False):
            self._call_until_settled("CreateTags", "InvalidInstanceID.NotFound", self.tag_timeout,
                                     Resources=[raw["InstanceId"]], Tags=[{"Key": "Name", "Value": name}])
            raw = {**raw, "Tags": [*(raw.get("Tags") or []), {"Key": "Name", "Value": name}]}
            records.append(node_record(raw, self.region))
        return records

    def list_nodes(self, cluster: str) -> list[Wire]:
        """Every instance tagged for ``cluster`` that is not terminated or shutting down, in node-number order."""
        found = [node_record(raw, self.region) for raw in self._instances(Filters=[
            {"Name": f"tag:{CLUSTER_TAG}", "Values": [cluster]},
            {"Name": "instance-state-name", "Values": list(LIVE_STATES)}])]
        return sorted(found, key=lambda r: (_numbered(r["name"]), r["id"]))

    def list_clusters(self) -> list[str]:
        """The names of clusters with live instances or a security group made by cloudorm."""
        names = {t["Value"] for raw in self._instances(Filters=[
            {"Name": "tag-key", "Values": [CLUSTER_TAG]},
            {"Name": "instance-state-name", "Values": list(LIVE_STATES)}])
            for t in raw.get("Tags") or [] if t["Key"] == CLUSTER_TAG}
        names.update(t["Value"] for group in self._pages("DescribeSecurityGroups", "SecurityGroups", Filters=[
            {"Name": "tag-key", "Values": [CLUSTER_TAG]}]) for t in group.get("Tags") or [] if t["Key"] == CLUSTER_TAG)
        return sorted(names)

    def get_node(self, node_id: str) -> Wire:
        """The current record of one instance (``NotFound`` if EC2 has no such instance)."""
        _check_id(node_id)
        for raw in self._instances(InstanceIds=[node_id]):
            return node_record(raw, self.region)
        raise ce.NotFound(f"instance {node_id!r} does not exist in {self.region}", provider=self.provider,
                          operation="DescribeInstances", code="InvalidInstanceID.NotFound")

    def delete_nodes(self, node_ids: Sequence[str]) -> None:
        """TerminateInstances (up to 1000 per request); ids EC2 no longer knows are ignored."""
        ids = list(dict.fromkeys(node_ids))
        for node_id in ids:
            _check_id(node_id)
        for start in range(0, len(ids), 1000):
            chunk = ids[start:start + 1000]
            try:
                self._call("TerminateInstances", InstanceIds=chunk)
            except ce.NotFound as e:
                if e.code != "InvalidInstanceID.NotFound":
                    raise
                known = [raw["InstanceId"] for raw in self._instances(
                    Filters=[{"Name": "instance-id", "Values": chunk}])]
                if known:
                    self._call("TerminateInstances", InstanceIds=known)

    def delete_cluster_nodes(self, cluster: str) -> None:
        """TerminateInstances of every instance tagged for ``cluster`` (EC2 deletes by id only: listed first)."""
        ids = [str(r["id"]) for r in self.list_nodes(cluster)]
        if ids:
            self.delete_nodes(ids)

    def resize_node(self, node_id: str, size: str) -> Wire:
        """Not offered: an instance's type changes only while it is stopped (``Unsupported``, before any request)."""
        raise ce.Unsupported(self.provider, "resizing a node", "make a cluster node of the new type instead")

    def reboot_node(self, node_id: str) -> None:
        """RebootInstances (returns once EC2 accepted it)."""
        _check_id(node_id)
        self._call("RebootInstances", InstanceIds=[node_id])

    def shell(self, node: Wire) -> None:
        """None: instances are reached over SSH at their public address."""
        return None


def _check_id(node_id: Any) -> None:
    """``InvalidInput`` (before any request) unless ``node_id`` looks like an instance id."""
    if not isinstance(node_id, str) or not _INSTANCE_ID.match(node_id):
        raise ce.InvalidInput("node_id", f"{node_id!r} is not an EC2 instance id ('i-0123456789abcdef0')")


def _numbered(name: str) -> tuple[str, int]:
    """Sort key putting ``web-2`` before ``web-10``."""
    base, _, n = name.rpartition("-")
    return (base, int(n)) if n.isdigit() else (name, -1)


def _protect_user_data_response(response_dict: Wire, **_: Any) -> None:
    """botocore's ``before-parse`` hook for DescribeInstanceAttribute: user data (a private host key, maybe) in the
    response is protected before botocore's parser logs the body."""
    body = response_dict.get("body") or b""
    if not isinstance(body, bytes) or b"<userData>" not in body:
        return
    found = re.search(rb"<userData>\s*<value>([^<]+)</value>", body)
    if found:
        encoded = found.group(1).decode(errors="replace").strip()
        try:
            text = base64.b64decode(encoded).decode(errors="replace")
        except ValueError:
            text = ""
        protect(_user_data_secrets(text) if text else (encoded,))

