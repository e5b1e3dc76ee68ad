"""S3 single-object reads and deletes: listing, HEAD, GET (whole, ranged, resuming stream), DeleteObject,
presigned URLs."""

from __future__ import annotations

import io
from typing import Any

from botocore import exceptions as bx

from cloudorm.providers.aws.s3_base import S3Base
from cloudorm.providers.aws.s3_stream import STREAM_ERRORS, Stream
from cloudorm.providers.aws.s3_wire import object_info
from cloudorm.providers.contract import ObjectInfo, Wire


class S3Objects(S3Base):
    """Object reads, deletes and presigning of the S3 service."""

    def list_objects(self, bucket: str, prefix: str, delimiter: str | None, start: str | None,
                     limit: int | None) -> tuple[list[ObjectInfo], list[str], str | None]:
        """One ListObjectsV2 page: objects, common prefixes and the continuation token."""
        params: Wire = {"Bucket": bucket, "Prefix": prefix}
        if delimiter:
            params["Delimiter"] = delimiter
        if start:
            params["ContinuationToken"] = start
        if limit:
            params["MaxKeys"] = min(limit, 1000)
        r = self._call("ListObjectsV2", bucket, None, **params)
        objects = [object_info(o["Key"], o) for o in r.get("Contents", [])]
        prefixes = [p["Prefix"] for p in r.get("CommonPrefixes", [])]
        token = r.get("NextContinuationToken") if r.get("IsTruncated") else None
        return objects, prefixes, token

    def head_object(self, bucket: str, key: str) -> ObjectInfo:
        """HeadObject: size, etag, last_modified, content_type, metadata, the other stored headers, storage_class."""
        return object_info(key, self._call("HeadObject", bucket, key, Bucket=bucket, Key=key), head=True)

    def download(self, bucket: str, key: str, start: int | None = None, end: int | None = None) -> bytes:
        """GetObject (of a byte range when asked), read whole; a body cut short is fetched again."""
        params: Wire = {"Bucket": bucket, "Key": key}
        if start is not None:
            params["Range"] = f"bytes={start}" if start < 0 else f"bytes={start}-{'' if end is None else end}"
        last: Exception | None = None
        for _ in range(self.clients.options.max_attempts):
            body = self._call("GetObject", bucket, key, **params)["Body"]
            try:
                data: bytes = body.read()
                return data
            except STREAM_ERRORS as e:
                last = e
            finally:
                body.close()
        assert last is not None
        raise self._error(last, "GetObject", bucket, key)

    def open(self, bucket: str, key: str) -> io.RawIOBase:
        """GetObject, its body as a raw stream that resumes a lost connection where it stopped."""
        def get(position: int, etag: str | None) -> Wire:
            params: Wire = {"Bucket": bucket, "Key": key}
            if position:
                params["Range"] = f"bytes={position}-"
            if etag:
                params["IfMatch"] = etag
            response: Wire = self._call("GetObject", bucket, key, **params)
            return response

        return Stream(get, lambda e: self._error(e, "GetObject", bucket, key), self.clients.options.max_attempts)

    def delete_object(self, bucket: str, key: str) -> None:
        """DeleteObject (S3 answers the same whether or not the key existed)."""
        self._call("DeleteObject", bucket, key, Bucket=bucket, Key=key)

    def presign_get(self, bucket: str, key: str, expires: int, region: str | None = None) -> str:
        """A presigned GetObject URL, signed for the bucket's region (S3 refuses a URL signed for another)."""
        try:
            client = self.clients.client("s3", region)
            url: str = client.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": key},
                                                     ExpiresIn=expires)
        except bx.BotoCoreError as e:
            raise self._error(e, "GetObject", bucket, key) from None
        return url

    def presign_post(self, bucket: str, key: str, expires: int, fields: dict[str, str],
                     conditions: list[Any], region: str | None = None) -> tuple[str, dict[str, str]]:
        """A presigned POST policy for the bucket's region: its URL and form fields."""
        try:
            post = self.clients.client("s3", region).generate_presigned_post(
                bucket, key, Fields=fields, Conditions=conditions, ExpiresIn=expires)
        except bx.BotoCoreError as e:
            raise self._error(e, "PostObject", bucket, key) from None
        return str(post["url"]), dict(post["fields"])
