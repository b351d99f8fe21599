"""Data: the config and calls tables (on-demand, PITR, TTL, retained, deletion-protected)."""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from constructs import Construct

from infra import constants as c
from outdial.adapters.receiver_backoff import BACKOFF_KEY_PREFIX


class Data(Construct):
    """``config``: accounts (with their balance), flow views, gateways, and the accounts'
    do-not-call entries (``DNC#<account>#<number>``).
    ``calls``: calls, requests, checksums, legs, each number's recent placements for the
    frequency caps (``PLACED#<account>#<number>``), gateways' per-second pace slots and carriers'
    callback nonces; checksums, finished calls, placements, slots and nonces expire by TTL; two
    sparse indexes for the sweeper: half-enqueued requests, and calls dialling by deadline.

    The policy's items live under their own key prefixes in the two tables the api and the
    dialer already read and write: they widen no function's grants."""

    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        self.config = self._table("Config")
        self.calls = self._table("Calls")
        # Sparse, keys only (the sweeper reads the item): only checksum items the api marked and
        # has not cleared (a request whose calls it did not finish enqueueing) carry the first
        # index's keys, so it is normally empty; only calls DIALING carry the second's.
        for index, partition, sort in (
            (c.PENDING_INDEX, c.PENDING_PARTITION_KEY, c.PENDING_SORT_KEY),
            (c.DEADLINE_INDEX, c.DEADLINE_PARTITION_KEY, c.DEADLINE_SORT_KEY),
        ):
            self.calls.add_global_secondary_index(
                index_name=index,
                partition_key=dynamodb.Attribute(
                    name=partition, type=dynamodb.AttributeType.STRING
                ),
                sort_key=dynamodb.Attribute(name=sort, type=dynamodb.AttributeType.NUMBER),
                projection_type=dynamodb.ProjectionType.KEYS_ONLY,
            )

        # Grants go through references to the tables that know no index: CDK grants a table's
        # data actions on `<table>/index/*` too as soon as it has one, and only the sweeper
        # queries the pending index (grant_query_pending).
        self._grant_config, self._grant_calls = (
            dynamodb.Table.from_table_arn(self, f"{table.node.id}Items", table.table_arn)
            for table in self.tables
        )

    @property
    def tables(self) -> tuple[dynamodb.Table, ...]:
        return (self.config, self.calls)

    def grant_read_write(self, grantee: iam.IGrantable) -> None:
        """The calls table's items (not the index): gets, queries, conditional and transactional
        writes, batch writes. The config table's items read, and updated in place only (balance
        reservations and refunds): configuration is written by `outdial config apply`, never by
        a function, so none may put or delete a config item."""
        self._grant_calls.grant_read_write_data(grantee)
        self._grant_config.grant_read_data(grantee)
        self._grant_config.grant(grantee, *c.CONFIG_UPDATE_ACTIONS)

    def grant_read(self, grantee: iam.IGrantable) -> None:
        """Both tables' items (not the index), read-only."""
        for table in (self._grant_config, self._grant_calls):
            table.grant_read_data(grantee)

    def grant_webhook_backoff(self, grantee: iam.IGrantable) -> None:
        """Update and delete the per-account webhook backoff items of the calls table, and no
        other item (their keys all start with the backoff prefix)."""
        grantee.grant_principal.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["dynamodb:UpdateItem", "dynamodb:DeleteItem"],
                resources=[self.calls.table_arn],
                conditions={
                    "ForAllValues:StringLike": {"dynamodb:LeadingKeys": [f"{BACKOFF_KEY_PREFIX}*"]}
                },
            )
        )

    def grant_query_pending(self, grantee: iam.IGrantable) -> None:
        """Query the calls table's pending and deadline indexes (the sweeper's), no other."""
        iam.Grant.add_to_principal(
            grantee=grantee,
            actions=["dynamodb:Query"],
            resource_arns=[
                f"{self.calls.table_arn}/index/{index}"
                for index in (c.PENDING_INDEX, c.DEADLINE_INDEX)
            ],
        )

    def _table(self, construct_id: str) -> dynamodb.Table:
        return dynamodb.Table(
            self,
            construct_id,
            # Same key schema as `outdial serve` and the integration tests (adapters/tables.py).
            partition_key=dynamodb.Attribute(
                name=c.TABLE_PARTITION_KEY, type=dynamodb.AttributeType.STRING
            ),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,  # bursts of 500-call batches
            encryption=dynamodb.TableEncryption.AWS_MANAGED,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            # Items without the attribute never expire; the code sets it on checksums (24 h)
            # and on calls, requests and legs (the retention period after they end).
            time_to_live_attribute=c.TABLE_TTL_ATTRIBUTE,
            # Balances and call records outlive the stack: deleting it must not delete them.
            deletion_protection=True,
            removal_policy=RemovalPolicy.RETAIN,
        )
