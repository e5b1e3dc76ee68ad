"""What users, groups and roles share: attaching and detaching managed policies, and clearing their policies
before a delete."""

from __future__ import annotations

from collections.abc import Callable

from cloudorm import errors as ce
from cloudorm.iam.entity import Blockers, Entity
from cloudorm.iam.policy import Policy, find_policy_arn, policy_arn


class Principal(Entity):
    """An entity policies attach to: ``attach(policy)``, ``detach(policy)``, ``policies``."""

    __slots__ = ()

    def attach(self, policy: Policy | str) -> None:
        """Attach a managed policy: a Policy, a policy ARN (AWS-managed ones too) or one of this account's names."""
        self._with_policy(self._iam.attach_policy, policy)

    def detach(self, policy: Policy | str) -> None:
        """Detach a managed policy (``NotFound`` if it is not attached)."""
        self._with_policy(self._iam.detach_policy, policy)

    def _with_policy(self, call: Callable[[str, str, str], None], policy: Policy | str) -> None:
        """``call(kind, name, policy ARN)``; a policy name IAM does not know under ``/`` is looked for under
        every path (one listing, only then)."""
        arn = policy_arn(self.session, policy)
        try:
            call(self.kind, self._ref(), arn)
        except ce.NotFound:
            by_name = isinstance(policy, str) and not policy.startswith("arn:")
            elsewhere = find_policy_arn(self.session, policy) if by_name else None  # type: ignore[arg-type]
            if elsewhere is None or elsewhere == arn:
                raise
            call(self.kind, self._ref(), elsewhere)

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
