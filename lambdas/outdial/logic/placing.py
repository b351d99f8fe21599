"""Placing legs: a due call becomes DIALING, and its current leg is claimed, then placed."""

from __future__ import annotations

import zlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.metrics import MetricUnit

from outdial.adapters.config_store import ConfigStore
from outdial.adapters.dial_queue import MAX_DELAY_SECONDS, DialMessage, DialQueue
from outdial.adapters.gateways import (
    Gateway,
    GatewayRefused,
    GatewayUnavailable,
    build_gateway,
)
from outdial.contract import LEG_RETENTION_DAYS, Metric
from outdial.logic.ports import CallRepository
from outdial.models.calls import CallStatus
from outdial.models.config import FlowView, HttpGateway, SimulatorGateway
from outdial.models.legs import Leg, LegEvent, LegOutcome, LegState
from outdial.models.phone import mask
from outdial.observability import count, logger
from outdial.settings import get_settings

CLAIM_TIMEOUT_SECONDS = 60
# A message may arrive a little before its call is due (a schedule fires early within its
# second); within this it is dialled, beyond it the call is put back on the queue until due.
EARLY_TOLERANCE_SECONDS = 2
LEG_RETENTION = timedelta(days=LEG_RETENTION_DAYS)

GATEWAY, NO_MASK = "gateway", "no-mask"  # why a leg was never placed

GatewayFactory = Callable[[SimulatorGateway | HttpGateway], Gateway]


def leg_id_of(phonon_uuid: str, attempt: int, number_index: int) -> str:
    """Deterministic, so two dialers that reach the same leg contend for the same claim."""
    return f"{phonon_uuid}-a{attempt}-n{number_index}"


def pick_did(dids: list[str], leg_id: str) -> str:
    """Spread legs evenly over the enabled DIDs; a leg re-placed after a crash keeps its DID."""
    return dids[zlib.crc32(leg_id.encode()) % len(dids)]


def claimed_leg_item(
    phonon_uuid: str, attempt: int, index: int, number: str, did: str | None, now: datetime
) -> dict[str, Any]:
    """A leg as its dialer claims it, before the gateway is asked."""
    return {
        "leg-id": leg_id_of(phonon_uuid, attempt, index),
        "phonon-uuid": phonon_uuid,
        "attempt": attempt,
        "number-index": index,
        "number": number,
        "did": did,
        "state": LegState.CLAIMED.value,
        "claimed-epoch": int(now.timestamp()),
        "expires-at": int((now + LEG_RETENTION).timestamp()),
    }


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()


class PlacingLegs:
    """The dialer's first half (mixed into ``Dialer``, which holds the adapters)."""

    calls: CallRepository
    config: ConfigStore
    queue: DialQueue
    clock: Callable[[], datetime]
    gateway_factory: GatewayFactory | None

    if TYPE_CHECKING:  # provided by ``Dialer`` and ``ApplyingOutcomes``

        def _flow_view(self, flow_id: str) -> FlowView | None: ...

        def _end_leg(
            self,
            leg_id: str,
            outcome: LegOutcome,
            started: datetime,
            ended: datetime,
            duration: int,
            *,
            placed: bool,
            event_id: str | None = None,
            reason: str | None = None,
        ) -> None: ...

    def dial(self, phonon_uuid: str) -> None:
        """Dial the call's current leg if it is due and nobody else has."""
        logger.thread_safe_append_keys(phonon_uuid=phonon_uuid)
        call = self.calls.get(phonon_uuid)
        if call is None:
            logger.info("no such call: its request was undone; message dropped")
            return
        status = CallStatus(call["status"])
        if status in (CallStatus.SCHEDULED, CallStatus.QUEUED):
            call = self._start(call)
            if call is None:
                return
        elif status is not CallStatus.DIALING:
            logger.info("call already ended; nothing to dial", status=status.value)
            return
        self._dial_current_leg(call)

    def _start(self, call: dict[str, Any]) -> dict[str, Any] | None:
        """SCHEDULED/QUEUED → DIALING once due; None when it is not (yet) ours to dial."""
        now = self.clock()
        due = datetime.fromisoformat(call["due-at"])
        early = (due - now).total_seconds()
        if early > EARLY_TOLERANCE_SECONDS:
            delay = min(round(early), MAX_DELAY_SECONDS)
            self.queue.send([DialMessage((call["phonon-uuid"],), delay_seconds=delay)])
            logger.info("call not due yet; put back on the queue", delay_seconds=delay)
            return None
        moved = self.calls.start_dialing(call["phonon-uuid"], now)
        if moved is None:
            logger.info("call was taken or cancelled before dialling")
            return None
        count(Metric.SCHEDULE_LAG_SECONDS, max(0.0, -early), MetricUnit.Seconds)
        return moved

    def _dial_current_leg(self, call: dict[str, Any]) -> None:
        phonon_uuid = call["phonon-uuid"]
        attempt, index = int(call["attempt"]), int(call["number-index"])
        leg_id = leg_id_of(phonon_uuid, attempt, index)
        logger.thread_safe_append_keys(leg_id=leg_id, request_id=call["request-id"])
        if (call.get("legs") or {}).get(leg_id, {}).get("outcome"):
            return  # this leg ended already; its outcome moved the call on
        view = self._flow_view(call["flow-id"])
        number = call["contact-numbers"][index]
        now = self.clock()
        dids = view.flow.enabled_dids if view else []
        did = pick_did(dids, leg_id) if dids else None
        leg_item = claimed_leg_item(phonon_uuid, attempt, index, number, did, now)
        if not self.calls.claim_leg(leg_item) and not self._take_over_stale_claim(leg_id, now):
            logger.info("leg already claimed; not dialling it again")
            return
        record = {
            "attempt": attempt,
            "number-index": index,
            "number": number,
            "did": did,
            "outcome": None,
            "started-at": iso(now),
            "ended-at": None,
            "duration-seconds": None,
        }
        self.calls.record_leg(phonon_uuid, leg_id, record, current=True)
        if view is None or did is None or not view.gateway_usable:
            logger.warning("no enabled DID or gateway at dial time; leg fails unplaced")
            self._end_leg(leg_id, LegOutcome.FAILED, now, now, 0, placed=False, reason=NO_MASK)
            return
        assert view.gateway is not None
        leg = Leg(
            leg_id=leg_id,
            call_id=phonon_uuid,
            attempt=attempt,
            number_index=index,
            from_did=did,
            to_number=number,
            variables={k["name"]: k["value"] for k in call.get("keys") or []},
            ring_seconds=float(getattr(view.gateway, "ring_seconds", 30)),
            callback_url=self._callback_url(view.gateway.gateway_id),
        )
        try:
            self._gateway(view.gateway).place(leg)
        except (GatewayRefused, GatewayUnavailable) as error:
            logger.warning("gateway did not take the leg", error=str(error), to=mask(number))
            self._end_leg(
                leg_id, LegOutcome.FAILED, now, self.clock(), 0, placed=False, reason=GATEWAY
            )
            return
        self.calls.mark_placed(leg_id)
        logger.info("leg placed", to=mask(number), did=did)

    def _take_over_stale_claim(self, leg_id: str, now: datetime) -> bool:
        """A claim whose dialer died before the gateway took the leg: take it over (the gateway
        dedupes by the leg id) once it is older than the claim timeout."""
        now_epoch = int(now.timestamp())
        taken = self.calls.take_over_claim(leg_id, now_epoch, now_epoch - CLAIM_TIMEOUT_SECONDS)
        if taken:
            logger.warning("taking over a stale leg claim; same idempotency key")
        return taken

    def _gateway(self, config: SimulatorGateway | HttpGateway) -> Gateway:
        if self.gateway_factory is not None:
            return self.gateway_factory(config)
        return build_gateway(config, self._emit)

    def _emit(self, event: LegEvent, delay_seconds: float) -> None:
        """Where the simulator's outcomes go: the dial queue, as a real gateway's events do."""
        delay = min(max(0, round(delay_seconds)), MAX_DELAY_SECONDS)
        self.queue.send(
            [DialMessage(gateway_id=event.gateway_id, event=event.to_dict(), delay_seconds=delay)]
        )

    @staticmethod
    def _callback_url(gateway_id: str) -> str | None:
        base = get_settings().public_base_url.rstrip("/")
        return f"{base}/gateway/events/{gateway_id}" if base else None
