"""An accepted request's items: what a call reads back as, and which item DynamoDB would refuse."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from outdial.adapters.call_items import accepted_items, call_from_item, new_call_item
from outdial.adapters.tables import MAX_ITEM_BYTES
from outdial.models.calls import Call, CallRequest, CallStatus

NOW = datetime(2026, 12, 1, 5, 0, tzinfo=UTC)
CALL = Call(
    phonon_uuid="c1",
    request_id="r1",
    flow_id="f1",
    account_id="acme",
    status=CallStatus.SCHEDULED,
    attempt=1,
    number_index=0,
    contact_numbers=("+919812345670", "+919812345671"),
    due_at=NOW + timedelta(hours=1),
    cost=Decimal("1.5"),
    keys=(("$flow.key.name", "Asha"),),
    client_identifier="order-1",
    api_version="1.0",
    start_time=(NOW + timedelta(hours=1)).isoformat(),
    created_at=NOW.isoformat(),
    schedule="req-r1-0600",
)
REQUEST = CallRequest("r1", "f1", NOW.isoformat(), [{"phonon-uuid": "c1"}], ("c1",))


def test_an_accepted_call_reads_back_as_it_was_accepted() -> None:
    item = new_call_item(CALL, timedelta(days=90))
    # Until a dialer moves it, the call is next dialled when it is due.
    assert call_from_item(item) == replace(CALL, next_dial_at=CALL.due_at.isoformat())
    assert item["expires-at"] == int((CALL.due_at + timedelta(days=90)).timestamp())


def test_a_request_that_fits_has_no_oversized_item() -> None:
    assert accepted_items([CALL], REQUEST, timedelta(days=90)).oversized() is None


def test_an_item_dynamodb_would_refuse_is_named_with_its_size() -> None:
    huge = replace(REQUEST, call_details=[{"client-identifier": "x" * MAX_ITEM_BYTES}])
    oversized = accepted_items([CALL], huge, timedelta(days=90)).oversized()
    assert oversized is not None
    kind, size = oversized
    assert kind == "request" and size > MAX_ITEM_BYTES
