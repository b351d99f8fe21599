"""Status queries (SPEC §3): a flow sees only its own calls. Cancelling one: cancel.py."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from outdial.adapters.call_reads import CallReads
from outdial.logic.call_view import render_call
from outdial.logic.ports import CallReader
from outdial.logic.validation import MAX_CALLS, is_uuid
from outdial.models.calls import Call
from outdial.models.codes import Code, ContractError


def requested_uuids(phonon_uuids: list[Any]) -> list[str]:
    """A ``phonon-uuids`` list as the pull API takes it: 1 to 500 (302, 303), and only strings
    that could be uuids are looked up."""
    if not phonon_uuids:
        raise ContractError(Code.EMPTY_CALL_LIST, "phonon-uuids is empty")
    if len(phonon_uuids) > MAX_CALLS:
        raise ContractError(Code.MAX_DATA_LIST_SIZE_EXCEEDED, f"at most {MAX_CALLS} phonon-uuids")
    return [u for u in phonon_uuids if is_uuid(u)]


@dataclass
class Queries:
    """A flow's calls and create requests as the API shows them."""

    reads: CallReader = field(default_factory=CallReads)

    def own_call(self, flow_id: str, phonon_uuid: str) -> Call:
        """The flow's call ``phonon_uuid`` (213 when unknown or another flow's)."""
        call = self.reads.call(phonon_uuid) if is_uuid(phonon_uuid) else None
        if call is None or call.flow_id != flow_id:
            raise ContractError(Code.NO_DATA_AVAILABLE, f"no call {phonon_uuid} for this flow")
        return call

    def pull(self, flow_id: str, phonon_uuids: list[Any], last_only: bool) -> list[dict[str, Any]]:
        """The pull API: one ``<call>`` per known uuid of this flow, in the order asked."""
        wanted = requested_uuids(phonon_uuids)
        found = self.own_calls(flow_id, wanted)
        data = [
            render_call(found[u], last_attempt_only=last_only)
            for u in dict.fromkeys(wanted)
            if u in found
        ]
        if not data:
            raise ContractError(
                Code.NO_DATA_AVAILABLE, "none of the phonon-uuids is known", data=[]
            )
        return data

    def own_calls(self, flow_id: str, phonon_uuids: list[str]) -> dict[str, Call]:
        """The flow's calls among ``phonon_uuids``, by uuid (others' and unknown ones left out)."""
        return {
            call.phonon_uuid: call
            for call in self.reads.calls(phonon_uuids)
            if call.flow_id == flow_id
        }

    def call(self, flow_id: str, phonon_uuid: str) -> dict[str, Any]:
        return render_call(self.own_call(flow_id, phonon_uuid))

    def request(self, flow_id: str, request_id: str) -> dict[str, Any]:
        request = self.reads.request(request_id) if is_uuid(request_id) else None
        if request is None or request.flow_id != flow_id:
            raise ContractError(Code.NO_DATA_AVAILABLE, f"no request {request_id} for this flow")
        calls = {call.phonon_uuid: call for call in self.reads.calls(list(request.call_ids))}
        return {
            "request-id": request_id,
            "created-at": request.created_at,
            "call-details": request.call_details,
            "calls": [render_call(calls[i]) for i in request.call_ids if i in calls],
        }
