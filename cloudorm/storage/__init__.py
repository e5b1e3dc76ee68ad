"""Object storage: ``Bucket`` and ``Blob`` entities, lazy blob listings, presigned URLs, many-object transfers and
operations on many objects (``BlobResults``)."""

from cloudorm.storage.blob import Blob, BlobReader
from cloudorm.storage.bucket import BlobListing, Bucket, PresignedPost
from cloudorm.storage.many import BlobResults
from cloudorm.storage.transfer import TransferResult, TransferResults

__all__ = ["Blob", "BlobListing", "BlobReader", "BlobResults", "Bucket", "PresignedPost", "TransferResult",
           "TransferResults"]
