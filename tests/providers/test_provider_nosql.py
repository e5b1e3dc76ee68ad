"""The NoSQL conformance check, run by every provider with NoSQL tables (aws on moto, local): the contract's core in
DynamoDB's wire format, through the service."""

from __future__ import annotations

import uuid

import pytest

import cloudorm
from cloudorm.errors import ConflictError, NotFound
from tests.providers.conftest import having


@pytest.fixture(scope="module", params=having("nosql"))
def nosql(request: pytest.FixtureRequest) -> cloudorm.Session:
    """A session of every provider with NoSQL tables."""
    connect = request.getfixturevalue("connect")
    return connect(request.param)  # type: ignore[no-any-return]


def test_a_table_and_its_items_through_the_core(nosql: cloudorm.Session) -> None:
    svc, name = nosql.nosql, f"conf-{uuid.uuid4().hex[:10]}"
    with pytest.raises(NotFound):
        svc.describe_table(name)
    svc.create_table({"TableName": name, "BillingMode": "PAY_PER_REQUEST",
                      "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
                      "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}]})
    try:
        assert svc.describe_table(name)["TableName"] == name
        svc.put_item({"TableName": name, "Item": {"pk": {"S": "a"}, "n": {"N": "1"}}})
        assert svc.get_item({"TableName": name, "Key": {"pk": {"S": "a"}}}) == {"pk": {"S": "a"}, "n": {"N": "1"}}
        assert svc.get_item({"TableName": name, "Key": {"pk": {"S": "b"}}}) is None
        with pytest.raises(ConflictError):
            svc.put_item({"TableName": name, "Item": {"pk": {"S": "a"}},
                          "ConditionExpression": "attribute_not_exists(pk)"})
        assert svc.query({"TableName": name, "KeyConditionExpression": "pk = :a",
                          "ExpressionAttributeValues": {":a": {"S": "a"}}})["Count"] == 1
    finally:
        svc.delete_table(name)
