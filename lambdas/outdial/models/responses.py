"""The shapes of the API's answers, for its OpenAPI document (the handlers build plain dicts).

Every answer carries ``api-response-code`` and ``api-response-message``; the rest depends on the
route. Field names are the contract's (SPEC §2-3), hyphens and all.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Status = Literal[
    "SCHEDULED", "QUEUED", "DIALING", "COMPLETED", "NOT_CONNECTED", "FAILED", "CANCELLED"
]


class _Doc(BaseModel):
    model_config = ConfigDict(
        alias_generator=lambda name: name.replace("_", "-"),
        populate_by_name=True,
        extra="allow",
    )


class ApiResponse(_Doc):
    """What every answer carries; ``error-detail`` says what was wrong when the code is an error."""

    api_response_code: int = Field(examples=[200])
    api_response_message: str = Field(examples=["Success"])
    error_detail: str | None = Field(None, description="Why the request was refused")


class CallDetail(_Doc):
    """One call of a create request, in request order: its ``phonon-uuid``, or why it was
    rejected (``error-code``, ``error-message``, ``error-detail``)."""

    client_identifier: str | None = None
    phonon_uuid: str | None = Field(None, examples=["501c78ee-8d06-498e-8952-fce3495f326b"])
    error_code: int | None = Field(None, examples=[205])
    error_message: str | None = Field(None, examples=["Invalid Contact Number"])
    error_detail: str | None = None


class CreateResponse(ApiResponse):
    """``POST /outbound/create``: the request's id and one entry per call. A 201 repeat carries
    the original request's; a request refused before its calls were read carries neither."""

    request_id: str | None = Field(None, examples=["c46e46f4-dc58-4839-9483-f7dd9aac28a0"])
    call_details: list[CallDetail] | None = None


class Leg(_Doc):
    """One number dialled in one attempt."""

    number: str = Field(examples=["+919812345670"])
    did: str | None = Field(None, description="The caller id presented")
    outcome: str | None = Field(None, examples=["ANSWERED", "NO_ANSWER", "BUSY", "FAILED"])
    started_at: str | None = None
    ended_at: str | None = None
    duration_seconds: float | None = None


class Attempt(_Doc):
    attempt: int = Field(examples=[1])
    legs: list[Leg]


class Call(_Doc):
    """A ``<call>``: in pull answers, status queries and webhooks."""

    phonon_uuid: str
    client_identifier: str
    request_id: str
    flow_id: str
    api_version: str
    status: Status
    start_time: str = Field(examples=["2026-12-01T10:30:00+05:30"])
    next_dial_at: str | None = Field(None, description="While SCHEDULED: when the next leg is due")
    contact_numbers: list[str] = Field(description="E.164")
    attempts: list[Attempt]
    connected_number: str | None = None
    duration_seconds: float | None = None
    created_at: str | None = None
    ended_at: str | None = None
    error_code: int | None = Field(None, description="Why a FAILED call failed (206, 208)")
    error_message: str | None = None


class PullResponse(ApiResponse):
    """``POST /outbound/pull``: one ``<call>`` per known uuid of the flow."""

    data: list[Call] | None = None


class CallResponse(ApiResponse):
    """One call (``GET``/``DELETE /outbound/calls/{phonon-uuid}``; a too-late cancel too)."""

    call: Call | None = None


class RequestResponse(ApiResponse):
    """``GET /outbound/requests/{request-id}``: the request's call-details and its calls."""

    request_id: str | None = None
    created_at: str | None = None
    call_details: list[CallDetail] | None = None
    calls: list[Call] | None = None


class ReplayResponse(ApiResponse):
    """``POST /outbound/webhooks/replay``: how many events were queued again."""

    queued: int | None = None


class DncResponse(ApiResponse):
    """The do-not-call routes: one number's entry, or how many numbers a bulk change touched."""

    number: str | None = Field(None, examples=["+919812345670"])
    on_list: bool | None = None
    added_at: str | None = None
    count: int | None = None


class HealthResponse(ApiResponse):
    status: str | None = Field(None, examples=["ok"])


class GatewayEventResponse(ApiResponse):
    event_id: str | None = None


def schemas(models: list[type[BaseModel]]) -> dict[str, Any]:
    """JSON Schemas of ``models`` and of every model they use, under ``#/components/schemas``."""
    found: dict[str, Any] = {}
    for model in models:
        schema = model.model_json_schema(
            by_alias=True, mode="serialization", ref_template="#/components/schemas/{model}"
        )
        found.update(schema.pop("$defs", {}))
        found[model.__name__] = schema
    return found
