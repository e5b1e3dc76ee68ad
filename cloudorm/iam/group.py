"""The Group entity: users that share attached policies."""

from __future__ import annotations

from typing import ClassVar

import attrs

from cloudorm import errors as ce
from cloudorm.iam.entity import Blockers
from cloudorm.iam.names import check_name, check_path, group_name
from cloudorm.iam.principal import Principal
from cloudorm.iam.user import User


@attrs.define(eq=False, repr=False)
class Group(Principal):
    """An IAM group: ``g = s.Group("analysts").save(); g.add(user); g.attach(policy)``."""

    kind: ClassVar[str] = "group"
    tracked: ClassVar[tuple[str, ...]] = ("name", "path")

    name: str = attrs.field(converter=group_name)
    path: str = attrs.field(default="/", converter=check_path)

    def _check(self) -> None:
        check_name("group", self.name)

    @staticmethod
    def _user_name(user: User | str) -> str:
        if isinstance(user, User):
            return user._ref()
        if isinstance(user, str):
            return check_name("user", user, "user")
        raise ce.InvalidInput("user", f"must be a User or a user name, not {type(user).__name__}")

    def add(self, user: User | str) -> None:
        """Make a user (a User or a name) a member of the group."""
        self._iam.add_to_group(self._ref(), self._user_name(user))

    def remove(self, user: User | str) -> None:
        """Take a user out of the group (``NotFound`` if it was not a member)."""
        self._iam.remove_from_group(self._ref(), self._user_name(user))

    @property
    def users(self) -> list[User]:
        """The group's members (one request each time it is read)."""
        return [User._from_record(self.session, u) for u in self._iam.group_members(self._ref())]

    def blockers(self) -> Blockers:
        """Members, attached and inline policies."""
        return {"members": [u["name"] for u in self._iam.group_members(self._ref())], **self._policy_blockers()}

    def _clear(self, blockers: Blockers) -> None:
        for user in blockers.get("members", []):
            self._iam.remove_from_group(self._ref(), user)
        self._clear_policies(blockers)
