"""IAM's input rules, checked before any request: names, paths, tags, descriptions, session lengths, ARNs."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from cloudorm.errors import InvalidInput

NAME_LIMITS = {"user": 64, "group": 128, "role": 64, "policy": 128}
"""IAM's longest name per kind (UserName 64, GroupName 128, RoleName 64, PolicyName 128)."""

_NAME = re.compile(r"[\w+=,.@-]+", re.ASCII)
_PATH = re.compile(r"/([\x21-\x7e]+/)?")
_PATH_PREFIX = re.compile(r"/[\x21-\x7e]*")
_TAG_TEXT = re.compile(r"(?:[\w.:/=+\-@]|[^\S\x00-\x1f\x85])*")  # letters, digits, spaces (not tabs or newlines)
_DESCRIPTION = re.compile(r"[\t\n\r\x20-\x7e\xa1-\xff]*")
_POLICY_ARN = re.compile(r"arn:[a-z-]+:iam::(\d{12}|aws):policy(/([\x21-\x7e]*/)?)?[\w+=,.@-]+", re.ASCII)

MAX_TAGS = 50
MIN_SESSION, MAX_SESSION = 3600, 43200


def check_name(kind: str, value: Any, field: str = "name") -> str:
    """A user, group, role or policy name: letters, digits and ``+=,.@_-``, up to IAM's length for the kind."""
    limit = NAME_LIMITS[kind]
    if not isinstance(value, str) or not value:
        raise InvalidInput(field, f"a {kind} name must be a non-empty str, not {value!r}")
    if len(value) > limit:
        raise InvalidInput(field, f"a {kind} name has at most {limit} characters, not {len(value)}")
    if not _NAME.fullmatch(value):
        raise InvalidInput(field, f"{value!r}: a {kind} name may hold only letters, digits and + = , . @ _ -")
    return value


def user_name(value: Any) -> str:
    """A valid user name (64 characters at most)."""
    return check_name("user", value)


def group_name(value: Any) -> str:
    """A valid group name (128 characters at most)."""
    return check_name("group", value)


def role_name(value: Any) -> str:
    """A valid role name (64 characters at most)."""
    return check_name("role", value)


def policy_name(value: Any) -> str:
    """A valid policy name (128 characters at most)."""
    return check_name("policy", value)


def check_path(value: Any, field: str = "path") -> str:
    """An IAM path: ``/`` or ``/a/b/``, starting and ending with ``/``, printable ASCII, at most 512 characters."""
    if not isinstance(value, str) or not _PATH.fullmatch(value) or len(value) > 512:
        raise InvalidInput(field, f"must start and end with '/' and hold printable ASCII (e.g. '/' or '/team/'), "
                                  f"not {value!r}")
    return value


def check_path_prefix(value: Any, field: str = "path_prefix") -> str:
    """A listing's path prefix: starts with ``/`` (``/team/`` or ``/te``), printable ASCII, at most 512 characters."""
    if not isinstance(value, str) or not _PATH_PREFIX.fullmatch(value) or len(value) > 512:
        raise InvalidInput(field, f"must start with '/' and hold printable ASCII (e.g. '/team/'), not {value!r}")
    return value


def check_tags(value: Any, field: str = "tags") -> dict[str, str]:
    """Tags as a str → str dict: at most 50; keys of 1 to 128 characters, not starting with ``aws:``; values up
    to 256."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise InvalidInput(field, f"must be a dict of str to str, not {type(value).__name__}")
    if len(value) > MAX_TAGS:
        raise InvalidInput(field, f"at most {MAX_TAGS} tags, not {len(value)}")
    out: dict[str, str] = {}
    for k, v in value.items():
        if not isinstance(k, str) or not isinstance(v, str):
            raise InvalidInput(f"{field}[{k!r}]", f"tags map str to str, not {type(k).__name__} to "
                                                  f"{type(v).__name__}")
        if not 1 <= len(k) <= 128 or k.lower().startswith("aws:") or not _TAG_TEXT.fullmatch(k):
            raise InvalidInput(f"{field}[{k!r}]", "a tag key has 1 to 128 letters, digits, spaces or _.:/=+-@ and "
                                                  "does not start with 'aws:'")
        if len(v) > 256 or not _TAG_TEXT.fullmatch(v):
            raise InvalidInput(f"{field}[{k!r}]", "a tag value has at most 256 letters, digits, spaces or _.:/=+-@")
        out[k] = v
    return out


def check_description(value: Any, field: str = "description") -> str | None:
    """An optional description: at most 1000 characters of text IAM accepts."""
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > 1000 or not _DESCRIPTION.fullmatch(value):
        raise InvalidInput(field, "must be a str of at most 1000 printable characters (Latin-1)")
    return value


def check_max_session(value: Any, field: str = "max_session") -> int | None:
    """A role's longest session in seconds: 3600 to 43200 (one to twelve hours), or None for IAM's default."""
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or not MIN_SESSION <= value <= MAX_SESSION:
        raise InvalidInput(field, f"must be whole seconds from {MIN_SESSION} to {MAX_SESSION}, not {value!r}")
    return value


def is_policy_arn(value: str) -> bool:
    """True for a managed policy's ARN (``arn:aws:iam::123456789012:policy/p``, ``arn:aws:iam::aws:policy/...``)."""
    return bool(_POLICY_ARN.fullmatch(value))


def split_policy_arn(arn: str, field: str = "policy") -> tuple[str, str]:
    """The path and name in a managed policy's ARN (``InvalidInput`` if it is not one)."""
    if not isinstance(arn, str) or not is_policy_arn(arn):
        raise InvalidInput(field, f"not a managed policy ARN (arn:aws:iam::<account>:policy/<name>): {arn!r}")
    rest = arn.split(":policy", 1)[1]
    path, _, name = rest.rpartition("/")
    return path + "/", name
