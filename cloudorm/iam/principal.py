"""What users, groups and roles share: attaching and detaching managed policies, and clearing their policies
before a delete."""

from __future__ import annotations

from cloudorm.iam.entity import Blockers, Entity
from cloudorm.iam.policy import Policy, policy_arn


class Principal(Entity):
    """An entity policies attach to: ``attach(policy)``, ``detach(policy)``, ``policies``."""

    __slots__ = ()

    def attach(self, policy: Policy | str) -> None:
        """Attach a managed policy: a Policy, a policy ARN (AWS-managed ones too) or one of this account's names."""
        self._iam.attach_policy(self.kind, self._ref(), policy_arn(self.session, policy))

    def detach(self, policy: Policy | str) -> None:
        """Detach a managed policy (``NotFound`` if it is not attached)."""
        self._iam.detach_policy(self.kind, self._ref(), policy_arn(self.session, policy))

    @property
    def policies(self) -> list[Policy]:
        """The managed policies attached (one request each time it is read)."""
        return [Policy._from_record(self.session, p) for p in self._iam.attached_policies(self.kind, self._ref())]

    @property
    def inline_policies(self) -> list[str]:
        """The names of the inline policies (made outside cloudorm; ``delete(cascade=True)`` removes them)."""
        return self._iam.inline_policies(self.kind, self._ref())

    def _policy_blockers(self) -> Blockers:
        ref = self._ref()
        return {"attached policies": [p["arn"] for p in self._iam.attached_policies(self.kind, ref)],
                "inline policies": self._iam.inline_policies(self.kind, ref)}

    def _clear_policies(self, blockers: Blockers) -> None:
        ref = self._ref()
        for arn in blockers.get("attached policies", []):
            self._iam.detach_policy(self.kind, ref, arn)
        for name in blockers.get("inline policies", []):
            self._iam.delete_inline_policy(self.kind, ref, name)
