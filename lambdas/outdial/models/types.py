"""Reusable constrained types of the contract."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, StringConstraints

from outdial.contract import FLOW_ID_PATTERN as FLOW_ID_PATTERN
from outdial.models.phone import to_e164

KEY_NAME_PATTERN = r"^\$flow\.key\.[A-Za-z0-9_]+$"
KEY_NAME_RE = re.compile(KEY_NAME_PATTERN)

FlowId = Annotated[str, StringConstraints(pattern=FLOW_ID_PATTERN)]
"""A flow id: 8 ASCII letters or digits."""

SecurityId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9]{16,128}$")]
"""A flow's secret: alphanumerics (the vendor issues 64)."""

KeyName = Annotated[str, StringConstraints(pattern=KEY_NAME_PATTERN)]
"""A flow variable name, ``$flow.key.<letters, digits, _>``."""


def _strict_e164(value: str) -> str:
    number = to_e164(value, region=None)
    if number is None:
        raise ValueError("not a valid E.164 phone number (+<country code><number>)")
    return number


E164Number = Annotated[str, AfterValidator(_strict_e164)]
"""A phone number written in E.164 (``+919812345670``), validated by phonenumbers."""
