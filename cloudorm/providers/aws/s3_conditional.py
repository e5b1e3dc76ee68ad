"""S3 conditional writes and their lost-answer settling: ``put`` with If-None-Match/If-Match, ``replace``
(a copy onto itself pinned to an ETag), ``copy`` and ``rename`` pinned to the source's ETag."""

from __future__ import annotations

from cloudorm import errors as ce
from cloudorm.providers.aws.s3_base import S3Base
from cloudorm.providers.aws.s3_stream import Known
from cloudorm.providers.aws.s3_wire import REPLACED, copy_args, object_info, same_object, shows, upload_args, wrote
from cloudorm.providers.contract import ObjectInfo, Wire
from cloudorm.storage.transfer import Properties, Source


class S3Conditional(S3Base):
    """Conditional writes, copies and renames of the S3 service; a refused re-send of a write that applied is a
    success."""

    def put(self, bucket: str, key: str, data: bytes, properties: Properties, *, if_none_match: bool = False,
            if_match: str | None = None) -> ObjectInfo:
        """Store ``data`` with ``properties`` (through s3transfer: multipart above the threshold), only if the key
        does not exist (``if_none_match``: else ``AlreadyExists``) or still holds the ETag ``if_match`` (else
        ``ConflictError``). Where conditional writes are not honoured a HEAD checks first (a write in between is
        then not seen). A refused write whose key shows this very write (an earlier attempt's, its answer lost) is a
        success. Returns what is known of the object written (its size; its ETag unless written in parts)."""
        condition: Wire = {"IfNoneMatch": "*"} if if_none_match else {"IfMatch": f'"{if_match}"'} if if_match else {}
        if condition and not self.capabilities.conditional_writes:
            self._check_condition(bucket, key, self._head(bucket, key), if_none_match, if_match)
            condition = {}
        try:
            if len(data) <= self.clients.options.multipart_threshold:  # one PutObject, whose answer has the ETag
                r = self._call("PutObject", bucket, key, Bucket=bucket, Key=key, Body=data,
                               **upload_args(properties), **condition)
                written: ObjectInfo = {"key": key, "size": len(data), "etag": str(r["ETag"]).strip('"')}
                return written
            if condition:  # (the local cloud checks no If-Match on CompleteMultipartUpload: a HEAD checks too)
                self._check_condition(bucket, key, self._head(bucket, key), if_none_match, if_match)
            with self._only_if(bucket, key, condition):
                self.upload(bucket, key, Source(data=data, size=len(data)), properties)
        except ce.ConflictError as e:
            if e.code != "PreconditionFailed":
                raise
            found = self._head(bucket, key)
            if found is not None and wrote(found, data, properties):
                return object_info(key, found, head=True)  # an earlier attempt's write, its answer lost
            self._check_condition(bucket, key, found, if_none_match, if_match, e)
            raise
        return {"key": key, "size": len(data)}  # (an ETag of parts is read when needed)

    def _check_condition(self, bucket: str, key: str, head: Wire | None, if_none_match: bool, if_match: str | None,
                         refused: ce.CloudError | None = None) -> None:
        """Raise ``AlreadyExists`` / ``ConflictError`` when ``head`` (the key's HeadObject, None if absent) fails
        a write's condition."""
        details = refused.provider_details() if refused is not None else {"provider": self.provider,
                                                                           "operation": "PutObject"}
        if if_none_match and head is not None:
            raise ce.AlreadyExists(f"object {key!r} exists in bucket {bucket!r}", **details)
        if if_match and (head is None or str(head.get("ETag", "")).strip('"') != if_match):
            now = "is gone" if head is None else "was written"
            raise ce.ConflictError(f"object {key!r} in bucket {bucket!r} {now} since it was read: nothing written "
                                   "(refresh() and save again)", **details)

    def replace(self, bucket: str, key: str, properties: Properties, etag: str) -> ObjectInfo:
        """Give an existing object new ``properties`` (headers, metadata, storage class), keeping its content, tags,
        encryption and website redirect: a managed copy onto itself with ``MetadataDirective=REPLACE``, pinned to
        ``etag`` (``x-amz-copy-source-if-match``): an object written since it was read is ``ConflictError``,
        nothing changed. A copy refused on a re-send after a lost answer is a success when the object shows the new
        properties."""
        head = self._call("HeadObject", bucket, key, Bucket=bucket, Key=key)
        self._check_condition(bucket, key, head, False, etag)
        tags = self._call("GetObjectTagging", bucket, key, Bucket=bucket, Key=key)["TagSet"] \
            if head.get("TagCount") or not self.capabilities.tag_count else []
        args = {k: v for k, v in copy_args(head, tags).items() if k not in REPLACED}
        args.update({k: v for k, v in upload_args(properties).items() if k != "Tagging"},
                    Metadata=dict(properties.metadata), CopySourceIfMatch=head["ETag"])
        try:
            with self._manager() as manager:
                future = manager.copy({"Bucket": bucket, "Key": key}, bucket, key, extra_args=args,
                                      subscribers=[Known(int(head["ContentLength"]), etag)])
                self._wait(future, "CopyObject", bucket, key)
        except ce.ConflictError as e:
            if e.code != "PreconditionFailed":
                raise
            found = self._head(bucket, key)
            if found is None or not shows(found, head["ContentLength"], properties):
                raise ce.ConflictError(f"object {key!r} in bucket {bucket!r} was written since it was read: "
                                       "nothing changed (refresh() and save again)", **e.provider_details()) from None
        return {"key": key}

    def copy(self, bucket: str, key: str, to_bucket: str, to_key: str, overwrite: bool = False) -> None:
        """s3transfer's managed copy (UploadPartCopy above the threshold, so objects over 5 GB copy too) with
        ``copy_args``: every stored property kept at every size. Unless ``overwrite``, an existing target is
        ``AlreadyExists`` (a HEAD first; on S3 the write also carries ``If-None-Match: *``, so a target made in
        between is refused too; elsewhere that race is open). A refused write whose target shows a copy of the
        source (an earlier attempt's, its answer lost) is a success."""
        self._copy(bucket, key, to_bucket, to_key, overwrite)

    def _copy(self, bucket: str, key: str, to_bucket: str, to_key: str, overwrite: bool) -> Wire:
        """``copy``, every write pinned to the source the HEAD saw (``x-amz-copy-source-if-match``): a source
        replaced in between is ``ConflictError``, nothing written. Returns that HEAD."""
        head: Wire = self._call("HeadObject", bucket, key, Bucket=bucket, Key=key)
        tags = self._call("GetObjectTagging", bucket, key, Bucket=bucket, Key=key)["TagSet"] \
            if head.get("TagCount") or not self.capabilities.tag_count else []
        args = copy_args(head, tags)
        if head.get("ETag"):
            args["CopySourceIfMatch"] = head["ETag"]  # s3transfer sends it with CopyObject and every UploadPartCopy
        exists = ce.AlreadyExists(f"object {to_key!r} exists in bucket {to_bucket!r} (overwrite=True replaces it)",
                                  provider=self.provider, operation="CopyObject")
        if not overwrite and self._head(to_bucket, to_key) is not None:
            raise exists
        info = object_info(key, head)
        try:
            with self._manager() as manager, self._only_if(to_bucket, to_key, {} if overwrite
                                                           else {"IfNoneMatch": "*"}):
                future = manager.copy({"Bucket": bucket, "Key": key}, to_bucket, to_key, extra_args=args,
                                      subscribers=[Known(info["size"], info.get("etag"))])
                self._wait(future, "CopyObject", to_bucket, to_key)
        except ce.ConflictError as e:
            if e.code != "PreconditionFailed":
                raise
            target = None if overwrite else self._head(to_bucket, to_key)
            if target is not None and same_object(head, target):
                return head  # an earlier attempt's copy, its answer lost
            source = self._head(bucket, key)
            if source is None or source.get("ETag") != head.get("ETag"):
                raise ce.ConflictError(f"object {key!r} in bucket {bucket!r} changed while it was being copied: "
                                       "nothing was copied", **e.provider_details()) from None
            if overwrite:
                raise
            exists.request_id = e.request_id
            raise exists from None
        return head

    def rename(self, bucket: str, key: str, new_key: str, overwrite: bool = False) -> None:
        """A managed copy pinned to the source's ETag, verified (a HEAD of the copy must show the source), then a
        delete of the source (S3 has no rename), conditional on that ETag where the provider honours it: a source
        written in between is kept (``ConflictError``), and so is a source whose copy does not show it (the target
        written in between). Subclasses override it with a native rename."""
        head = self._copy(bucket, key, bucket, new_key, overwrite)
        copied = self._head(bucket, new_key)
        if copied is None or not same_object(head, copied):
            now = "is gone" if copied is None else "was written"
            raise ce.ConflictError(f"the copy {new_key!r} of object {key!r} in bucket {bucket!r} {now} before the "
                                   f"source could be deleted: {key!r} is kept (nothing lost)", provider=self.provider,
                                   operation="CopyObject")
        if not self.capabilities.conditional_deletes or not head.get("ETag"):
            self.delete_object(bucket, key)
            return
        try:  # botocore re-sends it after a lost answer: the source is then gone, a 404
            self._call("DeleteObject", bucket, key, Bucket=bucket, Key=key, IfMatch=head["ETag"])
        except ce.NotFound:
            return  # gone already: this rename's earlier attempt (its answer lost), or another writer's delete
        except ce.ConflictError as e:
            if e.code != "PreconditionFailed":
                raise
            raise ce.ConflictError(
                f"object {key!r} in bucket {bucket!r} was written while it was being renamed: {new_key!r} holds the "
                f"content the rename copied, {key!r} the newer content (both kept: nothing lost)",
                **e.provider_details()) from None
