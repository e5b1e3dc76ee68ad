"""cloudorm: an object model over cloud services, with swappable providers and an embedded local cloud.

    import cloudorm
    s = cloudorm.Session()                      # the local cloud; Session("aws", creds={...}) for AWS
    orders = s.Table("orders", hash_key=("customer", "S"), range_key=("placed", "N")).save()
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the names below are imported when first used (``__getattr__``): ``import cloudorm`` is quick
    from cloudorm import errors
    from cloudorm.compute import (
        Cluster,
        CommandResult,
        CommandResults,
        Dask,
        Hardening,
        Job,
        Jobs,
        KeyPair,
        Node,
        SshKey,
    )
    from cloudorm.iam import AccessKey, Group, Policy, Role, Statement, User
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
        range_key,
        state,
        undeclared,
        version,
    )
    from cloudorm.nosql.model import model  # the function (mypy takes the name for its module in this block)
    from cloudorm.providers import register_provider
    from cloudorm.serverless import Api, ApiKey, Function, Quota, Throttle
    from cloudorm.session import Session
    from cloudorm.storage import (
        Blob,
        BlobListing,
        BlobReader,
        BlobResults,
        Bucket,
        PresignedPost,
        TransferResult,
        TransferResults,
    )

__version__ = "0.1.0"

__all__ = [
    "AccessKey",
    "Api",
    "ApiKey",
    "Attr",
    "BatchWriter",
    "Blob",
    "BlobListing",
    "BlobReader",
    "BlobResults",
    "Bucket",
    "Cluster",
    "CommandResult",
    "CommandResults",
    "Condition",
    "Dask",
    "Function",
    "GlobalIndex",
    "Group",
    "Hardening",
    "Item",
    "Job",
    "Jobs",
    "KeyAttr",
    "KeyPair",
    "LocalIndex",
    "Node",
    "Policy",
    "PresignedPost",
    "Provisioned",
    "QuerySet",
    "Quota",
    "Role",
    "Session",
    "SshKey",
    "Statement",
    "Table",
    "Throttle",
    "Transaction",
    "TransferResult",
    "TransferResults",
    "User",
    "WriteRequest",
    "changes",
    "errors",
    "hash_key",
    "model",
    "range_key",
    "register_provider",
    "state",
    "undeclared",
    "version",
]

_HOMES = {name: module for module, names in {
    "cloudorm.errors": ("errors",),
    "cloudorm.compute": ("Cluster", "CommandResult", "CommandResults", "Dask", "Hardening", "Job", "Jobs", "KeyPair",
                         "Node", "SshKey"),
    "cloudorm.iam": ("AccessKey", "Group", "Policy", "Role", "Statement", "User"),
    "cloudorm.nosql": ("Attr", "BatchWriter", "Condition", "GlobalIndex", "Item", "KeyAttr", "LocalIndex",
                       "Provisioned", "QuerySet", "Table", "Transaction", "WriteRequest", "changes", "hash_key",
                       "model", "range_key", "state", "undeclared", "version"),
    "cloudorm.providers": ("register_provider",),
    "cloudorm.serverless": ("Api", "ApiKey", "Function", "Quota", "Throttle"),
    "cloudorm.session": ("Session",),
    "cloudorm.storage": ("Blob", "BlobListing", "BlobReader", "BlobResults", "Bucket", "PresignedPost",
                         "TransferResult", "TransferResults"),
}.items() for name in names}
"""Where each public name is defined: imported from there when first used."""


if not TYPE_CHECKING:  # hidden from type checkers, which see the imports above (and no Any for a misspelt name)
    def __getattr__(name: str) -> Any:
        """A public name (or an area: ``cloudorm.nosql``), imported on first use and kept."""
        home = _HOMES.get(name)
        if name.startswith("_"):
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        if home is None:
            try:
                value = importlib.import_module(f"{__name__}.{name}")
            except ModuleNotFoundError as e:
                if e.name != f"{__name__}.{name}":
                    raise
                raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
        else:
            module = importlib.import_module(home)
            value = module if home == f"{__name__}.{name}" else getattr(module, name)
        globals()[name] = value
        return value


def __dir__() -> list[str]:
    """The module's names, the public ones not imported yet included."""
    return sorted({*globals(), *__all__})
