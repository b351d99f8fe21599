"""Request bodies as the resolver sees them: lenient about content, strict about JSON types.

Only the JSON type of each top-level field is checked here (a wrong type is 400 INVALID_FORMAT);
what the values mean is checked by ``outdial.logic`` in the contract's order.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictStr


class _Body(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)


class CallBody(BaseModel):
    """One call of ``POST /outbound/create`` (documentation only: calls are checked one by one)."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    client_identifier: str = Field(alias="client-identifier", min_length=1, max_length=128)
    start_time: str = Field(alias="start-time", examples=["2026-12-01T10:30:00+05:30"])
    contact_numbers: list[str] = Field(alias="contact-numbers", min_length=1, max_length=10)
    keys: list[dict[str, str]] = []


class CreateCallsBody(_Body):
    """``POST /outbound/create``."""

    api_version: StrictStr | None = Field(None, alias="api-version", examples=["1.0"])
    security_id: StrictStr | None = Field(None, alias="security-id")
    flow_id: StrictStr | None = Field(None, alias="flow-id", examples=["AB12cd34"])
    calls: list[Any] | None = Field(None, description="1 to 500 calls, each a CallBody")


class PullBody(_Body):
    """``POST /outbound/pull``."""

    security_id: StrictStr | None = Field(None, alias="security-id")
    flow_id: StrictStr | None = Field(None, alias="flow-id")
    phonon_uuids: list[Any] | None = Field(None, alias="phonon-uuids")
    fetch_attempt: Literal["ALL", "LAST"] | None = Field(None, alias="fetch-attempt")


class RescheduleBody(_Body):
    """``PATCH /outbound/calls/{phonon-uuid}``."""

    start_time: Any = Field(
        None, alias="start-time", examples=["2026-12-01T11:30:00+05:30"], description="as in §2"
    )


class ReplayBody(_Body):
    """``POST /outbound/webhooks/replay``."""

    security_id: StrictStr | None = Field(None, alias="security-id")
    flow_id: StrictStr | None = Field(None, alias="flow-id")
    phonon_uuids: list[Any] | None = Field(None, alias="phonon-uuids")


class DncBulkBody(_Body):
    """``POST /outbound/dnc``: add or remove up to 500 numbers on the account's list."""

    security_id: StrictStr | None = Field(None, alias="security-id")
    flow_id: StrictStr | None = Field(None, alias="flow-id")
    numbers: list[Any] | None = Field(None, description="1 to 500 numbers, as in contact-numbers")
    action: StrictStr | None = Field(None, examples=["add"], description='"add" or "remove"')
