"""Least privilege: each function's rights, the scheduler role, PassRole, secrets by prefix."""

from __future__ import annotations

from typing import Any

from infra import constants as c
from tests.infra.conftest import Synthesized
from tests.infra.iam import arn, rights, statements

TABLE_WRITES = {
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
    "dynamodb:BatchWriteItem",
}
# ConditionCheckItem (a transaction's condition) is a read to IAM: CDK grants it with reads.
TABLE_READS = {
    "dynamodb:GetItem",
    "dynamodb:BatchGetItem",
    "dynamodb:Query",
    "dynamodb:ConditionCheckItem",
}
SEND = "sqs:SendMessage"
CONSUME = {"sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility"}
SECRETS = {"secretsmanager:GetSecretValue"}
XRAY = {"xray:PutTraceSegments", "xray:PutTelemetryRecords"}
ARN_PREFIX = "arn:${AWS::Partition}"
REGION_ACCOUNT = "${AWS::Region}:${AWS::AccountId}"


def _secret_prefix(prefix: str) -> str:
    return f"{ARN_PREFIX}:secretsmanager:{REGION_ACCOUNT}:secret:{prefix}*"


class Ids:
    """Template ids of what the functions touch."""

    def __init__(self, s: Synthesized) -> None:
        stack = s.stack
        self.config = arn(s.logical_id(stack.data.config))
        self.calls = arn(s.logical_id(stack.data.calls))
        self.pending_index = f"{self.calls}/index/{c.PENDING_INDEX}"
        self.deadline_index = f"{self.calls}/index/{c.DEADLINE_INDEX}"
        self.dial = arn(s.logical_id(stack.queues.dial))
        self.webhooks = arn(s.logical_id(stack.queues.webhooks))
        self.outcomes = arn(s.logical_id(stack.queues.outcomes))
        self.webhooks_dlq = arn(s.logical_id(stack.queues.webhooks_dlq))
        self.scheduler_role = arn(s.logical_id(stack.scheduling.role))
        group = stack.resolve(stack.scheduling.group.schedule_group_name)
        self.schedules = f"{ARN_PREFIX}:scheduler:{REGION_ACCOUNT}:schedule/{group}/*"
        self.gateway_secrets = _secret_prefix(c.gateway_secret_prefix(stack.stack_name))
        self.flow_secrets = _secret_prefix(c.flow_secret_prefix(stack.stack_name))
        self.account_secrets = _secret_prefix(c.account_secret_prefix(stack.stack_name))


def _rights_of(s: Synthesized, name: str) -> dict[str, set[str]]:
    role = s.stack.functions[name].role
    return rights(s.resources, s.logical_id(role))


def _on(granted: dict[str, set[str]], actions: set[str]) -> set[str]:
    """The resources on which every one of ``actions`` is granted."""
    return set.intersection(*(granted.get(action, set()) for action in actions))


def _granted_on(granted: dict[str, set[str]], resource: str) -> set[str]:
    return {action for action, resources in granted.items() if resource in resources}


def _calls_read_write_config_balances(ids: Ids, granted: dict[str, set[str]]) -> None:
    """The calls table's items read and written; the config table's read and updated in place
    (balances), never put, deleted or batch-written: configuration is `config apply`'s."""
    assert _on(granted, TABLE_WRITES | TABLE_READS) == {ids.calls}
    assert _on(granted, TABLE_READS | set(c.CONFIG_UPDATE_ACTIONS)) == {ids.config, ids.calls}
    assert _granted_on(granted, ids.config) & TABLE_WRITES == set(c.CONFIG_UPDATE_ACTIONS)


def test_no_wildcard_resource_except_xray(synthesized: Synthesized) -> None:
    # Given every function's rights / Then only X-Ray (no resource-level support) gets "*"
    for name in c.HANDLERS:
        granted = _rights_of(synthesized, name)
        assert {a for a, resources in granted.items() if "*" in resources} == XRAY, name
        for action, resources in granted.items():
            if action.split(":")[0] in {"dynamodb", "sqs", "scheduler", "secretsmanager"}:
                assert all(not r.endswith(":*") and r != "*" for r in resources), action


def test_api_rights(synthesized: Synthesized) -> None:
    ids, granted = Ids(synthesized), _rights_of(synthesized, "api")
    # reads and writes calls (transactions, batches, conditional updates); balances in place
    _calls_read_write_config_balances(ids, granted)
    # sends due calls to the dial queue, gateway events to the outcome queue and cancelled calls'
    # webhooks; consumes nothing
    assert granted[SEND] == {ids.dial, ids.outcomes, ids.webhooks}
    assert not CONSUME & set(granted)
    # schedules in the group only, handing them the scheduler role only
    assert _on(granted, set(c.SCHEDULE_ACTIONS)) == {ids.schedules}
    assert {a for a in granted if a.startswith("scheduler:")} == set(c.SCHEDULE_ACTIONS)
    assert granted["iam:PassRole"] == {ids.scheduler_role}
    # gateway secrets only, read-only
    assert _on(granted, SECRETS) == {ids.gateway_secrets}
    assert {a for a in granted if a.startswith("secretsmanager:")} == SECRETS


def test_dialer_rights(synthesized: Synthesized) -> None:
    ids, granted = Ids(synthesized), _rights_of(synthesized, "dialer")
    _calls_read_write_config_balances(ids, granted)
    assert _on(granted, CONSUME) == {ids.dial, ids.outcomes}
    # fan-out / next legs, the simulator's leg outcomes, and terminal outcomes to report
    assert granted[SEND] == {ids.dial, ids.outcomes, ids.webhooks}
    assert _on(granted, set(c.SCHEDULE_ACTIONS)) == {ids.schedules}
    assert granted["iam:PassRole"] == {ids.scheduler_role}
    assert _on(granted, SECRETS) == {ids.gateway_secrets}


def test_webhook_sender_rights(synthesized: Synthesized) -> None:
    ids, granted = Ids(synthesized), _rights_of(synthesized, "webhooks")
    # consumes (and postpones) webhook messages; sends only to its DLQ (dead-lettering itself)
    assert _on(granted, CONSUME) == {ids.webhooks}
    assert granted[SEND] == {ids.webhooks_dlq}
    # reads the call and its flow's view (the webhook URL)
    assert _on(granted, TABLE_READS) == {ids.calls, ids.config}
    # and writes only its per-account backoff items: update and delete, on keys with their prefix
    writes = TABLE_WRITES & set(granted)
    assert writes == {"dynamodb:UpdateItem", "dynamodb:DeleteItem"}
    assert _on(granted, writes) == {ids.calls}
    role = synthesized.logical_id(synthesized.stack.functions["webhooks"].role)
    [scoped] = [
        st
        for st in statements(synthesized.resources, role)
        if "dynamodb:DeleteItem" in st["Action"]
    ]
    assert scoped["Condition"] == {
        "ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["WEBHOOK-BACKOFF#*"]}
    }
    # signs with the accounts' secrets or the flows' keys; no gateway credentials, no scheduling
    assert _on(granted, SECRETS) == {ids.flow_secrets, ids.account_secrets}
    assert not _granted_on(granted, ids.gateway_secrets)
    assert not {a for a in granted if a.startswith(("scheduler:", "iam:"))}


def test_sweeper_rights(synthesized: Synthesized) -> None:
    ids, granted = Ids(synthesized), _rights_of(synthesized, "sweeper")
    # queries its two indexes (pending dispatches, dialling deadlines), nothing but Query on them
    assert _granted_on(granted, ids.pending_index) == {"dynamodb:Query"}
    assert _granted_on(granted, ids.deadline_index) == {"dynamodb:Query"}
    # reads and writes the request's calls and checksum; refunds balances in place
    _calls_read_write_config_balances(ids, granted)
    # sends calls due now to the dial queue, a simulated leg's outcome, and the webhook of a call
    # it ends; consumes nothing
    assert granted[SEND] == {ids.dial, ids.outcomes, ids.webhooks}
    assert not CONSUME & set(granted)
    # creates schedules in the group only (never reads or deletes one), with the scheduler role
    assert {a for a in granted if a.startswith("scheduler:")} == set(c.SWEEPER_SCHEDULE_ACTIONS)
    assert _on(granted, set(c.SWEEPER_SCHEDULE_ACTIONS)) == {ids.schedules}
    assert granted["iam:PassRole"] == {ids.scheduler_role}
    # reads gateway credentials only (to ask a gateway how an overdue leg went)
    assert _on(granted, SECRETS) == {ids.gateway_secrets}
    assert not _granted_on(granted, ids.flow_secrets)
    # and nothing else (besides writing its own logs)
    services = {a.split(":")[0] for a in granted}
    assert services == {"dynamodb", "sqs", "scheduler", "iam", "xray", "logs", "secretsmanager"}
    assert {r for a, rs in granted.items() if not a.startswith("logs:") for r in rs} == {
        ids.config,
        ids.calls,
        ids.pending_index,
        ids.deadline_index,
        ids.dial,
        ids.outcomes,
        ids.webhooks,
        ids.schedules,
        ids.scheduler_role,
        ids.gateway_secrets,
        "*",  # X-Ray
    }


def test_only_the_sweeper_reads_an_index(synthesized: Synthesized) -> None:
    # CDK would grant every table reader `<table>/index/*`: the grants go through references
    # that know no index, and the sweeper alone is granted its two indexes
    ids = Ids(synthesized)
    for name in c.HANDLERS:
        indexes = {r for rs in _rights_of(synthesized, name).values() for r in rs if "/index/" in r}
        expected = {ids.pending_index, ids.deadline_index} if name == "sweeper" else set()
        assert indexes == expected, name


def test_pass_role_only_to_the_scheduler(synthesized: Synthesized) -> None:
    for name in ("api", "dialer", "sweeper"):
        role = synthesized.logical_id(synthesized.stack.functions[name].role)
        passes = [
            s for s in statements(synthesized.resources, role) if s["Action"] == "iam:PassRole"
        ]
        assert passes and all(
            s["Condition"] == {"StringEquals": {"iam:PassedToService": c.SCHEDULER_SERVICE}}
            for s in passes
        )


def test_scheduler_role_may_only_send_to_the_dial_queue(synthesized: Synthesized) -> None:
    # Given the role EventBridge Scheduler assumes
    ids = Ids(synthesized)
    role_id = synthesized.logical_id(synthesized.stack.scheduling.role)
    role: dict[str, Any] = synthesized.resources[role_id]["Properties"]

    # Then only the scheduler, for this account's group, may assume it
    (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": c.SCHEDULER_SERVICE}
    assert trust["Condition"]["StringEquals"] == {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}
    group_id = synthesized.logical_id(synthesized.stack.scheduling.group)
    assert trust["Condition"]["ArnEquals"] == {"aws:SourceArn": {"Fn::GetAtt": [group_id, "Arn"]}}
    assert "ManagedPolicyArns" not in role
    # And all it may do is send to the dial queue
    assert rights(synthesized.resources, role_id) == {SEND: {ids.dial}}


def test_gateway_secret_is_created_from_context(synthesized: Synthesized) -> None:
    # Given `outdial:gatewaySecrets` names one gateway (conftest) / Then its secret exists,
    # under this stack's own prefix
    synthesized.template.has_resource_properties(
        "AWS::SecretsManager::Secret",
        {
            "Name": f"outdial/{synthesized.stack.stack_name}/gateways/carrier-1",
            "GenerateSecretString": {
                "GenerateStringKey": "event-secret",
                "SecretStringTemplate": '{"token": ""}',
                "ExcludePunctuation": True,
            },
        },
    )
