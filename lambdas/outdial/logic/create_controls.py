"""``POST /outbound/create`` with its controls (SPEC §7): ``Idempotency-Key`` and dry run.

Checks 1-7 come first (``admit``); then the key, per flow: its first answer that is not a 5xx is
kept and replayed with ``Idempotent-Replayed: true`` to the same body, whatever checks 8-15 would
say now; another body is 603; a request still holding the key is answered 607. Then checks 8-15
(``accept``), for real or, on a dry run, as reads only.

A request that dies holding a key (killed, or a 5xx) leaves a record whose lease runs out (at
once for a 5xx). The next request with the key takes it over and looks first at the checksum
claim the dead one may have left: still pending dispatch means the sweeper has not settled it
yet (607 until it has); settled forward means the calls stand, and its acceptance is the answer
(never a 201 for one's own retry); rolled back means the body is processed afresh.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from outdial.adapters.calls_store import IDEMPOTENCY_ATTRIBUTE
from outdial.adapters.idempotency_store import (
    DONE,
    IdempotencyStore,
    KeyRecord,
    idempotency_pk,
)
from outdial.adapters.tables import PENDING_PARTITION_KEY, TTL_ATTRIBUTE
from outdial.logic.accept_calls import Outcome, Services, accept, admit, request_checksum
from outdial.models.codes import Code, ContractError
from outdial.models.config import FlowView
from outdial.models.requests import CreateCallsBody
from outdial.observability import logger
from outdial.settings import get_settings

IDEMPOTENCY_HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
DRY_RUN_HEADER = "Outdial-Dry-Run"
MAX_KEY_LENGTH = 255


@dataclass
class ControlServices:
    """Acceptance's adapters plus the key records."""

    accept: Services = field(default_factory=Services)
    keys: IdempotencyStore = field(default_factory=IdempotencyStore)


@dataclass(frozen=True)
class Reply:
    """The answer: code, body, extra response headers, and what metrics should count (only a
    request processed for real counts)."""

    code: Code
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)
    counted: Outcome | None = None


def parse_dry_run(value: str | None) -> bool:
    """``Outdial-Dry-Run``: ``true`` or ``false`` (any case), absent is false. Anything else is
    refused rather than guessed: taking a typo for "no" would create real calls."""
    if value is None:
        return False
    flag = value.strip().lower()
    if flag not in ("true", "false"):
        raise ContractError(Code.INVALID_FORMAT, f"{DRY_RUN_HEADER} must be true or false")
    return flag == "true"


def check_key(value: str | None) -> str | None:
    """``Idempotency-Key``: 1-255 printable ASCII characters (400 otherwise)."""
    if value is None:
        return None
    if not 1 <= len(value) <= MAX_KEY_LENGTH or not all(" " <= ch <= "~" for ch in value):
        raise ContractError(
            Code.INVALID_FORMAT,
            f"{IDEMPOTENCY_HEADER} must be 1-{MAX_KEY_LENGTH} printable ASCII characters",
        )
    return value


def null_ids(body: dict[str, Any]) -> dict[str, Any]:
    """A dry run's body: ``request-id`` and every ``phonon-uuid`` null, the rest as it is."""
    nulled = dict(body)
    if "request-id" in nulled:
        nulled["request-id"] = None
    if isinstance(nulled.get("call-details"), list):
        nulled["call-details"] = [
            {**entry, "phonon-uuid": None} if "phonon-uuid" in entry else entry
            for entry in nulled["call-details"]
        ]
    return nulled


def create(
    body: CreateCallsBody,
    raw: bytes,
    source_ip: str,
    now: datetime,
    services: ControlServices,
    *,
    idempotency_key: str | None = None,
    dry_run: bool = False,
) -> Reply:
    """Answer a create request; raises only for faults (5xx)."""
    headers = {DRY_RUN_HEADER: "true"} if dry_run else {}
    try:
        view = admit(body, raw, source_ip, now, services.accept)
        key = check_key(idempotency_key)
        request = _Request(body, raw, view, now, services)
        if key is None:
            reply = _process(request, dry_run=dry_run)
        else:
            record = _KeyUse(
                pk=idempotency_pk(view.flow.flow_id, key),
                digest=hashlib.sha256(raw).hexdigest(),
                checksum=request_checksum(view.flow.flow_id, raw),
                now_epoch=int(now.timestamp()),
            )
            reply = (_keyed_dry_run if dry_run else _keyed)(request, record)
    except ContractError as error:
        counted = None
        if not dry_run:
            calls = body.calls if isinstance(body.calls, list) else []
            counted = Outcome(error.code, {}, rejected=(error.code,) * max(len(calls), 1))
        reply = Reply(error.code, error.body(), counted=counted)
    if dry_run:
        return Reply(reply.code, null_ids(reply.body), {**reply.headers, **headers})
    return reply


@dataclass(frozen=True)
class _Request:
    """An admitted create request and what answering it needs."""

    body: CreateCallsBody
    raw: bytes
    view: FlowView
    now: datetime
    services: ControlServices


@dataclass(frozen=True)
class _KeyUse:
    pk: str
    digest: str
    checksum: str
    now_epoch: int


def _process(request: _Request, *, dry_run: bool, idempotency: str | None = None) -> Reply:
    outcome = accept(
        request.body,
        request.raw,
        request.view,
        request.now,
        request.services.accept,
        dry_run=dry_run,
        idempotency=idempotency,
    )
    return Reply(outcome.code, outcome.body, counted=None if dry_run else outcome)


def _replay(code: Code, response: dict[str, Any]) -> Reply:
    return Reply(code, response, {REPLAYED_HEADER: "true"})


def _held_by_another(held: KeyRecord, use: _KeyUse) -> Reply:
    """The answer to a request whose key a live record holds."""
    if held.body_digest != use.digest:
        raise ContractError(
            Code.IDEMPOTENCY_KEY_REUSED,
            f"this {IDEMPOTENCY_HEADER} was first used with a different body",
        )
    if held.state == DONE and held.code and held.response is not None:
        return _replay(Code[held.code], held.response)
    raise ContractError(
        Code.IDEMPOTENCY_KEY_IN_USE,
        f"the first request with this {IDEMPOTENCY_HEADER} is still being processed",
    )


def _left_accepted(services: ControlServices, use: _KeyUse) -> Reply | None:
    """The acceptance a dead holder of the key left standing, if any; 607 while the sweeper
    has yet to settle it."""
    claim = services.accept.calls.get(use.checksum)
    if (
        claim is None
        or claim.get(IDEMPOTENCY_ATTRIBUTE) != use.pk
        or int(claim.get(TTL_ATTRIBUTE, 0)) < use.now_epoch
    ):
        return None
    if PENDING_PARTITION_KEY in claim:
        raise ContractError(
            Code.IDEMPOTENCY_KEY_IN_USE,
            f"the first request with this {IDEMPOTENCY_HEADER} stopped part-way and is being "
            "settled",
        )
    response = json.loads(claim["response"])
    partial = response.get("api-response-code") == Code.PARTIAL_SUCCESS.code
    return _replay(Code.PARTIAL_SUCCESS if partial else Code.SUCCESS, response)


def _keyed(request: _Request, use: _KeyUse) -> Reply:
    services, keys = request.services, request.services.keys
    owner = uuid.uuid4().hex
    begun = keys.begin(
        use.pk, use.digest, owner, use.now_epoch, get_settings().idempotency_lease_seconds
    )
    if begun.held is not None:
        return _held_by_another(begun.held, use)
    try:
        if begun.previous is not None and begun.previous.body_digest == use.digest:
            try:
                accepted = _left_accepted(services, use)
            except ContractError:
                keys.let_go(use.pk, owner)  # still the dead request's: the next one looks again
                raise
            if accepted is not None:
                keys.finish(use.pk, owner, accepted.code.name, accepted.body)
                logger.info("idempotency key taken over; its first request stands")
                return accepted
        try:
            reply = _process(request, dry_run=False, idempotency=use.pk)
        except ContractError as error:
            keys.finish(use.pk, owner, error.code.name, error.body())
            raise
    except ContractError:
        raise
    except Exception:
        try:
            keys.let_go(use.pk, owner)
        except Exception:
            logger.exception("could not let go of an idempotency key; its lease will run out")
        raise
    if not keys.finish(use.pk, owner, reply.code.name, reply.body):
        logger.warning("idempotency key was taken over before this request answered")
    return reply


def _keyed_dry_run(request: _Request, use: _KeyUse) -> Reply:
    """What ``_keyed`` would answer, read-only."""
    services = request.services
    record = services.keys.get(use.pk)
    if record is not None and record.live(use.now_epoch):
        if record.state == DONE or record.in_flight(use.now_epoch):
            return _held_by_another(record, use)
        if record.body_digest == use.digest:
            accepted = _left_accepted(services, use)
            if accepted is not None:
                return accepted
    return _process(request, dry_run=True)
