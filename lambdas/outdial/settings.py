"""Where the handlers find their AWS resources: the environment, parsed once."""

from __future__ import annotations

import os
from functools import lru_cache

from pydantic import BaseModel, ConfigDict, Field


class Settings(BaseModel):
    """Resource names and knobs, from ``OUTDIAL_*`` environment variables."""

    model_config = ConfigDict(frozen=True, populate_by_name=True)

    config_table: str = Field("outdial-config", alias="OUTDIAL_CONFIG_TABLE")
    calls_table: str = Field("outdial-calls", alias="OUTDIAL_CALLS_TABLE")
    dial_queue_url: str = Field("", alias="OUTDIAL_DIAL_QUEUE_URL")
    dial_queue_arn: str = Field("", alias="OUTDIAL_DIAL_QUEUE_ARN")
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
    secret_prefix: str = Field("outdial/", alias="OUTDIAL_SECRET_PREFIX", pattern=r"^[\w/+=.@-]*/$")
    checksum_ttl_seconds: int = Field(24 * 3600, alias="OUTDIAL_CHECKSUM_TTL_SECONDS")
    # An Idempotency-Key's answer is replayed this long; a request holding a key that has not
    # answered within the lease (longer than the api function's timeout) died, and the next
    # request with the key takes over.
    idempotency_ttl_seconds: int = Field(24 * 3600, alias="OUTDIAL_IDEMPOTENCY_TTL_SECONDS")
    idempotency_lease_seconds: int = Field(60, alias="OUTDIAL_IDEMPOTENCY_LEASE_SECONDS", ge=1)
    call_retention_days: int = Field(90, alias="OUTDIAL_CALL_RETENTION_DAYS")
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


# The deployed stack's outputs that name resources, and the setting each one fills:
# `outdial --stack NAME` reads them instead of hand-exported variables.
STACK_OUTPUTS: dict[str, str] = {
    "ConfigTableName": "OUTDIAL_CONFIG_TABLE",
    "CallsTableName": "OUTDIAL_CALLS_TABLE",
    "ScheduleGroupName": "OUTDIAL_SCHEDULE_GROUP",
    "DialQueueUrl": "OUTDIAL_DIAL_QUEUE_URL",
    "WebhookQueueUrl": "OUTDIAL_WEBHOOK_QUEUE_URL",
    "WebhookDlqUrl": "OUTDIAL_WEBHOOK_DLQ_URL",
    "SecretPrefix": "OUTDIAL_SECRET_PREFIX",
}


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The settings of this process (tests call ``get_settings.cache_clear()`` after changing env)."""
    return Settings.model_validate(dict(os.environ))
