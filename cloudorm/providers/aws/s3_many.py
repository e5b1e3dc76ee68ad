"""S3 operations on many keys that are not transfers: existence checks (HEADs in parallel), renames of many keys
and of a prefix ("folder") as verified copies and deletes, ``concurrency`` at once."""

from __future__ import annotations

from collections.abc import Sequence

from cloudorm import errors as ce
from cloudorm.providers.aws.s3_base import S3Base
from cloudorm.providers.contract.storage import keys_under
from cloudorm.storage.names import check_key


class S3Many(S3Base):
    """``exists_many``, ``rename_many`` and ``rename_prefix`` of the S3 service (the per-key work is ``head`` and
    ``rename``, so a subclass's native rename serves them too)."""

    def exists_many(self, bucket: str, keys: Sequence[str], concurrency: int) -> list[bool | BaseException]:
        """A HeadObject per key in parallel: 404 is False, any other error (403 ...) is that key's error. A HEAD's
        404 does not say whether the bucket is missing: when some key was not found, one HeadBucket tells, and a
        missing bucket is ``NotFound`` on those keys."""
        found = self._each(len(keys), lambda i: self._head(bucket, keys[i]) is not None, concurrency)
        if any(value is False for value in found):
            try:
                self.bucket_region(bucket)
            except ce.NotFound as e:
                return [e if value is False else value for value in found]
            except ce.CloudError:
                pass  # not allowed to look (or it failed): the HEADs' answers stand
        return found

    def rename_many(self, bucket: str, pairs: Sequence[tuple[str, str]], overwrite: bool,
                    concurrency: int) -> list[BaseException | None]:
        """``rename`` of each pair in parallel (a verified copy then a delete; Wasabi's MOVE); None or its error."""
        def one(i: int) -> None:
            self.rename(bucket, pairs[i][0], pairs[i][1], overwrite)

        return self._each(len(pairs), one, concurrency)

    def rename_prefix(self, bucket: str, prefix: str, new_prefix: str, overwrite: bool,
                      concurrency: int) -> list[tuple[str, str, BaseException | None]]:
        """Every key under ``prefix`` (listed first, all pages) renamed with ``rename_many``; a new key S3 would
        refuse (over 1,024 bytes) is ``InvalidInput`` on its key, with no request."""
        pairs = [(key, new_prefix + key[len(prefix):]) for key in keys_under(self, bucket, prefix)]
        refused: dict[int, BaseException] = {}
        for i, (_, new) in enumerate(pairs):
            try:
                check_key(new, "new_prefix")
            except ce.InvalidInput as e:
                refused[i] = e
        sendable = [i for i in range(len(pairs)) if i not in refused]
        errors = dict(zip(sendable, self.rename_many(bucket, [pairs[i] for i in sendable], overwrite, concurrency),
                          strict=True))
        return [(old, new, refused.get(i, errors.get(i))) for i, (old, new) in enumerate(pairs)]
