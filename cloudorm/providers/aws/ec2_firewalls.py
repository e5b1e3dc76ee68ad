"""EC2 security groups: the cluster's group letting SSH in and its own instances reach each other (a rule whose source
is the group itself), made once even when an answer is lost, opened on more ports, found by name and tag, and deleted
once the instances in it are gone."""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Iterable, Mapping, Sequence

from botocore import exceptions as bx

from cloudorm import errors as ce
from cloudorm.compute.names import check_cidrs
from cloudorm.providers.aws.clients import ClientFactory
from cloudorm.providers.aws.ec2_api import Ec2Api
from cloudorm.providers.aws.ec2_records import CLUSTER_TAG, LIVE_STATES, group_name
from cloudorm.providers.aws.errors import map_error
from cloudorm.providers.aws.settle import send_settled
from cloudorm.providers.contract import Wire
from cloudorm.providers.contract.compute import EVERYWHERE, PEER_PORTS, check_open_port, covered

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
"""An IPv4 or IPv6 network."""


def parse_networks(cidrs: Iterable[str], field: str = "allow_ssh_from") -> list[Network]:
    """Parse ``cidrs`` (``InvalidInput(field, ...)`` naming a bad one); at least one is needed."""
    return [ipaddress.ip_network(cidr) for cidr in check_cidrs(cidrs, field)]


def port_ranges(permissions: Iterable[Wire], port: int) -> set[str]:
    """The CIDRs ``permissions`` (a group's ``IpPermissions``) let in on tcp ``port``."""
    out: set[str] = set()
    for perm in permissions:
        protocol = perm.get("IpProtocol")
        # ("-1" is all traffic: EC2 gives it no ports, or -1)
        if protocol == "-1" or (protocol == "tcp" and perm.get("FromPort", 0) <= port <= perm.get("ToPort", 65535)):
            out.update(r["CidrIp"] for r in perm.get("IpRanges") or [])
            out.update(r["CidrIpv6"] for r in perm.get("Ipv6Ranges") or [])
    return out


def has_peer_rule(permissions: Iterable[Wire], group_id: str) -> bool:
    """True when ``permissions`` let the group's own members in on every TCP port (all traffic counts)."""
    low, high = PEER_PORTS
    for perm in permissions:
        protocol = perm.get("IpProtocol")
        every_port = protocol == "-1" or (protocol == "tcp" and perm.get("FromPort", 0) <= max(low, 1)
                                          and perm.get("ToPort", 65535) >= high)
        if every_port and any(p.get("GroupId") == group_id for p in perm.get("UserIdGroupPairs") or []):
            return True
    return False


class Ec2SecurityGroups(Ec2Api):
    """The security group part of ``AwsComputeService``: ``create_firewall``, ``find_firewall``, ``delete_firewall``,
    ``allow_peers``, ``open_port``."""

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
        from ``cidrs`` and every TCP port from its own members (outbound: EC2's default, everything). An existing
        one gets the missing CIDRs (and peer rule) added."""
        return self._open(cluster, {22: parse_networks(cidrs)}, self.find_firewall(cluster))

    def allow_peers(self, cluster: str) -> str | None:
        """Add the rule letting the group's members reach each other on every TCP port to the cluster's group if it
        lacks it (a group made by an older cloudorm); its id, or None when the cluster has no group."""
        group_id = self.find_firewall(cluster)
        if group_id is not None:
            self._authorize(group_id, {}, self._permissions(group_id))
        return group_id

    def open_port(self, cluster: str, port: int, cidrs: Sequence[str]) -> str:
        """Let tcp ``port`` in from ``cidrs`` through the cluster's group (and the peer rule); without a group one
        is made (SSH from everywhere, as EC2 clusters have it) and given to the cluster's live instances."""
        port, sources = check_open_port(port, cidrs)
        networks = [ipaddress.ip_network(c) for c in sources]
        group_id = self.find_firewall(cluster)
        if group_id is not None:
            return self._open(cluster, {port: networks}, group_id)
        ports = {22: parse_networks(EVERYWHERE)}
        ports[port] = [*ports.get(port, []), *networks]
        group_id = self._open(cluster, ports, None)
        self._attach(cluster, group_id)
        return group_id

    def _open(self, cluster: str, ports: Mapping[int, Sequence[Network]], group_id: str | None) -> str:
        """Make the cluster's security group unless ``group_id`` is given; let each tcp port of ``ports`` in from
        its networks, and every TCP port from the group itself."""
        if group_id is not None:
            self._authorize(group_id, ports, self._permissions(group_id))
            return group_id
        vpcs = self._call("DescribeVpcs", Filters=[{"Name": "is-default", "Values": ["true"]}]).get("Vpcs")
        if not vpcs:
            raise ce.NotFound(f"the region {self.region} has no default VPC to put the cluster's security "
                              "group in", provider=self.provider, operation="DescribeVpcs")
        try:
            group_id = str(self._call(
                "CreateSecurityGroup", GroupName=group_name(cluster), VpcId=vpcs[0]["VpcId"],
                Description=f"cloudorm cluster {cluster}: SSH in, its nodes to each other",
                TagSpecifications=[{"ResourceType": "security-group",
                                    "Tags": [{"Key": CLUSTER_TAG, "Value": cluster}]}])["GroupId"])
            existing: list[Wire] = []  # (a new group lets nothing in)
        except ce.AlreadyExists:  # botocore's re-send of a create whose answer was lost, or another creator
            found = self.find_firewall(cluster)
            if found is None:  # a group of that name not tagged for the cluster: not ours
                raise
            group_id, existing = found, self._permissions(found)
        self._authorize(group_id, ports, existing)
        return group_id

    def _authorize(self, group_id: str, ports: Mapping[int, Sequence[Network]], existing: list[Wire]) -> None:
        """One AuthorizeSecurityGroupIngress for what ``existing`` (the group's permissions) lacks: the peer rule,
        each port's networks. After a lost answer botocore's re-send is ``InvalidPermission.Duplicate``: done if
        everything is there when read again."""
        wanted: list[Wire] = []
        if not has_peer_rule(existing, group_id):
            wanted.append({"IpProtocol": "tcp", "FromPort": PEER_PORTS[0], "ToPort": PEER_PORTS[1],
                           "UserIdGroupPairs": [{"GroupId": group_id, "Description": "cloudorm cluster peers"}]})
        for port, networks in ports.items():
            present = port_ranges(existing, port)
            what = "cloudorm ssh" if port == 22 else f"cloudorm tcp/{port}"
            lacking = [n for n in dict.fromkeys(networks) if not covered(str(n), present)]
            v4 = [{"CidrIp": str(n), "Description": what} for n in lacking if n.version == 4]
            v6 = [{"CidrIpv6": str(n), "Description": what} for n in lacking if n.version == 6]
            if v4 or v6:
                permission: Wire = {"IpProtocol": "tcp", "FromPort": port, "ToPort": port}
                if v4:
                    permission["IpRanges"] = v4
                if v6:
                    permission["Ipv6Ranges"] = v6
                wanted.append(permission)
        if not wanted:
            return
        try:
            self._call("AuthorizeSecurityGroupIngress", GroupId=group_id, IpPermissions=wanted)
        except ce.AlreadyExists:  # a re-send after a lost answer: done if every rule is there now
            now = self._permissions(group_id)
            if not has_peer_rule(now, group_id) or any(
                    not covered(str(n), port_ranges(now, port)) for port, networks in ports.items() for n in networks):
                raise

    def _attach(self, cluster: str, group_id: str) -> None:
        """Add security group ``group_id`` to every live instance of ``cluster`` not in it yet (ModifyInstanceAttribute
        sets the whole list: sending it again is harmless)."""
        for raw in self._instances(Filters=[{"Name": f"tag:{CLUSTER_TAG}", "Values": [cluster]},
                                            {"Name": "instance-state-name", "Values": list(LIVE_STATES)}]):
            groups = [g["GroupId"] for g in raw.get("SecurityGroups") or []]
            if group_id not in groups:
                self._call("ModifyInstanceAttribute", InstanceId=raw["InstanceId"], Groups=[*groups, group_id])

    def _permissions(self, group_id: str) -> list[Wire]:
        """The ingress permissions of a security group."""
        groups = self._call("DescribeSecurityGroups", GroupIds=[group_id]).get("SecurityGroups") or []
        return list(groups[0].get("IpPermissions") or []) if groups else []

    def _ssh_ranges(self, group_id: str) -> set[str]:
        """The CIDRs a security group already lets in on tcp/22."""
        return port_ranges(self._permissions(group_id), 22)

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
