"""What S3 requests carry and answers say: the arguments of uploads and copies, object information in cloudorm's
names, the comparisons that tell whether a HEAD shows a given write, and website endpoints."""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Sequence
from typing import Any, cast
from urllib.parse import urlencode

from botocore.loaders import create_loader

from cloudorm.providers.contract import ObjectInfo, Wire
from cloudorm.storage.transfer import Properties

DELETE_BATCH = 1000
"""Keys per DeleteObjects request (S3's maximum)."""

# S3's website endpoints use a dash before the region in the regions opened before 2014, a dot in every region since.
# This is a closed historical set (no new region will join it), not a list of regions cloudorm supports.
DASH_WEBSITE_REGIONS = frozenset({"us-east-1", "us-west-1", "us-west-2", "eu-west-1", "ap-southeast-1",
                                  "ap-southeast-2", "ap-northeast-1", "sa-east-1", "us-gov-west-1"})


@functools.cache
def _dns_suffix(region: str) -> str:
    """The DNS suffix of the AWS partition ``region`` belongs to (``amazonaws.com``, ``amazonaws.com.cn`` ...)."""
    for partition in create_loader().load_data("endpoints")["partitions"]:
        if region in partition.get("regions", {}) or re.match(partition.get("regionRegex", "$^"), region):
            return str(partition["dnsSuffix"])
    return "amazonaws.com"


KEPT = ("ContentType", "CacheControl", "ContentDisposition", "ContentEncoding", "ContentLanguage", "Expires",
        "WebsiteRedirectLocation", "StorageClass", "ServerSideEncryption", "SSEKMSKeyId")
"""What a copy carries over from the source's HeadObject, besides its metadata (and its tags, read apart)."""

CONDITIONAL = ("PutObject", "CopyObject", "CompleteMultipartUpload")
"""The requests that write an object: they carry ``If-None-Match: *`` (or ``If-Match: <etag>``) when the write is
conditional on what the key holds (``S3StorageService._only_if``)."""

REPLACED = ("ContentType", "CacheControl", "ContentDisposition", "ContentEncoding", "ContentLanguage", "Expires",
            "StorageClass", "Metadata")
"""What ``Properties`` sets on an object: a ``replace`` writes these and keeps the rest of the copy's arguments."""


def copy_args(head: Wire, tags: Sequence[Wire]) -> Wire:
    """s3transfer's ``extra_args`` for a copy keeping every stored property of the source at any size: headers,
    metadata, storage class and encryption from its HeadObject, ``tags`` from its GetObjectTagging (s3transfer
    sends them with a single CopyObject, or puts them on the target after a multipart copy)."""
    args: Wire = {name: head[name] for name in KEPT if head.get(name) is not None}
    args.update(Metadata=dict(head.get("Metadata") or {}), MetadataDirective="REPLACE")
    if tags:  # (without, a CopyObject copies the source's tags: none, and a multipart copy puts none)
        args.update(Tagging=urlencode([(t["Key"], t["Value"]) for t in tags]), TaggingDirective="REPLACE")
    return args


def upload_args(properties: Properties) -> Wire:
    """s3transfer's ``extra_args`` storing ``properties`` with an uploaded object."""
    given = {"ContentType": properties.content_type, "CacheControl": properties.cache_control,
             "ContentDisposition": properties.content_disposition, "ContentEncoding": properties.content_encoding,
             "ContentLanguage": properties.content_language, "Expires": properties.expires,
             "StorageClass": properties.storage_class, "Metadata": properties.metadata or None,
             "Tagging": urlencode(list(properties.tags.items())) if properties.tags else None}
    return {name: value for name, value in given.items() if value is not None}


def same_object(source: Wire, target: Wire) -> bool:
    """Whether the HeadObject of ``target`` shows what a copy of ``source`` writes: the same size, content type,
    metadata and storage class, and the same ETag where both are plain MD5s (a multipart copy gets a new one, and so
    does any copy encrypted with KMS or a customer's key, whose ETag is no MD5)."""
    def plain(etag: Any) -> bool:
        return isinstance(etag, str) and "-" not in etag and not any(
            str(head.get("ServerSideEncryption") or "").startswith("aws:kms") or head.get("SSECustomerAlgorithm")
            for head in (source, target))

    if plain(source.get("ETag")) and plain(target.get("ETag")) and source["ETag"] != target["ETag"]:
        return False
    return all(source.get(name) == target.get(name) for name in ("ContentLength", "ContentType", "Metadata")) and \
        source.get("StorageClass", "STANDARD") == target.get("StorageClass", "STANDARD")


def object_info(key: str, raw: Wire, head: bool = False) -> ObjectInfo:
    """Object information from a listing entry or a ``head`` response, in cloudorm's names."""
    out: Wire = {"key": key}
    size = raw.get("Size", raw.get("ContentLength"))
    if size is not None:
        out["size"] = int(size)
    if raw.get("ETag") is not None:
        out["etag"] = str(raw["ETag"]).strip('"')
    if raw.get("LastModified") is not None:
        out["last_modified"] = raw["LastModified"]
    if head:  # a server may send no Content-Type: None, not a reason for another HEAD
        out["content_type"] = raw.get("ContentType")
        out["metadata"] = dict(raw.get("Metadata") or {})
        for name, wire in (("cache_control", "CacheControl"), ("content_disposition", "ContentDisposition"),
                           ("content_encoding", "ContentEncoding"), ("content_language", "ContentLanguage"),
                           ("expires", "Expires")):
            out[name] = raw.get(wire)
        out["storage_class"] = raw.get("StorageClass") or "STANDARD"  # S3 names no class for STANDARD
    return cast(ObjectInfo, out)


def wrote(head: Wire, data: bytes, properties: Properties) -> bool:
    """Whether the HeadObject ``head`` shows ``data`` stored with ``properties``."""
    etag = str(head.get("ETag", "")).strip('"')
    if etag and "-" not in etag and etag != hashlib.md5(data, usedforsecurity=False).hexdigest():
        return False
    return shows(head, len(data), properties)


def shows(head: Wire, size: int, properties: Properties) -> bool:
    """Whether the HeadObject ``head`` shows ``size`` bytes stored with ``properties``' content type, metadata and
    storage class."""
    return head.get("ContentLength") == size and head.get("ContentType") == properties.content_type and \
        dict(head.get("Metadata") or {}) == {k.lower(): v for k, v in properties.metadata.items()} and \
        head.get("StorageClass", "STANDARD") == (properties.storage_class or "STANDARD")
