"""The contract's response codes (SPEC §2) and outdial's own 6xx additions."""

from __future__ import annotations

from enum import Enum
from typing import NamedTuple


class _Code(NamedTuple):
    code: int
    message: str
    http: int


class Code(Enum):
    """A response code: ``api-response-code``, its message and the HTTP status it travels with."""

    SUCCESS = _Code(200, "Success", 200)
    PARTIAL_SUCCESS = _Code(209, "Partial Success", 200)
    CHECKSUM_REPEATED = _Code(201, "Checksum Repeated", 409)
    INVALID_FORMAT = _Code(400, "Invalid Format", 400)
    INVALID_MANDATORY_PARAMETERS = _Code(210, "Invalid Mandatory Parameters", 400)
    INVALID_API_VERSION = _Code(203, "API Version not Supported", 400)
    EMPTY_CALL_LIST = _Code(302, "Empty Call List", 400)
    MAX_DATA_LIST_SIZE_EXCEEDED = _Code(303, "Max Data List Size Exceeded", 400)
    INVALID_CONTACT_NUMBER = _Code(205, "Invalid Contact Number", 400)
    INVALID_FLOW_VERSION = _Code(304, "Invalid Flow Version", 400)
    INVALID_GATEWAY_ID = _Code(204, "Invalid SMS Gateway", 400)
    DID_NOT_MAPPED = _Code(207, "DID Not Mapped", 400)
    INVALID_FLOW_ID = _Code(301, "Invalid Flow ID", 404)
    INVALID_SECURITY_ID = _Code(202, "Invalid Security ID", 401)
    IP_NOT_WHITELISTED = _Code(401, "IP Not Whitelisted", 403)
    PHONE_NOT_WHITELISTED = _Code(402, "Phone Not Whitelisted", 403)
    VALIDITY_EXPIRED = _Code(211, "Validity Expired", 403)
    INSUFFICIENT_BALANCE = _Code(212, "Insufficient Balance", 402)
    NO_MASK_AVAILABLE = _Code(208, "No Mask Available", 503)
    NO_DATA_AVAILABLE = _Code(213, "No Data Available", 404)
    FAILURE_FROM_GATEWAY = _Code(206, "Failure from Gateway", 502)
    FAILURE = _Code(500, "Failure", 500)
    # outdial's own codes (6xx), listed in the README.
    NOT_FOUND = _Code(601, "Route Not Found", 404)
    CANCEL_TOO_LATE = _Code(602, "Call Can No Longer Be Cancelled", 409)
    IDEMPOTENCY_KEY_REUSED = _Code(603, "Idempotency Key Reused", 422)
    NUMBER_ON_DNC = _Code(604, "Number On Do-Not-Call List", 400)
    FREQUENCY_CAP_EXCEEDED = _Code(605, "Frequency Cap Exceeded", 429)
    RESCHEDULE_TOO_LATE = _Code(606, "Call Can No Longer Be Rescheduled", 409)
    IDEMPOTENCY_KEY_IN_USE = _Code(607, "Idempotency Key In Use", 409)
    TOO_MANY_REQUESTS = _Code(608, "Too Many Requests", 429)

    @property
    def code(self) -> int:
        return self.value.code

    @property
    def message(self) -> str:
        return self.value.message

    @property
    def http(self) -> int:
        return self.value.http

    def body(self, **extra: object) -> dict[str, object]:
        """The response body for this code, with any extra fields after the two mandatory ones."""
        return {"api-response-code": self.code, "api-response-message": self.message, **extra}


class ContractError(Exception):
    """Raised anywhere in request handling to answer with a contract code."""

    def __init__(self, code: Code, detail: str = "", **extra: object) -> None:
        super().__init__(f"{code.name}: {detail}" if detail else code.name)
        self.code = code
        self.detail = detail
        self.extra = extra

    def body(self) -> dict[str, object]:
        """The response body a request refused with this error is answered with."""
        return self.code.body(**{"error-detail": self.detail}, **self.extra)
