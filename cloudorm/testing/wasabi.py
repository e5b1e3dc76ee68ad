"""A stand-in for Wasabi's S3 endpoint: moto's S3 plus Wasabi's ``MOVE`` rename, on 127.0.0.1.

``WasabiEmulator`` forwards every S3 request to an upstream moto server (with ``FaultProxy``'s optional fault
injection) and answers ``MOVE /{bucket}/{key}`` itself the way Wasabi documents it: the request must be SigV4-signed
by the configured key, carry ``Destination`` and may carry ``Overwrite``, ``X-Wasabi-Quiet`` and
``X-Wasabi-Prefix``. The move is done on the upstream with a copy keeping every stored property and a delete.
Every MOVE is kept in ``moves``; the first ``drop_moves`` MOVEs are applied and their answer lost (the connection
closes), as ``FaultProxy``'s ``drop_after`` does. Answers carry no ``x-amz-tagging-count`` (Wasabi does not
document it on HeadObject/GetObject): a client must read an object's tags to know whether it has any.

    with WasabiEmulator(moto_url, key_id, secret) as wasabi:
        s = cloudorm.Session("wasabi", creds=..., endpoint_url=wasabi.url)
"""

from __future__ import annotations

import re
import threading
import uuid
from typing import Any
from urllib.parse import unquote, urlsplit
from xml.sax.saxutils import escape

import attrs
import boto3
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from cloudorm.testing.fault_proxy import FaultProxy
from cloudorm.testing.proxy_http import ProxyHandler

__all__ = ["Move", "WasabiEmulator"]

_AUTH = re.compile(r"AWS4-HMAC-SHA256 Credential=(?P<key>[^/]+)/(?P<date>\d{8})/(?P<region>[^/]+)/s3/aws4_request,"
                   r"\s*SignedHeaders=(?P<signed>[^,]+),\s*Signature=(?P<signature>[0-9a-f]{64})")
FLAGS = ("Overwrite", "X-Wasabi-Quiet", "X-Wasabi-Prefix")
"""The boolean MOVE headers Wasabi documents (besides the required ``Destination``)."""


class _Refused(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


@attrs.frozen
class Move:
    """One MOVE request the emulator received: the source, the headers it carried, and what it renamed."""

    bucket: str
    key: str
    headers: dict[str, str]
    renamed: tuple[tuple[str, str], ...]


class WasabiEmulator(FaultProxy):
    """moto's S3 behind Wasabi's rename extension; fault injection as in ``FaultProxy`` for other requests."""

    def __init__(self, upstream: str, access_key_id: str, secret_access_key: str, *, drop_moves: int = 0,
                 **faults: Any) -> None:
        """Serve ``upstream`` (a moto server URL); MOVEs must be signed with this key. The first ``drop_moves``
        MOVEs are applied, then their connection is closed without an answer."""
        super().__init__(upstream, **faults)
        self.drop_moves = drop_moves
        self._credentials = Credentials(access_key_id, secret_access_key)
        self._upstream_s3 = boto3.client(
            "s3", endpoint_url=upstream, region_name="us-east-1", aws_access_key_id=access_key_id,
            aws_secret_access_key=secret_access_key,
            config=Config(request_checksum_calculation="when_required", response_checksum_validation="when_required"))
        self._moves: list[Move] = []
        self._moves_lock = threading.Lock()

    @property
    def moves(self) -> list[Move]:
        """Every MOVE received so far, oldest first."""
        with self._moves_lock:
            return list(self._moves)

    def _handle(self, handler: ProxyHandler) -> None:
        if handler.command != "MOVE":
            super()._handle(handler)
            return
        self._count("requests")
        handler.read_body()
        bucket, _, key = unquote(urlsplit(handler.path).path).lstrip("/").partition("/")
        headers = {name: value for name, value in handler.headers.items()}
        problem = self._check_signature(handler) or self._check_headers(headers, key)
        if problem:
            status, code, message = problem
            self._error(handler, status, code, message, f"/{bucket}/{key}")
            return
        flags = {name: headers.get(name, "false").lower() == "true" for name in FLAGS}
        try:
            renamed = self._move(bucket, key, headers["Destination"], overwrite=flags["Overwrite"],
                                 prefix=flags["X-Wasabi-Prefix"])
        except _Refused as e:
            self._error(handler, e.status, e.code, e.message, f"/{bucket}/{key}")
            return
        except ClientError as e:
            err = e.response.get("Error", {})
            status = int(e.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 500)
            code = "NoSuchKey" if status == 404 else str(err.get("Code"))
            message = "The specified key does not exist." if status == 404 else str(err.get("Message"))
            self._error(handler, status, code, message, f"/{bucket}/{key}")
            return
        with self._moves_lock:
            self._moves.append(Move(bucket, key, headers, tuple(renamed)))
            drop = len(self._moves) <= self.drop_moves
        if drop:
            self._count("drop_after")
            handler.drop()
            return
        rows = "" if flags["X-Wasabi-Quiet"] else "".join(
            f"<Renamed><Key>{escape(old)}</Key><NewKey>{escape(new)}</NewKey></Renamed>" for old, new in renamed)
        body = f'<?xml version="1.0" encoding="UTF-8"?>\n<MoveResult>{rows}</MoveResult>'.encode()
        handler.send_full_response(200, None, [("Content-Type", "application/xml"),
                                               ("x-amz-request-id", uuid.uuid4().hex.upper())], body)

    def _forward(self, handler: ProxyHandler, body: bytes, framed: bool, trailers: list[tuple[str, str]],
                 held: dict[str, list[Any]] | None) -> tuple[int, str, list[tuple[str, str]], bytes]:
        status, reason, headers, resp_body = super()._forward(handler, body, framed, trailers, held)
        return status, reason, [(k, v) for k, v in headers if k.lower() != "x-amz-tagging-count"], resp_body

    def _check_signature(self, handler: ProxyHandler) -> tuple[int, str, str] | None:
        """Recompute the request's SigV4 signature with the known secret, as Wasabi would."""
        match = _AUTH.fullmatch(handler.headers.get("Authorization", ""))
        if match is None:
            return 403, "AccessDenied", "MOVE requests must be signed with AWS Signature Version 4"
        if match["key"] != self._credentials.access_key:
            return 403, "InvalidAccessKeyId", "The AWS Access Key Id you provided does not exist in our records."
        signed = match["signed"].split(";")
        request = AWSRequest(method="MOVE", url=f"http://{handler.headers['Host']}{handler.path}",
                             headers={name: handler.headers.get(name, "") for name in signed})
        request.context["timestamp"] = handler.headers.get("X-Amz-Date", "")
        auth = S3SigV4Auth(self._credentials, "s3", match["region"])
        string_to_sign = auth.string_to_sign(request, auth.canonical_request(request))
        if auth.signature(string_to_sign, request) != match["signature"]:
            return 403, "SignatureDoesNotMatch", "The request signature we calculated does not match"
        return None

    @staticmethod
    def _check_headers(headers: dict[str, str], key: str) -> tuple[int, str, str] | None:
        if not key:
            return 400, "InvalidRequest", "MOVE needs an object key in the URL"
        if not headers.get("Destination"):
            return 400, "InvalidRequest", "MOVE needs a Destination header"
        for name in FLAGS:
            if headers.get(name, "false").lower() not in ("true", "false"):
                return 400, "InvalidArgument", f"{name} must be true or false"
        return None

    def _move(self, bucket: str, key: str, destination: str, *, overwrite: bool, prefix: bool) -> list[tuple[str, str]]:
        s3 = self._upstream_s3
        if prefix:
            pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=key)
            pairs = [(o["Key"], destination + o["Key"][len(key):]) for page in pages for o in page.get("Contents", [])]
        else:
            s3.head_object(Bucket=bucket, Key=key)  # NoSuchKey as a 404 when the source is missing
            pairs = [(key, destination)]
        if not overwrite:
            for _, new in pairs:
                try:
                    s3.head_object(Bucket=bucket, Key=new)
                except ClientError:
                    continue
                raise _Refused(409, "ObjectAlreadyExists", f"{new} exists and Overwrite is false")
        for old, new in pairs:  # Wasabi's MOVE keeps everything: moto's copy drops the storage class unless told
            kept: dict[str, Any] = {}
            storage = s3.head_object(Bucket=bucket, Key=old).get("StorageClass")
            if storage:
                kept["StorageClass"] = storage
            s3.copy_object(Bucket=bucket, Key=new, CopySource={"Bucket": bucket, "Key": old},
                           MetadataDirective="COPY", TaggingDirective="COPY", **kept)
            s3.delete_object(Bucket=bucket, Key=old)
        return pairs

    @staticmethod
    def _error(handler: ProxyHandler, status: int, code: str, message: str, resource: str) -> None:
        request_id = uuid.uuid4().hex.upper()
        body = (f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{escape(code)}</Code>'
                f"<Message>{escape(message)}</Message><Resource>{escape(resource)}</Resource>"
                f"<RequestId>{request_id}</RequestId></Error>").encode()
        handler.send_full_response(status, None, [("Content-Type", "application/xml"),
                                                  ("x-amz-request-id", request_id)], body)
