"""The User entity: a person or program with access keys, group memberships and attached policies."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from cloudorm.core import Plan, field, resource
from cloudorm.credentials import mask
from cloudorm.iam.access_key import AccessKey
from cloudorm.iam.base import Blockers, iam
from cloudorm.iam.names import check_path, check_tags, user_name
from cloudorm.iam.principal import Principal

if TYPE_CHECKING:
    from cloudorm.iam.group import Group


@resource
class User(Principal):
    """An IAM user: ``s.User("alice", path="/", tags={"team": "data"}).save()``; renaming and changing the path
    or tags of a saved user sends just that change."""

    kind: ClassVar[str] = "user"

    name: str = field(user_name)
    path: str = field(check_path, default="/")
    tags: dict[str, str] = field(check_tags, factory=dict)

    def create_access_key(self) -> AccessKey:
        """A new, saved access key; its ``secret`` is on the returned object only (IAM shows it in no later answer).
        If the answer is lost, the key it made is deleted and another made: the user gets exactly one new key."""
        return AccessKey(self.session, self._name()).save()

    @property
    def access_keys(self) -> list[AccessKey]:
        """The user's keys, without secrets (one request each time it is read)."""
        return [AccessKey._co_from_record(self.session, k) for k in self._co_ask("access_keys")]

    @property
    def groups(self) -> list[Group]:
        """The groups the user is a member of (one request each time it is read)."""
        from cloudorm.iam.group import Group

        return [Group._from_record(self.session, g) for g in self._co_ask("groups_of")]

    def _co_blockers(self) -> Plan[Blockers]:
        """Access keys, a console password, group memberships, attached and inline policies."""
        name = self._name()
        keys = yield from iam("access_keys", name)
        login = yield from iam("has_login_profile", name)
        groups = yield from iam("groups_of", name)
        return {"access keys": [mask(k["id"]) or "…" for k in keys], "console password": [name] if login else [],
                "groups": [g["name"] for g in groups], **(yield from self._co_policy_blockers())}

    def _co_clear(self, blockers: Blockers) -> Plan[None]:
        name = self._name()
        if blockers.get("access keys"):
            for k in (yield from iam("access_keys", name)):
                yield from iam("delete_access_key", name, k["id"])
        if blockers.get("console password"):
            yield from iam("delete_login_profile", name)
        for group in blockers.get("groups", []):
            yield from iam("remove_from_group", group, name)
        yield from self._co_clear_policies(blockers)
