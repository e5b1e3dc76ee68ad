"""Signature Version 4 as botocore computes it, for servers that must check a request's signature themselves (the
Wasabi stand-in checks its ``MOVE`` requests so)."""

from __future__ import annotations

from collections.abc import Mapping

from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials


def s3_signature(access_key_id: str, secret_access_key: str, *, method: str, url: str,
                 headers: Mapping[str, str], timestamp: str, region: str) -> str:
    """The SigV4 signature (hex) an S3 client holding this key would send for a request with ``headers`` (the
    signed ones) at ``timestamp`` (``X-Amz-Date``) in ``region``."""
    request = AWSRequest(method=method, url=url, headers=dict(headers))
    request.context["timestamp"] = timestamp
    auth = S3SigV4Auth(Credentials(access_key_id, secret_access_key), "s3", region)
    return str(auth.signature(auth.string_to_sign(request, auth.canonical_request(request)), request))
