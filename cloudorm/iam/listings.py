"""The IAM listings a session offers (``s.users()``, ``s.groups()``, ``s.roles()``, ``s.policies()``): lazy,
page by page, each record made into its entity without another request."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from cloudorm.core import SessionLike
from cloudorm.errors import InvalidInput
from cloudorm.iam.group import Group
from cloudorm.iam.names import check_path_prefix
from cloudorm.iam.policy import Policy
from cloudorm.iam.role import Role
from cloudorm.iam.user import User
from cloudorm.listing import Listing, listing
from cloudorm.providers.contract import EntityInfo

E = TypeVar("E")


def iam_listing(session: SessionLike, kind: str, make: Callable[[SessionLike, EntityInfo], E],
                path_prefix: str | None, scope: str = "local") -> Listing[E]:
    """Every IAM entity of ``kind`` (under ``path_prefix``), made by ``make(session, record)``."""
    if path_prefix is not None:
        check_path_prefix(path_prefix)
    return listing(lambda start, size: session.iam.list_page(kind, start, size, path_prefix=path_prefix,
                                                             scope=scope),
                   lambda record: make(session, record))


def users(session: SessionLike, path_prefix: str | None = None) -> Listing[User]:
    """Every IAM user (under ``path_prefix``), lazily."""
    return iam_listing(session, "user", User._from_record, path_prefix)


def groups(session: SessionLike, path_prefix: str | None = None) -> Listing[Group]:
    """Every IAM group (under ``path_prefix``), lazily."""
    return iam_listing(session, "group", Group._from_record, path_prefix)


def roles(session: SessionLike, path_prefix: str | None = None) -> Listing[Role]:
    """Every IAM role (under ``path_prefix``), lazily."""
    return iam_listing(session, "role", Role._from_record, path_prefix)


def policies(session: SessionLike, scope: str = "local", path_prefix: str | None = None) -> Listing[Policy]:
    """Managed policies, lazily: the account's own (``scope="local"``), AWS's (``"aws"``) or both (``"all"``)."""
    if scope not in ("local", "aws", "all"):
        raise InvalidInput("scope", f"must be 'local', 'aws' or 'all', not {scope!r}")
    return iam_listing(session, "policy", Policy._from_record, path_prefix, scope)
