"""Droplet power actions (``POST /v2/droplets/{id}/actions``: power_off, power_on, reboot), followed by their action
(``GET /v2/actions/{id}``), made safe to send again when an answer is lost.

A droplet already off (or on) is not sent a power_off (power_on): its status is read first. pydo never re-sends the
POST after an answer other than 429; when the answer is lost, the droplet's newest actions are read: an action of the
same type started since this call was sent (less ``CLOCK_SKEW``) is its answer, else it is sent again (at most the
session's ``max_attempts`` times in all).
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from azure.core import exceptions as ax

from cloudorm import errors as ce
from cloudorm.providers.contract.compute import check_power_action

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from cloudorm.providers.digitalocean import DigitalOceanProvider

VERB = {"power_off": "be powered off", "power_on": "be powered on", "reboot": "be rebooted"}

DONE = {"power_off": "off", "power_on": "active"}
"""The droplet status that means a power action has nothing to do."""

CLOCK_SKEW = timedelta(seconds=60)
"""How much earlier than this machine's clock DigitalOcean may stamp an action this call started."""

RECENT = 50
"""How many of a droplet's newest actions are read to find one whose answer was lost."""


def _when(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        found = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return found if found.tzinfo else found.replace(tzinfo=timezone.utc)


class DropletPower:
    """The power part of ``DigitalOceanComputeService``: ``power_node``, ``action_status``."""

    if TYPE_CHECKING:
        provider: DigitalOceanProvider
        client: Any

        def _call(self, operation: str, method: Callable[..., Any], *args: Any, ok: Sequence[int] = (),
                  **kwargs: Any) -> tuple[int, Any]: ...

    def power_node(self, node_id: str, action: str) -> str | None:
        """Send droplet action ``action``; its action id (follow it with ``action_status``), or None when the droplet
        is already as ``power_off`` / ``power_on`` asks. ``ConflictError`` while another action runs on it (still
        booting), ``CloudError`` if the action errored at once."""
        from cloudorm.providers.digitalocean.compute import _droplet_id

        action = check_power_action(action)
        droplet_id = _droplet_id(node_id)
        operation = "POST /v2/droplets/{id}/actions"
        attempts = max(1, self.provider.options.max_attempts)
        for _ in range(attempts):
            if action in DONE and self._already(droplet_id, action):
                return None
            sent = datetime.now(timezone.utc)
            try:
                _, body = self._call(operation, self.client.droplet_actions.post, droplet_id, {"type": action})
            except ce.InvalidInput as refused:  # 422: "Droplet already has a pending event."
                if action in DONE and self._already(droplet_id, action):
                    return None
                raise ce.ConflictError(f"droplet {droplet_id} cannot {VERB[action]} now: "
                                       f"{refused.message} (it is busy with another action, e.g. still booting; "
                                       "try again once it is active)", **refused.provider_details()) from None
            except ce.CloudError as e:
                if not isinstance(e.__context__, ax.ServiceResponseError):  # not sent, or answered
                    raise
                found = self._started_since(droplet_id, action, sent)
                if found is not None:
                    return found
                continue  # not applied: sent again
            found_action = (body or {}).get("action") or {}
            if found_action.get("status") == "errored":
                raise ce.CloudError(f"DigitalOcean could not {action.replace('_', ' ')} droplet {droplet_id} "
                                    f"(action {found_action.get('id')} errored)", provider="digitalocean",
                                    operation=operation)
            return str(found_action["id"])
        raise ce.CloudError(f"no answer from DigitalOcean to {action} of droplet {droplet_id} after {attempts} "
                            "attempt(s)", provider="digitalocean", operation=operation)

    def _already(self, droplet_id: int, action: str) -> bool:
        """True when the droplet is, and stays, as ``action`` would leave it (no other action running)."""
        _, body = self._call("GET /v2/droplets/{id}", self.client.droplets.get, droplet_id)
        droplet = (body or {}).get("droplet") or {}
        return droplet.get("status") == DONE[action] and not droplet.get("locked")

    def _started_since(self, droplet_id: int, action: str, sent: datetime) -> str | None:
        """The id of the droplet's newest ``action`` started at ``sent`` (less ``CLOCK_SKEW``) or later, if any."""
        _, body = self._call("GET /v2/droplets/{id}/actions", self.client.droplet_actions.list, droplet_id,
                             per_page=RECENT, page=1)
        for found in (body or {}).get("actions") or []:
            started = _when(found.get("started_at"))
            if found.get("type") == action and started is not None and started >= sent - CLOCK_SKEW:
                return str(found["id"])
        return None

    def action_status(self, action_id: str) -> str:
        """``in-progress``, ``completed`` or ``errored`` (``GET /v2/actions/{id}``)."""
        if not isinstance(action_id, str) or not action_id.isdigit():
            raise ce.InvalidInput("action_id", f"{action_id!r} is not a DigitalOcean action id")
        _, body = self._call("GET /v2/actions/{id}", self.client.actions.get, int(action_id))
        return str(((body or {}).get("action") or {}).get("status") or "in-progress")


__all__ = ["CLOCK_SKEW", "DONE", "DropletPower"]
