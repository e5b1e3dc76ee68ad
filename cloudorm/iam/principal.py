"""What users, groups and roles share: attaching and detaching managed policies, and clearing their policies
before a delete."""

from __future__ import annotations

from typing import Any

from cloudorm import errors as ce
from cloudorm.core import Plan, resource, run, stored
from cloudorm.iam.base import Blockers, IAMResource, iam
from cloudorm.iam.policy import Policy, find_policy_arn, policy_arn


@resource
class Principal(IAMResource):
    """A resource policies attach to: ``attach(policy)``, ``detach(policy)``, ``policies``."""

    arn: str | None = stored()
    """The ARN (None until saved or loaded)."""

    def _name(self) -> str:
        """The name IAM knows it by (the saved one, when it is being renamed)."""
        return str(self._co_ref()[0])

    def _co_ask(self, operation: str, *before: Any, after: tuple[Any, ...] = ()) -> Any:
        """One IAM call about this resource outside its lifecycle (``group.add``, ``user.policies``), with the name
        IAM knows it by between ``before`` and ``after``; driven like a lifecycle step."""
        return run(self.session, iam(operation, *before, self._name(), *after))

    def attach(self, policy: Policy | str) -> None:
        """Attach a managed policy: a Policy, a policy ARN (AWS-managed ones too) or one of this account's names."""
        run(self.session, self._co_with_policy("attach_policy", policy))

    def detach(self, policy: Policy | str) -> None:
        """Detach a managed policy (``NotFound`` if it is not attached)."""
        run(self.session, self._co_with_policy("detach_policy", policy))

    def _co_with_policy(self, operation: str, policy: Policy | str) -> Plan[None]:
        """``operation(kind, name, policy ARN)``; a policy name (or a Policy known by its name alone) IAM does not
        know under ``/`` is looked for under every path (one listing, only then)."""
        arn = yield from policy_arn(policy)
        try:
            yield from iam(operation, self.kind, self._name(), arn)
        except ce.NotFound:
            name = policy.name if isinstance(policy, Policy) and policy._co_by_name() else policy
            by_name = isinstance(name, str) and not name.startswith("arn:")
            elsewhere = (yield from find_policy_arn(name)) if by_name else None  # type: ignore[arg-type]
            if elsewhere is None or elsewhere == arn:
                raise
            yield from iam(operation, self.kind, self._name(), elsewhere)

    @property
    def policies(self) -> list[Policy]:
        """The managed policies attached (one request each time it is read)."""
        return [Policy._from_record(self.session, p) for p in self._co_ask("attached_policies", self.kind)]

    @property
    def inline_policies(self) -> list[str]:
        """The names of the inline policies (made outside cloudorm; ``delete(cascade=True)`` removes them)."""
        found: list[str] = self._co_ask("inline_policies", self.kind)
        return found

    def _co_policy_blockers(self) -> Plan[Blockers]:
        name = self._name()
        attached = yield from iam("attached_policies", self.kind, name)
        inline = yield from iam("inline_policies", self.kind, name)
        return {"attached policies": [p["arn"] for p in attached], "inline policies": inline}

    def _co_clear_policies(self, blockers: Blockers) -> Plan[None]:
        name = self._name()
        for arn in blockers.get("attached policies", []):
            yield from iam("detach_policy", self.kind, name, arn)
        for inline in blockers.get("inline policies", []):
            yield from iam("delete_inline_policy", self.kind, name, inline)
