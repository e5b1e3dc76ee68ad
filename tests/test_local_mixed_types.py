"""A filter or condition comparing a number with stored text matches nothing, as on DynamoDB: the local cloud's
server answered HTTP 500 (moto compared the Python values and raised TypeError); dynalite behaves the same."""

from __future__ import annotations

import uuid

import boto3
import pytest

import cloudorm
from tests.conftest import FAKE_CREDS


@pytest.mark.parametrize("backend", ["moto_url", "dynalite_url"])
def test_a_number_compared_with_stored_text_does_not_match(backend: str, request: pytest.FixtureRequest) -> None:
    client = boto3.client("dynamodb", endpoint_url=request.getfixturevalue(backend), region_name="us-east-1",
                          aws_access_key_id=FAKE_CREDS["aws_access_key_id"],
                          aws_secret_access_key=FAKE_CREDS["aws_secret_access_key"])
    name = f"mixed-{uuid.uuid4().hex[:10]}"
    client.create_table(TableName=name, KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
                        BillingMode="PAY_PER_REQUEST")
    client.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 0.2, "MaxAttempts": 100})
    try:
        for id_, n in (("a", {"N": "5"}), ("b", {"S": "9"}), ("c", {"N": "1"}), ("d", {"S": "text"})):
            client.put_item(TableName=name, Item={"id": {"S": id_}, "n": n})

        def ids(expression: str, **values: dict[str, str]) -> list[str]:
            items = client.scan(TableName=name, FilterExpression=expression,
                                ExpressionAttributeValues={f":{k}": v for k, v in values.items()})["Items"]
            return sorted(i["id"]["S"] for i in items)

        assert ids("n > :v", v={"N": "2"}) == ["a"]
        assert ids("n <= :v", v={"N": "5"}) == ["a", "c"]
        assert ids("n BETWEEN :lo AND :hi", lo={"N": "0"}, hi={"N": "9"}) == ["a", "c"]
        assert ids("n < :v", v={"S": "z"}) == ["b", "d"]
        assert ids("n = :v", v={"N": "9"}) == []
        assert ids("n <> :v", v={"N": "5"}) == ["b", "c", "d"]
        with pytest.raises(client.exceptions.ConditionalCheckFailedException):  # a condition fails (no 500)
            client.put_item(TableName=name, Item={"id": {"S": "b"}}, ConditionExpression="n > :v",
                            ExpressionAttributeValues={":v": {"N": "0"}})
    finally:
        client.delete_table(TableName=name)


def test_a_filter_over_old_text_values_on_the_local_provider() -> None:
    s = cloudorm.Session()  # the embedded local cloud
    table = s.Table(f"mixed-{uuid.uuid4().hex[:10]}", hash_key="id").save()
    try:
        table.put({"id": "new", "expires": 1900000000})
        table.put({"id": "old", "expires": "2030-01-01T00:00:00"})  # an old text value
        assert [i["id"] for i in table.scan().filter(expires__gt=1800000000)] == ["new"]
        assert table.scan().filter(expires__lt=1800000000).count() == 0
    finally:
        table.delete(missing_ok=True)
