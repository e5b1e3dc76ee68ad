"""The NoSQL service on DynamoDB (AWS, the local cloud, DynamoDB Local, dynalite) through botocore.

botocore keeps signing, retries and error parsing; the bodies of item-heavy requests and responses skip its shape
walks (``dynamodb_wire``).
"""

from __future__ import annotations

import threading
import uuid
from base64 import b64decode
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from botocore import exceptions as bx

from cloudorm import errors as ce
from cloudorm.nosql.codec import decode_item
from cloudorm.providers.aws.clients import may_have_applied, refuse_resend
from cloudorm.providers.aws.dynamodb_effects import Effect, effect_of
from cloudorm.providers.aws.dynamodb_wire import BAD_BODY, RAW
from cloudorm.providers.aws.dynamodb_wire import install as install_wire
from cloudorm.providers.aws.errors import map_client_error, map_error
from cloudorm.providers.aws.settle import send_settled
from cloudorm.providers.contract import NoSQLService, Wire

if TYPE_CHECKING:
    from cloudorm.providers.aws.clients import ClientFactory

T = TypeVar("T")

_WATCHED = ("PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems")  # writes whose attempts are watched
_ACTIONS = {"PutItem": "Put", "UpdateItem": "Update", "DeleteItem": "Delete"}
_REASON_CODES = {"ConditionalCheckFailed": "ConditionalCheckFailedException",
                 "TransactionConflict": "TransactionConflictException", "ValidationError": "ValidationException",
                 "ThrottlingError": "ThrottlingException"}
_write = threading.local()  # the attempts of the single-item write this thread is sending


class _Attempts:
    """What botocore's attempts of one write came to: whether one may have been applied without an answer (the
    connection closed after sending, or a 5xx), and whether the write must not be sent again after that. A context
    manager around the one call it watches, in this thread."""

    def __init__(self, refuse: bool = False) -> None:
        self.refuse = refuse
        self.maybe_applied = False

    def __enter__(self) -> _Attempts:
        _write.attempts = self
        return self

    def __exit__(self, *_: object) -> None:
        _write.attempts = None


def _watch_attempts(caught_exception: BaseException | None = None, response: Any = None, **_: Any) -> None:
    """botocore's ``needs-retry`` hook on writes: note an attempt that may have been applied, and keep a write
    that must not run twice from being re-sent (``refuse_resend``)."""
    attempts: _Attempts | None = getattr(_write, "attempts", None)
    if attempts is None:
        return
    if caught_exception is not None and may_have_applied(caught_exception):
        attempts.maybe_applied = True
        if attempts.refuse:
            refuse_resend(caught_exception=caught_exception)
    elif response is not None and getattr(response[0], "status_code", 0) >= 500:
        attempts.maybe_applied = True


def key_as_sent(key: Wire) -> Wire:
    """A key from a raw JSON body (binary as base64 text) in the form botocore sends (binary as bytes): raw
    ``LastEvaluatedKey`` and ``UnprocessedKeys`` values go back to the provider in the next request."""
    return {k: ({"B": b64decode(v["B"])} if isinstance(v.get("B"), str) else v) for k, v in key.items()}


class DynamoDBService(NoSQLService):
    """``NoSQLService`` over a botocore DynamoDB client."""

    def __init__(self, clients: ClientFactory, provider: str, secrets: tuple[str, ...] = ()) -> None:
        clients.hook("needs-retry", "dynamodb", _WATCHED, _watch_attempts)
        clients.no_resend("dynamodb", ("DeleteTable",))  # sent again after it applied, it finds no table
        self._attempts = clients.options.max_attempts
        client = clients.client("dynamodb")
        self._client = client
        self._provider = provider
        self._secrets = secrets
        self._transactions = True  # False once the endpoint said it has no TransactWriteItems (dynalite)
        self._key_names: dict[str, tuple[str, ...]] = {}
        install_wire(client)

    # ------------------------------------------------------------------------------------------------ plumbing

    def _call(self, method: Callable[..., T], operation: str, *, single: bool = False, **params: Any) -> T:
        try:
            return method(**params)
        except bx.ClientError as e:
            if e.response.get("Error", {}).get("Code") == "TransactionCanceledException":
                raise (self._single_error(e) if single else self._transaction_error(e)) from None
            err = map_client_error(e, self._provider, self._secrets)
            response: dict[str, Any] = dict(e.response)
            if isinstance(err, ce.ConflictError) and response.get("Item"):
                err.item = response["Item"]
            raise err from None
        except bx.BotoCoreError as e:
            raise map_error(e, self._provider, operation, self._secrets) from None

    def _raw(self, method: Callable[..., Any], operation: str, params: Wire) -> Wire:
        response = self._call(method, operation, **params)
        raw: Wire = response.get(RAW, response)
        if BAD_BODY in raw:
            meta = response.get("ResponseMetadata", {})
            raise ce.CloudError(f"the endpoint answered {operation} with a body that is not JSON: "
                                f"{raw[BAD_BODY]!r}", provider=self._provider, operation=operation,
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

    def _single_error(self, e: bx.ClientError) -> ce.CloudError:
        """The error a single write sent as a one-action transaction raises: the one its own operation would."""
        reason = (e.response.get("CancellationReasons") or [{}])[0]
        code = str(reason.get("Code") or "TransactionCanceledException")
        response = {"Error": {"Code": _REASON_CODES.get(code, code), "Message": reason.get("Message") or code},
                    "ResponseMetadata": e.response.get("ResponseMetadata", {})}
        err = map_client_error(bx.ClientError(response, e.operation_name),  # type: ignore[arg-type]
                               self._provider, self._secrets)
        if isinstance(err, ce.ConflictError) and reason.get("Item"):
            err.item = reason["Item"]
        return err

    # ------------------------------------------------------------------------------------------------ writes

    def _write(self, operation: str, params: Wire, exactly_once: bool) -> Wire:
        """Send one PutItem/UpdateItem/DeleteItem so that a lost answer neither applies it twice nor reports a
        failure for a write that was applied (the table of cases is in docs/nosql.md, "When a response is lost").

        A write that cannot be told apart by what it leaves (``exactly_once``: a versioned save, whose version
        condition lets it apply at most once) or that changes more each time it is applied (ADD of a number,
        list_append) is sent as a one-action TransactWriteItems with a fresh ClientRequestToken: botocore's
        re-sends carry the same token and the service applies it once. Any other write is re-sent by botocore as
        usual; when a re-send's condition fails after an attempt that may have been applied, the item the service
        returned (or a consistent read) is compared with what this write leaves: the same is success, anything
        else ``OutcomeUnknown``. So is any other failure after an attempt that may have been applied."""
        effect = effect_of(operation, params)
        if (exactly_once or not effect.idempotent) and self._transactions:
            try:
                return self._write_once(operation, params)
            except ce.Unsupported:  # dynalite: no transactions; the single operation below
                self._transactions = False
        method = getattr(self._client, {"PutItem": "put_item", "UpdateItem": "update_item",
                                        "DeleteItem": "delete_item"}[operation])
        attempts = _Attempts(refuse=not (effect.idempotent or exactly_once))
        try:
            with attempts:
                return self._raw(method, operation, params)
        except ce.CloudError as e:
            if not attempts.maybe_applied:
                raise
            if isinstance(e, ce.ConflictError) and e.code == "ConditionalCheckFailedException":
                return self._settle(operation, params, effect, e)
            why = ("it changes more each time it is applied (ADD of a number, list_append), so it was not sent "
                   "again" if attempts.refuse else f"the last attempt failed: {e.message}")
            raise ce.OutcomeUnknown(f"the answer to {operation} was lost and {why}; read the item to see whether "
                                    "it was applied", **e.provider_details()) from None

    def _settle(self, operation: str, params: Wire, effect: Effect, e: ce.ConflictError) -> Wire:
        """A re-sent write's condition failed after an attempt that may have been applied: success if the item is
        what this write leaves, ``OutcomeUnknown`` if it is not."""
        stored = e.item if isinstance(e.item, dict) else self._read_back(operation, params)
        if effect.matches(stored):
            return {"Attributes": stored} if params.get("ReturnValues") == "ALL_NEW" and stored else {}
        raise ce.OutcomeUnknown(
            f"the answer to {operation} was lost; botocore sent it again and its condition failed, and the item "
            "is not what this write leaves: it was either not applied, or applied and changed since by another "
            "writer. Read the item before deciding whether to repeat the write", **e.provider_details()) from None

    def _read_back(self, operation: str, params: Wire) -> Wire | None:
        """The item a write was about, read consistently (where the failed condition did not return it)."""
        table = params["TableName"]
        if operation == "PutItem":
            names = self._key_names.get(table)
            if names is None:
                names = tuple(k["AttributeName"] for k in self.describe_table(table).get("KeySchema", []))
                self._key_names[table] = names
            key = {n: params["Item"][n] for n in names}
        else:
            key = params["Key"]
        return self.get_item({"TableName": table, "Key": key, "ConsistentRead": True})

    def _write_once(self, operation: str, params: Wire) -> Wire:
        """One write as a one-action TransactWriteItems with a fresh idempotency token; an ``ALL_NEW`` update's new
        values are read back (consistently) afterwards."""
        action = {k: v for k, v in params.items() if k != "ReturnValues"}
        attempts = _Attempts()
        try:
            with attempts:
                self._call(self._client.transact_write_items, "TransactWriteItems", single=True,
                           TransactItems=[{_ACTIONS[operation]: action}], ClientRequestToken=str(uuid.uuid4()))
        except ce.CloudError as e:
            if not attempts.maybe_applied or isinstance(e, ce.ConflictError):  # the token's answer is the outcome
                raise
            raise ce.OutcomeUnknown(f"no answer came to {operation} (sent as a transaction with an idempotency "
                                    f"token) in any attempt: {e.message}; read the item to see whether it was "
                                    "applied", **e.provider_details()) from None
        if params.get("ReturnValues") != "ALL_NEW":
            return {}
        item = self.get_item({"TableName": params["TableName"], "Key": params["Key"], "ConsistentRead": True})
        return {"Attributes": item} if item else {}

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
        """DeleteTable. After a lost answer a DescribeTable settles it: gone or ``DELETING`` means done (no false
        ``NotFound``), otherwise it is sent again."""

        def gone() -> bool | None:
            try:
                status = self._client.describe_table(TableName=name)["Table"].get("TableStatus")
            except bx.ClientError as e:
                if e.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
                    return True
                raise
            return True if status == "DELETING" else None

        def send() -> None:
            send_settled(lambda: self._client.delete_table(TableName=name), gone, attempts=self._attempts)

        self._call(send, "DeleteTable")

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

    def put_item(self, params: Wire, *, exactly_once: bool = False) -> Wire:
        """PutItem (``exactly_once``: see ``_write``)."""
        return self._write("PutItem", params, exactly_once)

    def get_item(self, params: Wire) -> Wire | None:
        """GetItem; the item or None."""
        item: Wire | None = self._raw(self._client.get_item, "GetItem", params).get("Item")
        return item

    def update_item(self, params: Wire, *, exactly_once: bool = False) -> Wire:
        """UpdateItem (``exactly_once``: see ``_write``)."""
        return self._write("UpdateItem", params, exactly_once)

    def delete_item(self, params: Wire) -> Wire:
        """DeleteItem."""
        return self._write("DeleteItem", params, False)

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
        """TransactWriteItems; ``OutcomeUnknown`` when no attempt was answered and one may have been applied (the
        same call with the same token is then safe to repeat)."""
        attempts = _Attempts()
        try:
            with attempts:
                self._call(self._client.transact_write_items, "TransactWriteItems", TransactItems=items,
                           ClientRequestToken=token)
        except ce.CloudError as e:
            if not attempts.maybe_applied or isinstance(e, (ce.TransactionError, ce.ConflictError, ce.Unsupported)):
                raise
            raise ce.OutcomeUnknown(f"no answer came to TransactWriteItems in any attempt: {e.message}; commit "
                                    "again (the same token) to have it applied once", **e.provider_details()) from None

    def transact_get(self, items: list[Wire]) -> list[Wire | None]:
        """TransactGetItems."""
        r = self._raw(self._client.transact_get_items, "TransactGetItems", {"TransactItems": items})
        return [resp.get("Item") for resp in r.get("Responses") or []]
