"""moto for the whole test session: started and provisioned once, emptied between tests.

Provisioning (two tables with their index and TTL, four queues, a schedule group) costs far more
than a test's own work on moto; emptying costs a handful of in-process calls. A test that resets
all of moto (the local runtime's tests do) only costs the next test a fresh provisioning.
"""

from __future__ import annotations

from typing import Any

from outdial.adapters import aws
from outdial.adapters.tables import batch_write, key
from outdial.contract import PARTITION_KEY
from outdial.local.embedded_aws import ACCOUNT, REGION, Resources, provision


def _tables(resources: Resources) -> set[str]:
    return {resources.env["OUTDIAL_CONFIG_TABLE"], resources.env["OUTDIAL_CALLS_TABLE"]}


def _queues(resources: Resources) -> set[str]:
    return {
        value for name, value in resources.env.items() if name.endswith(("_QUEUE_URL", "_DLQ_URL"))
    }


def ensure(resources: Resources | None) -> Resources:
    """``resources`` if they are all still there, else a fresh provisioning."""
    if resources is not None:
        tables = set(aws.client("dynamodb").list_tables()["TableNames"])
        if _tables(resources) <= tables:
            return resources
    return provision()


def drop_tables(resources: Resources) -> None:
    """Delete our tables (``ensure`` provisions everything again)."""
    dynamodb = aws.client("dynamodb")
    for table in _tables(resources):
        dynamodb.delete_table(TableName=table)


def wipe(resources: Resources) -> None:
    """Every item, message, schedule and secret gone; whatever a test created besides our own
    resources (tables, queues, schedule groups) deleted."""
    dynamodb, sqs, scheduler = (aws.client(s) for s in ("dynamodb", "sqs", "scheduler"))
    ours = _tables(resources)
    for table in dynamodb.list_tables()["TableNames"]:
        if table not in ours:
            dynamodb.delete_table(TableName=table)
            continue
        _empty_table(dynamodb, table)
    queues = _queues(resources)
    for url in sqs.list_queues().get("QueueUrls", []):
        if url in queues:
            _purge(url)
        else:
            sqs.delete_queue(QueueUrl=url)
    group = resources.env["OUTDIAL_SCHEDULE_GROUP"]
    for listed in scheduler.list_schedule_groups()["ScheduleGroups"]:
        name = listed["Name"]
        for schedule in scheduler.list_schedules(GroupName=name)["Schedules"]:
            scheduler.delete_schedule(Name=schedule["Name"], GroupName=name)
        if name not in (group, "default"):
            scheduler.delete_schedule_group(Name=name)
    _delete_secrets(aws.client("secretsmanager"))


def _purge(url: str) -> None:
    """What ``PurgeQueue`` does, without SQS's once-a-minute limit (moto enforces it too)."""
    from moto.sqs.models import sqs_backends

    queue = sqs_backends[ACCOUNT][REGION].get_queue(url.rsplit("/", 1)[1])
    queue._messages = []
    queue._pending_messages = set()


def _empty_table(dynamodb: Any, table: str) -> None:
    scan: dict[str, Any] = {"TableName": table, "ProjectionExpression": PARTITION_KEY}
    while True:
        page = dynamodb.scan(**scan)
        deletes = [{"DeleteRequest": {"Key": key(i[PARTITION_KEY]["S"])}} for i in page["Items"]]
        batch_write(dynamodb, table, deletes)
        if "LastEvaluatedKey" not in page:
            return
        scan["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def _delete_secrets(secrets: Any) -> None:
    listed: dict[str, Any] = {"IncludePlannedDeletion": True}
    while True:
        page = secrets.list_secrets(**listed)
        for secret in page["SecretList"]:
            secrets.delete_secret(SecretId=secret["ARN"], ForceDeleteWithoutRecovery=True)
        if "NextToken" not in page:
            return
        listed["NextToken"] = page["NextToken"]
