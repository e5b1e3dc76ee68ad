"""User data on EC2: its size limit, and keeping it (it may carry a node's private host key) out of every log
line and error message, in requests and in DescribeInstanceAttribute's answers."""

from __future__ import annotations

import base64
import re
import urllib.parse
from typing import Any

from cloudorm import errors as ce
from cloudorm.credentials import protect
from cloudorm.providers.contract import Wire

USER_DATA_LIMIT = 16 * 1024
"""EC2 refuses user data above 16 KB (before base64)."""


def hide_user_data(user_data: Any) -> tuple[str, ...]:
    """Check ``user_data`` (cloud-init text or None, at most ``USER_DATA_LIMIT`` bytes: ``InvalidInput`` before any
    request) and protect it as sent; the forms of it to redact from error messages (none for None)."""
    if user_data is None:
        return ()
    if not isinstance(user_data, str):
        raise ce.InvalidInput("user_data", f"must be cloud-init text (str), not {type(user_data).__name__}")
    if len(user_data.encode()) > USER_DATA_LIMIT:
        raise ce.InvalidInput("user_data", f"is {len(user_data.encode())} bytes; EC2 takes at most "
                                           f"{USER_DATA_LIMIT}")
    hidden = user_data_secrets(user_data)
    protect(hidden[:4])  # as sent: botocore's DEBUG log of the request shows these
    return hidden


def user_data_secrets(user_data: str) -> tuple[str, ...]:
    """The forms in which user data (it may carry a private host key) could reach a log line or message: as
    sent (base64, and URL-encoded in the request body) and each of its longer lines."""
    encoded = base64.b64encode(user_data.encode()).decode()
    lines = tuple(line.strip() for line in user_data.splitlines() if len(line.strip()) >= 20)
    return (user_data, encoded, urllib.parse.quote_plus(encoded), urllib.parse.quote(encoded, safe=""), *lines)


def protect_user_data_response(response_dict: Wire, **_: Any) -> None:
    """botocore's ``before-parse`` hook for DescribeInstanceAttribute: user data (a private host key, maybe) in the
    response is protected before botocore's parser logs the body."""
    body = response_dict.get("body") or b""
    if not isinstance(body, bytes) or b"<userData>" not in body:
        return
    found = re.search(rb"<userData>\s*<value>([^<]+)</value>", body)
    if found:
        encoded = found.group(1).decode(errors="replace").strip()
        try:
            text = base64.b64decode(encoded).decode(errors="replace")
        except ValueError:
            text = ""
        protect(user_data_secrets(text) if text else (encoded,))
