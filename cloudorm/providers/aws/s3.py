"""Object storage on S3 and S3-compatible services (AWS, the local cloud, Wasabi, DigitalOcean Spaces).

Single requests go through the session's botocore client; transfers of whole objects go through s3transfer's
``TransferManager`` on that same client (managed multipart above the session's ``multipart_threshold``, temporary
file and rename for downloads to a path). Every botocore and s3transfer exception is mapped to ``cloudorm.errors``.

Its parts: ``s3_base`` (client, errors, transfer manager, in-flight conditions), ``s3_buckets``, ``s3_objects``
(reads, deletes, presigning), ``s3_transfers`` (s3transfer uploads/downloads, many at once, to files or into
memory; ``s3_gets`` below it reads many small objects with one GetObject each), ``s3_conditional`` (conditional
writes, copies, renames and their lost-answer settling), ``s3_many`` (existence checks and renames
of many keys or of a prefix); ``s3_wire`` and ``s3_stream`` below them.
"""

from __future__ import annotations

from cloudorm.providers.aws.s3_buckets import S3Buckets
from cloudorm.providers.aws.s3_conditional import S3Conditional
from cloudorm.providers.aws.s3_many import S3Many
from cloudorm.providers.aws.s3_objects import S3Objects
from cloudorm.providers.aws.s3_transfers import S3Transfers
from cloudorm.providers.aws.s3_wire import _dns_suffix as _dns_suffix  # (re-exported: API Gateway reads it)


class S3StorageService(S3Buckets, S3Objects, S3Transfers, S3Conditional, S3Many):
    """``StorageService`` over a session's S3 client. Subclasses may override ``rename`` (Wasabi's native MOVE)."""
