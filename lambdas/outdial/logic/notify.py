"""Tell the customer a call ended: one signed webhook delivery attempt (SPEC §4).

The body is the ``<call>`` as a flat JSON object plus ``event-id`` and ``event-type`` (SPEC §10);
the header ``Outdial-Signature: t=<unix>,v1=<hex>`` signs ``"<t>." + body`` with the account's
webhook signing secrets, or without any, with the flow's security-id.
Retrying, backing off and dead-lettering are the caller's business (the webhook queue's
handler); this makes exactly one attempt and says how it went.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from outdial.adapters.call_reads import CallReads
from outdial.adapters.config_store import CachedConfigStore, ConfigStore
from outdial.adapters.errors import AdapterError
from outdial.adapters.gateways.secrets import FlowSecrets, SecretNotFound, shared_flow_secrets
from outdial.adapters.receiver_backoff import Backoff, ReceiverBackoff
from outdial.adapters.webhook_client import Delivery, WebhookClient
from outdial.adapters.webhook_queue import CALL_ENDED, LEG_ENDED, WebhookMessage
from outdial.adapters.webhook_secrets import AccountSecrets, shared_account_secrets
from outdial.logic.call_view import render_call, render_leg
from outdial.logic.ports import CallReader
from outdial.logic.receiver_turns import ReceiverTurns
from outdial.models.calls import Call
from outdial.observability import logger
from outdial.signatures import sign, sign_rotating, sign_standard


class Notified(StrEnum):
    """What became of one notification."""

    DELIVERED = "DELIVERED"  # the receiver said 2xx
    RETRY = "RETRY"  # worth another try later: timeout, 5xx, 408/429, signing key unreadable
    REJECTED = "REJECTED"  # the receiver will never take it (other 4xx, unusable URL)
    NO_WEBHOOK = "NO_WEBHOOK"  # the account has no webhook-url (or its flow is gone): done
    NO_CALL = "NO_CALL"  # the call no longer exists (undone acceptance, retention): done
    DEFERRED = "DEFERRED"  # the account's receiver is failing: not attempted, try again later


@dataclass
class NotifyServices:
    """The adapters ``notify`` uses; every one replaceable in tests."""

    calls: CallReader = field(default_factory=CallReads)
    config: ConfigStore = field(default_factory=CachedConfigStore)  # flow views kept 30 s
    secrets: FlowSecrets = field(default_factory=shared_flow_secrets)
    account_secrets: AccountSecrets = field(default_factory=shared_account_secrets)
    client: WebhookClient = field(default_factory=WebhookClient)
    backoff: ReceiverBackoff = field(default_factory=ReceiverBackoff)
    turns: ReceiverTurns = field(default_factory=ReceiverTurns)
    clock: Callable[[], float] = time.time


def webhook_body(
    call: Call,
    event_id: str,
    event_type: str = CALL_ENDED,
    leg: dict[str, Any] | None = None,
) -> bytes:
    """The exact bytes that are signed and sent: ``event-id``, ``event-type``, the ``<call>``
    (and for a ``leg.ended`` event, ``leg``), compact JSON.

    ASCII-only (``ensure_ascii``) so no receiver's charset handling can change the bytes it
    verifies.
    """
    payload = {"event-id": event_id, "event-type": event_type, **render_call(call)}
    if leg is not None:
        payload["leg"] = leg
    return json.dumps(payload, separators=(",", ":")).encode()


def notify(message: WebhookMessage, services: NotifyServices) -> Notified:
    """Make one signed delivery attempt of the webhook ``message`` names.

    An account with webhook signing secrets is signed with each valid one, in
    ``Outdial-Signature`` and the Standard Webhooks headers; any other with its flow's
    security-id. Faults reading DynamoDB or Secrets Manager raise ``AdapterError``; a flow secret
    that does not exist is ``RETRY`` (it is written by ``config apply``, which may yet run).
    """
    call = services.calls.call(message.phonon_uuid)
    if call is None:
        logger.warning("webhook dropped: no such call")
        return Notified.NO_CALL
    flow_id = call.flow_id
    view = services.config.get_flow_view(flow_id)
    if view is None:
        logger.warning("webhook dropped: the call's flow is no longer configured", flow_id=flow_id)
        return Notified.NO_WEBHOOK
    if view.account.webhook_url is None:
        logger.debug("no webhook-url for the account", account_id=view.account.account_id)
        return Notified.NO_WEBHOOK
    leg = None
    if message.event_type == LEG_ENDED:
        record = services.calls.leg(str(message.leg_id))
        if record is None:
            logger.warning("webhook dropped: no such leg")
            return Notified.NO_CALL
        leg = render_leg(record)
    url = str(view.account.webhook_url)
    body = webhook_body(call, message.event_id, message.event_type, leg)
    account_id = view.account.account_id
    with services.turns.turn(account_id) as together:
        return _attempt(services, message, flow_id, account_id, url, body, together)


def _attempt(
    services: NotifyServices,
    message: WebhookMessage,
    flow_id: str,
    account_id: str,
    url: str,
    body: bytes,
    together: bool,
) -> Notified:
    """Deliver unless the account's receiver is held back; record how its receiver did."""
    held = _backoff_of(services, account_id)
    if held is not None and held.until > services.clock():
        logger.info(
            "webhook deferred: the account's receiver is failing",
            account_id=account_id,
            failures=held.failures,
            held_for_seconds=round(held.until - services.clock()),
        )
        return Notified.DEFERRED
    keys = _account_keys(services, account_id)
    if keys:
        outcome = _deliver_signed(services, url, body, keys, message.event_id)
        _record_health(services, account_id, outcome, held, together)
        if outcome is Delivery.REJECTED:
            # The receiver may already know a secret rotated after we cached the list.
            services.account_secrets.invalidate(account_id)
            fresh = _account_keys(services, account_id)
            if fresh and fresh != keys:
                logger.info("webhook secrets changed; delivering again", account_id=account_id)
                outcome = _deliver_signed(services, url, body, fresh, message.event_id)
        return _NOTIFIED[outcome]
    try:
        security_id = services.secrets.get(flow_id)
    except SecretNotFound:
        logger.error("webhook not signed: the flow's secret is missing", flow_id=flow_id)
        return Notified.RETRY
    outcome = _deliver(services, url, body, security_id, message.event_id)
    _record_health(services, account_id, outcome, held, together)
    if outcome is Delivery.REJECTED:
        # A receiver refusing our signature may know a security-id rotated after we cached it:
        # read it afresh, and try once more only if it did change.
        services.secrets.invalidate(flow_id)
        fresh_id = services.secrets.get(flow_id)
        if fresh_id != security_id:
            logger.info("flow secret changed; delivering again with it", flow_id=flow_id)
            outcome = _deliver(services, url, body, fresh_id, message.event_id)
    return _NOTIFIED[outcome]


_NOTIFIED = {
    Delivery.DELIVERED: Notified.DELIVERED,
    Delivery.RETRY: Notified.RETRY,
    Delivery.REJECTED: Notified.REJECTED,
}


def _account_keys(services: NotifyServices, account_id: str) -> list[bytes]:
    now = datetime.fromtimestamp(services.clock(), UTC)
    return services.account_secrets.valid_keys(account_id, now)


def _backoff_of(services: NotifyServices, account_id: str) -> Backoff | None:
    try:
        return services.backoff.get(account_id)
    except AdapterError as exc:
        logger.warning("webhook backoff unreadable; delivering", error=str(exc))
        return None


def _record_health(
    services: NotifyServices,
    account_id: str,
    outcome: Delivery,
    held: Backoff | None,
    together: bool,
) -> None:
    """A receiver that timed out or failed holds its account's next deliveries back; one that
    took a delivery releases them. (A 4xx is an answer, quickly given: no hold.) Deliveries
    sent together that fail are one failure."""
    if outcome is Delivery.RETRY and not services.turns.failed(account_id, together):
        return
    if outcome is Delivery.DELIVERED:
        services.turns.delivered(account_id)
    try:
        if outcome is Delivery.RETRY:
            mark = services.backoff.failed(account_id, services.clock())
            logger.warning(
                "webhook receiver failing; its account's deliveries held",
                account_id=account_id,
                failures=mark.failures,
                held_for_seconds=round(mark.until - services.clock()),
            )
        elif outcome is Delivery.DELIVERED and held is not None:
            services.backoff.recovered(account_id)
    except AdapterError as exc:
        logger.warning("webhook backoff not recorded", error=str(exc))


def _deliver(
    services: NotifyServices, url: str, body: bytes, security_id: str, event_id: str
) -> Delivery:
    signature = sign(security_id, body, int(services.clock()))
    return services.client.deliver(url, body, signature, event_id)


def _deliver_signed(
    services: NotifyServices, url: str, body: bytes, keys: list[bytes], event_id: str
) -> Delivery:
    timestamp = int(services.clock())
    standard = {
        "webhook-id": event_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign_standard(keys, event_id, body, timestamp),
    }
    signature = sign_rotating(keys, body, timestamp)
    return services.client.deliver(url, body, signature, event_id, standard)
