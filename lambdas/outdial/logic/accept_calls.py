"""``POST /outbound/create``: the checks of SPEC §2 in their order, then persist and enqueue."""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from outdial.adapters.calls_store import BalanceTooLow, checksum_pk
from outdial.logic.authorize import authorize
from outdial.logic.enqueue import Services, dispatch, prepare
from outdial.logic.validation import (
    CallRules,
    RejectedCall,
    ValidCall,
    check_api_version,
    check_body_size,
    check_list_size,
    require,
    validate_calls,
)
from outdial.models.codes import Code, ContractError
from outdial.models.config import FlowView
from outdial.models.requests import CreateCallsBody
from outdial.observability import logger
from outdial.settings import get_settings

__all__ = ["Outcome", "Services", "accept", "admit", "create_calls", "request_checksum"]


@dataclass(frozen=True)
class Outcome:
    """What the route answers, and what metrics should count."""

    code: Code
    body: dict[str, Any]
    accepted: int = 0
    rejected: tuple[Code, ...] = ()


def _check_flow(view: FlowView, api_version: str) -> None:
    """Checks 8-10."""
    if api_version not in view.flow.versions:
        raise ContractError(
            Code.INVALID_FLOW_VERSION, f"flow is not published for api-version {api_version}"
        )
    if not view.gateway_usable:
        raise ContractError(Code.INVALID_GATEWAY_ID, "the flow's gateway is not configured")
    if not view.flow.dids:
        raise ContractError(Code.DID_NOT_MAPPED, "the flow has no DIDs")
    if not view.flow.enabled_dids:
        raise ContractError(Code.NO_MASK_AVAILABLE, "none of the flow's DIDs is enabled")


def create_calls(
    body: CreateCallsBody, raw: bytes, source_ip: str, now: datetime, services: Services
) -> Outcome:
    """Run every check of SPEC §2 in order; accept the valid calls or raise ContractError."""
    return accept(body, raw, admit(body, raw, source_ip, now, services), now, services)


def admit(
    body: CreateCallsBody, raw: bytes, source_ip: str, now: datetime, services: Services
) -> FlowView:
    """Checks 1-7: the request is well formed and comes from the flow's owner, in time."""
    check_body_size(raw)
    require(
        {
            "api-version": body.api_version,
            "security-id": body.security_id,
            "flow-id": body.flow_id,
            "calls": body.calls,
        }
    )
    assert body.api_version and body.security_id and body.flow_id
    check_api_version(body.api_version)
    return authorize(
        body.flow_id, body.security_id, source_ip, now, services.config, services.rates
    )


def request_checksum(flow_id: str, raw: bytes) -> str:
    """The key under which check 12 remembers an accepted body."""
    return checksum_pk(flow_id, hashlib.sha256(raw).hexdigest())


def accept(
    body: CreateCallsBody,
    raw: bytes,
    view: FlowView,
    now: datetime,
    services: Services,
    *,
    dry_run: bool = False,
    idempotency: str | None = None,
) -> Outcome:
    """Checks 8-15 for an admitted request, then persist and enqueue its valid calls.

    ``dry_run`` answers what the request would get now without writing, reserving or enqueueing
    anything; ``idempotency`` (the key's record) is noted on the checksum claim, so a retry with
    that key can tell its own earlier acceptance from someone else's.
    """
    assert body.api_version and body.calls is not None
    _check_flow(view, body.api_version)
    check_list_size(body.calls, "calls")

    account = view.account
    rules = CallRules(
        region=account.region,
        zone=account.zone,
        now=now,
        required_keys=frozenset(view.flow.required_keys),
        phone_whitelist=frozenset(account.phone_whitelist) if body.api_version == "TEST" else None,
    )
    # Check 13, then the account's do-not-call list and caps and the flow's window (SPEC §9).
    results = services.policy.screen(validate_calls(body.calls, rules), view)
    checksum = request_checksum(view.flow.flow_id, raw)
    now_epoch = int(now.timestamp())
    rejected = tuple(r.code for r in results if isinstance(r, RejectedCall))

    valid = [(str(uuid.uuid4()), r) for r in results if isinstance(r, ValidCall)]
    if not valid:
        original = services.checksums.get_checksum(checksum, now_epoch)
        if original is not None:
            return _repeated(original)
        details = [r.details() for r in results if isinstance(r, RejectedCall)]
        return Outcome(rejected[0], rejected[0].body(**{"call-details": details}), 0, rejected)

    request_id = str(uuid.uuid4())
    ids = iter(valid)
    details = [
        {"client-identifier": r.client_identifier, "phonon-uuid": next(ids)[0]}
        if isinstance(r, ValidCall)
        else r.details()
        for r in results
    ]
    code = Code.SUCCESS if not rejected else Code.PARTIAL_SUCCESS
    response = code.body(**{"request-id": request_id, "call-details": details})
    amount = account.cost_per_call * len(valid)

    # Every item is built before anything is reserved or claimed: a call that cannot be stored
    # fails here, with nothing to undo.
    prepared = prepare(request_id, valid, view, body.api_version, response, now)

    insufficient = ContractError(
        Code.INSUFFICIENT_BALANCE,
        f"{len(valid)} calls at {account.cost_per_call} each exceed the account's balance",
    )
    if dry_run:
        # Checks 12 and 14 as reads: would it be a repeat, would the balance cover it.
        original = services.checksums.get_checksum(checksum, now_epoch)
        if original is not None:
            return _repeated(original)
        balance = services.config.get_balance(account.account_id)
        if balance is None or balance < amount:
            raise insufficient
        return Outcome(code, response, accepted=len(valid), rejected=rejected)
    # The reservation and the checksum claim are one transaction: a duplicate that loses the
    # race reserves nothing, and a request refused for balance never stood as "accepted".
    try:
        original = services.checksums.reserve_and_claim(
            checksum,
            response,
            now_epoch,
            get_settings().checksum_ttl_seconds,
            account_id=account.account_id,
            amount=amount,
            idempotency=idempotency,
        )
    except BalanceTooLow:
        raise insufficient from None
    except Exception:
        # The transaction may have landed all the same: undo it (claim and reservation) if so.
        services.checksums.release_and_refund(checksum, request_id, account.account_id, amount)
        raise
    if original is not None and original.get("request-id") != request_id:
        return _repeated(original)
    # (Our own request-id back means a retried transaction found the claim its first try made.)

    schedules = dispatch(services, prepared, checksum, account.account_id, amount)
    logger.info(
        "calls accepted",
        request_id=request_id,
        accepted=len(valid),
        rejected=len(rejected),
        schedules=schedules,
    )
    return Outcome(code, response, accepted=len(valid), rejected=rejected)


def _repeated(original: dict[str, Any]) -> Outcome:
    body = Code.CHECKSUM_REPEATED.body(
        **{"request-id": original["request-id"], "call-details": original["call-details"]}
    )
    return Outcome(Code.CHECKSUM_REPEATED, body)
