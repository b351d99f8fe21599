"""Calls, create requests and legs read for what the API and the webhooks show of them: typed
(``Call``, ``CallRequest``, ``LegRecord``), strongly consistent, a missing one left out."""

from __future__ import annotations

from outdial.adapters.call_items import call_from_item, request_from_item
from outdial.adapters.calls_store import CallsStore, call_pk, request_pk
from outdial.adapters.leg_repository import call_of_leg
from outdial.models.calls import Call, CallRequest, leg_of
from outdial.models.legs import LegRecord


class CallReads:
    """``CallReader`` on the calls table."""

    def __init__(self, store: CallsStore | None = None) -> None:
        self.store = store or CallsStore()

    def call(self, phonon_uuid: str) -> Call | None:
        item = self.store.get_call(phonon_uuid)
        return call_from_item(item) if item else None

    def calls(self, phonon_uuids: list[str]) -> list[Call]:
        """The calls among ``phonon_uuids`` that exist (``BatchGetItem``, 100 a request)."""
        return [call_from_item(i) for i in self.store.get_many([call_pk(u) for u in phonon_uuids])]

    def request(self, request_id: str) -> CallRequest | None:
        item = self.store.get(request_pk(request_id))
        return request_from_item(item) if item else None

    def leg(self, leg_id: str) -> LegRecord | None:
        """Leg ``leg_id`` as its call's entry records it (its id names the call)."""
        phonon_uuid = call_of_leg(leg_id)
        call = self.call(phonon_uuid) if phonon_uuid else None
        return leg_of(call, leg_id) if call else None
