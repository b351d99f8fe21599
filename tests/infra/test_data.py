"""The tables: the key schema and pending index the code uses, on-demand, PITR, TTL, kept."""

from __future__ import annotations

from aws_cdk.assertions import Template

from infra import constants as c
from outdial.adapters import tables
from outdial.adapters.tables import PARTITION_KEY, TTL_ATTRIBUTE, create_table_kwargs
from outdial.settings import STACK_OUTPUTS
from tests.infra.conftest import Synthesized

TABLE = "AWS::DynamoDB::Table"


def test_two_tables(template: Template) -> None:
    template.resource_count_is(TABLE, 2)


def test_tables_match_the_code_and_are_protected(synthesized: Synthesized) -> None:
    data = synthesized.stack.data
    for table in data.tables:
        # Given the CreateTable arguments the local runtime and integration tests use
        local = create_table_kwargs("any", pending_index=table is data.calls)
        resource = synthesized.resources[synthesized.logical_id(table)]
        properties = resource["Properties"]

        # Then the deployed tables have the same key schema, indexes and billing
        assert (
            properties["KeySchema"]
            == local["KeySchema"]
            == [{"AttributeName": PARTITION_KEY, "KeyType": "HASH"}]
        )
        assert properties["AttributeDefinitions"] == local["AttributeDefinitions"]
        assert properties.get("GlobalSecondaryIndexes") == local.get("GlobalSecondaryIndexes")
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


def test_pending_index_names_are_the_codes() -> None:
    # The sweeper queries, and the api marks, by the names in lambdas/outdial/adapters/tables.py
    assert (c.PENDING_INDEX, c.PENDING_PARTITION_KEY, c.PENDING_SORT_KEY) == (
        tables.PENDING_INDEX,
        tables.PENDING_PARTITION_KEY,
        tables.PENDING_SORT_KEY,
    )


def test_only_the_calls_table_has_the_sparse_keys_only_indexes(
    synthesized: Synthesized,
) -> None:
    # Given the deployed tables
    data = synthesized.stack.data
    config = synthesized.resources[synthesized.logical_id(data.config)]["Properties"]
    calls = synthesized.resources[synthesized.logical_id(data.calls)]["Properties"]

    # Then the config table has no index, and the calls table two, keys only: the pending
    # dispatches (a mark and its claim time) and the calls dialling (a shard and a deadline),
    # keys only the marked or dialling items carry
    assert "GlobalSecondaryIndexes" not in config
    assert calls["GlobalSecondaryIndexes"] == [
        {
            "IndexName": index,
            "KeySchema": [
                {"AttributeName": partition, "KeyType": "HASH"},
                {"AttributeName": sort, "KeyType": "RANGE"},
            ],
            "Projection": {"ProjectionType": "KEYS_ONLY"},
        }
        for index, partition, sort in (
            (c.PENDING_INDEX, c.PENDING_PARTITION_KEY, c.PENDING_SORT_KEY),
            (c.DEADLINE_INDEX, c.DEADLINE_PARTITION_KEY, c.DEADLINE_SORT_KEY),
        )
    ]
    types = {d["AttributeName"]: d["AttributeType"] for d in calls["AttributeDefinitions"]}
    assert types == {
        PARTITION_KEY: "S",
        c.PENDING_PARTITION_KEY: "S",
        c.PENDING_SORT_KEY: "N",
        c.DEADLINE_PARTITION_KEY: "S",
        c.DEADLINE_SORT_KEY: "N",
    }


def test_the_command_lines_stack_outputs_name_what_the_functions_use(template: Template) -> None:
    # `outdial --stack Outdial` sets each OUTDIAL_* variable from its output
    outputs = template.to_json()["Outputs"]
    (function,) = [
        f
        for f in template.find_resources("AWS::Lambda::Function").values()
        if f["Properties"]["Handler"] == c.HANDLERS["api"]
    ]
    environment = function["Properties"]["Environment"]["Variables"]
    for key, variable in STACK_OUTPUTS.items():
        assert outputs[key]["Value"] == environment[variable], key
