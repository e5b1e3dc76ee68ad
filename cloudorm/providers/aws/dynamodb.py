"""The NoSQL service on DynamoDB (AWS, the local cloud, DynamoDB Local, dynalite) through botocore.

botocore keeps signing, retries and error parsing; the bodies of item-heavy responses skip its shape parser
(``before-parse`` hands us the raw JSON) because the codec reads DynamoDB JSON several times faster.
"""

from __future__ import annotations

import json
from base64 import b64decode
from collections.abc import Callable
from typing import Any, TypeVar

from botocore import exceptions as bx

from cloudorm import errors as ce
from cloudorm.nosql.codec import decode_item
from cloudorm.providers.aws.errors import map_client_error, map_error

Wire = dict[str, Any]
T = TypeVar("T")

_RAW = "__cloudorm_raw_body__"
_BAD_BODY = "__cloudorm_bad_body__"
_RAW_OPERATIONS = ("GetItem", "PutItem", "UpdateItem", "DeleteItem", "Query", "Scan", "BatchGetItem",
                   "TransactGetItems")


def _keep_raw_body(response_dict: dict[str, Any], customized_response_dict: dict[str, Any], **_: Any) -> None:
    """Take a successful response's JSON as is and give botocore's parser an empty body."""
    if response_dict.get("status_code", 500) < 300:
        body = response_dict.get("body") or b"{}"
        try:
            customized_response_dict[_RAW] = json.loads(body)
        except ValueError:
            customized_response_dict[_RAW] = {_BAD_BODY: bytes(body[:200])}
        response_dict["body"] = b"{}"


def key_as_sent(key: Wire) -> Wire:
    """A key from a raw JSON body (binary as base64 text) in the form botocore sends (binary as bytes): raw
    ``LastEvaluatedKey`` and ``UnprocessedKeys`` values go back to the provider in the next request."""
    return {k: ({"B": b64decode(v["B"])} if isinstance(v.get("B"), str) else v) for k, v in key.items()}


class DynamoDBService:
    """``NoSQLService`` over a botocore DynamoDB client."""

    def __init__(self, client: Any, provider: str, secrets: tuple[str, ...] = ()) -> None:
        self._client = client
        self._provider = provider
        self._secrets = secrets
        for op in _RAW_OPERATIONS:
            client.meta.events.register(f"before-parse.dynamodb.{op}", _keep_raw_body,
                                        unique_id=f"cloudorm-raw-{op}")

    # ------------------------------------------------------------------------------------------------ plumbing

    def _call(self, method: Callable[..., T], operation: str, **params: Any) -> T:
        try:
            return method(**params)
        except bx.ClientError as e:
            if e.response.get("Error", {}).get("Code") == "TransactionCanceledException":
                raise self._transaction_error(e) from None
            err = map_client_error(e, self._provider, self._secrets)
            response: dict[str, Any] = dict(e.response)
            if isinstance(err, ce.ConflictError) and response.get("Item"):
                err.item = response["Item"]
            raise err from None
        except bx.BotoCoreError as e:
            raise map_error(e, self._provider, operation, self._secrets) from None

    def _raw(self, method: Callable[..., Any], operation: str, params: Wire) -> Wire:
        response = self._call(method, operation, **params)
        raw: Wire = response.get(_RAW, response)
        if _BAD_BODY in raw:
            meta = response.get("ResponseMetadata", {})
            raise ce.CloudError(f"the endpoint answered {operation} with a body that is not JSON: "
                                f"{raw[_BAD_BODY]!r}", provider=self._provider, operation=operation,
                                request_id=meta.get("RequestId"), status=meta.get("HTTPStatusCode"))
        return raw

    def _page(self, method: Callable[..., Any], operation: str, params: Wire) -> Wire:
        page = self._raw(method, operation, params)
        if "LastEvaluatedKey" in page:
            page["LastEvaluatedKey"] = key_as_sent(page["LastEvaluatedKey"])
        return page

    def _field(self, response: Wire, name: str, operation: str) -> Wire:
        """A required part of a parsed response (``CloudError`` if the endpoint left it out)."""
        out = response.get(name)
        if not isinstance(out, dict):
            meta = response.get("ResponseMetadata", {})
            raise ce.CloudError(f"the endpoint's {operation} response has no {name}", provider=self._provider,
                                operation=operation, request_id=meta.get("RequestId"),
                                status=meta.get("HTTPStatusCode"))
        return out

    def _transaction_error(self, e: bx.ClientError) -> ce.TransactionError:
        mapped = map_client_error(e, self._provider, self._secrets)
        reasons: list[ce.TransactionReason | None] = []
        for i, r in enumerate(e.response.get("CancellationReasons") or []):
            code = r.get("Code")
            if not code or code == "None":
                reasons.append(None)
            else:
                item: Wire | None = dict(r["Item"]) if r.get("Item") else None
                reasons.append(ce.TransactionReason(i, code, r.get("Message"), decode_item(item) if item else None))
        return ce.TransactionError(mapped.message, reasons, **mapped.provider_details())

    # ------------------------------------------------------------------------------------------------ tables

    def create_table(self, params: Wire) -> Wire:
        """CreateTable; returns the TableDescription."""
        c = self._client
        return self._field(self._call(c.create_table, "CreateTable", **params), "TableDescription", "CreateTable")

    def describe_table(self, name: str) -> Wire:
        """DescribeTable; returns the TableDescription."""
        return self._field(self._call(self._client.describe_table, "DescribeTable", TableName=name), "Table",
                           "DescribeTable")

    def update_table(self, params: Wire) -> Wire:
        """UpdateTable; returns the TableDescription."""
        return self._field(self._call(self._client.update_table, "UpdateTable", **params), "TableDescription",
                           "UpdateTable")

    def delete_table(self, name: str) -> None:
        """DeleteTable."""
        self._call(self._client.delete_table, "DeleteTable", TableName=name)

    def list_tables(self, start: str | None = None, limit: int | None = None) -> tuple[list[str], str | None]:
        """One ListTables page."""
        params: Wire = {}
        if start:
            params["ExclusiveStartTableName"] = start
        if limit:
            params["Limit"] = limit
        r = self._call(self._client.list_tables, "ListTables", **params)
        return list(r.get("TableNames", [])), r.get("LastEvaluatedTableName")

    def describe_ttl(self, name: str) -> Wire:
        """DescribeTimeToLive."""
        r = self._call(self._client.describe_time_to_live, "DescribeTimeToLive", TableName=name)
        out: Wire = r.get("TimeToLiveDescription", {})
        return out

    def update_ttl(self, name: str, attribute: str, enabled: bool) -> None:
        """UpdateTimeToLive."""
        self._call(self._client.update_time_to_live, "UpdateTimeToLive", TableName=name,
                   TimeToLiveSpecification={"Enabled": enabled, "AttributeName": attribute})

    # ------------------------------------------------------------------------------------------------ items

    def put_item(self, params: Wire) -> Wire:
        """PutItem."""
        return self._raw(self._client.put_item, "PutItem", params)

    def get_item(self, params: Wire) -> Wire | None:
        """GetItem; the item or None."""
        item: Wire | None = self._raw(self._client.get_item, "GetItem", params).get("Item")
        return item

    def update_item(self, params: Wire) -> Wire:
        """UpdateItem."""
        return self._raw(self._client.update_item, "UpdateItem", params)

    def delete_item(self, params: Wire) -> Wire:
        """DeleteItem."""
        return self._raw(self._client.delete_item, "DeleteItem", params)

    def query(self, params: Wire) -> Wire:
        """One Query page."""
        return self._page(self._client.query, "Query", params)

    def scan(self, params: Wire) -> Wire:
        """One Scan page."""
        return self._page(self._client.scan, "Scan", params)

    def batch_write(self, request_items: Wire) -> Wire:
        """One BatchWriteItem call; returns the unprocessed requests."""
        r = self._call(self._client.batch_write_item, "BatchWriteItem", RequestItems=request_items)
        out: Wire = r.get("UnprocessedItems") or {}
        return out

    def batch_get(self, request_items: Wire) -> tuple[dict[str, list[Wire]], Wire]:
        """One BatchGetItem call; items per table and unprocessed keys."""
        r = self._raw(self._client.batch_get_item, "BatchGetItem", {"RequestItems": request_items})
        unprocessed = r.get("UnprocessedKeys") or {}
        for spec in unprocessed.values():  # raw JSON carries binary as base64 text; botocore wants bytes back
            spec["Keys"] = [key_as_sent(key) for key in spec["Keys"]]
        return r.get("Responses") or {}, unprocessed

    def transact_write(self, items: list[Wire], token: str) -> None:
        """TransactWriteItems."""
        self._call(self._client.transact_write_items, "TransactWriteItems", TransactItems=items,
                   ClientRequestToken=token)

    def transact_get(self, items: list[Wire]) -> list[Wire | None]:
        """TransactGetItems."""
        r = self._raw(self._client.transact_get_items, "TransactGetItems", {"TransactItems": items})
        return [resp.get("Item") for resp in r.get("Responses") or []]
