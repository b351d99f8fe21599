"""Names, sizes and knobs of the deployment, in one place (the stack and the infra tests read them).

Resource names are left to CloudFormation (so two stages can live in one account); what the code
needs to find them travels in the functions' environment and the stack's outputs.
"""

from __future__ import annotations

from pathlib import Path

from aws_cdk import Duration
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs

# The names the runtime shares with the stack: the package's one module infra/ imports.
from outdial.contract import (
    ACCOUNT_SECRETS,
    BACKOFF_KEY_PREFIX,
    CALLS_TABLE,
    CHECKSUM_TTL_SECONDS,
    CONFIG_TABLE,
    DEADLINE_INDEX,
    DEADLINE_PARTITION_KEY,
    DEADLINE_SORT_KEY,
    DEFER_REASONS,
    DIAL_BATCH_SIZE,
    DIAL_MAX_RECEIVES,
    DIAL_VISIBILITY_FACTOR,
    DIALER_TIMEOUT_SECONDS,
    DISPATCH_RECOVERY_ACTIONS,
    FLOW_SECRETS,
    GATEWAY_SECRETS,
    IDEMPOTENCY_TTL_SECONDS,
    METRICS_DIMENSIONS,
    METRICS_NAMESPACE,
    OUTCOME_BATCH_SIZE,
    OUTCOME_MAX_RECEIVES,
    PARTITION_KEY,
    PENDING_INDEX,
    PENDING_PARTITION_KEY,
    PENDING_SORT_KEY,
    SKIP_REASONS,
    STACK_OUTPUTS,
    SWEEP_INTERVAL_SECONDS,
    TTL_ATTRIBUTE,
    WEBHOOK_BATCH_SIZE,
    WEBHOOK_MAX_CONCURRENCY,
    WEBHOOK_MAX_RECEIVES,
    WEBHOOK_VISIBILITY_FACTOR,
    WEBHOOKS_TIMEOUT_SECONDS,
    Code,
    LegOutcome,
    Metric,
    secret_prefix,
)

__all__ = [
    "BACKOFF_KEY_PREFIX",
    "CHECKSUM_TTL_SECONDS",
    "DEADLINE_INDEX",
    "DEADLINE_PARTITION_KEY",
    "DEADLINE_SORT_KEY",
    "DEFER_REASONS",
    "DIAL_BATCH_SIZE",
    "DIAL_MAX_RECEIVES",
    "DIAL_VISIBILITY_FACTOR",
    "DISPATCH_RECOVERY_ACTIONS",
    "IDEMPOTENCY_TTL_SECONDS",
    "METRICS_DIMENSIONS",
    "METRICS_NAMESPACE",
    "OUTCOME_BATCH_SIZE",
    "OUTCOME_MAX_RECEIVES",
    "PENDING_INDEX",
    "PENDING_PARTITION_KEY",
    "PENDING_SORT_KEY",
    "SKIP_REASONS",
    "STACK_OUTPUTS",
    "WEBHOOK_BATCH_SIZE",
    "WEBHOOK_MAX_CONCURRENCY",
    "WEBHOOK_MAX_RECEIVES",
    "WEBHOOK_VISIBILITY_FACTOR",
    "Code",
    "Metric",
    "secret_prefix",
]

ROOT = Path(__file__).resolve().parent.parent
LAMBDAS_DIR = ROOT / "lambdas"
PACKAGE = "outdial"  # the one package under lambdas/ that ships
PYPROJECT = ROOT / "pyproject.toml"
# Every distribution the Lambda asset ships, pinned with its wheel's hash (`make lock` writes it).
LAMBDA_LOCK = ROOT / "requirements-lambda.lock"
DEPS_CACHE_DIR = ROOT / "build" / "lambda-deps"  # pip installs the wheels here once per pin set

STACK_ID = "Outdial"
STACK_DESCRIPTION = "outdial: outbound-call API (API Gateway, Lambda, DynamoDB, SQS, Scheduler)"

# --- Lambda runtime -------------------------------------------------------------------------
# 3.12 is the closest Lambda runtime to the 3.11 the test suites run on; the bundled wheels
# (pydantic_core is compiled) are fetched for exactly this version and Lambda's arm64.
PYTHON_VERSION = "3.12"
LAMBDA_TASK_ROOT = "/var/task"  # where Lambda unpacks the asset
PIP_PLATFORM = "manylinux2014_aarch64"
LAMBDA_RUNTIME: lambda_.Runtime = getattr(
    lambda_.Runtime, f"PYTHON_{PYTHON_VERSION.replace('.', '_')}"
)
# What the Lambda runtime already provides: never shipped, even when a dependency pulls it in.
RUNTIME_PROVIDED = frozenset({"boto3", "botocore", "s3transfer"})

HANDLERS = {
    "api": "outdial.handlers.api.handler",
    "dialer": "outdial.handlers.dialer.handler",
    "webhooks": "outdial.handlers.webhooks.handler",
    "sweeper": "outdial.handlers.sweeper.handler",
}

LOG_RETENTION = logs.RetentionDays.ONE_MONTH

# --- Data -----------------------------------------------------------------------------------
TABLE_PARTITION_KEY = PARTITION_KEY
TABLE_TTL_ATTRIBUTE = TTL_ATTRIBUTE
TABLE_LOGICAL_NAMES = (CONFIG_TABLE, CALLS_TABLE)
# What a function may do to a config item beyond reading it: balances move by conditional
# updates (alone, or in a transaction with the call they settle).
CONFIG_UPDATE_ACTIONS = ("dynamodb:UpdateItem",)
# The pending-dispatch and dialing-deadlines indexes, the checksum and idempotency TTLs, secret
# prefixes, queue settings (batch sizes, receives, visibility factors) and metric names come from
# outdial.contract (imported above).

# --- Queues and consumers -------------------------------------------------------------------
DLQ_RETENTION = Duration.days(14)  # SQS's maximum: time for an operator to look and redrive

# --- Functions: memory (which also buys CPU) and timeouts ----------------------------------
# api: validating 500 calls (pydantic + phonenumbers), hashing a 1 MiB body and writing up to
#   500 items is CPU-bound; 1024 MB is ~0.6 vCPU, which keeps a full batch and the cold import
#   of boto3 + Powertools + pydantic (~0.2 s at a full vCPU) well under a second.
#   Its timeout stays under API Gateway REST's 29 s integration limit, with room for a cold
#   start's init (which API Gateway counts, Lambda's timeout does not): a longer one would write
#   work whose client has already been told 504.
# Lambda bills GB-seconds and gives CPU in proportion to memory (1,769 MB = 1 vCPU), so below a
# vCPU a function's CPU work costs the same GB-seconds at any memory, while its waits (AWS
# requests, a carrier's API, a customer's endpoint) cost in proportion to it: an I/O-bound
# function should have the least memory whose CPU share keeps its latency acceptable
# (bench/cost.py measures each function's own CPU time and models its waits).
# dialer: I/O-bound: per invocation ~10 ms of its own CPU at a full vCPU (bench/cost.py) beside
#   ~300 ms of waiting (its DynamoDB requests, a carrier's create-call request per leg). At
#   256 MB (0.14 vCPU) that is ~70 + 300 ms, billed 0.09 GB-s; at 512 MB ~35 + 300 ms, 0.16
#   GB-s: 45 % more for 10 % less latency. The price is the cold start: importing the handler
#   takes ~0.6 s of CPU, ~4 s at 256 MB (~2 s at 512 MB), which delays a cold dialer's first
#   group by as much (the lag alarm is at 30 s). 128 MB would leave too little headroom above the
#   runtime's ~100 MB resident set.
#   Its timeout covers a whole dial group against a slow gateway: each call's gateway request is
#   bounded by the gateway's default connect + read timeouts, plus a margin for DynamoDB.
# webhooks: I/O-bound: one signed POST per message, cut off at 10 s of wall clock whatever the
#   receiver does (the handler leaves a record for its next receive when under two deliveries'
#   time remains); 256 MB is enough.
# sweeper: I/O-bound and rarely has anything to do (a query of an index that is normally empty);
#   256 MB. Its timeout is one period of its schedule, so runs barely overlap.
API_MEMORY_MB = 1024
API_TIMEOUT = Duration.seconds(25)
# A request holding an Idempotency-Key longer than this died (twice the api's timeout).
IDEMPOTENCY_LEASE_SECONDS = 2 * int(API_TIMEOUT.to_seconds())
DIALER_MEMORY_MB = 256
DIALER_TIMEOUT = Duration.seconds(DIALER_TIMEOUT_SECONDS)
WEBHOOKS_MEMORY_MB = 256
WEBHOOKS_TIMEOUT = Duration.seconds(WEBHOOKS_TIMEOUT_SECONDS)
SWEEPER_MEMORY_MB = 256
SWEEPER_TIMEOUT = Duration.seconds(60)
# The sweeper runs every minute. A run that fails is not retried (neither by EventBridge nor by
# Lambda's asynchronous retries): the next minute's run sweeps the same index again.
SWEEPER_RATE = Duration.seconds(SWEEP_INTERVAL_SECONDS)
SWEEPER_MAX_EVENT_AGE = Duration.seconds(60)  # the minimum both EventBridge and Lambda accept

# Knobs of the code the stack sets to the values the code defaults to, so that the deployment says
# what it runs with (and a change of default shows up as a change of the template).
CODE_SETTINGS = {
    "OUTDIAL_SCHEDULE_MIN_LEAD_SECONDS": 60,
    "OUTDIAL_AWS_READ_TIMEOUT_SECONDS": 5,
    # Far longer than the api's timeout: the sweeper never races a live invocation.
    "OUTDIAL_DISPATCH_GRACE_SECONDS": 300,
}

# --- Scheduling and secrets -----------------------------------------------------------------
SCHEDULER_SERVICE = "scheduler.amazonaws.com"
# Create (future start, retries), Get (a cancel reads which calls a schedule still wakes), Delete.
SCHEDULE_ACTIONS = ("scheduler:CreateSchedule", "scheduler:GetSchedule", "scheduler:DeleteSchedule")
# The sweeper only finishes what the api began: it creates the schedules the api did not get to.
SWEEPER_SCHEDULE_ACTIONS = ("scheduler:CreateSchedule",)
SECRET_READ_ACTIONS = ("secretsmanager:GetSecretValue",)  # all the code calls
# Every secret of one stack is under outdial.contract.secret_prefix(stack) (the functions'
# environment carries it as OUTDIAL_SECRET_PREFIX), so a staging stack in the same account never
# reads or overwrites production's: GATEWAY_SECRETS holds an http gateway's {"token",
# "event-secret"} (`outdial config check` refuses a secret-id outside it), FLOW_SECRETS a flow's
# {"security-id"}, written by `outdial config apply`, ACCOUNT_SECRETS the webhook signing keys.


def gateway_secret_prefix(stack_name: str) -> str:
    return secret_prefix(stack_name) + GATEWAY_SECRETS


def flow_secret_prefix(stack_name: str) -> str:
    return secret_prefix(stack_name) + FLOW_SECRETS


def account_secret_prefix(stack_name: str) -> str:
    return secret_prefix(stack_name) + ACCOUNT_SECRETS


# --- API ------------------------------------------------------------------------------------
STAGE_NAME = "prod"
# Every route of SPEC §2-3, §7 (reschedule) and §10 (replay) plus the gateways' outcome events;
# the api function serves them all.
ROUTES = (
    ("POST", "/outbound/create"),
    ("POST", "/outbound/pull"),
    ("GET", "/outbound/calls/{phonon-uuid}"),
    ("DELETE", "/outbound/calls/{phonon-uuid}"),
    ("PATCH", "/outbound/calls/{phonon-uuid}"),
    ("GET", "/outbound/requests/{request-id}"),
    ("POST", "/outbound/webhooks/replay"),
    ("PUT", "/outbound/dnc/{number}"),
    ("DELETE", "/outbound/dnc/{number}"),
    ("GET", "/outbound/dnc/{number}"),
    ("POST", "/outbound/dnc"),
    ("POST", "/gateway/events/{gateway-id}"),
    ("GET", "/health"),
    ("GET", "/openapi.json"),
)

# --- Metrics (Powertools EMF) and alarms ----------------------------------------------------
LEG_OUTCOMES = tuple(outcome.value for outcome in LegOutcome)
# SPEC §9: LegsDeferred's `reason` (a closed calling window, a frequency cap reached) and
# LegsSkipped's (a number on the do-not-call list, a window that never opens for it): the
# contract's DEFER_REASONS and SKIP_REASONS.
# A schedule fires at least a minute before its calls' minute and the last hop is an SQS delay to
# the second, so a due call starts within seconds; 30 s late means the dialers are short.
SCHEDULE_LAG_LIMIT_SECONDS = 30
API_5XX_RATE_LIMIT = 0.05  # of requests, over 5 minutes
DIAL_OLDEST_AGE_LIMIT_SECONDS = 300  # a due call waiting 5 min for a dialer is late

# --- Context keys (cdk.json holds their values; `cdk deploy -c key=value` overrides) ---------
CTX_THROTTLE_RATE = "outdial:throttleRateLimit"
CTX_THROTTLE_BURST = "outdial:throttleBurstLimit"
CTX_DIALER_MAX_CONCURRENCY = "outdial:dialerMaxConcurrency"
CTX_CALL_RETENTION_DAYS = "outdial:callRetentionDays"
CTX_ALARM_EMAIL = "outdial:alarmEmail"
CTX_GATEWAY_SECRETS = "outdial:gatewaySecrets"
# Opt-in WAF web ACL on the stage: requests per source IP per 5 minutes (0: no web ACL).
CTX_WAF_RATE_LIMIT = "outdial:wafRateLimitPerIp"
WAF_MIN_RATE_LIMIT = 10  # WAF's floor for a rate-based rule
WAF_MAX_RATE_LIMIT = 2_000_000_000
MIN_DIALER_CONCURRENCY = 2  # SQS event sources' MaximumConcurrency minimum
MAX_DIALER_CONCURRENCY = 1000
