"""Names and numbers both the runtime and the deployment (``infra/``, ``outdial serve``) rely on.

Declared once here and imported on both sides, never copied and held equal by a test. Plain
Python only (no boto3, Powertools or pydantic): a CDK synth imports this module and nothing else
of the package.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final

from outdial.models.codes import Code as Code  # the response codes (stdlib only)

SERVICE: Final = "outdial"
FLOW_ID_PATTERN: Final = r"^[A-Za-z0-9]{8}$"  # a flow-id: 8 ASCII letters or digits

# --- Tables ---------------------------------------------------------------------------------
PARTITION_KEY: Final = "pk"  # STRING, the only key of both tables
TTL_ATTRIBUTE: Final = "expires-at"  # epoch seconds; items without it never expire
CONFIG_TABLE: Final = "config"  # accounts (with their balance), flow views, gateways
CALLS_TABLE: Final = "calls"  # calls, requests, checksums, legs, pace slots, callback nonces
TABLES: Final = (CONFIG_TABLE, CALLS_TABLE)

# The calls table's sparse index of half-enqueued requests: the api marks a request's checksum
# item (`dispatch`, `claimed-at`) before enqueueing its calls and clears the mark once they are
# all enqueued, so the index holds only requests whose api invocation died in between; the
# sweeper queries it for marks older than its grace period. Keys only: the sweeper reads the item.
PENDING_INDEX: Final = "pending-dispatch"
PENDING_PARTITION_KEY: Final = "dispatch"  # STRING, always PENDING_VALUE
PENDING_SORT_KEY: Final = "claimed-at"  # NUMBER, epoch seconds
PENDING_VALUE: Final = "PENDING"

# The calls table's sparse index of calls DIALING, by when their current leg's outcome is due
# (SPEC §11). The dialer sets the keys when it takes a call or claims a leg and removes them when
# the call leaves DIALING; the sweeper's reconciler queries it for overdue calls, shard by shard.
# The partition key is spread over DEADLINE_SHARDS values so that no index partition takes more
# than its share of the legs being claimed and ended.
DEADLINE_INDEX: Final = "dialing-deadlines"
DEADLINE_PARTITION_KEY: Final = "deadline-shard"  # STRING, "0" .. str(DEADLINE_SHARDS - 1)
DEADLINE_SORT_KEY: Final = "deadline-at"  # NUMBER, epoch seconds
DEADLINE_SHARDS: Final = 10

# The calls table's per-account webhook receiver backoff items: the webhooks function may
# write only keys with this prefix.
BACKOFF_KEY_PREFIX: Final = "WEBHOOK-BACKOFF#"

CHECKSUM_TTL_SECONDS: Final = 24 * 3600  # SPEC §2 check 12: the same body within the last 24 h
IDEMPOTENCY_TTL_SECONDS: Final = 24 * 3600  # SPEC §7: an Idempotency-Key's answer is kept 24 h
CALL_RETENTION_DAYS: Final = 90  # calls and requests kept this long after they are due

# --- Secrets Manager ------------------------------------------------------------------------
# Every secret of one deployment is under its prefix (OUTDIAL_SECRET_PREFIX; `outdial/<stack>/`
# on AWS, DEFAULT_SECRET_PREFIX locally), so a staging stack in the same account never reads or
# overwrites production's. Under it: an http gateway's {"token", "event-secret"} (`outdial
# config check` refuses a secret-id outside it; the only gateway secrets the functions may read),
# a flow's {"security-id"} (written by `config apply`), an account's webhook signing secrets
# (`outdial webhook-secret rotate`).
DEFAULT_SECRET_PREFIX: Final = "outdial/"
GATEWAY_SECRETS: Final = "gateways/"
FLOW_SECRETS: Final = "flows/"
ACCOUNT_SECRETS: Final = "accounts/"
# The same with the local default prefix.
GATEWAY_SECRET_PREFIX: Final = DEFAULT_SECRET_PREFIX + GATEWAY_SECRETS
FLOW_SECRET_PREFIX: Final = DEFAULT_SECRET_PREFIX + FLOW_SECRETS
ACCOUNT_SECRET_PREFIX: Final = DEFAULT_SECRET_PREFIX + ACCOUNT_SECRETS


def secret_prefix(stack_name: str) -> str:
    """The prefix of every secret of stack ``stack_name`` (its functions' OUTDIAL_SECRET_PREFIX)."""
    return f"{DEFAULT_SECRET_PREFIX}{stack_name}/"


# --- Stack outputs --------------------------------------------------------------------------
# Each output of the stack, and the environment variable it sets for the code (`outdial` reads
# them from a deployed stack; the functions get the same variables).
STACK_OUTPUTS: Final[dict[str, str]] = {
    "ConfigTableName": "OUTDIAL_CONFIG_TABLE",
    "CallsTableName": "OUTDIAL_CALLS_TABLE",
    "ScheduleGroupName": "OUTDIAL_SCHEDULE_GROUP",
    "DialQueueUrl": "OUTDIAL_DIAL_QUEUE_URL",
    "OutcomeQueueUrl": "OUTDIAL_OUTCOME_QUEUE_URL",
    "WebhookQueueUrl": "OUTDIAL_WEBHOOK_QUEUE_URL",
    "WebhookDlqUrl": "OUTDIAL_WEBHOOK_DLQ_URL",
    "SecretPrefix": "OUTDIAL_SECRET_PREFIX",
}

# --- Gateways -------------------------------------------------------------------------------
# An http gateway's request timeouts unless its configuration says otherwise.
GATEWAY_CONNECT_TIMEOUT_SECONDS: Final = 3
GATEWAY_READ_TIMEOUT_SECONDS: Final = 10


class LegOutcome(StrEnum):
    """How a placed leg ended, as the gateway reports it (also a metric dimension)."""

    ANSWERED = "ANSWERED"
    NO_ANSWER = "NO_ANSWER"
    BUSY = "BUSY"
    FAILED = "FAILED"  # placed, but the network could not complete it
    # Never reported, and the gateway could not say when asked past the leg's deadline (SPEC
    # §11): outdial's own verdict, never one a gateway may post.
    UNKNOWN = "UNKNOWN"


# --- Dialling policy (SPEC §9) ---------------------------------------------------------------
SKIP_DNC: Final = "dnc"  # the number is on the account's do-not-call list
SKIP_WINDOW: Final = "calling-window"  # the window never opens in every zone of the number
WAIT_WINDOW: Final = "window"
WAIT_CAP: Final = "frequency-cap"
SKIP_REASONS: Final = (SKIP_DNC, SKIP_WINDOW)  # LegsSkipped's `reason`
DEFER_REASONS: Final = (WAIT_WINDOW, WAIT_CAP)  # LegsDeferred's `reason`


# --- Queues and their consumers -------------------------------------------------------------
# Calls due together share a dial message, up to this many (the dialer places each call's leg
# with one short gateway request, so a message stays well inside the dialer's timeout).
DIAL_GROUP_SIZE: Final = 10
# One dial message per dialer invocation: the dialer's maximum concurrency then counts dial
# groups in flight (the pacing knob), and one slow gateway delays only its own group.
DIAL_BATCH_SIZE: Final = 1
# Receives before SQS moves a dial message to its dead-letter queue (the stack and `outdial
# serve` alike). Every step of dialling is conditional, so a retry repeats nothing; five rides
# out a burst of throttling or conflicts before `outdial dial-queue redrive` is needed.
DIAL_MAX_RECEIVES: Final = 5
# The dialer's timeout covers a whole dial group against a slow gateway: each call's gateway
# request is bounded by the gateway's default connect + read timeouts, plus a margin for DynamoDB.
DIALER_TIMEOUT_SECONDS: Final = (
    DIAL_GROUP_SIZE * (GATEWAY_CONNECT_TIMEOUT_SECONDS + GATEWAY_READ_TIMEOUT_SECONDS) + 20
)
# Visibility timeout = factor x the consumer's timeout. AWS's guidance for SQS event sources is
# 6x, so a batch retried after a Lambda throttle is not redelivered while it may still run; the
# webhook queue follows it. The dial queue takes 2x: its dialer claims each leg before placing
# it (a rare second delivery dials nothing twice), and a failed message of due calls should come
# back within minutes, not a quarter of an hour.
DIAL_VISIBILITY_FACTOR: Final = 2
DIAL_VISIBILITY_SECONDS: Final = DIALER_TIMEOUT_SECONDS * DIAL_VISIBILITY_FACTOR
# Leg outcomes (a gateway's events, the simulator's) have a queue of their own, consumed by the
# same dialer up to ten at a time: applying an outcome is a few conditional writes, and the
# dial queue's one-message-per-invocation pacing is about placing legs, not recording them.
OUTCOME_BATCH_SIZE: Final = 10
OUTCOME_MAX_RECEIVES: Final = DIAL_MAX_RECEIVES
OUTCOME_VISIBILITY_SECONDS: Final = DIAL_VISIBILITY_SECONDS

WEBHOOK_BATCH_SIZE: Final = 5
WEBHOOK_MAX_CONCURRENCY: Final = 10  # spreads a burst of completions instead of flooding customers
# The webhook handler retries a delivery itself for 24 h (visibility stretched 30 s, 60 s, ...
# up to 2 h: about 20 receives), then moves it to the DLQ itself; the queue's redrive is only the
# safety net for a message that keeps crashing the handler, so it must sit above those receives.
WEBHOOK_MAX_RECEIVES: Final = 30
WEBHOOK_MAX_AGE_SECONDS: Final = 24 * 3600  # SPEC §4: retried for up to 24 h, then the DLQ
WEBHOOKS_TIMEOUT_SECONDS: Final = 60
WEBHOOK_VISIBILITY_FACTOR: Final = 6
WEBHOOK_VISIBILITY_SECONDS: Final = WEBHOOKS_TIMEOUT_SECONDS * WEBHOOK_VISIBILITY_FACTOR

SWEEP_INTERVAL_SECONDS: Final = 60  # the sweeper runs every minute


# --- Metrics (EMF, namespace SERVICE, every one with the dimension service=SERVICE) ---------
class Metric(StrEnum):
    """One metric per business event."""

    CALLS_ACCEPTED = "CallsAccepted"
    CALLS_REJECTED = "CallsRejected"  # dimension `code`
    SCHEDULE_LAG_SECONDS = "ScheduleLagSeconds"
    LEGS_DIALLED = "LegsDialled"  # dimension `outcome` (a LegOutcome)
    CALLS_COMPLETED = "CallsCompleted"
    CALLS_NOT_CONNECTED = "CallsNotConnected"
    CALLS_FAILED = "CallsFailed"
    WEBHOOK_DELIVERIES = "WebhookDeliveries"
    WEBHOOK_FAILURES = "WebhookFailures"  # dimension `reason`
    DISPATCHES_RECOVERED = "DispatchesRecovered"  # dimension `action`
    LEGS_PACED = "LegsPaced"  # dimension `gateway_id`: over the gateway's pace or rate limit
    LEGS_DEFERRED = "LegsDeferred"  # dimension `reason` (a DEFER_REASONS)
    LEGS_SKIPPED = "LegsSkipped"  # dimension `reason` (a SKIP_REASONS)
    LEGS_PLACEMENT_UNKNOWN = "LegsPlacementUnknown"  # the gateway may or may not have it
    DIALS_REQUEUED = "DialsRequeued"  # out of the invocation's time: back on the queue
    CALLS_RECONCILED = "CallsReconciled"  # the sweeper's reconciler moved an overdue call


METRICS_NAMESPACE: Final = SERVICE
METRICS_DIMENSIONS: Final = {"service": SERVICE}
DIMENSION_CODE: Final = "code"
DIMENSION_OUTCOME: Final = "outcome"
DIMENSION_REASON: Final = "reason"
DIMENSION_ACTION: Final = "action"
# DispatchesRecovered's `action`: the sweeper finished a half-enqueued request, or rolled it back.
DISPATCH_RECOVERY_ACTIONS: Final = ("forward", "back")
