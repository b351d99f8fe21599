"""outdial's callback verifiers accept exactly what the carriers' own SDKs accept.

Twilio: ``twilio.request_validator.RequestValidator.validate``; Plivo:
``plivo.utils.validate_v3_signature``. Each property runs on several hundred generated cases:
URLs with and without ports (default and odd ones), query strings with repeated names,
parameters repeated, empty and in unicode, and signatures that are right, of a neighbouring
request, or tampered.
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from plivo.utils import validate_v3_signature
from plivo.utils.signature_v3 import construct_post_url, get_signature_v3
from twilio.request_validator import RequestValidator

from outdial.adapters.gateways import plivo, twilio

CASES = settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])

_host = st.from_regex(r"[a-z][a-z0-9-]{0,10}(\.[a-z]{2,5}){1,2}", fullmatch=True)
_port = st.sampled_from([None, 80, 443, 8080, 8443, 1, 65535])
_segment = st.text(st.characters(codec="ascii", categories=["L", "N"]), min_size=1, max_size=8)
_ascii_value = st.text(
    st.characters(codec="ascii", categories=["L", "N"], include_characters="-_.~ "),
    max_size=8,
)
_any_value = st.text(max_size=10).filter(lambda v: "\x00" not in v)


@st.composite
def urls(draw: st.DrawFn, query_values: st.SearchStrategy[str] = _ascii_value) -> str:
    scheme = draw(st.sampled_from(["http", "https"]))
    host = draw(_host)
    port = draw(_port)
    netloc = f"{host}:{port}" if port is not None else host
    path = "/" + "/".join(draw(st.lists(_segment, max_size=4)))
    pairs = draw(
        st.lists(
            st.tuples(st.sampled_from(["leg", "token", "a", "b", "Z"]), query_values),
            max_size=4,
        )
    )
    query = "&".join(f"{name}={value.replace(' ', '%20')}" for name, value in pairs)
    return f"{scheme}://{netloc}{path}" + (f"?{query}" if pairs else "")


_params = st.dictionaries(
    st.text(st.characters(codec="utf-8", exclude_categories=["Cs", "Cc"]), min_size=1, max_size=8),
    st.lists(_any_value, min_size=1, max_size=3),
    max_size=5,
)
_token = st.text(st.characters(codec="ascii", categories=["L", "N"]), min_size=1, max_size=32)


def _tamper(data: st.DataObject, signature: str) -> str:
    index = data.draw(st.integers(0, max(len(signature) - 1, 0)))
    replacement = data.draw(st.sampled_from("AQgw+/=0"))
    return signature[:index] + replacement + signature[index + 1 :]


class MultiParams(dict[str, list[str]]):
    """A form with repeated names, the way frameworks hand it to Twilio's validator."""

    def getall(self, name: str) -> list[str]:
        return self[name]


# --- Twilio -------------------------------------------------------------------------------


def _twilio_sdk(token: str, url: str, params: dict[str, list[str]], signature: str) -> bool:
    return bool(RequestValidator(token).validate(url, MultiParams(params), signature))


@CASES
@given(token=_token, url=urls(), params=_params, data=st.data())
def test_twilio_verifier_agrees_with_the_sdk(
    token: str, url: str, params: dict[str, list[str]], data: st.DataObject
) -> None:
    # Given a signature that is right, of the URL with or without its port, or tampered
    validator = RequestValidator(token)
    signed_url = data.draw(st.sampled_from([url, url.replace(":443", ""), url + "x"]))
    signature = validator.compute_signature(signed_url, MultiParams(params))
    if data.draw(st.booleans()):
        signature = _tamper(data, signature)
    # Then outdial accepts exactly when Twilio's validator does
    assert twilio.valid_signature(token, url, params, signature) == _twilio_sdk(
        token, url, params, signature
    )


@CASES
@given(token=_token, url=urls(), params=_params, data=st.data())
def test_twilio_verifier_accepts_what_twilio_signs_and_refuses_tampering(
    token: str, url: str, params: dict[str, list[str]], data: st.DataObject
) -> None:
    # Given a callback signed as Twilio signs it
    signature = RequestValidator(token).compute_signature(url, MultiParams(params))
    assert twilio.valid_signature(token, url, params, signature)
    # When one thing changes: the signature, a value, the URL or the token
    change = data.draw(st.sampled_from(["signature", "value", "url", "token"]))
    if change == "signature":
        tampered = _tamper(data, signature)
        ok = twilio.valid_signature(token, url, params, tampered)
        assert ok == (tampered == signature)
        return
    if change == "value":
        params = {**params, "CallStatus": ["completed", "busy"]}
    elif change == "url":
        url = url + "&leg=other" if "?" in url else url + "?leg=other"
    else:
        token = token + "x"
    # Then it is refused, by outdial and Twilio alike
    assert not twilio.valid_signature(token, url, params, signature)
    assert not _twilio_sdk(token, url, params, signature)


def test_twilio_signature_covers_the_url_with_or_without_its_default_port() -> None:
    token = "12345"
    params = {"CallSid": ["CA1"], "CallStatus": ["completed"]}
    signed = RequestValidator(token).compute_signature(
        "https://api.example.com:443/gateway/events/tw?leg=x", MultiParams(params)
    )
    assert twilio.valid_signature(
        token, "https://api.example.com/gateway/events/tw?leg=x", params, signed
    )
    assert not twilio.valid_signature(token, "https://api.example.com/", params, signed)
    assert not twilio.valid_signature(token, "https://api.example.com/", params, None)


# --- Plivo --------------------------------------------------------------------------------


def _plivo_sdk(token: str, url: str, nonce: str, params: dict[str, list[str]], header: str) -> bool:
    try:
        return bool(validate_v3_signature("POST", url, nonce, token, header, dict(params)))
    except (UnicodeError, ValueError):
        return False  # the SDK cannot read the URL: nothing it accepts


def _plivo_sign(token: str, url: str, nonce: str, params: dict[str, list[str]]) -> str:
    base = construct_post_url(url, dict(params)).decode("utf-8")
    signature: Any = get_signature_v3(token.encode(), base, nonce.encode())
    return signature.decode() if isinstance(signature, bytes) else str(signature)


_nonce = st.text(min_size=1, max_size=20).filter(lambda v: "\x00" not in v)


@CASES
@given(
    token=_token,
    url=urls(query_values=st.one_of(_ascii_value, st.sampled_from(["%C3%A9", "%20", "a+b"]))),
    nonce=_nonce,
    params=_params,
    data=st.data(),
)
def test_plivo_verifier_agrees_with_the_sdk(
    token: str,
    url: str,
    nonce: str,
    params: dict[str, list[str]],
    data: st.DataObject,
) -> None:
    # Given a header of one or several signatures: right, for another nonce, or tampered
    try:
        signature = _plivo_sign(token, url, nonce, params)
    except UnicodeError:
        signature = "c2lnbmF0dXJl"
    choice = data.draw(st.sampled_from(["right", "tampered", "other-nonce", "list"]))
    if choice == "tampered":
        signature = _tamper(data, signature)
    elif choice == "other-nonce":
        nonce = nonce + "1"
    elif choice == "list":
        signature = f"{_tamper(data, signature)},{signature}"
    # Then outdial accepts exactly when Plivo's validator does
    assert plivo.valid_signature(token, url, nonce, params, signature) == _plivo_sdk(
        token, url, nonce, params, signature
    )


@CASES
@given(token=_token, url=urls(), nonce=_nonce, params=_params, data=st.data())
def test_plivo_verifier_accepts_what_plivo_signs_and_refuses_tampering(
    token: str,
    url: str,
    nonce: str,
    params: dict[str, list[str]],
    data: st.DataObject,
) -> None:
    # Given a callback signed as Plivo signs it
    signature = _plivo_sign(token, url, nonce, params)
    assert plivo.valid_signature(token, url, nonce, params, signature)
    # When the nonce, a value, the URL or the token changes
    change = data.draw(st.sampled_from(["nonce", "value", "url", "token"]))
    if change == "nonce":
        nonce = nonce + "x"
    elif change == "value":
        params = {**params, "CallStatus": ["completed", "busy"]}
    elif change == "url":
        url = url + "&leg=other" if "?" in url else url + "?leg=other"
    else:
        token = token + "x"
    # Then it is refused, by outdial and Plivo alike
    assert not plivo.valid_signature(token, url, nonce, params, signature)
    assert not _plivo_sdk(token, url, nonce, params, signature)


def test_plivo_signature_needs_its_nonce() -> None:
    url = "https://api.example.com/gateway/events/pl?leg=x"
    params = {"CallUUID": ["u"], "CallStatus": ["completed"]}
    signature = _plivo_sign("tok", url, "n1", params)
    assert plivo.valid_signature("tok", url, "n1", params, signature)
    assert not plivo.valid_signature("tok", url, None, params, signature)
    assert not plivo.valid_signature("tok", url, "n1", params, None)
