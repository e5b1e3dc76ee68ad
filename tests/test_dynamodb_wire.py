"""BatchWriteItem bodies made with ``json.dumps`` (``providers/aws/dynamodb_wire.py``) are exactly what botocore's own
serializer makes from the same parameters, and anything it cannot write exactly is left to botocore."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import boto3
from botocore.config import Config

from cloudorm.nosql import codec
from cloudorm.providers.aws.dynamodb_wire import DirectSerializer

ITEMS = [
    {"id": "a", "n": 5, "big": 10**30, "d": Decimal("1.50"), "f": 0.1, "b": b"\x00\xff", "ba": bytearray(b"xy"),
     "ss": {"x", "y"}, "ns": {1, 2}, "bs": {b"1", b"2"}, "m": {"l": [1, "é", {"deep": None}], "t": True},
     "text": "quote \" backslash \\ newline \n emoji \U0001f600"},
    {"id": "b"},
]


def _serializers() -> tuple[Any, DirectSerializer]:
    client = boto3.client("dynamodb", region_name="us-east-1", endpoint_url="http://127.0.0.1:9",
                          aws_access_key_id="k", aws_secret_access_key="s", config=Config(parameter_validation=False))
    return client._serializer, DirectSerializer(client._serializer)


def test_the_direct_body_is_botocores_body() -> None:
    botocore_serializer, direct = _serializers()
    client = boto3.client("dynamodb", region_name="us-east-1", endpoint_url="http://127.0.0.1:9",
                          aws_access_key_id="k", aws_secret_access_key="s")
    model = client.meta.service_model.operation_model("BatchWriteItem")
    params = {"RequestItems": {"t1": [{"PutRequest": {"Item": codec.encode_item(item)}} for item in ITEMS]
                               + [{"DeleteRequest": {"Key": {"id": {"S": "c"}}}}]},
              "ReturnConsumedCapacity": "NONE"}
    theirs = botocore_serializer.serialize_to_request(params, model)
    ours = direct.serialize_to_request(params, model)
    assert json.loads(ours["body"]) == json.loads(theirs["body"])
    assert {k: v for k, v in ours.items() if k != "body"} == {k: v for k, v in theirs.items() if k != "body"}


def test_other_operations_and_values_are_left_to_botocore() -> None:
    botocore_serializer, direct = _serializers()
    client = boto3.client("dynamodb", region_name="us-east-1", endpoint_url="http://127.0.0.1:9",
                          aws_access_key_id="k", aws_secret_access_key="s")
    put = client.meta.service_model.operation_model("PutItem")
    params = {"TableName": "t1", "Item": codec.encode_item(ITEMS[0])}
    assert direct.serialize_to_request(params, put) == botocore_serializer.serialize_to_request(params, put)
    batch = client.meta.service_model.operation_model("BatchWriteItem")
    odd = {"RequestItems": {"t1": [{"PutRequest": {"Item": {"id": {"S": "a"}, "x": {"SS": {"only"}}}}}]}}  # a set
    assert direct.serialize_to_request(odd, batch) == botocore_serializer.serialize_to_request(odd, batch)
