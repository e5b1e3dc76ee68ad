"""The IAM service on AWS's IAM API (AWS, Wasabi's IAM-compatible endpoint and the local cloud) through botocore.

Records come back as the neutral dicts ``IAMService`` describes. Features a compatible endpoint may lack (tags,
STS, last-used data) are only asked for when needed, and their absence is handled where it can be.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import unquote

import boto3
from botocore import exceptions as bx

from cloudorm import errors as ce
from cloudorm.credentials import protect
from cloudorm.providers.aws.clients import ClientFactory, paginate
from cloudorm.providers.aws.errors import map_error
from cloudorm.providers.aws.settle import send_settled
from cloudorm.providers.contract import AccessKeyInfo, AttachedPolicy, CallerInfo, EntityInfo, IAMService, Wire
from cloudorm.providers.contract.iam import AccountDetails, IAMCapabilities, KeyUsage, PolicyVersionInfo

_TITLE = {"user": "User", "group": "Group", "role": "Role", "policy": "Policy"}
_SECRET_IN_BODY = re.compile(rb"<SecretAccessKey>([^<]+)</SecretAccessKey>")

PARTS: dict[str, frozenset[str]] = {
    "tags": frozenset({"TagUser", "UntagUser", "TagRole", "UntagRole", "TagPolicy", "UntagPolicy"}),
    "update_role": frozenset({"UpdateRole"}),
    "instance_profiles": frozenset({"ListInstanceProfilesForRole", "RemoveRoleFromInstanceProfile"}),
}
"""The IAM operations of each ``IAMCapabilities`` flag: an endpoint without the part lacks them (Wasabi lists the
IAM actions it supports; these are not among them), and they are ``Unsupported`` before any request."""

AWS_IAM = IAMCapabilities(tags=True, update_role=True, instance_profiles=True)
"""AWS's IAM has every part."""

NO_RESEND = ("CreateUser", "CreateGroup", "CreateRole", "CreatePolicy", "CreatePolicyVersion", "CreateAccessKey",
             "DeleteUser", "DeleteGroup", "DeleteRole", "DeletePolicy", "DeletePolicyVersion", "DeleteAccessKey",
             "UpdateUser", "UpdateGroup", "AttachUserPolicy", "AttachGroupPolicy", "AttachRolePolicy",
             "DetachUserPolicy", "DetachGroupPolicy", "DetachRolePolicy", "RemoveUserFromGroup", "DeleteUserPolicy",
             "DeleteGroupPolicy", "DeleteRolePolicy", "DeleteLoginProfile", "RemoveRoleFromInstanceProfile")
"""IAM calls botocore must not re-send once the request may have reached IAM: sent twice they make a second
thing (a key, a policy version) or fail although they were applied (``EntityAlreadyExists``, ``NoSuchEntity``).
When the answer to one is lost, cloudorm looks at what IAM holds instead (``AwsIAMService._change``). The other
mutating calls (tags, ``UpdateRole``, ``UpdateAssumeRolePolicy``, ``UpdateAccessKey``, ``AddUserToGroup``) set a
state and are safely re-sent by botocore."""

CLOCK_SKEW = timedelta(minutes=15)
"""How far IAM's clock may be from this machine's: an entity found after a lost create answer is taken as the one
that create made only if IAM says it was created after the call began (less this)."""


def _tags_wire(tags: dict[str, str]) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in tags.items()]


def _document(value: Any) -> Any:
    """A policy document as a dict: botocore decodes IAM's URL-encoded JSON, but be safe if it did not."""
    if isinstance(value, str):
        return json.loads(unquote(value))
    return value


def record(kind: str, raw: Wire) -> EntityInfo:
    """A neutral record from an IAM User/Group/Role/Policy structure (keys the response lacks are left out)."""
    title = _TITLE[kind]
    out: EntityInfo = {"name": raw[f"{title}Name"], "id": raw.get(f"{title}Id"), "arn": raw.get("Arn"),
                 "path": raw.get("Path", "/"), "created": raw.get("CreateDate")}
    if "Tags" in raw:
        out["tags"] = {t["Key"]: t["Value"] for t in raw["Tags"] or []}
    if "Description" in raw:
        out["description"] = raw["Description"] or None
    if kind == "role":
        if "AssumeRolePolicyDocument" in raw:
            out["trust"] = _document(raw["AssumeRolePolicyDocument"])
        if "MaxSessionDuration" in raw:
            out["max_session"] = int(raw["MaxSessionDuration"])
    if kind == "policy":
        out["default_version"] = raw.get("DefaultVersionId")
        out["attachments"] = raw.get("AttachmentCount")
        out["updated"] = raw.get("UpdateDate")
    return out


class AwsIAMService(IAMService):
    """``IAMService`` over botocore's IAM (and STS, for who the caller is) clients."""

    def __init__(self, clients: ClientFactory, provider: str, secrets: tuple[str, ...] = (), *,
                 capabilities: IAMCapabilities | None = None) -> None:
        self.capabilities = capabilities or AWS_IAM
        self._clients = clients
        self._provider = provider
        self._secrets: tuple[str, ...] = secrets
        self._lock = threading.Lock()
        self._identity: CallerInfo | None = None
        clients.hook("before-parse", "iam", ("CreateAccessKey",), self._protect_new_secret)
        clients.no_resend("iam", NO_RESEND)

    # ------------------------------------------------------------------------------------------------ plumbing

    @property
    def _iam(self) -> Any:
        return self._clients.client("iam")

    def _protect_new_secret(self, response_dict: Wire, **_: Any) -> None:
        """Keep a new key's secret out of every log line and message, before botocore's parser logs the body."""
        body = response_dict.get("body") or b""
        for match in _SECRET_IN_BODY.finditer(body if isinstance(body, bytes) else body.encode()):
            secret = match.group(1).decode()
            protect((secret,))
            with self._lock:
                self._secrets = (*self._secrets, secret)

    def _error(self, e: Exception, operation: str) -> Exception:
        return map_error(e, self._provider, operation, self._secrets)

    def _lacks(self, operation: str) -> bool:
        return any(operation in ops and not getattr(self.capabilities, part) for part, ops in PARTS.items())

    def _method(self, operation: str) -> str:
        """botocore's name for an operation this endpoint has (``Unsupported`` before any request if it lacks it)."""
        if self._lacks(operation):
            raise ce.Unsupported(self._provider, f"IAM's {operation}", "its IAM endpoint does not implement it",
                                 operation=operation)
        return _snake(operation)

    def _call(self, operation: str, **params: Any) -> Wire:
        """Call IAM's ``operation`` (e.g. ``GetUser``), mapping errors."""
        method = getattr(self._iam, self._method(operation))
        try:
            response: Wire = method(**params)
        except (bx.ClientError, bx.BotoCoreError) as e:
            raise self._error(e, operation) from None
        return response

    def _change(self, operation: str, took_effect: Callable[[], Wire | None], **params: Any) -> Wire:
        """Call one of the ``NO_RESEND`` operations. When its answer is lost (it may have been applied),
        ``took_effect()`` looks at what IAM holds: it returns what stands for the answer if the call was applied,
        or None if it was not, and the call is sent again (``send_settled``, at most the session's ``max_attempts``
        sends in all)."""
        method = getattr(self._iam, self._method(operation))
        try:
            response: Wire = send_settled(lambda: method(**params), took_effect,
                                          attempts=self._clients.options.max_attempts)
        except (bx.ClientError, bx.BotoCoreError) as e:
            raise self._error(e, operation) from None
        return response

    def _absent(self, operation: str, present: Callable[[], bool], **params: Any) -> None:
        """Call a ``NO_RESEND`` operation that removes something; after a lost answer it took effect when
        ``present()`` is False."""
        self._change(operation, lambda: None if present() else {}, **params)

    def _items(self, operation: str, key: str | None, **params: Any) -> Iterator[Any]:
        """Every item under ``key`` (None: every page) of every page of ``operation`` (IAM's Marker and IsTruncated
        followed), mapping errors."""
        self._method(operation)  # Unsupported before any request
        return paginate(self._iam, operation, key, self._provider, self._secrets, **params)

    def _policy_document(self, arn: str, version: str | None) -> Wire:
        v = self._call("GetPolicyVersion", PolicyArn=arn, VersionId=version)["PolicyVersion"]
        doc: Wire = _document(v["Document"])
        return doc

    # ------------------------------------------------------------------------------------------------ entities

    def create(self, kind: str, name: str, spec: Wire) -> EntityInfo:
        """Create a user, group, role or policy; returns its record."""
        title = _TITLE[kind]
        params: Wire = {f"{title}Name": name, "Path": spec.get("path") or "/"}
        if spec.get("tags") and kind != "group":  # only sent when there are some (not every endpoint has tags)
            params["Tags"] = _tags_wire(spec["tags"])
        if spec.get("description") is not None and kind in ("role", "policy"):
            params["Description"] = spec["description"]
        if kind == "role":
            params["AssumeRolePolicyDocument"] = json.dumps(spec["trust"])
            if spec.get("max_session") is not None:
                params["MaxSessionDuration"] = spec["max_session"]
        if kind == "policy":
            params["PolicyDocument"] = json.dumps(spec["document"])
        started = datetime.now(timezone.utc)
        response = self._change(f"Create{title}", lambda: self._created(kind, name, spec, started), **params)
        out = record(kind, response[title])
        out.setdefault("tags", dict(spec.get("tags") or {}))
        if kind in ("role", "policy"):  # what the response leaves out is what was sent, or IAM's default
            out.setdefault("description", spec.get("description"))
        if kind == "role":
            out.setdefault("trust", spec["trust"])
            out.setdefault("max_session", spec.get("max_session") or 3600)
        if kind == "policy":
            out["document"] = spec["document"]
        return out

    def _get_raw(self, kind: str, ref: str) -> Wire:
        """IAM's Get answer for an entity (``NotFound`` if it is not there)."""
        title = _TITLE[kind]
        if kind == "policy":
            return self._call("GetPolicy", PolicyArn=ref)
        if kind == "group":
            return self._call("GetGroup", GroupName=ref, MaxItems=1)
        return self._call(f"Get{title}", **{f"{title}Name": ref})

    def _exists(self, kind: str, ref: str) -> bool:
        try:
            self._get_raw(kind, ref)
        except ce.NotFound:
            return False
        return True

    def _created(self, kind: str, name: str, spec: Wire, started: datetime) -> Wire | None:
        """After a lost Create answer: IAM's Get answer for the entity if it is there as asked and was made since
        the call began; None if it is not there (the create was not applied); ``AlreadyExists`` if another is."""
        title = _TITLE[kind]
        ref = self.policy_arn(name, spec.get("path") or "/") if kind == "policy" else name
        try:
            found = self._get_raw(kind, ref)
        except ce.NotFound:
            return None
        if not self._as_asked(kind, ref, found[title], spec, started):
            raise ce.AlreadyExists(f"a {kind} named {name!r} exists already (and is not the one this call asked "
                                   "for: its answer was lost, and IAM holds another)", provider=self._provider,
                                   operation=f"Create{title}", code="EntityAlreadyExists")
        return found

    def _as_asked(self, kind: str, ref: str, raw: Wire, spec: Wire, started: datetime) -> bool:
        """Whether an entity IAM holds is the one a create with ``spec`` begun at ``started`` would have made."""
        created = raw.get("CreateDate")
        if isinstance(created, datetime) and created.astimezone(timezone.utc) < started - CLOCK_SKEW:
            return False
        if raw.get("Path", "/") != (spec.get("path") or "/"):
            return False
        if "Tags" in raw and {t["Key"]: t["Value"] for t in raw["Tags"] or []} != dict(spec.get("tags") or {}):
            return False
        if "Description" in raw and (raw["Description"] or None) != spec.get("description"):
            return False
        if kind == "role":
            if _document(raw.get("AssumeRolePolicyDocument")) != spec["trust"]:
                return False
            if int(raw.get("MaxSessionDuration") or 3600) != (spec.get("max_session") or 3600):
                return False
        if kind == "policy":
            return bool(self._policy_document(ref, raw["DefaultVersionId"]) == spec["document"])
        return True

    def get(self, kind: str, ref: str) -> EntityInfo:
        """The full record of an entity (a policy with its default version's document)."""
        title = _TITLE[kind]
        out = record(kind, self._get_raw(kind, ref)[title])
        if kind == "policy":
            out["document"] = self._policy_document(ref, out["default_version"])
        out.setdefault("tags", {})
        out.setdefault("description", None)
        if kind == "role":
            out.setdefault("max_session", 3600)
        return out

    def update(self, kind: str, ref: str, changes: Wire) -> None:
        """Apply changed fields; tags as the new set, with ``old_tags`` the previous one."""
        title = _TITLE[kind]
        name = ref
        if kind in ("user", "group") and ("path" in changes or "name" in changes):
            params: Wire = {f"{title}Name": ref}
            if "path" in changes:
                params["NewPath"] = changes["path"]
            if "name" in changes:
                params[f"New{title}Name"] = name = changes["name"]
            self._change(f"Update{title}", lambda: self._updated(kind, name, changes.get("path")), **params)
        if kind == "role":
            if "description" in changes or "max_session" in changes:
                params = {"RoleName": ref}
                if "description" in changes:
                    params["Description"] = changes["description"] or ""
                if "max_session" in changes:
                    params["MaxSessionDuration"] = changes["max_session"] or 3600
                self._call("UpdateRole", **params)
            if "trust" in changes:
                self._call("UpdateAssumeRolePolicy", RoleName=ref, PolicyDocument=json.dumps(changes["trust"]))
        if "tags" in changes:
            new, old = changes["tags"], changes.get("old_tags") or {}
            target = {"PolicyArn": ref} if kind == "policy" else {f"{title}Name": name}
            gone = [k for k in old if k not in new]
            if gone:
                self._call(f"Untag{title}", TagKeys=gone, **target)
            put = {k: v for k, v in new.items() if old.get(k) != v}
            if put:
                self._call(f"Tag{title}", Tags=_tags_wire(put), **target)

    def _updated(self, kind: str, name: str, path: str | None) -> Wire | None:
        """After a lost UpdateUser/UpdateGroup answer: ``{}`` if the entity is there under its new name (and
        path), None if not."""
        try:
            raw = self._get_raw(kind, name)[_TITLE[kind]]
        except ce.NotFound:
            return None
        return {} if path is None or raw.get("Path") == path else None

    def delete(self, kind: str, ref: str) -> None:
        """Delete an entity."""
        title = _TITLE[kind]
        target = {"PolicyArn": ref} if kind == "policy" else {f"{title}Name": ref}
        self._absent(f"Delete{title}", lambda: self._exists(kind, ref), **target)

    def list_page(self, kind: str, start: str | None, limit: int | None, *, path_prefix: str | None = None,
                  scope: str = "local") -> tuple[list[EntityInfo], str | None]:
        """One page of records, and the marker of the next one."""
        title = _TITLE[kind]
        params: Wire = {}
        if start:
            params["Marker"] = start
        if limit:
            params["MaxItems"] = min(limit, 1000)
        if path_prefix:
            params["PathPrefix"] = path_prefix
        if kind == "policy":
            params["Scope"] = {"local": "Local", "aws": "AWS", "all": "All"}[scope]
        plural = "Policies" if kind == "policy" else f"{title}s"
        page = self._call(f"List{plural}", **params)
        items = [record(kind, raw) for raw in page.get(plural) or []]
        return items, page.get("Marker") if page.get("IsTruncated") else None

    # ------------------------------------------------------------------------------------------------ identity

    def caller(self, key: tuple[str, str] | None = None) -> CallerInfo:
        """STS GetCallerIdentity for the session's credentials, or for ``key`` (an access key id and secret)."""
        if key is None and self._identity is not None:
            return self._identity
        if key is None:
            client = self._clients.client("sts")
        else:
            client = boto3.Session(aws_access_key_id=key[0], aws_secret_access_key=key[1]).client(
                "sts", endpoint_url=self._clients.endpoint("sts"), config=self._clients.config("sts"))
        try:
            who = client.get_caller_identity()
        except (bx.ClientError, bx.BotoCoreError) as e:
            error = self._error(e, "GetCallerIdentity")
            if key is not None:
                raise error from None
            who = self._caller_from_iam(error)  # an IAM-compatible endpoint without STS
        finally:
            if key is not None:
                client.close()
        out: CallerInfo = {"account": who.get("Account"), "arn": who.get("Arn"), "user_id": who.get("UserId")}
        if key is None:
            self._identity = out
        return out

    def _caller_from_iam(self, sts_error: Exception) -> Wire:
        """Who the caller is from IAM's GetUser (no name: the caller), when STS is not there."""
        try:
            user = self._call("GetUser")["User"]
        except Exception:
            raise sts_error from None
        arn = str(user.get("Arn", ""))
        return {"Account": arn.split(":")[4] if arn.count(":") >= 5 else None, "Arn": arn,
                "UserId": user.get("UserId")}

    def authorization_details(self, kinds: tuple[str, ...]) -> AccountDetails:
        """GetAccountAuthorizationDetails, every page (``iam_summary.py``)."""
        from cloudorm.providers.aws.iam_summary import authorization_details

        return authorization_details(self, kinds)

    def policy_arn(self, name: str, path: str = "/") -> str:
        """The ARN of this account's managed policy ``name`` under ``path`` (the account asked once, of STS)."""
        who = self.caller()
        partition = (who.get("arn") or "arn:aws").split(":")[1]
        return f"arn:{partition}:iam::{who['account']}:policy{path}{name}"

    # ------------------------------------------------------------------------------------------------ policies

    def attached_policies(self, kind: str, name: str) -> list[AttachedPolicy]:
        """Managed policies attached to a user, group or role."""
        title = _TITLE[kind]
        return [{"name": p["PolicyName"], "arn": p["PolicyArn"]}
                for p in self._items(f"ListAttached{title}Policies", "AttachedPolicies", **{f"{title}Name": name})]

    def attach_policy(self, kind: str, name: str, arn: str) -> None:
        """Attach a managed policy."""
        title = _TITLE[kind]
        self._change(f"Attach{title}Policy", lambda: {} if self._attached(kind, name, arn) else None,
                     PolicyArn=arn, **{f"{title}Name": name})

    def _attached(self, kind: str, name: str, arn: str) -> bool:
        return any(p["arn"] == arn for p in self.attached_policies(kind, name))

    def detach_policy(self, kind: str, name: str, arn: str) -> None:
        """Detach a managed policy."""
        title = _TITLE[kind]
        self._absent(f"Detach{title}Policy", lambda: self._attached(kind, name, arn), PolicyArn=arn,
                     **{f"{title}Name": name})

    def inline_policies(self, kind: str, name: str) -> list[str]:
        """Names of the inline policies of a user, group or role."""
        title = _TITLE[kind]
        return list(self._items(f"List{title}Policies", "PolicyNames", **{f"{title}Name": name}))

    def delete_inline_policy(self, kind: str, name: str, policy: str) -> None:
        """Delete an inline policy."""
        title = _TITLE[kind]
        self._absent(f"Delete{title}Policy", lambda: policy in self.inline_policies(kind, name), PolicyName=policy,
                     **{f"{title}Name": name})

    def policy_versions(self, arn: str) -> list[PolicyVersionInfo]:
        """A policy's versions, oldest first."""
        versions: list[PolicyVersionInfo] = [
            {"id": v["VersionId"], "default": bool(v.get("IsDefaultVersion")), "created": v.get("CreateDate")}
            for v in self._items("ListPolicyVersions", "Versions", PolicyArn=arn)]
        return sorted(versions, key=lambda v: int(re.sub(r"\D", "", v["id"].split(".")[0]) or 0))

    def create_policy_version(self, arn: str, document: Wire) -> str:
        """Add a default version; after a lost answer, the default version holding ``document`` is the one made."""
        def took_effect() -> Wire | None:
            default = next((v["id"] for v in self.policy_versions(arn) if v["default"]), None)
            if default is not None and self._policy_document(arn, default) == document:
                return {"PolicyVersion": {"VersionId": default}}
            return None

        v = self._change("CreatePolicyVersion", took_effect, PolicyArn=arn, PolicyDocument=json.dumps(document),
                         SetAsDefault=True)
        return str(v["PolicyVersion"]["VersionId"])

    def delete_policy_version(self, arn: str, version: str) -> None:
        """Delete a non-default version (that one: after a lost answer, IAM is asked whether it is still there)."""
        self._absent("DeletePolicyVersion", lambda: any(v["id"] == version for v in self.policy_versions(arn)),
                     PolicyArn=arn, VersionId=version)

    def policy_entities(self, arn: str) -> dict[str, list[str]]:
        """Users, groups and roles a policy is attached to."""
        out: dict[str, list[str]] = {"user": [], "group": [], "role": []}
        for page in self._items("ListEntitiesForPolicy", None, PolicyArn=arn):
            for kind in out:
                out[kind] += [e[f"{_TITLE[kind]}Name"] for e in page.get(f"Policy{_TITLE[kind]}s") or []]
        return out

    # ------------------------------------------------------------------------------------------------ groups

    def add_to_group(self, group: str, user: str) -> None:
        """AddUserToGroup."""
        self._call("AddUserToGroup", GroupName=group, UserName=user)

    def remove_from_group(self, group: str, user: str) -> None:
        """RemoveUserFromGroup."""
        self._absent("RemoveUserFromGroup", lambda: any(g["name"] == group for g in self.groups_of(user)),
                     GroupName=group, UserName=user)

    def group_members(self, group: str) -> list[EntityInfo]:
        """Records of a group's users."""
        return [record("user", u) for u in self._items("GetGroup", "Users", GroupName=group)]

    def groups_of(self, user: str) -> list[EntityInfo]:
        """Records of a user's groups."""
        return [record("group", g) for g in self._items("ListGroupsForUser", "Groups", UserName=user)]

    def has_login_profile(self, user: str) -> bool:
        """GetLoginProfile: False when the user has no console password."""
        try:
            self._call("GetLoginProfile", UserName=user)
        except ce.NotFound:
            return False
        return True

    def delete_login_profile(self, user: str) -> None:
        """DeleteLoginProfile."""
        self._absent("DeleteLoginProfile", lambda: self.has_login_profile(user), UserName=user)

    # ------------------------------------------------------------------------------------------------ keys

    def create_access_key(self, user: str) -> AccessKeyInfo:
        """CreateAccessKey: the only response that holds the secret. A key whose answer was lost can never be used
        (nobody has its secret): it is deleted, and the key made again; so the user gets exactly one new key, or
        an error and none. (A key another program makes for the same user during that call is taken for the
        lost one.)"""
        before = {k["id"] for k in self.access_keys(user)}

        def took_effect() -> None:
            for k in self.access_keys(user):
                if k["id"] not in before:
                    self.delete_access_key(user, k["id"])
            return None  # send it again

        k = self._change("CreateAccessKey", took_effect, UserName=user)["AccessKey"]
        protect((k["SecretAccessKey"],), (k["AccessKeyId"],))  # (the parse hook did it already for the body)
        return {"id": k["AccessKeyId"], "secret": k["SecretAccessKey"], "status": k.get("Status", "Active"),
                "created": k.get("CreateDate"), "user": k.get("UserName", user)}

    def access_keys(self, user: str) -> list[AccessKeyInfo]:
        """A user's keys (no secrets)."""
        return [{"id": k["AccessKeyId"], "status": k.get("Status", "Active"), "created": k.get("CreateDate"),
                 "user": k.get("UserName", user)}
                for k in self._items("ListAccessKeys", "AccessKeyMetadata", UserName=user)]

    def set_access_key_status(self, user: str, key_id: str, active: bool) -> None:
        """UpdateAccessKey."""
        self._call("UpdateAccessKey", UserName=user, AccessKeyId=key_id, Status="Active" if active else "Inactive")

    def delete_access_key(self, user: str, key_id: str) -> None:
        """DeleteAccessKey."""
        self._absent("DeleteAccessKey", lambda: any(k["id"] == key_id for k in self.access_keys(user)),
                     UserName=user, AccessKeyId=key_id)

    def access_key_last_used(self, key_id: str) -> KeyUsage:
        """GetAccessKeyLastUsed (``N/A`` values become None)."""
        used = self._call("GetAccessKeyLastUsed", AccessKeyId=key_id).get("AccessKeyLastUsed") or {}

        def known(value: Any) -> Any:
            return None if value in (None, "", "N/A") else value

        return {"date": used.get("LastUsedDate"), "service": known(used.get("ServiceName")),
                "region": known(used.get("Region"))}

    # ------------------------------------------------------------------------------------------------ roles

    def instance_profiles(self, role: str) -> list[str]:
        """Instance profiles holding a role (none where the endpoint has no EC2 instance profiles)."""
        if self._lacks("ListInstanceProfilesForRole"):
            return []
        return [p["InstanceProfileName"]
                for p in self._items("ListInstanceProfilesForRole", "InstanceProfiles", RoleName=role)]

    def remove_from_instance_profile(self, profile: str, role: str) -> None:
        """RemoveRoleFromInstanceProfile."""
        self._absent("RemoveRoleFromInstanceProfile", lambda: profile in self.instance_profiles(role),
                     InstanceProfileName=profile, RoleName=role)


def _snake(operation: str) -> str:
    """botocore's method name for an operation: ``ListAttachedUserPolicies`` → ``list_attached_user_policies``."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", operation).lower()

