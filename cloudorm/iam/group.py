"""The Group entity: users that share attached policies."""

from __future__ import annotations

from typing import ClassVar

from cloudorm import errors as ce
from cloudorm.core import Plan, field, resource
from cloudorm.iam.base import Blockers, iam
from cloudorm.iam.names import check_name, check_path, group_name
from cloudorm.iam.principal import Principal
from cloudorm.iam.user import User


@resource
class Group(Principal):
    """An IAM group: ``g = s.Group("analysts").save(); g.add(user); g.attach(policy)``."""

    kind: ClassVar[str] = "group"

    name: str = field(group_name)
    path: str = field(check_path, default="/")

    @staticmethod
    def _user_name(user: User | str) -> str:
        if isinstance(user, User):
            return user._name()
        if isinstance(user, str):
            return check_name("user", user, "user")
        raise ce.InvalidInput("user", f"must be a User or a user name, not {type(user).__name__}")

    def add(self, user: User | str) -> None:
        """Make a user (a User or a name) a member of the group."""
        self._co_ask("add_to_group", after=(self._user_name(user),))

    def remove(self, user: User | str) -> None:
        """Take a user out of the group (``NotFound`` if it was not a member)."""
        self._co_ask("remove_from_group", after=(self._user_name(user),))

    @property
    def users(self) -> list[User]:
        """The group's members (one request each time it is read)."""
        return [User._from_record(self.session, u) for u in self._co_ask("group_members")]

    def _co_blockers(self) -> Plan[Blockers]:
        """Members, attached and inline policies."""
        members = yield from iam("group_members", self._name())
        return {"members": [u["name"] for u in members], **(yield from self._co_policy_blockers())}

    def _co_clear(self, blockers: Blockers) -> Plan[None]:
        for user in blockers.get("members", []):
            yield from iam("remove_from_group", self._name(), user)
        yield from self._co_clear_policies(blockers)
