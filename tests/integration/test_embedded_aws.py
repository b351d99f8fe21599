"""The embedded AWS keeps DynamoDB's promises that moto alone does not."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from outdial.adapters import aws
from outdial.settings import get_settings


def items(table: str) -> dict[str, Any]:
    rows = aws.client("dynamodb").scan(TableName=table)["Items"]
    return {row["pk"]["S"]: row for row in rows}


def test_a_failed_transaction_leaves_nothing_behind(resources: Any) -> None:
    # Given an existing item and a transaction that writes one item, changes the existing one,
    # then fails on a third item's condition
    client = aws.client("dynamodb")
    table = get_settings().calls_table
    client.put_item(TableName=table, Item={"pk": {"S": "old"}, "n": {"N": "1"}})
    with pytest.raises(ClientError) as failed:
        client.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": table, "Item": {"pk": {"S": "new"}}}},
                {
                    "Update": {
                        "TableName": table,
                        "Key": {"pk": {"S": "old"}},
                        "UpdateExpression": "SET n = :two",
                        "ExpressionAttributeValues": {":two": {"N": "2"}},
                    }
                },
                {
                    "Put": {
                        "TableName": table,
                        "Item": {"pk": {"S": "old-2"}},
                        "ConditionExpression": "attribute_exists(pk)",
                    }
                },
            ]
        )
    assert failed.value.response["Error"]["Code"] == "TransactionCanceledException"
    # Then neither the new item nor the change is there
    assert set(items(table)) == {"old"}
    assert items(table)["old"]["n"] == {"N": "1"}


def test_a_transaction_that_succeeds_applies_every_item(resources: Any) -> None:
    client = aws.client("dynamodb")
    table = get_settings().calls_table
    client.transact_write_items(
        TransactItems=[
            {"Put": {"TableName": table, "Item": {"pk": {"S": "a"}}}},
            {"Put": {"TableName": table, "Item": {"pk": {"S": "b"}}}},
        ]
    )
    assert set(items(table)) == {"a", "b"}
