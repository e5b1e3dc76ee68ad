"""The IAM contract: users, groups, roles, managed policies and access keys."""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar, TypedDict

import attrs

from cloudorm.providers.contract.service import Capabilities, Service, Wire


class _Named(TypedDict):
    name: str


class EntityInfo(_Named, total=False):
    """A user, group, role or policy (one record for the four kinds, as every operation takes any of them): the keys
    the response carried, and as the kind has them ``tags`` (not groups), ``description`` (roles and policies),
    ``trust`` and ``max_session`` (roles), ``document`` (a policy's default version, from ``get`` and ``create``),
    ``default_version``, ``attachments`` and ``updated`` (policies)."""

    id: str | None
    arn: str | None
    path: str
    created: datetime | None
    tags: dict[str, str]
    description: str | None
    trust: dict[str, Any]
    max_session: int
    """Seconds."""
    document: dict[str, Any]
    default_version: str | None
    attachments: int | None
    updated: datetime | None


class AttachedPolicy(TypedDict):
    """A managed policy attached to a user, group or role."""

    name: str
    arn: str


class CallerInfo(TypedDict):
    """Who a set of credentials is."""

    account: str | None
    arn: str | None
    user_id: str | None


class _AccessKey(TypedDict):
    id: str
    status: str
    """``Active`` or ``Inactive``."""
    created: datetime | None
    user: str


class AccessKeyInfo(_AccessKey, total=False):
    """A user's access key; ``secret`` only in ``create_access_key``'s answer."""

    secret: str


class KeyUsage(TypedDict):
    """When and where an access key was last used (None: never, or not known)."""

    date: datetime | None
    service: str | None
    region: str | None


class PolicyVersionInfo(TypedDict):
    """One version of a managed policy."""

    id: str
    default: bool
    created: datetime | None


class DetailInfo(EntityInfo, total=False):
    """An entity of the account's authorization details: its ``EntityInfo`` and, as its kind has them,
    ``attached`` (managed policies, users/groups/roles), ``inline`` (inline policies: name to document),
    ``groups`` (a user's), ``instance_profiles`` and ``last_used`` (roles), ``versions`` (a policy's version ids,
    oldest first) and ``attachable`` (policies)."""

    attached: list[AttachedPolicy]
    inline: dict[str, dict[str, Any]]
    groups: list[str]
    instance_profiles: list[str]
    last_used: datetime | None
    versions: list[str]
    attachable: bool


class AccountDetails(TypedDict):
    """Everything ``authorization_details`` found, by kind (a kind not asked for is an empty list)."""

    users: list[DetailInfo]
    groups: list[DetailInfo]
    roles: list[DetailInfo]
    policies: list[DetailInfo]


DETAIL_KINDS = ("users", "groups", "roles", "policies", "aws_policies")
"""What ``authorization_details`` can be asked for: the account's own managed policies are ``policies``, AWS's
``aws_policies``."""


@attrs.frozen
class IAMCapabilities(Capabilities):
    """Which parts of AWS's IAM an IAM-compatible endpoint has; an operation of a part it lacks raises
    ``Unsupported`` before any request."""

    tags: bool = False
    """Users, roles and policies carry tags (TagUser, UntagRole ...)."""
    update_role: bool = False
    """A role's description and maximum session can change (UpdateRole)."""
    instance_profiles: bool = False
    """Roles can be held by EC2 instance profiles (deleting a role first takes it out of them)."""


class IAMService(Service):
    """Identity and access management: users, groups, roles, managed policies and access keys.

    ``kind`` is ``"user"``, ``"group"``, ``"role"`` or ``"policy"``; ``ref`` is a name, or a policy's ARN. Entities
    are described by ``EntityInfo`` (keys a response lacks are left out), keys by ``AccessKeyInfo``.

    A mutating call whose answer was lost neither runs twice nor fails for what it did: the service looks at what
    it holds instead (docs/iam.md, "When a response is lost")."""

    area: ClassVar[str] = "iam"
    capabilities: IAMCapabilities = IAMCapabilities()
    core: ClassVar[frozenset[str]] = frozenset({
        "caller", "create", "delete", "get", "list_page", "policy_arn", "update"})

    def create(self, kind: str, name: str, spec: Wire) -> EntityInfo:
        """Create an entity from ``spec`` (``path``, ``tags``, ``description``, ``trust``, ``max_session``,
        ``document``); returns its record."""
        raise self._unsupported("create")

    def get(self, kind: str, ref: str) -> EntityInfo:
        """The record of an entity, a policy with its default document (``NotFound`` if absent)."""
        raise self._unsupported("get")

    def update(self, kind: str, ref: str, changes: Wire) -> None:
        """Apply changes: ``name``, ``path``, ``description``, ``max_session``, ``trust``, ``tags`` (the new set,
        with ``old_tags`` the previous one)."""
        raise self._unsupported("update")

    def delete(self, kind: str, ref: str) -> None:
        """Delete an entity (``ConflictError`` while something still depends on it)."""
        raise self._unsupported("delete")

    def list_page(self, kind: str, start: str | None, limit: int | None, *, path_prefix: str | None = None,
                  scope: str = "local") -> tuple[list[EntityInfo], str | None]:
        """One page of records and the marker to continue from; policies by ``scope``: local, aws or all."""
        raise self._unsupported("list_page")

    def authorization_details(self, kinds: tuple[str, ...]) -> AccountDetails:
        """Users, groups, roles and managed policies with what is attached to them, every page, in one listing
        (IAM's GetAccountAuthorizationDetails); ``kinds`` from ``DETAIL_KINDS``."""
        raise self._unsupported("authorization_details")

    def policy_arn(self, name: str, path: str = "/") -> str:
        """The ARN of this account's managed policy ``name`` under ``path``."""
        raise self._unsupported("policy_arn")

    def caller(self, key: tuple[str, str] | None = None) -> CallerInfo:
        """Who the session's credentials (or ``key``: id and secret) are: ``account``, ``arn``, ``user_id``."""
        raise self._unsupported("caller")

    def attached_policies(self, kind: str, name: str) -> list[AttachedPolicy]:
        """The managed policies attached to a user, group or role: ``name`` and ``arn`` each."""
        raise self._unsupported("attached_policies")

    def attach_policy(self, kind: str, name: str, arn: str) -> None:
        """Attach a managed policy to a user, group or role."""
        raise self._unsupported("attach_policy")

    def detach_policy(self, kind: str, name: str, arn: str) -> None:
        """Detach a managed policy from a user, group or role."""
        raise self._unsupported("detach_policy")

    def inline_policies(self, kind: str, name: str) -> list[str]:
        """The names of the inline policies of a user, group or role."""
        raise self._unsupported("inline_policies")

    def delete_inline_policy(self, kind: str, name: str, policy: str) -> None:
        """Delete an inline policy of a user, group or role."""
        raise self._unsupported("delete_inline_policy")

    def add_to_group(self, group: str, user: str) -> None:
        """Make a user a member of a group."""
        raise self._unsupported("add_to_group")

    def remove_from_group(self, group: str, user: str) -> None:
        """Remove a user from a group."""
        raise self._unsupported("remove_from_group")

    def group_members(self, group: str) -> list[EntityInfo]:
        """The records of a group's users."""
        raise self._unsupported("group_members")

    def groups_of(self, user: str) -> list[EntityInfo]:
        """The records of the groups a user is in."""
        raise self._unsupported("groups_of")

    def has_login_profile(self, user: str) -> bool:
        """True if the user has a console password."""
        raise self._unsupported("has_login_profile")

    def delete_login_profile(self, user: str) -> None:
        """Remove the user's console password."""
        raise self._unsupported("delete_login_profile")

    def create_access_key(self, user: str) -> AccessKeyInfo:
        """A new key of a user: ``id``, ``secret``, ``status``, ``created`` (the secret is known only now); exactly
        one new key, also when an answer is lost."""
        raise self._unsupported("create_access_key")

    def access_keys(self, user: str) -> list[AccessKeyInfo]:
        """A user's keys: ``id``, ``status``, ``created`` each (never the secret)."""
        raise self._unsupported("access_keys")

    def set_access_key_status(self, user: str, key_id: str, active: bool) -> None:
        """Activate or deactivate a key."""
        raise self._unsupported("set_access_key_status")

    def delete_access_key(self, user: str, key_id: str) -> None:
        """Delete a key."""
        raise self._unsupported("delete_access_key")

    def access_key_last_used(self, key_id: str) -> KeyUsage:
        """When and where a key was last used: ``date`` (None if never), ``service``, ``region``."""
        raise self._unsupported("access_key_last_used")

    def policy_versions(self, arn: str) -> list[PolicyVersionInfo]:
        """A policy's versions, oldest first: ``id``, ``default``, ``created`` each."""
        raise self._unsupported("policy_versions")

    def create_policy_version(self, arn: str, document: Wire) -> str:
        """Add a version and make it the default; returns its id."""
        raise self._unsupported("create_policy_version")

    def delete_policy_version(self, arn: str, version: str) -> None:
        """Delete a non-default version of a policy."""
        raise self._unsupported("delete_policy_version")

    def policy_entities(self, arn: str) -> dict[str, list[str]]:
        """Who a policy is attached to: names by kind (``user``, ``group``, ``role``)."""
        raise self._unsupported("policy_entities")

    def instance_profiles(self, role: str) -> list[str]:
        """The names of the instance profiles holding a role."""
        raise self._unsupported("instance_profiles")

    def remove_from_instance_profile(self, profile: str, role: str) -> None:
        """Take a role out of an instance profile."""
        raise self._unsupported("remove_from_instance_profile")
