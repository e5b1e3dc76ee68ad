"""The NoSQL contract: DynamoDB-style tables and items in DynamoDB's wire format."""

from __future__ import annotations

from typing import ClassVar

from cloudorm.providers.contract.service import Service, Wire


class NoSQLService(Service):
    """DynamoDB-style tables and items. Requests and responses use DynamoDB's parameter names and wire format
    (attribute values as ``{"S": ...}``), which ``cloudorm.nosql.codec`` produces and reads."""

    area: ClassVar[str] = "nosql"
    core: ClassVar[frozenset[str]] = frozenset({
        "batch_get", "batch_write", "create_table", "delete_item", "delete_table", "describe_table", "get_item",
        "list_tables", "put_item", "query", "scan", "update_item"})

    def create_table(self, params: Wire) -> Wire:
        """Create a table; returns its TableDescription."""
        raise self._unsupported("create_table")

    def describe_table(self, name: str) -> Wire:
        """The TableDescription of ``name`` (``NotFound`` if absent)."""
        raise self._unsupported("describe_table")

    def update_table(self, params: Wire) -> Wire:
        """Change billing or indexes; returns the TableDescription."""
        raise self._unsupported("update_table")

    def delete_table(self, name: str) -> None:
        """Delete a table (``NotFound`` if absent)."""
        raise self._unsupported("delete_table")

    def list_tables(self, start: str | None = None, limit: int | None = None) -> tuple[list[str], str | None]:
        """One page of table names and the name to continue after (``None`` at the end)."""
        raise self._unsupported("list_tables")

    def describe_ttl(self, name: str) -> Wire:
        """The TimeToLiveDescription of a table."""
        raise self._unsupported("describe_ttl")

    def update_ttl(self, name: str, attribute: str, enabled: bool) -> None:
        """Turn time-to-live on (on ``attribute``) or off."""
        raise self._unsupported("update_ttl")

    def put_item(self, params: Wire, *, exactly_once: bool = False) -> Wire:
        """PutItem; returns the response (``Attributes`` when old values were asked for). ``exactly_once``: the
        write is applied at most once even when its answer is lost and it is re-sent (a versioned save)."""
        raise self._unsupported("put_item")

    def get_item(self, params: Wire) -> Wire | None:
        """GetItem; the item's attribute values, or ``None`` when absent."""
        raise self._unsupported("get_item")

    def update_item(self, params: Wire, *, exactly_once: bool = False) -> Wire:
        """UpdateItem; returns the response (``Attributes`` as asked by ReturnValues); ``exactly_once`` as for
        ``put_item``."""
        raise self._unsupported("update_item")

    def delete_item(self, params: Wire) -> Wire:
        """DeleteItem; returns the response."""
        raise self._unsupported("delete_item")

    def query(self, params: Wire) -> Wire:
        """One Query page: ``Items``, ``Count``, ``ScannedCount`` and ``LastEvaluatedKey`` if more remain."""
        raise self._unsupported("query")

    def scan(self, params: Wire) -> Wire:
        """One Scan page, shaped like ``query``."""
        raise self._unsupported("scan")

    def batch_write(self, request_items: Wire) -> Wire:
        """One BatchWriteItem call; returns ``UnprocessedItems`` (maybe empty)."""
        raise self._unsupported("batch_write")

    def batch_get(self, request_items: Wire) -> tuple[dict[str, list[Wire]], Wire]:
        """One BatchGetItem call; the items found per table and the unprocessed keys."""
        raise self._unsupported("batch_get")

    def transact_write(self, items: list[Wire], token: str) -> None:
        """TransactWriteItems, idempotent for ``token``; ``TransactionError`` carries a reason per action."""
        raise self._unsupported("transact_write")

    def transact_get(self, items: list[Wire]) -> list[Wire | None]:
        """TransactGetItems; one item (or ``None``) per requested key."""
        raise self._unsupported("transact_get")
