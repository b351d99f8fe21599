"""Phone numbers: parse what customers send into E.164, the only form we store and dial."""

from __future__ import annotations

import phonenumbers


def to_e164(raw: str, region: str | None) -> str | None:
    """Return ``raw`` as E.164, or None when it is not a valid number.

    Accepts ``+919812345670``, ``919812345670`` and ``9812345670``; the last two are read in
    ``region`` (a country code with a national number is recognised by phonenumbers itself).
    """
    if not isinstance(raw, str) or not raw.strip():
        return None
    try:
        parsed = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(parsed):
        return None
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def mask(number: str) -> str:
    """The number as logs may show it (SPEC §12): country code and last four digits,
    ``+91******5670``; anything not a number keeps only its last four characters."""
    try:
        parsed = phonenumbers.parse(number if number.startswith("+") else f"+{number}", None)
    except phonenumbers.NumberParseException:
        return "*" * max(len(number) - 4, 0) + number[-4:]
    prefix = f"{'+' if number.startswith('+') else ''}{parsed.country_code}"
    hidden = max(len(number) - len(prefix) - 4, 0)
    return prefix + "*" * hidden + number[len(prefix) + hidden :]
