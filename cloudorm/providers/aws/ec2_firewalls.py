"""EC2 security groups: the cluster's group letting SSH in (made once even when an answer is lost), found by name
and tag, and deleted once the instances in it are gone."""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Iterable, Sequence

from botocore import exceptions as bx

from cloudorm import errors as ce
from cloudorm.compute.names import check_cidrs
from cloudorm.providers.aws.clients import ClientFactory
from cloudorm.providers.aws.ec2_api import Ec2Api
from cloudorm.providers.aws.ec2_records import CLUSTER_TAG, group_name
from cloudorm.providers.aws.errors import map_error
from cloudorm.providers.aws.settle import send_settled
from cloudorm.providers.contract import Wire


def parse_networks(cidrs: Iterable[str]) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    """Parse ``cidrs`` (``InvalidInput("allow_ssh_from", ...)`` naming a bad one); at least one is needed."""
    return [ipaddress.ip_network(cidr) for cidr in check_cidrs(cidrs)]


class Ec2SecurityGroups(Ec2Api):
    """The security group part of ``AwsComputeService``: ``create_firewall``, ``find_firewall``, ``delete_firewall``."""

    firewall_delete_timeout = 300.0
    """Seconds ``delete_firewall`` keeps retrying while instances in the group are still terminating."""

    firewall_poll_interval = 5.0
    """Seconds between the looks ``delete_firewall`` takes at the instances it waits for."""

    def __init__(self, clients: ClientFactory, provider: str, secrets: tuple[str, ...] = ()) -> None:
        super().__init__(clients, provider, secrets)
        # (settled by a look instead: a re-send would be "not found" for what the first send did)
        clients.no_resend("ec2", ("DeleteSecurityGroup",))

    def create_firewall(self, cluster: str, cidrs: Sequence[str]) -> str:
        """A security group ``cloudorm-{cluster}`` in the default VPC, tagged for the cluster, letting tcp/22 in
        from ``cidrs`` (outbound: EC2's default, everything). An existing one gets the missing CIDRs added."""
        return self._open_ssh(cluster, parse_networks(cidrs), self.find_firewall(cluster))

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
