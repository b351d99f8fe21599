"""Where the handlers find their AWS resources: the environment, parsed once."""

from __future__ import annotations

import os
from functools import lru_cache

from pydantic import BaseModel, ConfigDict, Field

from outdial.contract import (
    CALL_RETENTION_DAYS,
    CHECKSUM_TTL_SECONDS,
    DEFAULT_SECRET_PREFIX,
    IDEMPOTENCY_TTL_SECONDS,
    STACK_OUTPUTS,
)
from outdial.process import on_reset

__all__ = ["STACK_OUTPUTS", "Settings", "get_settings"]


class Settings(BaseModel):
    """Resource names and knobs, from ``OUTDIAL_*`` environment variables."""

    model_config = ConfigDict(frozen=True, populate_by_name=True)

    config_table: str = Field("outdial-config", alias="OUTDIAL_CONFIG_TABLE")
    calls_table: str = Field("outdial-calls", alias="OUTDIAL_CALLS_TABLE")
    dial_queue_url: str = Field("", alias="OUTDIAL_DIAL_QUEUE_URL")
    dial_queue_arn: str = Field("", alias="OUTDIAL_DIAL_QUEUE_ARN")
    # Where leg outcomes go (empty: the dial queue, which the dialer also reads them from).
    outcome_queue_url: str = Field("", alias="OUTDIAL_OUTCOME_QUEUE_URL")
    schedule_group: str = Field("outdial", alias="OUTDIAL_SCHEDULE_GROUP")
    scheduler_role_arn: str = Field("", alias="OUTDIAL_SCHEDULER_ROLE_ARN")
    webhook_queue_url: str = Field("", alias="OUTDIAL_WEBHOOK_QUEUE_URL")
    webhook_dlq_url: str = Field("", alias="OUTDIAL_WEBHOOK_DLQ_URL")
    # Where gateways post leg outcomes: this API's base URL (empty: the gateway is configured
    # with it on its side).
    public_base_url: str = Field("", alias="OUTDIAL_PUBLIC_BASE_URL")
    # Every secret of this deployment is under it: `gateways/<id>`, `flows/<flow-id>`. The stack
    # sets `outdial/<stack>/`; local runs and `outdial config apply` default to `outdial/` (set
    # it from the stack's SecretPrefix output to apply a file to a deployed stack).
    secret_prefix: str = Field(
        DEFAULT_SECRET_PREFIX, alias="OUTDIAL_SECRET_PREFIX", pattern=r"^[\w/+=.@-]*/$"
    )
    checksum_ttl_seconds: int = Field(CHECKSUM_TTL_SECONDS, alias="OUTDIAL_CHECKSUM_TTL_SECONDS")
    # An Idempotency-Key's answer is replayed this long; a request holding a key that has not
    # answered within the lease (longer than the api function's timeout) died, and the next
    # request with the key takes over.
    idempotency_ttl_seconds: int = Field(
        IDEMPOTENCY_TTL_SECONDS, alias="OUTDIAL_IDEMPOTENCY_TTL_SECONDS"
    )
    idempotency_lease_seconds: int = Field(60, alias="OUTDIAL_IDEMPOTENCY_LEASE_SECONDS", ge=1)
    call_retention_days: int = Field(CALL_RETENTION_DAYS, alias="OUTDIAL_CALL_RETENTION_DAYS")
    # How long an AWS call may take to answer before it is retried (`outdial serve` raises it:
    # its embedded AWS shares two cores with everything else).
    aws_read_timeout_seconds: float = Field(5, alias="OUTDIAL_AWS_READ_TIMEOUT_SECONDS", gt=0)
    # A call due sooner than this rides an SQS delay instead of a schedule: a schedule for a
    # moment that has passed by the time Scheduler sees it would be refused.
    schedule_min_lead_seconds: int = Field(60, alias="OUTDIAL_SCHEDULE_MIN_LEAD_SECONDS", ge=1)
    # A request still pending dispatch this long after its checksum was claimed was left
    # half-done by an api invocation that died: the sweeper finishes or undoes it. Far longer
    # than the api function's timeout, so the sweeper never races a live invocation.
    dispatch_grace_seconds: int = Field(300, alias="OUTDIAL_DISPATCH_GRACE_SECONDS", ge=60)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The settings of this process, read once (until ``reset_process_state()``)."""
    return Settings.model_validate(dict(os.environ))


on_reset(get_settings.cache_clear)
