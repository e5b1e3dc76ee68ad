"""NoSQL: DynamoDB-style tables, items, typed models, querysets, batches and transactions."""

from cloudorm.core import changes, state
from cloudorm.nosql.batch import BatchWriter, WriteRequest
from cloudorm.nosql.expressions import Action, Attr, Condition
from cloudorm.nosql.item import Item, undeclared
from cloudorm.nosql.model import hash_key, model, range_key, version
from cloudorm.nosql.queryset import QuerySet
from cloudorm.nosql.schema import GlobalIndex, KeyAttr, LocalIndex, Provisioned
from cloudorm.nosql.table import Table
from cloudorm.nosql.transaction import Transaction

__all__ = [
    "Action",
    "Attr",
    "BatchWriter",
    "Condition",
    "GlobalIndex",
    "Item",
    "KeyAttr",
    "LocalIndex",
    "Provisioned",
    "QuerySet",
    "Table",
    "Transaction",
    "WriteRequest",
    "changes",
    "hash_key",
    "model",
    "range_key",
    "state",
    "undeclared",
    "version",
]
