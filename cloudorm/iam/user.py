"""The User entity: a person or program with access keys, group memberships and attached policies."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

import attrs

from cloudorm.credentials import mask
from cloudorm.iam.access_key import AccessKey
from cloudorm.iam.entity import Blockers, Lazy, lazy_field, unless_unknown
from cloudorm.iam.names import check_path, check_tags, user_name
from cloudorm.iam.principal import Principal

if TYPE_CHECKING:
    from cloudorm.iam.group import Group


@attrs.define(eq=False, repr=False)
class User(Principal):
    """An IAM user: ``s.User("alice", path="/", tags={"team": "data"}).save()``; renaming and changing the path
    or tags of a saved user sends just that change."""

    kind: ClassVar[str] = "user"
    tracked: ClassVar[tuple[str, ...]] = ("name", "path", "tags")

    name: str = attrs.field(converter=user_name)
    path: str = attrs.field(default="/", converter=check_path)
    _tags: dict[str, str] = lazy_field(check_tags, default=attrs.Factory(dict))  # noqa: RUF009

    tags = Lazy[dict[str, str]](check_tags)

    def _check(self) -> None:
        self._tags = unless_unknown(check_tags)(self._tags)

    def create_access_key(self) -> AccessKey:
        """A new access key; its ``secret`` is on the returned object only (IAM shows it in no later answer). If
        the answer is lost, the key it made is deleted and another made: the user gets exactly one new key."""
        return AccessKey._from_record(self, self._iam.create_access_key(self._ref()))

    @property
    def access_keys(self) -> list[AccessKey]:
        """The user's keys, without secrets (one request each time it is read)."""
        return [AccessKey._from_record(self, k) for k in self._iam.access_keys(self._ref())]

    @property
    def groups(self) -> list[Group]:
        """The groups the user is a member of (one request each time it is read)."""
        from cloudorm.iam.group import Group

        return [Group._from_record(self.session, g) for g in self._iam.groups_of(self._ref())]

    def blockers(self) -> Blockers:
        """Access keys, a console password, group memberships, attached and inline policies."""
        ref = self._ref()
        return {"access keys": [mask(k["id"]) or "…" for k in self._iam.access_keys(ref)],
                "console password": [ref] if self._iam.has_login_profile(ref) else [],
                "groups": [g["name"] for g in self._iam.groups_of(ref)],
                **self._policy_blockers()}

    def _clear(self, blockers: Blockers) -> None:
        ref = self._ref()
        if blockers.get("access keys"):
            for k in self._iam.access_keys(ref):
                self._iam.delete_access_key(ref, k["id"])
        if blockers.get("console password"):
            self._iam.delete_login_profile(ref)
        for group in blockers.get("groups", []):
            self._iam.remove_from_group(group, ref)
        self._clear_policies(blockers)
