"""IAM: users, groups, roles, managed policies (with ``Statement``) and access keys, on any IAM-compatible
provider; ``until_propagated`` waits out IAM's eventual consistency."""

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
