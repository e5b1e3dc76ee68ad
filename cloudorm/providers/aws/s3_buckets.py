"""S3 bucket operations: create (settled after a lost answer), tags, delete (settled), empty, region, listing,
static websites, and DeleteObjects of many keys (the one batch delete, under ``empty_bucket`` too)."""

from __future__ import annotations

from collections.abc import Sequence

from botocore import exceptions as bx

from cloudorm import errors as ce
from cloudorm.providers.aws.s3_base import S3Base
from cloudorm.providers.aws.s3_wire import DASH_WEBSITE_REGIONS, DELETE_BATCH, _dns_suffix
from cloudorm.providers.aws.settle import send_settled
from cloudorm.providers.contract import BucketInfo, Wire


class S3Buckets(S3Base):
    """Bucket operations of the S3 service."""

    def create_bucket(self, name: str, region: str) -> None:
        """CreateBucket in ``region`` (us-east-1 takes no location constraint); ``AlreadyExists`` when the bucket
        exists (``code``: ``BucketAlreadyOwnedByYou``, or ``BucketAlreadyExists`` for another account's). In
        us-east-1, where S3 answers a second CreateBucket of its owner with 200, a HEAD first tells. Never re-sent
        blindly: after a lost answer a HEAD settles it (the bucket there means created)."""
        if region == "us-east-1" and self._bucket_exists(name):
            raise ce.AlreadyExists(f"bucket {name!r} exists", provider=self.provider, operation="CreateBucket",
                                   code="BucketAlreadyOwnedByYou")
        params: Wire = {"Bucket": name}
        if region != "us-east-1":
            params["CreateBucketConfiguration"] = {"LocationConstraint": region}
        client = self.clients.client("s3", region)  # AWS wants it signed for there
        try:
            send_settled(lambda: client.create_bucket(**params), lambda: self._bucket_exists(name) or None,
                         attempts=self.clients.options.max_attempts)
        except (bx.ClientError, bx.BotoCoreError) as e:
            raise self._error(e, "CreateBucket", name, None) from None

    def _bucket_exists(self, name: str) -> bool:
        """HeadBucket: True when the bucket exists (this account's or, answered 403, another's)."""
        try:
            self.client.head_bucket(Bucket=name)
        except bx.ClientError as e:
            status = e.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if status in (404, 403):
                return status == 403
            raise self._error(e, "HeadBucket", name, None) from None
        except bx.BotoCoreError as e:
            raise self._error(e, "HeadBucket", name, None) from None
        return True

    def bucket_tags(self, name: str) -> dict[str, str]:
        """GetBucketTagging: the bucket's tags (none: an empty dict)."""
        try:
            r = self._call("GetBucketTagging", name, None, Bucket=name)
        except ce.CloudError as e:
            if e.code != "NoSuchTagSet":
                raise
            return {}
        return {t["Key"]: t["Value"] for t in r.get("TagSet", [])}

    def put_bucket_tags(self, name: str, tags: dict[str, str]) -> None:
        """PutBucketTagging (DeleteBucketTagging for none): the bucket's tags become ``tags``; both set a state, so
        a re-send after a lost answer does the same."""
        if tags:
            self._call("PutBucketTagging", name, None, Bucket=name,
                       Tagging={"TagSet": [{"Key": k, "Value": v} for k, v in tags.items()]})
        else:
            self._call("DeleteBucketTagging", name, None, Bucket=name)

    def delete_bucket(self, name: str) -> None:
        """DeleteBucket (``ConflictError`` if it still holds objects). After a lost answer a HeadBucket settles it:
        gone means done (no false ``NotFound``), still there means it is sent again."""

        def gone() -> bool | None:
            try:
                self.client.head_bucket(Bucket=name)
            except bx.ClientError as e:
                if e.response.get("ResponseMetadata", {}).get("HTTPStatusCode") == 404:
                    return True
                raise
            return None

        try:
            send_settled(lambda: self.client.delete_bucket(Bucket=name), gone,
                         attempts=self.clients.options.max_attempts)
        except (bx.ClientError, bx.BotoCoreError) as e:
            raise self._error(e, "DeleteBucket", name, None) from None

    def empty_bucket(self, name: str) -> int:
        """Delete every object version and delete marker: list the first page (up to 1,000), delete it with one
        DeleteObjects (``_delete_batch``, as ``delete_objects``), again until nothing is left (listing from the start
        each time, so no marker ever points at a deleted key). Objects S3 refuses to delete: ``BatchError``."""
        deleted = 0
        while True:
            page = self._call("ListObjectVersions", name, None, Bucket=name, MaxKeys=DELETE_BATCH)
            batch = [{"Key": v["Key"], "VersionId": v["VersionId"]} if v.get("VersionId") else {"Key": v["Key"]}
                     for v in [*page.get("Versions", []), *page.get("DeleteMarkers", [])]]
            if not batch:
                return deleted
            errors = self._delete_batch(name, batch)
            failed = [(o, e if isinstance(e, ce.CloudError) else ce.CloudError(str(e), provider=self.provider))
                      for o, e in zip(batch, errors, strict=True) if e is not None]
            if failed:
                (first, cause) = failed[0]
                reason = f"{cause.code} {cause.message}" if cause.code else cause.message
                raise ce.BatchError(f"{len(failed)} objects of bucket {name!r} could not be deleted; first: "
                                    f"{first['Key']}: {reason}",
                                    [{**o, "Code": e.code, "Message": e.message} for o, e in failed],
                                    **cause.provider_details())
            deleted += len(batch)

    def delete_objects(self, bucket: str, keys: Sequence[str]) -> list[BaseException | None]:
        """DeleteObjects, 1,000 keys per request, each key's outcome reported (``_delete_batch``). Sent again after
        a lost answer (botocore's retry): deleting what is gone is a success, so a second send changes nothing."""
        return self._delete_batch(bucket, [{"Key": k} for k in keys])

    def _delete_batch(self, bucket: str, objects: list[Wire]) -> list[BaseException | None]:
        """DeleteObjects of ``objects`` (``{"Key", "VersionId"?}``) in requests of 1,000, not quiet: S3 names every
        key it deleted and every one it could not. One error (or None) per object, in order; a request that failed
        whole gives its error to each of its objects, a key the answer does not name is an error too."""
        out: list[BaseException | None] = []
        for start in range(0, len(objects), DELETE_BATCH):
            chunk = objects[start:start + DELETE_BATCH]
            try:
                r = self._call("DeleteObjects", bucket, None, Bucket=bucket, Delete={"Objects": chunk, "Quiet": False})
            except ce.CloudError as e:
                out += [e] * len(chunk)
                continue
            meta = r.get("ResponseMetadata", {})
            done = {(d.get("Key"), d.get("VersionId")) for d in r.get("Deleted") or []}
            refused = {(f.get("Key"), f.get("VersionId")): f for f in r.get("Errors") or []}
            for o in chunk:  # (an answer may leave out the version a key was asked with)
                target = (o["Key"], o.get("VersionId"))
                if target in done or (o["Key"], None) in done:
                    out.append(None)
                elif target in refused or (o["Key"], None) in refused:
                    failure = refused.get(target) or refused[(o["Key"], None)]
                    response = {"Error": {"Code": failure.get("Code"), "Message": failure.get("Message")},
                                "ResponseMetadata": meta}
                    refusal = bx.ClientError(response, "DeleteObjects")  # type: ignore[arg-type]
                    out.append(self._error(refusal, "DeleteObjects", bucket, o["Key"]))
                else:
                    out.append(ce.CloudError(f"DeleteObjects did not report object {o['Key']!r} of bucket "
                                             f"{bucket!r} deleted", provider=self.provider, operation="DeleteObjects",
                                             request_id=meta.get("RequestId")))
        return out

    def bucket_region(self, name: str) -> str:
        """HeadBucket; the ``x-amz-bucket-region`` it answers with (the client's region if none)."""
        r = self._call("HeadBucket", name, None, Bucket=name)
        region = r.get("BucketRegion") or r["ResponseMetadata"].get("HTTPHeaders", {}).get("x-amz-bucket-region")
        return str(region or self.client.meta.region_name)

    def list_buckets(self, start: str | None, limit: int | None) -> tuple[list[BucketInfo], str | None]:
        """One ListBuckets page (endpoints that do not paginate return everything at once)."""
        params: Wire = {}
        if start:
            params["ContinuationToken"] = start
        if limit:
            params["MaxBuckets"] = min(limit, 10000)
        r = self._call("ListBuckets", **params)
        out: list[BucketInfo] = [{"name": b["Name"], "created": b.get("CreationDate"),
                                  "region": b.get("BucketRegion")} for b in r.get("Buckets", [])]
        return out, r.get("ContinuationToken") or None

    def website_url(self, bucket: str, region: str) -> str:
        """``http://{bucket}.s3-website-{region}.amazonaws.com`` (or ``s3-website.{region}`` in newer regions)."""
        if not self.capabilities.website_hosting:
            raise ce.Unsupported(self.provider, "static website hosting")
        sep = "-" if region in DASH_WEBSITE_REGIONS else "."
        return f"http://{bucket}.s3-website{sep}{region}.{_dns_suffix(region)}"

    def put_website(self, bucket: str, index: str, error: str | None) -> None:
        """PutBucketWebsite with an index document and, optionally, an error document."""
        self.website_url(bucket, "us-east-1")  # Unsupported before any request
        config: Wire = {"IndexDocument": {"Suffix": index}}
        if error:
            config["ErrorDocument"] = {"Key": error}
        self._call("PutBucketWebsite", bucket, None, Bucket=bucket, WebsiteConfiguration=config)
