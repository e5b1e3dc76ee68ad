"""Credentials in the original Cloud package's dict form, validated and kept out of every repr.

AWS and Wasabi: ``{"aws_access_key_id", "aws_secret_access_key", "region"}`` (plus ``aws_session_token``);
DigitalOcean: ``{"access_token", "region"}`` plus ``spaces_key``/``spaces_secret`` for Spaces.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from typing import Any

import attrs

from cloudorm.errors import InvalidInput


def mask(value: str | None) -> str | None:
    """Show at most the last 4 characters of an identifier (``…WXYZ``)."""
    if not value:
        return None
    return "…" + value[-4:] if len(value) > 8 else "…"


def _check_keys(creds: Mapping[str, Any], allowed: tuple[str, ...], provider: str) -> None:
    if not isinstance(creds, Mapping):
        raise InvalidInput("creds", f"must be a dict, not {type(creds).__name__}")
    for key, value in creds.items():
        if key not in allowed:
            raise InvalidInput(key, f"is not a credential for provider {provider!r}; "
                                    f"expected some of {', '.join(allowed)}")
        if value is not None and not isinstance(value, str):
            raise InvalidInput(key, f"must be a str, not {type(value).__name__}")


@attrs.frozen(repr=False)
class KeyCredentials:
    """An access key pair (AWS, Wasabi, Spaces); the secret never appears in a repr."""

    access_key_id: str
    secret_access_key: str
    session_token: str | None = None

    def __repr__(self) -> str:
        return f"KeyCredentials(access_key_id={mask(self.access_key_id)!r})"

    def secrets(self) -> tuple[str, ...]:
        """The values that must never be shown."""
        return tuple(s for s in (self.secret_access_key, self.session_token) if s)


AWS_KEYS = ("aws_access_key_id", "aws_secret_access_key", "aws_session_token", "region")


def aws_credentials(creds: Mapping[str, Any] | None, provider: str) -> tuple[KeyCredentials | None, str | None]:
    """Validate AWS-style creds; returns the key pair (``None`` for boto3's default chain) and the region."""
    if creds is None:
        return None, None
    _check_keys(creds, AWS_KEYS, provider)
    key_id, secret = creds.get("aws_access_key_id"), creds.get("aws_secret_access_key")
    if key_id and not secret:
        raise InvalidInput("aws_secret_access_key", "is missing (aws_access_key_id was given)")
    if secret and not key_id:
        raise InvalidInput("aws_access_key_id", "is missing (aws_secret_access_key was given)")
    if creds.get("aws_session_token") and not key_id:
        raise InvalidInput("aws_access_key_id", "is missing (aws_session_token was given)")
    region = creds.get("region")
    if not key_id:
        return None, region
    return KeyCredentials(key_id, secret, creds.get("aws_session_token")), region  # type: ignore[arg-type]


@attrs.frozen(repr=False)
class TokenCredentials:
    """A DigitalOcean API token, with optional Spaces keys; no secret appears in a repr."""

    access_token: str
    spaces: KeyCredentials | None = None

    def __repr__(self) -> str:
        return f"TokenCredentials(access_token='***', spaces={self.spaces!r})"

    def secrets(self) -> tuple[str, ...]:
        """The values that must never be shown."""
        return (self.access_token, *(self.spaces.secrets() if self.spaces else ()))


DIGITALOCEAN_KEYS = ("access_token", "region", "spaces_key", "spaces_secret")


def digitalocean_credentials(creds: Mapping[str, Any] | None) -> tuple[TokenCredentials, str | None]:
    """Validate DigitalOcean creds; returns the token credentials and the region."""
    if creds is None:
        raise InvalidInput("access_token", "is missing: DigitalOcean needs {'access_token': ..., 'region': ...}")
    _check_keys(creds, DIGITALOCEAN_KEYS, "digitalocean")
    token = creds.get("access_token")
    if not token:
        raise InvalidInput("access_token", "is missing")
    key, secret = creds.get("spaces_key"), creds.get("spaces_secret")
    if key and not secret:
        raise InvalidInput("spaces_secret", "is missing (spaces_key was given)")
    if secret and not key:
        raise InvalidInput("spaces_key", "is missing (spaces_secret was given)")
    spaces = KeyCredentials(key, secret) if key and secret else None
    return TokenCredentials(token, spaces), creds.get("region")


def redact(text: str, secrets: tuple[str, ...]) -> str:
    """Replace every secret in ``text`` with ``***``."""
    for s in secrets:
        if s and len(s) >= 4:
            text = text.replace(s, "***")
    return text


# ---------------------------------------------------------------------------------------------------------------
# log lines

_LOGGERS = ("botocore", "boto3", "s3transfer", "urllib3", "cloudorm", "pydo", "azure", "paramiko")
_protected_lock = threading.Lock()
_protected: dict[str, str] = {}  # value -> what is shown instead


def _redacting_factory(previous: Callable[..., logging.LogRecord]) -> Callable[..., logging.LogRecord]:
    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        if _protected and record.name.startswith(_LOGGERS):
            text = original = record.getMessage()
            for value, shown in tuple(_protected.items()):
                text = text.replace(value, shown)
            if text != original:
                record.msg, record.args = text, None
        return record

    return factory


def protect(secrets: tuple[str, ...] = (), identifiers: tuple[str, ...] = ()) -> None:
    """Keep these values out of every log line of the SDKs and cloudorm from now on: secrets become ``***``,
    identifiers (key ids) their last 4 characters."""
    with _protected_lock:
        if not _protected:
            logging.setLogRecordFactory(_redacting_factory(logging.getLogRecordFactory()))
        for s in secrets:
            if s and len(s) >= 4:
                _protected[s] = "***"
        for i in identifiers:
            if i and len(i) >= 4:
                _protected[i] = mask(i) or "…"
