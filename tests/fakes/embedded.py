"""moto for the whole test session: started and provisioned once, emptied between tests.

Provisioning (two tables with their index and TTL, four queues, a schedule group) costs far more
than a test's own work on moto; emptying costs a handful of in-process calls. A test that resets
all of moto (the local runtime's tests do) only costs the next test a fresh provisioning.
"""

from __future__ import annotations

from copy import deepcopy
from dataclasses import dataclass
from typing import Any

from outdial.local.embedded_aws import ACCOUNT, REGION, Resources, provision


def _backend(service: str) -> Any:
    """moto's in-process state of ``service`` in our account and region."""
    if service == "dynamodb":
        from moto.dynamodb.models import dynamodb_backends as backends
    elif service == "sqs":
        from moto.sqs.models import sqs_backends as backends
    elif service == "scheduler":
        from moto.scheduler.models import scheduler_backends as backends
    else:
        from moto.secretsmanager.models import secretsmanager_backends as backends
    return backends[ACCOUNT][REGION]


def _tables(resources: Resources) -> set[str]:
    return {resources.env["OUTDIAL_CONFIG_TABLE"], resources.env["OUTDIAL_CALLS_TABLE"]}


def _queues(resources: Resources) -> set[str]:
    return {
        value.rsplit("/", 1)[1]
        for name, value in resources.env.items()
        if name.endswith(("_QUEUE_URL", "_DLQ_URL"))
    }


def _intact(resources: Resources) -> bool:
    return _tables(resources) <= set(_backend("dynamodb").tables) and _queues(resources) <= set(
        _backend("sqs").queues
    )


def ensure(resources: Resources | None) -> Resources:
    """``resources`` if they are all still there, else a fresh provisioning."""
    if resources is not None and _intact(resources):
        return resources
    return provision()


def drop_tables(resources: Resources) -> None:
    """Delete our tables (``ensure`` provisions everything again)."""
    tables = _backend("dynamodb").tables
    for table in _tables(resources):
        tables.pop(table, None)


def wipe(resources: Resources) -> None:
    """Every item, message, schedule and secret gone; whatever a test created besides our own
    resources (tables, queues, schedule groups) deleted.

    It empties moto's in-process state directly: the same outcome as scanning and deleting
    through the API, without the dozen requests (and their clients) that would cost each test.
    """
    tables = _backend("dynamodb").tables
    ours = _tables(resources)
    for name in list(tables):
        if name in ours:
            tables[name].items.clear()
        else:
            del tables[name]
    queues = _backend("sqs").queues
    ours = _queues(resources)
    for name in list(queues):
        if name in ours:
            # What ``PurgeQueue`` does, without SQS's once-a-minute limit (moto enforces it too).
            queues[name]._messages = []
            queues[name]._pending_messages = set()
        else:
            del queues[name]
    scheduler = _backend("scheduler")
    keep = (resources.env["OUTDIAL_SCHEDULE_GROUP"], "default")
    for name in list(scheduler.schedule_groups):
        if name in keep:
            scheduler.schedule_groups[name].schedules.clear()
        else:
            del scheduler.schedule_groups[name]
    _backend("secretsmanager").secrets.clear()


@dataclass(frozen=True)
class ConfigState:
    """What applying a configuration left in moto: the config table's items and the secrets,
    for ``resources`` as provisioned then."""

    resources: Resources
    items: Any
    secrets: dict[str, Any]


def save_config_state(resources: Resources) -> ConfigState:
    table = _backend("dynamodb").tables[resources.env["OUTDIAL_CONFIG_TABLE"]]
    secrets = _backend("secretsmanager").secrets
    return ConfigState(resources, deepcopy(table.items), deepcopy(dict(secrets.items())))


def restore_config_state(state: ConfigState) -> None:
    """Put back what ``save_config_state`` saw (on a wiped AWS: the calls table stays empty)."""
    table = _backend("dynamodb").tables[state.resources.env["OUTDIAL_CONFIG_TABLE"]]
    table.items.clear()
    table.items.update(deepcopy(state.items))
    secrets = _backend("secretsmanager").secrets
    secrets.clear()
    for name, secret in deepcopy(state.secrets).items():
        secrets[name] = secret
