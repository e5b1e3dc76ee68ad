"""EC2 instance power: StopInstances, StartInstances, RebootInstances. Each is idempotent (stopping a stopped
instance answers its state), so botocore re-sends it after a lost answer as usual; the state EC2 reports says when
the instance got where it was sent (``action_status`` of the handle ``power_node`` returns)."""

from __future__ import annotations

from cloudorm import errors as ce
from cloudorm.providers.aws.ec2_api import Ec2Api
from cloudorm.providers.aws.ec2_records import check_instance_id
from cloudorm.providers.contract.compute import BillingInfo, check_power_action

OPERATIONS = {"power_off": "StopInstances", "power_on": "StartInstances", "reboot": "RebootInstances"}
"""The EC2 operation of each power action."""

ARRIVED = {"power_off": "stopped", "power_on": "running"}
"""The instance state each action ends in (a reboot keeps it ``running``: nothing to follow)."""


class Ec2Power(Ec2Api):
    """The power part of ``AwsComputeService``: ``power_node``, ``action_status`` and how EC2 bills."""

    def power_node(self, node_id: str, action: str) -> str | None:
        """StopInstances, StartInstances or RebootInstances; a handle ``{instance}:{state}`` to follow with
        ``action_status`` until the instance is ``stopped`` / ``running`` (None for a reboot)."""
        action = check_power_action(action)
        check_instance_id(node_id)
        self._call(OPERATIONS[action], InstanceIds=[node_id])
        return f"{node_id}:{ARRIVED[action]}" if action in ARRIVED else None

    def action_status(self, action_id: str) -> str:
        """``completed`` once the instance of a ``power_node`` handle is in the handle's state, ``errored`` when it
        is gone, else ``in-progress``."""
        node_id, _, state = action_id.partition(":") if isinstance(action_id, str) else ("", "", "")
        check_instance_id(node_id)
        if state not in ARRIVED.values():
            raise ce.InvalidInput("action_id", f"{action_id!r} is not a handle power_node returned")
        found = [(raw.get("State") or {}).get("Name") for raw in self._instances(InstanceIds=[node_id])]
        if not found or found[0] in ("shutting-down", "terminated"):
            return "errored"
        return "completed" if found[0] == state else "in-progress"

    def billing(self) -> BillingInfo:
        """On-demand Linux instances: by the second, at least 60 s, only while running; 730 hours a month."""
        return {"billing_seconds": 1, "minimum_seconds": 60, "bills_off": False, "hours_per_month": 730}


__all__ = ["ARRIVED", "OPERATIONS", "Ec2Power"]
