"""IAM's account authorization details (GetAccountAuthorizationDetails) as neutral records: users, groups, roles
and managed policies with their attachments, every page of one listing."""

from __future__ import annotations

from cloudorm.providers.aws.iam import AwsIAMService, _document, record
from cloudorm.providers.contract import AttachedPolicy, Wire
from cloudorm.providers.contract.iam import AccountDetails, DetailInfo

FILTERS = {"users": "User", "groups": "Group", "roles": "Role", "policies": "LocalManagedPolicy",
           "aws_policies": "AWSManagedPolicy"}
"""IAM's ``Filter`` value for each kind ``authorization_details`` takes."""

_LISTS = {"user": ("UserDetailList", "UserPolicyList"), "group": ("GroupDetailList", "GroupPolicyList"),
          "role": ("RoleDetailList", "RolePolicyList")}


def authorization_details(service: AwsIAMService, kinds: tuple[str, ...]) -> AccountDetails:
    """Every page of GetAccountAuthorizationDetails for ``kinds`` (botocore's paginator follows the Marker)."""
    out: AccountDetails = {"users": [], "groups": [], "roles": [], "policies": []}
    for page in service._items("GetAccountAuthorizationDetails", None, Filter=[FILTERS[k] for k in kinds]):
        for kind, (key, inline_key) in _LISTS.items():
            for raw in page.get(key) or []:
                found: DetailInfo = {**record(kind, raw)}  # type: ignore[typeddict-item]
                found["attached"] = _attached(raw)
                found["inline"] = {p["PolicyName"]: _document(p.get("PolicyDocument"))
                                   for p in raw.get(inline_key) or []}
                if kind == "user":
                    found["groups"] = list(raw.get("GroupList") or [])
                if kind == "role":
                    found["instance_profiles"] = [p["InstanceProfileName"]
                                                  for p in raw.get("InstanceProfileList") or []]
                    found["last_used"] = (raw.get("RoleLastUsed") or {}).get("LastUsedDate")
                out[f"{kind}s"].append(found)  # type: ignore[literal-required]
        out["policies"] += [_policy(raw) for raw in page.get("Policies") or []]
    return out


def _attached(raw: Wire) -> list[AttachedPolicy]:
    return [{"name": p["PolicyName"], "arn": p["PolicyArn"]} for p in raw.get("AttachedManagedPolicies") or []]


def _policy(raw: Wire) -> DetailInfo:
    """A managed policy with its default version's document and its version ids, oldest first (a name the
    answer leaves out, as moto's does, is the ARN's last part)."""
    if "PolicyName" not in raw:
        raw = {**raw, "PolicyName": str(raw.get("Arn", "")).rpartition("/")[2]}
    found: DetailInfo = {**record("policy", raw)}  # type: ignore[typeddict-item]
    versions = raw.get("PolicyVersionList") or []
    default = next((v for v in versions if v.get("IsDefaultVersion")), None)
    if default is not None:
        found["document"] = _document(default.get("Document"))
    found["versions"] = sorted((v["VersionId"] for v in versions), key=_version_number)
    found["attachable"] = bool(raw.get("IsAttachable", True))
    return found


def _version_number(version: str) -> int:
    digits = "".join(c for c in version.split(".")[0] if c.isdigit())
    return int(digits or 0)
