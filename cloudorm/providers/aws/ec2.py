"""The compute service on EC2 through botocore: instances tagged for a cluster, a key pair and a security group.

A cluster is the set of instances tagged ``cloudorm:cluster`` = its name (each also gets ``Name`` = the node name);
its key pair and security group are both named ``cloudorm-{cluster}``. Records are the neutral dicts
``ComputeService`` describes.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Sequence

from cloudorm import errors as ce
from cloudorm.providers.aws.clients import ClientFactory
from cloudorm.providers.aws.ec2_account import Ec2Account
from cloudorm.providers.aws.ec2_firewalls import Ec2SecurityGroups, parse_networks
from cloudorm.providers.aws.ec2_images import Ec2Images
from cloudorm.providers.aws.ec2_keys import Ec2KeyPairs
from cloudorm.providers.aws.ec2_power import Ec2Power
from cloudorm.providers.aws.ec2_records import (
    CLUSTER_TAG,
    LIVE_STATES,
    check_instance_id,
    node_order,
    node_record,
)
from cloudorm.providers.aws.ec2_user_data import hide_user_data, protect_user_data_response
from cloudorm.providers.contract import ComputeCapabilities, ComputeService, NodeInfo, SizeInfo, Wire


class AwsComputeService(Ec2Images, Ec2KeyPairs, Ec2SecurityGroups, Ec2Power, Ec2Account, ComputeService):
    """``ComputeService`` over botocore's EC2 client. Nodes are reached over SSH at their public address. Its images,
    key pairs, security groups, power actions and account listings are parts of their own (``ec2_images``,
    ``ec2_keys``, ``ec2_firewalls``, ``ec2_power``, ``ec2_account``)."""

    default_image = "ubuntu-24.04"
    """The newest official Ubuntu 24.04 LTS AMI of the region (owner Canonical), looked up at create time. Other
    names: ``ubuntu-YY.MM`` (e.g. ``ubuntu-22.04``), ``amazon-linux-2023``, or an ``ami-…`` id used as is."""

    default_size = "t3.micro"
    """The instance type a cluster gets when none is named."""

    capabilities = ComputeCapabilities(accepts_host_keys=True)
    """Instances take their SSH host key from cloud-init user data."""

    tag_timeout = 60.0
    """Seconds ``create_nodes`` keeps retrying CreateTags on instances EC2 does not know yet (its API is eventually
    consistent: a new instance id can be ``InvalidInstanceID.NotFound`` for a moment)."""

    def __init__(self, clients: ClientFactory, provider: str, secrets: tuple[str, ...] = ()) -> None:
        super().__init__(clients, provider, secrets)
        clients.hook("before-parse", "ec2", ("DescribeInstanceAttribute",), protect_user_data_response)

    # ------------------------------------------------------------------------------------------------ sizes

    def list_sizes(self) -> list[SizeInfo]:
        """EC2's API publishes no prices (DescribeInstanceTypes has none, and the moto server cloudorm is tested
        against lacks the Pricing API), so sizes are not listed: ``Unsupported``, before any request."""
        raise ce.Unsupported(self.provider, "price_per_node",
                             "EC2 reports no instance prices; name the instance type instead, "
                             f"e.g. node_size={self.default_size!r}")

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

    def create_nodes(self, cluster: str, names: Sequence[str], spec: Wire) -> list[NodeInfo]:
        """One RunInstances for all ``names`` (tagged ``cloudorm:cluster`` with their volumes, idempotent through a
        ClientToken), then one CreateTags per instance for its ``Name``. Without ``firewall_id`` the cluster's
        security group is used, made if missing (and removed again if RunInstances fails), open on tcp/22 to
        0.0.0.0/0 (EC2's default group lets no SSH in) and on every TCP port to its own members. User data (it
        carries the nodes' private host key) never reaches a log line or an error message."""
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
        hidden = hide_user_data(user_data)
        ami = self.resolve_image(image, size)  # a bad image name fails here, before any request
        key_name = self._key_name(spec["key_id"])
        made_group = None
        group_id = spec.get("firewall_id") or self.find_firewall(cluster)
        if group_id is None:
            group_id = made_group = self._open(cluster, {22: parse_networks(["0.0.0.0/0"])}, None)
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

    def list_nodes(self, cluster: str) -> list[NodeInfo]:
        """Every instance tagged for ``cluster`` that is not terminated or shutting down, in node-number order."""
        found = [node_record(raw, self.region) for raw in self._instances(Filters=[
            {"Name": f"tag:{CLUSTER_TAG}", "Values": [cluster]},
            {"Name": "instance-state-name", "Values": list(LIVE_STATES)}])]
        return sorted(found, key=lambda r: (node_order(r["name"]), r["id"]))

    def list_clusters(self) -> list[str]:
        """The names of clusters with live instances or a security group made by cloudorm."""
        names = {t["Value"] for raw in self._instances(Filters=[
            {"Name": "tag-key", "Values": [CLUSTER_TAG]},
            {"Name": "instance-state-name", "Values": list(LIVE_STATES)}])
            for t in raw.get("Tags") or [] if t["Key"] == CLUSTER_TAG}
        names.update(t["Value"] for group in self._pages("DescribeSecurityGroups", "SecurityGroups", Filters=[
            {"Name": "tag-key", "Values": [CLUSTER_TAG]}]) for t in group.get("Tags") or [] if t["Key"] == CLUSTER_TAG)
        return sorted(names)

    def get_node(self, node_id: str) -> NodeInfo:
        """The current record of one instance (``NotFound`` if EC2 has no such instance)."""
        check_instance_id(node_id)
        for raw in self._instances(InstanceIds=[node_id]):
            return node_record(raw, self.region)
        raise ce.NotFound(f"instance {node_id!r} does not exist in {self.region}", provider=self.provider,
                          operation="DescribeInstances", code="InvalidInstanceID.NotFound")

    def delete_nodes(self, node_ids: Sequence[str]) -> None:
        """TerminateInstances (up to 1000 per request); ids EC2 no longer knows are ignored."""
        ids = list(dict.fromkeys(node_ids))
        for node_id in ids:
            check_instance_id(node_id)
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

    def resize_node(self, node_id: str, size: str) -> NodeInfo:
        """Not offered: an instance's type changes only while it is stopped (``Unsupported``, before any request)."""
        raise ce.Unsupported(self.provider, "resizing a node", "make a cluster node of the new type instead")

    def reboot_node(self, node_id: str) -> None:
        """RebootInstances (returns once EC2 accepted it)."""
        self.power_node(node_id, "reboot")

    def shell(self, node: Wire) -> None:
        """None: instances are reached over SSH at their public address."""
        return None
