"""A function's settings as Lambda accepts them, checked before any request: names, memory, timeout, environment,
description and role references."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from cloudorm.checks import check_utf8
from cloudorm.errors import InvalidInput
from cloudorm.iam.names import check_name

MIN_MEMORY, MAX_MEMORY = 128, 10240
"""Lambda's memory range in MB."""
MIN_TIMEOUT, MAX_TIMEOUT = 1, 900
"""Lambda's timeout range in seconds (15 minutes at most)."""
MAX_ENVIRONMENT = 4096
"""Lambda's limit on the total size of a function's environment variables (bytes of keys and values)."""
MAX_DESCRIPTION = 256
"""The longest description Lambda takes, in characters."""

RESERVED_ENVIRONMENT = frozenset({
    "_HANDLER", "_X_AMZN_TRACE_ID", "AWS_DEFAULT_REGION", "AWS_REGION", "AWS_EXECUTION_ENV",
    "AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "AWS_LAMBDA_FUNCTION_VERSION",
    "AWS_LAMBDA_INITIALIZATION_TYPE", "AWS_LAMBDA_LOG_GROUP_NAME", "AWS_LAMBDA_LOG_STREAM_NAME",
    "AWS_ACCESS_KEY", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_LAMBDA_RUNTIME_API",
    "LAMBDA_TASK_ROOT", "LAMBDA_RUNTIME_DIR",
})
"""Environment variables the Lambda runtime sets itself; a function's configuration may not set them."""

_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
_FUNCTION_ARN = re.compile(
    r"arn:aws[a-zA-Z-]*:lambda:[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d:\d{12}:function:([A-Za-z0-9_-]{1,64})")
_ROLE_ARN = re.compile(r"arn:aws[a-zA-Z-]*:iam::\d{12}:role/([\x21-\x7e]*/)?[\w+=,.@-]{1,64}", re.ASCII)
_ENV_KEY = re.compile(r"[A-Za-z][A-Za-z0-9_]+")


def split_function_ref(value: Any, field: str = "name") -> tuple[str, str]:
    """A function's name (1 to 64 letters, digits, ``-`` or ``_``) or its ARN: ``(name, ref)``, where ``ref`` is
    what requests name it by (the ARN when one was given)."""
    if isinstance(value, str):
        if _NAME.fullmatch(value):
            return value, value
        arn = _FUNCTION_ARN.fullmatch(value)
        if arn:
            return arn.group(2), value
    raise InvalidInput(field, f"a function name has 1 to 64 letters, digits, '-' or '_' (or give the function's "
                              f"ARN arn:aws:lambda:<region>:<account>:function:<name>), not {value!r}")


def _whole(value: Any, field: str, low: int, high: int, unit: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise InvalidInput(field, f"must be a whole number of {unit} from {low} to {high}, not {value!r}")
    return value


def check_memory(value: Any, field: str = "memory") -> int:
    """Memory in MB: an int from 128 to 10240."""
    return _whole(value, field, MIN_MEMORY, MAX_MEMORY, "MB")


def check_timeout(value: Any, field: str = "timeout") -> int:
    """Timeout in seconds: an int from 1 to 900."""
    return _whole(value, field, MIN_TIMEOUT, MAX_TIMEOUT, "seconds")


def check_environment(value: Any, field: str = "environment") -> dict[str, str]:
    """Environment variables: str keys of letters, digits and ``_`` starting with a letter (none Lambda reserves),
    str values, 4 KB in all. Messages name the keys, never the values."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise InvalidInput(field, f"must be a dict of str to str, not {type(value).__name__}")
    out: dict[str, str] = {}
    size = 0
    for k, v in value.items():
        if not isinstance(k, str) or not _ENV_KEY.fullmatch(k):
            raise InvalidInput(field, f"{k!r} is not a variable name: use letters, digits and '_', starting with a "
                                      "letter (two characters at least)")
        if k in RESERVED_ENVIRONMENT:
            raise InvalidInput(f"{field}[{k!r}]", "is reserved: the Lambda runtime sets it")
        if not isinstance(v, str):
            raise InvalidInput(f"{field}[{k!r}]", f"values must be str, not {type(v).__name__}")
        check_utf8(f"{field}[{k!r}]", v, secret=True)
        size += len(k.encode()) + len(v.encode())
        out[k] = v
    if size > MAX_ENVIRONMENT:
        raise InvalidInput(field, f"holds {size} bytes of names and values; Lambda allows {MAX_ENVIRONMENT}")
    return out


def check_description(value: Any, field: str = "description") -> str | None:
    """An optional description of at most 256 characters."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidInput(field, f"must be a str of at most {MAX_DESCRIPTION} characters, not {type(value).__name__}")
    if len(value) > MAX_DESCRIPTION:
        raise InvalidInput(field, f"has {len(value)} characters; Lambda takes {MAX_DESCRIPTION} at most")
    return check_utf8(field, value)


def is_role_arn(value: str) -> bool:
    """True for an IAM role's ARN (``arn:aws:iam::123456789012:role/name``)."""
    return bool(_ROLE_ARN.fullmatch(value))


def check_role_ref(value: Any, field: str = "role") -> str:
    """A role given as text: its ARN, or its name (checked as IAM checks role names)."""
    if isinstance(value, str) and value.startswith("arn:"):
        if not is_role_arn(value):
            raise InvalidInput(field, f"not an IAM role ARN (arn:aws:iam::<account>:role/<name>): {value!r}")
        return value
    if not isinstance(value, str):
        raise InvalidInput(field, f"must be a Role, a role name or a role ARN, not {type(value).__name__}")
    return check_name("role", value, field)
