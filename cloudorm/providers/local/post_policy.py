"""S3's browser uploads (a form POST with a signed policy, what ``bucket.upload_url`` makes) checked on the local
cloud as S3 checks them: moto 5 stores whatever a form POST sends, without looking at its policy.

``refusal(environ, bucket)`` reads the form (``multipart/form-data``) and answers as S3 would, or None to let moto
store the file: a policy that is not base64 JSON with an ``expiration`` and ``conditions`` is ``400
InvalidPolicyDocument``; a signature (SigV4's ``x-amz-signature``, or SigV2's ``signature``) that does not match is
``403 SignatureDoesNotMatch`` when the local cloud knows the key's secret (its own ``testing`` key, or an access key
made through its IAM: any other key is accepted, as everywhere on the local cloud); an expired policy, a field
failing its ``eq`` / ``starts-with`` condition, or a field no condition names is ``403 AccessDenied`` ("Invalid
according to Policy: ..."); a file outside ``content-length-range`` is ``400 EntityTooSmall`` / ``EntityTooLarge``
with the proposed and allowed sizes. A form without a policy is an anonymous upload: moto stores it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import io
import json
from datetime import datetime, timezone
from typing import Any

import attrs
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

_EXEMPT = frozenset({"policy", "x-amz-signature", "file", "signature", "awsaccesskeyid"})
"""Form fields no condition needs to name (``x-ignore-*`` too)."""


@attrs.frozen
class Refusal:
    """S3's error answer to a form upload: HTTP status line, error code, message and extra elements."""

    status: str
    code: str
    message: str
    details: dict[str, str] = attrs.field(factory=dict)


def is_form_upload(environ: dict[str, Any]) -> bool:
    """Whether the request is a browser upload: a POST of ``multipart/form-data`` without an Authorization header
    (its credentials are form fields) to a bucket (``/bucket`` path-style, ``/`` at a virtual host)."""
    return (environ.get("REQUEST_METHOD") == "POST" and not environ.get("HTTP_AUTHORIZATION")
            and str(environ.get("CONTENT_TYPE") or "").lower().startswith("multipart/form-data")
            and len([part for part in str(environ.get("PATH_INFO") or "/").split("/") if part]) <= 1)


def _denied(message: str) -> Refusal:
    return Refusal("403 Forbidden", "AccessDenied", f"Invalid according to Policy: {message}")


def _invalid(message: str) -> Refusal:
    return Refusal("400 Bad Request", "InvalidPolicyDocument", f"Invalid Policy: {message}")


def refusal(environ: dict[str, Any], body: bytes, bucket: str) -> Refusal | None:
    """S3's refusal of the form upload in ``body`` to ``bucket``, or None when S3 would store it."""
    from werkzeug.formparser import parse_form_data

    _, form, files = parse_form_data({**environ, "wsgi.input": io.BytesIO(body), "CONTENT_LENGTH": str(len(body))})
    fields = {name.lower(): value for name, value in form.items(multi=False) if name.lower() != "file"}
    upload = files.get("file")
    if upload is not None:
        size = upload.stream.seek(0, io.SEEK_END)
    elif "file" in form or "File" in form:
        size = len(str(form.get("file", form.get("File", ""))).encode("utf-8"))
    else:
        return Refusal("400 Bad Request", "InvalidArgument", "POST requires exactly one file upload per request.",
                       {"ArgumentName": "file", "ArgumentValue": "0"})
    if "policy" not in fields:
        return None  # anonymous: a bucket that lets anyone write would take it
    try:
        policy = json.loads(base64.b64decode(fields["policy"], validate=True))
    except (binascii.Error, ValueError):
        return _invalid("Invalid JSON.")
    if not isinstance(policy, dict) or not isinstance(policy.get("conditions"), list):
        return _invalid("'conditions' must be a list.")
    return (_signature_refused(fields) or _expired(policy.get("expiration"))
            or _conditions_refused(policy["conditions"], fields, bucket, size))


def _signature_refused(fields: dict[str, str]) -> Refusal | None:
    """The refusal of a form whose policy signature is missing, or wrong for a key the local cloud knows."""
    policy = fields["policy"]
    if "x-amz-signature" in fields:
        for name in ("x-amz-algorithm", "x-amz-credential", "x-amz-date"):
            if name not in fields:
                return Refusal("400 Bad Request", "InvalidArgument", f"Bucket POST must contain a field named "
                                                                     f"'{name}'. If it is specified, please check the "
                                                                     "order of the fields.")
        if fields["x-amz-algorithm"] != "AWS4-HMAC-SHA256":
            return Refusal("400 Bad Request", "InvalidArgument", "Unsupported algorithm: "
                                                                 f"{fields['x-amz-algorithm']}")
        scope = fields["x-amz-credential"].split("/")
        secret = _secret(scope[0]) if len(scope) == 5 else None
        if secret is None:
            return None
        request = AWSRequest(method="POST", url="http://localhost/")
        request.context["timestamp"] = fields["x-amz-date"]
        expected = SigV4Auth(Credentials(scope[0], secret), scope[3], scope[2]).signature(policy, request)
        given = fields["x-amz-signature"]
    elif "signature" in fields and "awsaccesskeyid" in fields:
        secret = _secret(fields["awsaccesskeyid"])
        if secret is None:
            return None
        digest = hmac.new(secret.encode(), policy.encode(), hashlib.sha1).digest()
        expected, given = base64.b64encode(digest).decode(), fields["signature"]
    else:
        return Refusal("400 Bad Request", "InvalidArgument", "Bucket POST must contain a field named "
                                                             "'AWSAccessKeyId'. If it is specified, please check the "
                                                             "order of the fields.")
    if hmac.compare_digest(str(expected), given):
        return None
    return Refusal("403 Forbidden", "SignatureDoesNotMatch", "The request signature we calculated does not match the "
                                                             "signature you provided. Check your key and signing "
                                                             "method.")


def _secret(access_key_id: str) -> str | None:
    """The secret of ``access_key_id`` when the local cloud knows it: its own default key, or an IAM user's key."""
    from cloudorm.providers.local import LOCAL_CREDENTIALS

    if access_key_id == LOCAL_CREDENTIALS.access_key_id:
        return LOCAL_CREDENTIALS.secret_access_key
    from moto.iam.models import iam_backends

    for partitions in list(iam_backends.values()):
        for backend in list(partitions.values()):
            for user in list(backend.users.values()):
                for key in user.access_keys:
                    if key.access_key_id == access_key_id:
                        return str(key.secret_access_key)
    return None


def _expired(expiration: Any) -> Refusal | None:
    """The refusal of a policy whose ``expiration`` (ISO 8601, UTC) is past or unreadable."""
    try:
        when = datetime.fromisoformat(str(expiration).replace("Z", "+00:00"))
    except ValueError:
        return _invalid(f"Invalid 'expiration' value: '{expiration}'")
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return _denied("Policy expired.") if when <= datetime.now(timezone.utc) else None


def _conditions_refused(conditions: list[Any], fields: dict[str, str], bucket: str, size: int) -> Refusal | None:
    """The refusal of a form failing one of the policy's ``conditions`` (in their order), naming a field no condition
    names, or whose file's ``size`` is outside ``content-length-range``."""
    values = {**fields, "bucket": bucket}
    named: set[str] = set()
    size_range: tuple[int, int] | None = None
    for condition in conditions:
        if isinstance(condition, dict) and len(condition) == 1:
            (name, value), = condition.items()
            condition = ["eq", f"${name}", value]
        if not isinstance(condition, list) or len(condition) != 3:
            return _invalid(f"Invalid Condition: {json.dumps(condition)}")
        operator = str(condition[0]).lower()
        if operator == "content-length-range":
            try:
                size_range = (int(condition[1]), int(condition[2]))
            except (TypeError, ValueError):
                return _invalid(f"Invalid content-length-range: {json.dumps(condition)}")
            continue
        name, value = condition[1], condition[2]
        if operator not in ("eq", "starts-with") or not isinstance(name, str) or not name.startswith("$") \
                or not isinstance(value, str):
            return _invalid(f"Invalid Condition: {json.dumps(condition)}")
        field = name[1:].lower()
        named.add(field)
        given = values.get(field, "")
        if not (given == value if operator == "eq" else given.startswith(value)):
            return _denied(f"Policy Condition failed: {json.dumps(condition)}")
    extra = sorted(f for f in fields if f not in named and f not in _EXEMPT and not f.startswith("x-ignore-"))
    if extra:
        return _denied(f"Extra input fields: {', '.join(extra)}")
    if size_range is not None and size < size_range[0]:
        return Refusal("400 Bad Request", "EntityTooSmall", "Your proposed upload is smaller than the minimum "
                                                            "allowed size",
                       {"ProposedSize": str(size), "MinSizeAllowed": str(size_range[0])})
    if size_range is not None and size > size_range[1]:
        return Refusal("400 Bad Request", "EntityTooLarge", "Your proposed upload exceeds the maximum allowed size",
                       {"ProposedSize": str(size), "MaxSizeAllowed": str(size_range[1])})
    return None
