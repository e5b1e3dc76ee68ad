"""cloudorm: an object model over cloud services, with swappable providers and an embedded local cloud.

    import cloudorm
    s = cloudorm.Session()                      # the local cloud; Session("aws", creds={...}) for AWS
    orders = s.Table("orders", hash_key=("customer", "S"), range_key=("placed", "N")).save()
"""

from cloudorm import errors
from cloudorm.nosql import (
    Attr,
    BatchWriter,
    Condition,
    GlobalIndex,
    Item,
    KeyAttr,
    LocalIndex,
    Provisioned,
    QuerySet,
    Table,
    Transaction,
    WriteRequest,
    changes,
    hash_key,
    model,
    range_key,
    state,
    version,
)
from cloudorm.session import Session
from cloudorm.storage import (
    Blob,
    BlobListing,
    BlobReader,
    Bucket,
    PresignedPost,
    TransferResult,
    TransferResults,
)

__version__ = "0.1.0"

__all__ = [
    "Attr",
    "BatchWriter",
    "Blob",
    "BlobListing",
    "BlobReader",
    "Bucket",
    "Condition",
    "GlobalIndex",
    "Item",
    "KeyAttr",
    "LocalIndex",
    "PresignedPost",
    "Provisioned",
    "QuerySet",
    "Session",
    "Table",
    "Transaction",
    "TransferResult",
    "TransferResults",
    "WriteRequest",
    "changes",
    "errors",
    "hash_key",
    "model",
    "range_key",
    "state",
    "version",
]
