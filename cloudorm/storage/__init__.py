"""Object storage: ``Bucket`` and ``Blob`` entities, lazy blob listings, presigned URLs and many-object transfers."""

from cloudorm.storage.blob import Blob, BlobReader
from cloudorm.storage.bucket import BlobListing, Bucket, PresignedPost
from cloudorm.storage.transfer import TransferResult, TransferResults

__all__ = ["Blob", "BlobListing", "BlobReader", "Bucket", "PresignedPost", "TransferResult", "TransferResults"]
