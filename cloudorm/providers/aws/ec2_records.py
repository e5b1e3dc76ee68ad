"""How EC2 instances are a cluster's nodes: the cluster tag, instance states as node statuses, the neutral node
record of an instance, and the names and ids EC2 takes."""

from __future__ import annotations

import re
from typing import Any

from cloudorm import errors as ce
from cloudorm.providers.contract import NodeInfo, Wire

CLUSTER_TAG = "cloudorm:cluster"
"""The tag whose value is the cluster name, on instances, their volumes and the security group."""

STATES = {"pending": "pending", "running": "active", "stopping": "off", "stopped": "off",
          "shutting-down": "deleted", "terminated": "deleted"}
"""EC2 instance states and the neutral node status of each."""

LIVE_STATES = ("pending", "running", "stopping", "stopped")
"""Instance states that still count as a cluster's nodes."""

_INSTANCE_ID = re.compile(r"i-[0-9a-f]{8,17}\Z")


def node_record(raw: Wire, region: str) -> NodeInfo:
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


def check_instance_id(node_id: Any) -> None:
    """``InvalidInput`` (before any request) unless ``node_id`` looks like an instance id."""
    if not isinstance(node_id, str) or not _INSTANCE_ID.match(node_id):
        raise ce.InvalidInput("node_id", f"{node_id!r} is not an EC2 instance id ('i-0123456789abcdef0')")


def node_order(name: str) -> tuple[str, int]:
    """Sort key putting ``web-2`` before ``web-10``."""
    base, _, n = name.rpartition("-")
    return (base, int(n)) if n.isdigit() else (name, -1)
