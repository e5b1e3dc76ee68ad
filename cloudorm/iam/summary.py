"""The account's IAM at a glance (the Cloud package's ``AWS.IAM.Summary``): users, groups, roles and managed
policies with what is attached to them, from one paged listing (GetAccountAuthorizationDetails), as frozen values;
``entry.entity()`` is the entity to act on."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, TypeVar

import attrs

from cloudorm.core import SessionLike
from cloudorm.errors import InvalidInput
from cloudorm.iam.group import Group
from cloudorm.iam.policy import Policy
from cloudorm.iam.role import Role
from cloudorm.iam.user import User
from cloudorm.providers.contract.iam import DETAIL_KINDS, DetailInfo

DEFAULT_KINDS = ("users", "groups", "roles", "policies")
"""What ``iam_summary`` lists unless told: everything but AWS's own managed policies (over a thousand on AWS)."""

E = TypeVar("E")


@attrs.frozen
class PolicyRef:
    """A managed policy attached to a user, group or role: its name and ARN."""

    name: str
    arn: str


@attrs.frozen(kw_only=True)
class Entry:
    """What every summary entry has: name, ARN, IAM's id, path and creation date."""

    name: str
    arn: str | None
    id: str | None
    path: str
    created: datetime | None
    _record: DetailInfo = attrs.field(eq=False, repr=False, hash=False, alias="record")
    _session: SessionLike = attrs.field(eq=False, repr=False, hash=False, alias="session")

    def _entity(self, cls: Any) -> Any:
        return cls._from_record(self._session, self._record)


@attrs.frozen(kw_only=True)
class Principal(Entry):
    """A user, group or role: its attached managed ``policies`` and its ``inline_policies`` (name → document)."""

    policies: tuple[PolicyRef, ...]
    inline_policies: Mapping[str, dict[str, Any]] = attrs.field(hash=False)


@attrs.frozen(kw_only=True)
class UserSummary(Principal):
    """A user: tags and the names of its groups besides what every principal has."""

    tags: Mapping[str, str] = attrs.field(hash=False)
    groups: tuple[str, ...]

    def entity(self) -> User:
        """The ``User`` (saved; no request until a field the listing did not carry is read)."""
        user: User = self._entity(User)
        return user


@attrs.frozen(kw_only=True)
class GroupSummary(Principal):
    """A group: the names of its members (None when the summary did not list users)."""

    users: tuple[str, ...] | None

    def entity(self) -> Group:
        """The ``Group`` (saved)."""
        group: Group = self._entity(Group)
        return group


@attrs.frozen(kw_only=True)
class RoleSummary(Principal):
    """A role: tags, trust policy, the instance profiles holding it and when it was last used (None: never, or not
    said)."""

    tags: Mapping[str, str] = attrs.field(hash=False)
    trust: Mapping[str, Any] = attrs.field(hash=False)
    instance_profiles: tuple[str, ...]
    last_used: datetime | None

    def entity(self) -> Role:
        """The ``Role`` (saved)."""
        role: Role = self._entity(Role)
        return role


@attrs.frozen(kw_only=True)
class PolicySummary(Entry):
    """A managed policy: its default version's ``document``, its ``versions`` (oldest first), how many entities
    it is attached to and, when the summary listed users, groups and roles, which (``attached_to``)."""

    description: str | None
    default_version: str | None
    document: Mapping[str, Any] | None = attrs.field(hash=False)
    versions: tuple[str, ...]
    attachments: int | None
    attachable: bool
    updated: datetime | None
    attached_to: Mapping[str, tuple[str, ...]] | None = attrs.field(hash=False)

    @property
    def aws_managed(self) -> bool:
        """True for a policy AWS maintains."""
        return ":iam::aws:policy" in (self.arn or "")

    def entity(self) -> Policy:
        """The ``Policy`` (saved, its document known)."""
        policy: Policy = self._entity(Policy)
        return policy


@attrs.frozen
class IamSummary:
    """Users, groups, roles and managed policies of the account as IAM answered them, each a tuple of entries
    (empty for a kind not asked for: ``kinds`` says which were); ``user(name)`` and its kin find one by name."""

    users: tuple[UserSummary, ...]
    groups: tuple[GroupSummary, ...]
    roles: tuple[RoleSummary, ...]
    policies: tuple[PolicySummary, ...]
    kinds: tuple[str, ...]

    def user(self, name: str) -> UserSummary:
        """The user ``name`` (``KeyError`` if the summary has none)."""
        return _named(self.users, name, "user")

    def group(self, name: str) -> GroupSummary:
        """The group ``name`` (``KeyError`` if the summary has none)."""
        return _named(self.groups, name, "group")

    def role(self, name: str) -> RoleSummary:
        """The role ``name`` (``KeyError`` if the summary has none)."""
        return _named(self.roles, name, "role")

    def policy(self, name: str) -> PolicySummary:
        """The managed policy ``name`` (``KeyError`` if the summary has none)."""
        return _named(self.policies, name, "policy")


def _named(entries: tuple[E, ...], name: str, kind: str) -> E:
    for entry in entries:
        if getattr(entry, "name", None) == name:
            return entry
    raise KeyError(f"the summary has no {kind} named {name!r}")


def check_kinds(kinds: Iterable[str] | str) -> tuple[str, ...]:
    """The kinds to list, checked: one or more of ``users``, ``groups``, ``roles``, ``policies`` (the account's
    own) and ``aws_policies`` (AWS's)."""
    wanted = (kinds,) if isinstance(kinds, str) else tuple(kinds) if isinstance(kinds, Iterable) else None
    if not wanted:
        raise InvalidInput("kinds", f"name one or more of {', '.join(DETAIL_KINDS)}, not {kinds!r}")
    for kind in wanted:
        if kind not in DETAIL_KINDS:
            raise InvalidInput("kinds", f"{kind!r} is not one of {', '.join(DETAIL_KINDS)}")
    return tuple(k for k in DETAIL_KINDS if k in wanted)


def iam_summary(session: SessionLike, kinds: Iterable[str] | str = DEFAULT_KINDS) -> IamSummary:
    """Users, groups, roles and managed policies with their attachments, group memberships, inline policies and
    roles' trust, from one listing followed page by page: ``s.iam_summary()``; ``kinds`` narrows it (IAM's
    ``Filter``), ``"aws_policies"`` adds AWS's managed policies."""
    asked = check_kinds(kinds)
    found = session.iam.authorization_details(asked)
    common = {"session": session}

    def base(r: DetailInfo) -> dict[str, Any]:
        return {"name": r["name"], "arn": r.get("arn"), "id": r.get("id"), "path": r.get("path", "/"),
                "created": r.get("created"), "record": r, **common}

    def principal(r: DetailInfo) -> dict[str, Any]:
        return {**base(r), "policies": tuple(PolicyRef(p["name"], p["arn"]) for p in r.get("attached", [])),
                "inline_policies": dict(r.get("inline", {}))}

    users = tuple(UserSummary(**principal(r), tags=dict(r.get("tags", {})), groups=tuple(r.get("groups", [])))
                  for r in found["users"])
    listed_users = "users" in asked
    groups = tuple(GroupSummary(**principal(r), users=tuple(u.name for u in users if r["name"] in u.groups)
                                if listed_users else None) for r in found["groups"])
    roles = tuple(RoleSummary(**principal(r), tags=dict(r.get("tags", {})), trust=dict(r.get("trust", {})),
                              instance_profiles=tuple(r.get("instance_profiles", [])), last_used=r.get("last_used"))
                  for r in found["roles"])
    everyone = {"users", "groups", "roles"} <= set(asked)

    def attached_to(arn: str | None) -> dict[str, tuple[str, ...]] | None:
        if not everyone:
            return None
        return {kind: tuple(e.name for e in entries if any(p.arn == arn for p in e.policies))
                for kind, entries in (("users", users), ("groups", groups), ("roles", roles))}

    policies = tuple(PolicySummary(**base(r), description=r.get("description"),
                                   default_version=r.get("default_version"), document=r.get("document"),
                                   versions=tuple(r.get("versions", [])), attachments=r.get("attachments"),
                                   attachable=r.get("attachable", True), updated=r.get("updated"),
                                   attached_to=attached_to(r.get("arn")))
                     for r in found["policies"])
    return IamSummary(users, groups, roles, policies, asked)
