"""The tables: the key schema the code uses, on-demand, PITR, TTL, kept when the stack goes."""

from __future__ import annotations

from aws_cdk.assertions import Template

from outdial.adapters.tables import PARTITION_KEY, TTL_ATTRIBUTE, create_table_kwargs
from tests.infra.conftest import Synthesized

TABLE = "AWS::DynamoDB::Table"


def test_two_tables(template: Template) -> None:
    template.resource_count_is(TABLE, 2)


def test_tables_match_the_code_and_are_protected(synthesized: Synthesized) -> None:
    # Given the CreateTable arguments the local runtime and integration tests use
    local = create_table_kwargs("any")
    for table in synthesized.stack.data.tables:
        resource = synthesized.resources[synthesized.logical_id(table)]
        properties = resource["Properties"]

        # Then the deployed tables have the same key schema and billing
        assert (
            properties["KeySchema"]
            == local["KeySchema"]
            == [{"AttributeName": PARTITION_KEY, "KeyType": "HASH"}]
        )
        assert properties["AttributeDefinitions"] == local["AttributeDefinitions"]
        assert properties["BillingMode"] == local["BillingMode"] == "PAY_PER_REQUEST"
        # And they are recoverable, expire by TTL, encrypted with the AWS-managed key, and kept
        assert properties["PointInTimeRecoverySpecification"] == {
            "PointInTimeRecoveryEnabled": True
        }
        assert properties["TimeToLiveSpecification"] == {
            "AttributeName": TTL_ATTRIBUTE,
            "Enabled": True,
        }
        assert properties["SSESpecification"] == {"SSEEnabled": True}
        assert properties["DeletionProtectionEnabled"] is True
        assert resource["DeletionPolicy"] == resource["UpdateReplacePolicy"] == "Retain"


def test_table_names_are_outputs(template: Template) -> None:
    # `outdial config apply` is pointed at the deployed config table by these outputs
    outputs = template.to_json()["Outputs"]
    assert {"ConfigTableName", "CallsTableName", "ApiUrl", "DashboardUrl"} <= set(outputs)
