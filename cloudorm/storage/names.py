"""Checking storage input before any request: bucket names, keys, expiry times, concurrency."""

from __future__ import annotations

import ipaddress
import re
from datetime import timedelta
from typing import Any

from cloudorm.checks import check_utf8
from cloudorm.errors import InvalidInput

MAX_EXPIRES = 7 * 24 * 3600
"""The longest a presigned URL may live (SigV4's limit): 7 days, in seconds."""

MAX_CONCURRENCY = 256
"""The most threads a many-object transfer may use."""

MAX_METADATA = 2048
"""The most bytes of user metadata (names and values) S3 stores with an object."""

_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]*[a-z0-9]")
_BUCKET_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
_BUCKET_SUFFIXES = ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3")


def check_bucket_name(name: Any, field: str = "name") -> str:
    """An S3 bucket name: 3-63 lowercase letters, digits, dots and hyphens, starting and ending with a letter or
    digit, not an IP address, no ``..``, none of S3's reserved prefixes and suffixes (``InvalidInput`` otherwise)."""
    if not isinstance(name, str):
        raise InvalidInput(field, f"a bucket name is a str, not {type(name).__name__}")
    if not 3 <= len(name) <= 63:
        raise InvalidInput(field, f"a bucket name has 3 to 63 characters, got {len(name)} in {name!r}")
    if not _BUCKET.fullmatch(name):
        raise InvalidInput(field, f"{name!r}: a bucket name has only lowercase letters, digits, dots and hyphens, "
                                  "and starts and ends with a letter or digit")
    if ".." in name or ".-" in name or "-." in name:
        raise InvalidInput(field, f"{name!r}: a bucket name cannot have two dots in a row or a dot next to a hyphen")
    try:
        ipaddress.IPv4Address(name)
    except ValueError:
        pass
    else:
        raise InvalidInput(field, f"{name!r}: a bucket name cannot look like an IP address")
    for prefix in _BUCKET_PREFIXES:
        if name.startswith(prefix):
            raise InvalidInput(field, f"{name!r}: bucket names cannot start with {prefix!r} (reserved by S3)")
    for suffix in _BUCKET_SUFFIXES:
        if name.endswith(suffix):
            raise InvalidInput(field, f"{name!r}: bucket names cannot end with {suffix!r} (reserved by S3)")
    return name


def check_key(key: Any, field: str = "key") -> str:
    """An object key: a non-empty str of at most 1,024 bytes in UTF-8."""
    if not isinstance(key, str):
        raise InvalidInput(field, f"an object key is a str, not {type(key).__name__}")
    if not key:
        raise InvalidInput(field, "an object key cannot be empty")
    size = len(check_utf8(field, key).encode("utf-8"))
    if size > 1024:
        raise InvalidInput(field, f"an object key has at most 1,024 bytes in UTF-8, got {size}")
    return key


def check_expires(expires: Any) -> int:
    """A presigned URL's lifetime: whole seconds (an int or a ``timedelta``), from 1 s to 7 days."""
    seconds = expires.total_seconds() if isinstance(expires, timedelta) else expires
    if isinstance(seconds, float) and seconds.is_integer():
        seconds = int(seconds)
    if not isinstance(seconds, int) or isinstance(seconds, bool) or not 1 <= seconds <= MAX_EXPIRES:
        raise InvalidInput("expires", f"must be whole seconds from 1 to {MAX_EXPIRES:,} (7 days), not {expires!r}")
    return seconds


def check_concurrency(n: Any) -> int:
    """How many objects a batch transfers at once: an int from 1 to ``MAX_CONCURRENCY``."""
    if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= MAX_CONCURRENCY:
        raise InvalidInput("concurrency", f"must be an int from 1 to {MAX_CONCURRENCY}, not {n!r}")
    return n


def check_metadata(metadata: Any) -> dict[str, str]:
    """User metadata: a dict of str to str sent as ``x-amz-meta-*`` headers, so names are HTTP header tokens
    (case-insensitive: S3 lowercases them), values printable ASCII, 2 KB in all (S3's limit)."""
    if metadata is None:
        return {}
    if not isinstance(metadata, dict):
        raise InvalidInput("metadata", f"must be a dict of str to str, not {type(metadata).__name__}")
    seen: set[str] = set()
    for k, v in metadata.items():
        if not isinstance(k, str) or not _TOKEN.fullmatch(k):
            raise InvalidInput(f"metadata[{k!r}]", "a metadata name is a non-empty str of ASCII letters, digits "
                                                  "and !#$%&'*+-.^_`|~ (it travels as an HTTP header name)")
        if k.lower() in seen:
            raise InvalidInput(f"metadata[{k!r}]", "metadata names are case-insensitive: this one is given twice")
        seen.add(k.lower())
        if not isinstance(v, str) or not (v.isascii() and v.isprintable()):
            raise InvalidInput(f"metadata[{k!r}]", f"a metadata value is a str of printable ASCII, not {v!r}")
    size = sum(len(k) + len(v) for k, v in metadata.items())
    if size > MAX_METADATA:
        raise InvalidInput("metadata", f"S3 stores at most {MAX_METADATA:,} bytes of metadata, got {size:,}")
    return dict(metadata)


def check_content_type(content_type: Any) -> str | None:
    """A MIME type such as ``text/html; charset=utf-8``, or None to guess it."""
    if content_type is not None and (not isinstance(content_type, str) or "/" not in content_type):
        raise InvalidInput("content_type", f"must be a MIME type such as 'text/plain', not {content_type!r}")
    return content_type
