"""Every vendor's answer parser under arbitrary input: a valid token or a library error, nothing else."""

from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Any, NamedTuple, Optional

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from requests.structures import CaseInsensitiveDict

from requests_adtech_auth import (
    AlgonomyAuth,
    AuthError,
    DigitalTurbineAuth,
    InvalidTokenResponseError,
    RoktAuth,
    RoktPartnershipsAuth,
)
from requests_adtech_auth.core import MAX_LIFETIME, TokenAuth
from requests_adtech_auth.sandbox import Sandbox

from .control_text import hostile_text, raw_controls
from .helpers import FLOWS, Flow

EXAMPLES = 100

AUTHS: dict[str, TokenAuth] = {
    "rokt": RoktAuth("app-id", "app-secret-value", token_url="http://127.0.0.1:9/t"),
    "rokt_partnerships": RoktPartnershipsAuth(
        "rspub_x", "rsec_secret-value", "parent", token_url="http://127.0.0.1:9/t"
    ),
    "digital_turbine": DigitalTurbineAuth("client", "client-secret-value", token_url="http://127.0.0.1:9/t"),
    "algonomy": AlgonomyAuth("http://127.0.0.1:9/secureApi/token/profile/create", "tenant-hash-value", ["basic"]),
}
KEYS = {
    "rokt": ["access_token", "Access_token", "expires_in", "token_type", "error", "error_description", "scope"],
    "rokt_partnerships": ["access_token", "expires_in", "error", "message", "request_id", "status"],
    "digital_turbine": ["accessToken", "expiresIn", "tokenType", "access_token", "error"],
    "algonomy": ["token", "message", "resource"],
}
VISIBLE_ASCII = re.compile(r"[\x21-\x7e]+")

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)


def parse(auth: TokenAuth, status: int, body: bytes, retry_after: str | None = None) -> Any:
    """An answer as the parsers take it: status, headers and body, no HTTP response object."""
    headers = CaseInsensitiveDict({"Retry-After": retry_after} if retry_after is not None else {})
    return auth._issued_from(auth._read_answer(status, headers, body))


def check(auth: TokenAuth, status: int, body: bytes, retry_after: str | None = None) -> None:
    try:
        issued = parse(auth, status, body, retry_after)
    except AuthError as error:
        # A library error, with a message that holds no secret.
        for secret in auth._secrets():
            assert not secret or secret not in str(error)
        return
    assert 200 <= status < 300
    assert isinstance(issued.value, str)
    assert VISIBLE_ASCII.fullmatch(issued.value)
    assert issued.lifetime is None or 0 < issued.lifetime <= MAX_LIFETIME


FAST = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.mark.parametrize("vendor", list(AUTHS))
@FAST
@given(
    status=st.sampled_from([200, 201, 204, 301, 400, 401, 403, 404, 405, 429, 500, 503]), body=st.binary(max_size=300)
)
def test_arbitrary_bytes(vendor: str, status: int, body: bytes) -> None:
    check(AUTHS[vendor], status, body)


@pytest.mark.parametrize("vendor", list(AUTHS))
@FAST
@given(
    status=st.sampled_from([200, 400, 401, 429, 500]),
    document=json_values,
    retry_after=st.none() | st.text(max_size=30),
)
def test_arbitrary_json(vendor: str, status: int, document: Any, retry_after: str | None) -> None:
    check(AUTHS[vendor], status, json.dumps(document).encode(), retry_after)


@pytest.mark.parametrize("vendor", list(AUTHS))
@FAST
@given(data=st.data())
def test_answers_with_the_vendors_keys(vendor: str, data: st.DataObject) -> None:
    document = data.draw(
        st.dictionaries(
            st.sampled_from(KEYS[vendor]),
            json_values | st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), min_size=1),
            max_size=len(KEYS[vendor]),
        )
    )
    check(AUTHS[vendor], data.draw(st.sampled_from([200, 400, 401])), json.dumps(document).encode())


@pytest.mark.parametrize("vendor", list(AUTHS))
@FAST
@given(token=st.from_regex(r"[A-Za-z0-9._~+/=-]{1,200}", fullmatch=True), lifetime=st.integers(1, 10**9))
def test_well_formed_answers_always_parse(vendor: str, token: str, lifetime: int) -> None:
    field = {"rokt": "access_token", "rokt_partnerships": "access_token", "digital_turbine": "accessToken"}
    if vendor == "algonomy":
        document: dict[str, Any] = {"token": token}
    else:
        expiry = "expiresIn" if vendor == "digital_turbine" else "expires_in"
        document = {field[vendor]: token, expiry: lifetime, "token_type": "bearer"}
    issued = parse(AUTHS[vendor], 200, json.dumps(document).encode())
    assert issued.value == token
    if vendor != "algonomy":
        assert issued.lifetime == min(lifetime, MAX_LIFETIME)


#: The fields each vendor's error answers carry text in (all read by the library).
ERROR_FIELDS = {
    "rokt": ["error", "error_description"],
    "rokt_partnerships": ["error", "message", "request_id"],
    "digital_turbine": ["error", "error_description", "message"],
    "algonomy": ["error", "error_description", "message"],
}


@pytest.mark.parametrize("vendor", list(AUTHS))
@FAST
@given(data=st.data(), status=st.sampled_from([200, 400, 401, 422, 503]))
def test_no_control_character_in_an_error_field_reaches_the_message(
    vendor: str, data: st.DataObject, status: int
) -> None:
    document = {name: data.draw(hostile_text, label=name) for name in ERROR_FIELDS[vendor]}
    try:
        parse(AUTHS[vendor], status, json.dumps(document).encode())
    except AuthError as error:
        shown = [str(error), getattr(error, "error", None) or "", getattr(error, "description", None) or ""]
        assert [raw_controls(text) for text in shown] == [[], [], []]


# -- lifetimes of either sign, of any size, through real token answers ----------------------

LIFETIME_FLOWS = [flow for flow in FLOWS if flow.expiry_field]
SIGNS = st.sampled_from(["", "-"])
_digits = st.text("0123456789", min_size=1, max_size=6)
#: Numbers as a vendor could write them, either sign, far beyond a float's range both ways.
number_texts = st.one_of(
    st.builds("{}{}".format, SIGNS, st.integers(0, 10**6)),
    st.builds("{}{}".format, SIGNS, st.integers(0, 10**420)),  # beyond a float: OverflowError
    st.builds(lambda sign, n: f"{sign}1{'0' * n}", SIGNS, st.integers(300, 5000)),  # beyond int() of a JSON text
    st.builds("{}{}.{}".format, SIGNS, st.integers(0, 10**6), _digits),
    st.builds("{}{}e{}".format, SIGNS, st.integers(1, 999), st.integers(-500, 500)),  # 1e400: inf; 1e-400: 0
    st.floats().map(repr),  # inf, -inf, nan, -0.0 among them
)


class Lifetime(NamedTuple):
    """A lifetime field's JSON as written, and the number it spells."""

    literal: str
    text: str

    @classmethod
    def number(cls, text: str) -> Lifetime:
        """As a JSON number (NaN and Infinity as Python's json reads them)."""
        return cls(text.replace("inf", "Infinity").replace("nan", "NaN"), text)

    @classmethod
    def string(cls, text: str) -> Lifetime:
        """As a JSON string."""
        return cls(json.dumps(text), text)

    def __repr__(self) -> str:  # a 5000-digit literal, shortened for hypothesis's reports
        shown = re.sub(r"(\d)\1{9,}", lambda run: f"{run.group(1)}<x{len(run.group(0))}>", self.literal)
        return f"Lifetime({shown})"


lifetime_literals = st.one_of(
    number_texts.map(Lifetime.number),
    st.one_of(
        number_texts,
        st.builds("{}{}".format, st.sampled_from(["", "-", "+"]), st.sampled_from(["inf", "Infinity", "nan"])),
    ).map(Lifetime.string),
)


def expected_lifetime(text: str) -> Optional[float]:
    """The lifetime a number written as ``text`` must give: None when it must be refused.

    Exact, of any size: a negative is refused however large (-1e400, -10**400,
    -inf), as zero, -0, anything under 1 s, and NaN are; a day at most.
    """
    number = Decimal(text)
    if number.is_nan() or number < 1:
        return None
    return float(min(number, Decimal(MAX_LIFETIME)))


@pytest.mark.parametrize("flow", LIFETIME_FLOWS, ids=[flow.name for flow in LIFETIME_FLOWS])
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],  # one sandbox, many answers
)
@given(lifetime=lifetime_literals)
@example(lifetime=Lifetime.number("-1" + "0" * 400))  # -10**400: was taken as a day
@example(lifetime=Lifetime.number("-1e400"))
@example(lifetime=Lifetime.string("-inf"))
@example(lifetime=Lifetime.number("-inf"))
@example(lifetime=Lifetime.number("-0.0"))
@example(lifetime=Lifetime.number("nan"))
@example(lifetime=Lifetime.number("1" + "0" * 400))
@example(lifetime=Lifetime.number("1e400"))
@example(lifetime=Lifetime.string("inf"))
@example(lifetime=Lifetime.number("9" * 5000))  # beyond the digits Python's int() reads
@example(lifetime=Lifetime.number("-" + "9" * 5000))
def test_lifetimes_of_either_sign_through_the_sandbox(flow: Flow, lifetime: Lifetime, sandbox: Sandbox) -> None:
    literal, text = lifetime
    sandbox.add_fault(flow.vendor, "token", flow.answer_with_lifetime(literal))
    auth = flow.auth(sandbox, share_token=False, max_retries=0)
    expected = expected_lifetime(text)
    if expected is None:
        with pytest.raises(InvalidTokenResponseError) as caught:
            auth.get_token()
        assert caught.value.status_code == 200
        assert repr(flow.expiry_field) in str(caught.value)
        assert auth.token_status is None
    else:
        assert auth.get_token() == "tok-0123456789"
        status = auth.token_status
        assert status is not None
        assert expected - 30 < status.expires_in <= expected  # 30: a loaded machine's slowest token call
