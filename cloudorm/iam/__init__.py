"""IAM: users, groups, roles, managed policies (with ``Statement``) and access keys, on any IAM-compatible
provider; ``until_propagated`` waits out IAM's eventual consistency."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported when first used (``__getattr__``): importing the package loads none of them
    from cloudorm.iam.access_key import AccessKey
    from cloudorm.iam.group import Group
    from cloudorm.iam.policy import Policy
    from cloudorm.iam.propagation import is_propagation_delay, until_propagated
    from cloudorm.iam.role import Role
    from cloudorm.iam.statement import Statement
    from cloudorm.iam.summary import GroupSummary, IamSummary, PolicyRef, PolicySummary, RoleSummary, UserSummary
    from cloudorm.iam.user import User


__all__ = [
    "AccessKey",
    "Group",
    "GroupSummary",
    "IamSummary",
    "Policy",
    "PolicyRef",
    "PolicySummary",
    "Role",
    "RoleSummary",
    "Statement",
    "User",
    "UserSummary",
    "is_propagation_delay",
    "until_propagated",
]

_HOMES = {
    "cloudorm.iam.access_key": ("AccessKey",),
    "cloudorm.iam.group": ("Group",),
    "cloudorm.iam.policy": ("Policy",),
    "cloudorm.iam.propagation": ("is_propagation_delay", "until_propagated"),
    "cloudorm.iam.role": ("Role",),
    "cloudorm.iam.statement": ("Statement",),
    "cloudorm.iam.summary": ("GroupSummary", "IamSummary", "PolicyRef", "PolicySummary", "RoleSummary", "UserSummary"),
    "cloudorm.iam.user": ("User",),
}
"""Where each public name is defined: imported from there when first used (``cloudorm.lazy``)."""

if not TYPE_CHECKING:  # type checkers see the imports above
    from cloudorm.lazy import lazy_names

    __getattr__, __dir__ = lazy_names(__name__, _HOMES, __all__)
    del lazy_names
