"""S3 conditional writes on the local cloud refused atomically, as S3 does: ``If-None-Match: *`` (write only if the key
does not exist) and ``If-Match: <etag>`` (only if it holds that version).

moto checks PutObject's conditions and CompleteMultipartUpload's ``If-None-Match: *`` as a step separate from the
write, with no lock, so two writers racing on one new key can both pass the check and the second silently replaces
the first; it ignores both conditions on CopyObject, and ``x-amz-copy-source-if-match`` on CopyObject and
UploadPartCopy (a copy pinned to the source's version copies whatever is there). ``ConditionalS3`` runs every S3
request that can create, replace or delete an object under one lock (one per process, as moto's S3 state is), and
checks a CopyObject's conditions on its target, and a copy's ``x-amz-copy-source-if-match`` on its source, under that
lock, in moto's S3 backend, before moto copies: a check and its write are one step for every other writer of the
process, conditional or not (moto's own ``If-Match`` check of a DeleteObject is then atomic too). A condition that
does not hold is answered as S3 answers it: ``412 PreconditionFailed`` (``NoSuchKey`` for ``If-Match`` on a missing
key), nothing written.

Browser uploads (a form POST) are writes too, applied under the lock once ``post_policy`` found their policy holds
(moto checks none of it). Reads, UploadPart (large bodies, and it creates no object; an UploadPartCopy pinned to its
source is locked) and other services' requests pass untouched; the locked requests' bodies are read before the lock
is taken, so a slow client never holds it.
"""

from __future__ import annotations

import base64
import io
import os
import threading
import uuid
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse
from xml.sax.saxutils import escape

from cloudorm.providers.local.guard import WSGIApp, signing_service
from cloudorm.providers.local.post_policy import is_form_upload
from cloudorm.providers.local.post_policy import refusal as post_refusal
from cloudorm.providers.local.wsgi import Answer, collect, read_body

_WRITES = ("PUT", "POST", "DELETE")
_SUBRESOURCES = ("uploadId", "partNumber", "retention", "legal-hold", "acl", "tagging")
"""Query parameters of PUTs on a key that are not CopyObject even with ``x-amz-copy-source`` (UploadPartCopy, ...)."""
_PROCESS_LOCK = threading.Lock()
"""Held around every S3 object write of the process (moto's S3 state is one per process)."""


class ConditionalS3:
    """WSGI middleware applying S3 object writes to ``app`` (moto) one at a time and honouring CopyObject's
    ``If-None-Match: *`` and ``If-Match`` on its target, and ``x-amz-copy-source-if-match`` on a copy's source."""

    def __init__(self, app: WSGIApp) -> None:
        """Wrap ``app``; reads and other services' requests pass through untouched."""
        self.app = app
        self._lock = _PROCESS_LOCK

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        query = parse_qs(environ.get("QUERY_STRING") or "", keep_blank_values=True)
        form = is_form_upload(environ)
        if not form and not _writes_objects(environ, query):
            return self.app(environ, start_response)
        body = read_body(environ)  # before locking: a slow client never holds the lock
        if form:  # a browser upload: its policy is checked as S3 checks it (moto does not)
            refusal = post_refusal(environ, body, _target(environ)[1])
            if refusal is not None:
                answer = _error(refusal.status, refusal.code, refusal.message, **refusal.details)
                start_response(answer.status, answer.headers)
                return [answer.body]
        with self._lock:
            refused = _source_refused(environ) if environ.get("HTTP_X_AMZ_COPY_SOURCE_IF_MATCH") else None
            if refused is None and _conditional_copy(environ, query):
                refused = _copy_refused(environ)
            answer = refused or collect(self.app, environ)
        start_response(answer.status, answer.headers)
        return [answer.body]


def _writes_objects(environ: dict[str, Any], query: dict[str, list[str]]) -> bool:
    """Whether the request is an S3 write that may create, replace or delete an object (UploadPart does not), or an
    UploadPartCopy pinned to its source's version (no body: its check and copy are one step too)."""
    return (environ.get("REQUEST_METHOD") in _WRITES and signing_service(environ) == "s3"
            and (not ("partNumber" in query and "uploadId" in query)
                 or bool(environ.get("HTTP_X_AMZ_COPY_SOURCE") and environ.get("HTTP_X_AMZ_COPY_SOURCE_IF_MATCH"))))


def _conditional_copy(environ: dict[str, Any], query: dict[str, list[str]]) -> bool:
    """Whether the request is a CopyObject with a condition on its target."""
    return (environ.get("REQUEST_METHOD") == "PUT" and bool(environ.get("HTTP_X_AMZ_COPY_SOURCE"))
            and not any(name in query for name in _SUBRESOURCES)
            and (environ.get("HTTP_IF_NONE_MATCH") == "*" or bool(environ.get("HTTP_IF_MATCH"))))


def _copy_refused(environ: dict[str, Any]) -> Answer | None:
    """S3's answer to a CopyObject whose target condition does not hold (checked in moto's S3 backend); None when
    it holds, or when the bucket does not exist (moto answers ``NoSuchBucket``)."""
    from moto.s3.exceptions import MissingBucket

    backend, bucket, key = _target(environ)
    try:
        existing = backend.get_object(bucket, key)
    except MissingBucket:
        return None
    if environ.get("HTTP_IF_NONE_MATCH") == "*" and existing is not None:
        return _error("412 Precondition Failed", "PreconditionFailed",
                      "At least one of the pre-conditions you specified did not hold", Condition="If-None-Match")
    if_match = environ.get("HTTP_IF_MATCH")
    if if_match and existing is None:
        return _error("404 Not Found", "NoSuchKey", "The specified key does not exist.", Key=key)
    if if_match and if_match.strip('"') != str(existing.etag).strip('"'):
        return _error("412 Precondition Failed", "PreconditionFailed",
                      "At least one of the pre-conditions you specified did not hold", Condition="If-Match")
    return None


def _source_refused(environ: dict[str, Any]) -> Answer | None:
    """S3's ``412`` to a copy (CopyObject, UploadPartCopy) whose source does not have the ETag its
    ``x-amz-copy-source-if-match`` names; None when it has, or when moto answers (no such bucket or key)."""
    from moto.s3.exceptions import MissingBucket, MissingKey

    source = urlparse(environ.get("HTTP_X_AMZ_COPY_SOURCE") or "")
    bucket, _, key = unquote(source.path).lstrip("/").partition("/")
    version = parse_qs(source.query).get("versionId", [None])[0]
    try:
        existing = _target(environ)[0].get_object(bucket, key, version_id=version)
    except (MissingBucket, MissingKey):
        return None
    wanted = str(environ.get("HTTP_X_AMZ_COPY_SOURCE_IF_MATCH"))
    if existing is None or wanted == "*" or wanted.strip('"') == str(existing.etag).strip('"'):
        return None
    return _error("412 Precondition Failed", "PreconditionFailed",
                  "At least one of the pre-conditions you specified did not hold",
                  Condition="x-amz-copy-source-If-Match")


def _target(environ: dict[str, Any]) -> tuple[Any, str, str]:
    """(moto's S3 backend, bucket, key) the request writes, read as moto reads them: its account (access key or
    ``x-moto-account-id``), path-style ``/bucket/key`` or virtual-hosted ``bucket.localhost``, access points."""
    from moto.core.request import Request
    from moto.s3.responses import S3Response

    probe = {k: v for k, v in environ.items() if k not in ("HTTP_X_AMZ_CONTENT_SHA256", "HTTP_CONTENT_ENCODING")}
    probe["wsgi.input"], probe["CONTENT_LENGTH"] = io.BytesIO(), "0"  # the body is moto's, for the write
    parsed = S3Response()
    parsed.setup_class(Request(probe))
    return parsed.backend, parsed.bucket_name, parsed.parse_key_name()


def _error(status: str, code: str, message: str, **details: str) -> Answer:
    """S3's XML error answer."""
    request_id = uuid.uuid4().hex[:16].upper()
    host_id = base64.b64encode(os.urandom(48)).decode()
    fields = "".join(f"<{k}>{escape(v)}</{k}>" for k, v in details.items())
    body = (f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code><Message>{escape(message)}</Message>'
            f"{fields}<RequestId>{request_id}</RequestId><HostId>{host_id}</HostId></Error>").encode()
    return Answer(status, [("Content-Type", "application/xml"), ("Content-Length", str(len(body))),
                           ("x-amz-request-id", request_id), ("x-amz-id-2", host_id)], body)
