"""DynamoDB's JSON bodies without botocore's shape walks, for the operations that carry many items.

botocore keeps signing, retries, error parsing and the request's URL and headers. Responses of item-heavy
operations reach cloudorm as the raw parsed JSON (``before-parse``), because the codec reads DynamoDB JSON several
times faster than botocore's parser; BatchWriteItem's request body is ``json.dumps`` of the parameters cloudorm
built and checked, because botocore's serializer walks the shape of every attribute of every item (a quarter of a
batch write's CPU). Anything else goes through botocore as usual.
"""

from __future__ import annotations

import json
from base64 import b64encode
from typing import Any

from cloudorm.gcpause import paused

RAW = "__cloudorm_raw_body__"
"""Where a raw response body is put in botocore's parsed response."""
BAD_BODY = "__cloudorm_bad_body__"
"""In a raw body: the start of a successful answer that was not JSON."""
RAW_OPERATIONS = ("GetItem", "PutItem", "UpdateItem", "DeleteItem", "Query", "Scan", "BatchGetItem",
                  "TransactGetItems")
DIRECT_OPERATIONS = frozenset({"BatchWriteItem"})
"""The operations whose request body is ``json.dumps`` of their parameters."""


def keep_raw_body(response_dict: dict[str, Any], customized_response_dict: dict[str, Any], **_: Any) -> None:
    """``before-parse`` handler: take a successful response's JSON as is and give botocore's parser an empty
    body."""
    if response_dict.get("status_code", 500) < 300:
        body = response_dict.get("body") or b"{}"
        try:
            with paused():  # parsed JSON holds no cycles: no collection while a page's ~60,000 dicts are made
                customized_response_dict[RAW] = json.loads(body)
        except ValueError:
            customized_response_dict[RAW] = {BAD_BODY: bytes(body[:200])}
        response_dict["body"] = b"{}"


def _binary(value: object) -> str:
    if isinstance(value, (bytes, bytearray)):
        return b64encode(value).decode("ascii")
    raise TypeError(f"{type(value).__name__} is not DynamoDB JSON")


class DirectSerializer:
    """botocore's JSON serializer, except that the body of ``DIRECT_OPERATIONS`` is the parameters as JSON (binary
    values base64), exactly what botocore would send for parameters made of strings, lists, maps, booleans and
    bytes; other parameters (or operations) are left to botocore. Binary values must be bytes, as the codec makes
    them (botocore would base64 a str in a binary position; this would send it as text)."""

    def __init__(self, serializer: Any) -> None:
        self._serializer = serializer

    def serialize_to_request(self, parameters: dict[str, Any], operation_model: Any) -> dict[str, Any]:
        """The request dict botocore sends: botocore's own, with the body made directly where that is exact."""
        if operation_model.name not in DIRECT_OPERATIONS or operation_model.endpoint:  # no host-prefix trait
            return dict(self._serializer.serialize_to_request(parameters, operation_model))
        try:
            body = json.dumps(parameters, default=_binary).encode("utf-8")
        except (TypeError, ValueError):  # a value botocore converts (or rejects) itself
            return dict(self._serializer.serialize_to_request(parameters, operation_model))
        request: dict[str, Any] = self._serializer.serialize_to_request({}, operation_model)
        request["body"] = body
        return request

    def __getattr__(self, name: str) -> Any:
        return getattr(self._serializer, name)


def install(client: Any) -> None:
    """Make ``client`` (a botocore DynamoDB client) hand raw bodies to cloudorm and send direct bodies."""
    for op in RAW_OPERATIONS:
        client.meta.events.register(f"before-parse.dynamodb.{op}", keep_raw_body, unique_id=f"cloudorm-raw-{op}")
    if not isinstance(client._serializer, DirectSerializer):  # botocore's one serializer per client
        client._serializer = DirectSerializer(client._serializer)
