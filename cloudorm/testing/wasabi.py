"""A stand-in for Wasabi's S3 endpoint: moto's S3 plus Wasabi's ``MOVE`` rename, on 127.0.0.1.

``WasabiEmulator`` forwards every S3 request to an upstream moto server (with ``FaultProxy``'s optional fault
injection) and answers ``MOVE /{bucket}/{key}`` itself the way Wasabi documents it: the request must be SigV4-signed
by the configured key, carry ``Destination`` and may carry ``Overwrite``, ``X-Wasabi-Quiet`` and
``X-Wasabi-Prefix``. The move is done on the upstream with a copy keeping every stored property and a delete. A
prefix MOVE renames every object under the prefix, each on its own: one whose target exists without ``Overwrite``
stays and is an ``<Error>`` row of the answer (the others are ``<Renamed>`` rows, left out with ``X-Wasabi-Quiet``).
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

import cloudorm
from cloudorm import errors as ce
from cloudorm.providers.aws.signing import s3_signature
from cloudorm.providers.contract.storage import keys_under
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
        self._key = (access_key_id, secret_access_key)
        creds = {"aws_access_key_id": access_key_id, "aws_secret_access_key": secret_access_key,
                 "region": "us-east-1"}
        self._upstream = cloudorm.Session("aws", creds=creds, endpoint_url=upstream).storage
        """The upstream's storage service: what a MOVE does there goes through cloudorm's own copy and delete."""
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
            outcomes = self._move(bucket, key, headers["Destination"], overwrite=flags["Overwrite"],
                                  prefix=flags["X-Wasabi-Prefix"])
        except _Refused as e:
            self._error(handler, e.status, e.code, e.message, f"/{bucket}/{key}")
            return
        except ce.CloudError as e:
            missing = isinstance(e, ce.NotFound)
            self._error(handler, 404 if missing else e.status or 500,
                        "NoSuchKey" if missing else e.code or "InternalError",
                        "The specified key does not exist." if missing else e.message, f"/{bucket}/{key}")
            return
        renamed = tuple((old, new) for old, new, refusal in outcomes if refusal is None)
        with self._moves_lock:
            self._moves.append(Move(bucket, key, headers, renamed))
            drop = len(self._moves) <= self.drop_moves
        if drop:
            self._count("drop_after")
            handler.drop()
            return
        quiet = flags["X-Wasabi-Quiet"]
        rows = "".join(
            f"<Error><Key>{escape(old)}</Key><NewKey>{escape(new)}</NewKey><Code>{escape(refusal[0])}</Code>"
            f"<Message>{escape(refusal[1])}</Message></Error>" if refusal is not None else "" if quiet else
            f"<Renamed><Key>{escape(old)}</Key><NewKey>{escape(new)}</NewKey></Renamed>"
            for old, new, refusal in outcomes)
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
        if match["key"] != self._key[0]:
            return 403, "InvalidAccessKeyId", "The AWS Access Key Id you provided does not exist in our records."
        signature = s3_signature(*self._key, method="MOVE", url=f"http://{handler.headers['Host']}{handler.path}",
                                 headers={name: handler.headers.get(name, "") for name in match["signed"].split(";")},
                                 timestamp=handler.headers.get("X-Amz-Date", ""), region=match["region"])
        if signature != match["signature"]:
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

    def _move(self, bucket: str, key: str, destination: str, *, overwrite: bool,
              prefix: bool) -> list[tuple[str, str, tuple[str, str] | None]]:
        """Do a MOVE on the upstream: (key, new key, refusal code and message or None) per object. One key: its
        target existing without ``Overwrite`` refuses the whole request (409). A prefix: each object under it is
        renamed unless its own target exists without ``Overwrite``, which is an error row for that key alone."""
        storage = self._upstream

        def exists(target: str) -> bool:
            try:
                storage.head_object(bucket, target)
            except ce.NotFound:
                return False
            return True

        if prefix:
            pairs = [(old, destination + old[len(key):]) for old in keys_under(storage, bucket, key)]
        else:
            storage.head_object(bucket, key)  # NotFound (NoSuchKey, 404) when the source is missing
            pairs = [(key, destination)]
            if not overwrite and exists(destination):
                raise _Refused(409, "ObjectAlreadyExists", f"{destination} exists and Overwrite is false")
        out: list[tuple[str, str, tuple[str, str] | None]] = []
        for old, new in pairs:  # Wasabi's MOVE keeps everything, as cloudorm's copy does (storage class, tags...)
            if prefix and not overwrite and exists(new):
                out.append((old, new, ("ObjectAlreadyExists", f"{new} exists and Overwrite is false")))
                continue
            storage.copy(bucket, old, bucket, new, overwrite=True)
            storage.delete_object(bucket, old)
            out.append((old, new, None))
        return out

    @staticmethod
    def _error(handler: ProxyHandler, status: int, code: str, message: str, resource: str) -> None:
        request_id = uuid.uuid4().hex.upper()
        body = (f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{escape(code)}</Code>'
                f"<Message>{escape(message)}</Message><Resource>{escape(resource)}</Resource>"
                f"<RequestId>{request_id}</RequestId></Error>").encode()
        handler.send_full_response(status, None, [("Content-Type", "application/xml"),
                                                  ("x-amz-request-id", request_id)], body)
