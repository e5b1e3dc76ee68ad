"""Checking storage input before any request: bucket names, keys, expiry times, concurrency, stored headers,
storage classes and tags."""

from __future__ import annotations

import ipaddress
import re
from datetime import datetime, timedelta
from typing import Any

from cloudorm.checks import check_utf8
from cloudorm.errors import InvalidInput

MAX_EXPIRES = 7 * 24 * 3600
"""The longest a presigned URL may live (SigV4's limit): 7 days, in seconds."""

MAX_CONCURRENCY = 256
"""The most threads a many-object transfer may use."""

MAX_POST_SIZE = 5 * 1024 ** 3
"""The largest file a presigned POST uploads (S3's limit for one request): 5 GiB, in bytes."""

MAX_METADATA = 2048
"""The most bytes of user metadata (names and values) S3 stores with an object."""

MAX_TAGS = 10
"""The most tags S3 keeps on one object."""

MAX_BUCKET_TAGS = 50
"""The most tags S3 keeps on one bucket."""

STORAGE_CLASSES = ("STANDARD", "REDUCED_REDUNDANCY", "STANDARD_IA", "ONEZONE_IA", "INTELLIGENT_TIERING", "GLACIER",
                   "DEEP_ARCHIVE", "OUTPOSTS", "GLACIER_IR", "SNOW", "EXPRESS_ONEZONE")
"""S3's storage classes an object can be written in (S3-compatible services accept a subset, often STANDARD)."""

_TAG_CHARS = re.compile(r"[\w .:/=+\-@]*")
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


def check_size_range(min_size: Any, max_size: Any) -> tuple[int, int] | None:
    """A presigned POST's ``content-length-range`` (min, max) in bytes: ints with 0 <= min_size <= max_size <=
    ``MAX_POST_SIZE`` and max_size >= 1 (either may be None: 0, or ``MAX_POST_SIZE``); None when both are."""
    if min_size is None and max_size is None:
        return None
    for field, value, least in (("min_size", min_size, 0), ("max_size", max_size, 1)):
        if value is not None and (not isinstance(value, int) or isinstance(value, bool)
                                  or not least <= value <= MAX_POST_SIZE):
            raise InvalidInput(field, f"must be an int of bytes from {least} to {MAX_POST_SIZE:,} (5 GiB, the most "
                                      f"one POST uploads), not {value!r}")
    low, high = min_size or 0, MAX_POST_SIZE if max_size is None else max_size
    if low > high:
        raise InvalidInput("min_size", f"{low:,} is more than max_size ({high:,}): no file could be uploaded")
    return low, high


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


def check_header(field: str, value: Any) -> str | None:
    """A stored header's value (``cache_control``, ``content_disposition`` ...): None, or a non-empty str of
    printable ASCII (a CR or LF would end the header and start another)."""
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise InvalidInput(field, f"must be a non-empty str, not {value!r}")
    if "\r" in value or "\n" in value:
        raise InvalidInput(field, f"{value!r}: a header value cannot hold a line break (CR or LF)")
    if not (value.isascii() and value.isprintable()):
        raise InvalidInput(field, f"{value!r}: a header value is printable ASCII")
    return value


def check_content_type(content_type: Any) -> str | None:
    """A MIME type such as ``text/html; charset=utf-8``, or None to guess it."""
    if content_type is not None and (not isinstance(content_type, str) or "/" not in content_type):
        raise InvalidInput("content_type", f"must be a MIME type such as 'text/plain', not {content_type!r}")
    return check_header("content_type", content_type)


def check_expires_at(value: Any) -> datetime | None:
    """The ``Expires`` header stored with an object: None, or a timezone-aware datetime."""
    if value is None:
        return None
    if not isinstance(value, datetime) or value.tzinfo is None or value.utcoffset() is None:
        raise InvalidInput("expires", f"must be a timezone-aware datetime (e.g. datetime.now(timezone.utc)), "
                                      f"not {value!r}")
    return value


def check_storage_class(value: Any) -> str | None:
    """A storage class from ``STORAGE_CLASSES``, or None for the bucket's default (STANDARD)."""
    if value is None:
        return None
    if value not in STORAGE_CLASSES:
        raise InvalidInput("storage_class", f"must be one of {', '.join(STORAGE_CLASSES)}, not {value!r}")
    return str(value)


def check_tags(tags: Any, most: int = MAX_TAGS, what: str = "an object") -> dict[str, str]:
    """Object tags: at most ``most`` str keys (1-128 characters, not starting with ``aws:``) to str values
    (0-256), of letters, digits, spaces and ``_ . : / = + - @``, as S3 allows."""
    if tags is None:
        return {}
    if not isinstance(tags, dict):
        raise InvalidInput("tags", f"must be a dict of str to str, not {type(tags).__name__}")
    if len(tags) > most:
        raise InvalidInput("tags", f"{what} has at most {most} tags, got {len(tags)}")
    for k, v in tags.items():
        if not isinstance(k, str) or not 1 <= len(k) <= 128 or not _TAG_CHARS.fullmatch(k):
            raise InvalidInput(f"tags[{k!r}]", "a tag key is a str of 1 to 128 letters, digits, spaces and "
                                               "_ . : / = + - @")
        if k.lower().startswith("aws:"):
            raise InvalidInput(f"tags[{k!r}]", "tag keys starting with 'aws:' are reserved by AWS")
        if not isinstance(v, str) or len(v) > 256 or not _TAG_CHARS.fullmatch(v):
            raise InvalidInput(f"tags[{k!r}]", f"a tag value is a str of at most 256 letters, digits, spaces and "
                                               f"_ . : / = + - @, not {v!r}")
    return dict(tags)


def check_bucket_tags(tags: Any) -> dict[str, str]:
    """Bucket tags: as ``check_tags``, at most ``MAX_BUCKET_TAGS``."""
    return check_tags(tags, MAX_BUCKET_TAGS, "a bucket")
