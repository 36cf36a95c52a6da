"""The fault matrix: every flow against every way a token endpoint or an API can misbehave.

Each case states its outcome: success after bounded retries, or a library exception
with the right status and error code. Every case must end in bounded time and leave
the auth object usable once the fault clears.
"""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass, field
from typing import Callable, Optional

import pytest
import requests

from requests_adtech_auth import InvalidTokenResponseError, TokenRequestError
from requests_adtech_auth.sandbox import Fault, Sandbox

from .helpers import FLOWS, Flow

RETRIES = 2  # each auth object below: 1 attempt + 2 retries


@dataclass(frozen=True)
class Case:
    """A token-endpoint fault and what it must lead to."""

    id: str
    faults: Callable[[Flow], list[Fault]]
    #: None: a token after bounded retries; else the exception type expected.
    raises: Optional[type[Exception]] = None
    status: Optional[int] = None
    error: Optional[str] = None
    transient: Optional[bool] = None
    #: Flows for which the answer is fine after all (Algonomy answers carry no expiry).
    succeeds_for: frozenset[str] = field(default_factory=frozenset)


def answer(flow: Flow, token: object = "tok-0123456789", expiry: object = "absent", **extra: object) -> Fault:
    body: dict[str, object] = {flow.token_field: token, **extra}
    if expiry != "absent" and flow.expiry_field:
        body[flow.expiry_field] = expiry
    return Fault.status(200, body)


def times(fault: Fault, n: int) -> Callable[[Flow], list[Fault]]:
    return lambda flow: [fault] * n


NO_EXPIRY = frozenset({"algonomy"})
ALL_FAIL = RETRIES + 1

CASES = [
    Case("reset-mid-answer-once", times(Fault.reset(), 1)),
    Case("reset-mid-answer-always", times(Fault.reset(), ALL_FAIL), TokenRequestError, 200, None, True),
    Case("close-without-answer-always", times(Fault.close(), ALL_FAIL), TokenRequestError, None, None, True),
    Case("close-without-answer-once", times(Fault.close(), 1)),
    Case("hang-past-timeout-once", times(Fault.hang(5), 1)),
    Case("hang-past-timeout-always", times(Fault.hang(5), ALL_FAIL), TokenRequestError, None, None, True),
    Case("429-retry-after", times(Fault.status(429, {"error": "slow_down"}, {"Retry-After": "0.1"}), 1)),
    Case("429-always", times(Fault.status(429), ALL_FAIL), TokenRequestError, 429, None, True),
    Case("500-once", times(Fault.status(500, {"error": "internal_server_error"}), 1)),
    Case(
        "500-always",
        times(Fault.status(500, {"error": "server_error"}), ALL_FAIL),
        TokenRequestError,
        500,
        "server_error",
        True,
    ),
    Case(
        "502-always",
        times(Fault.raw(502, b"<html>Bad Gateway</html>", "text/html"), ALL_FAIL),
        TokenRequestError,
        502,
        None,
        True,
    ),
    Case("503-twice", times(Fault.status(503), 2)),
    Case("503-always", times(Fault.status(503), ALL_FAIL), TokenRequestError, 503, None, True),
    Case(
        "200-html",
        times(Fault.raw(200, b"<!doctype html><p>Login</p>", "text/html"), 1),
        InvalidTokenResponseError,
        200,
        None,
        False,
    ),
    Case("200-empty", times(Fault.raw(200, b""), 1), InvalidTokenResponseError, 200),
    Case("200-truncated-json", times(Fault.raw(200, b'{"access_token": "ab'), 1), InvalidTokenResponseError, 200),
    Case("200-json-list", times(Fault.raw(200, b'[{"token": "x"}]'), 1), InvalidTokenResponseError, 200),
    Case("200-json-string", times(Fault.raw(200, b'"tok"'), 1), InvalidTokenResponseError, 200),
    Case("token-wrong-type", lambda f: [answer(f, token=["tok"])], InvalidTokenResponseError, 200),
    Case("token-number", lambda f: [answer(f, token=12345)], InvalidTokenResponseError, 200),
    Case("token-missing", lambda f: [Fault.status(200, {"token_type": "bearer"})], InvalidTokenResponseError, 200),
    Case("token-empty", lambda f: [answer(f, token="")], InvalidTokenResponseError, 200),
    Case("token-crlf", lambda f: [answer(f, token="tok\r\nSet-Cookie: a=b")], InvalidTokenResponseError, 200),
    Case("token-space", lambda f: [answer(f, token="tok en")], InvalidTokenResponseError, 200),
    Case("token-nul", lambda f: [answer(f, token="tok\x00en")], InvalidTokenResponseError, 200),
    Case("token-non-ascii", lambda f: [answer(f, token="tökén")], InvalidTokenResponseError, 200),
    Case("token-huge", lambda f: [answer(f, token="t" * 20_000)], InvalidTokenResponseError, 200),
    Case("expires-missing", lambda f: [answer(f)]),
    Case("expires-null", lambda f: [answer(f, expiry=None)]),
    Case("expires-negative", lambda f: [answer(f, expiry=-60)], InvalidTokenResponseError, 200, succeeds_for=NO_EXPIRY),
    Case("expires-zero", lambda f: [answer(f, expiry=0)], InvalidTokenResponseError, 200, succeeds_for=NO_EXPIRY),
    Case("expires-string-number", lambda f: [answer(f, expiry="3600")]),
    Case(
        "expires-string-word",
        lambda f: [answer(f, expiry="an hour")],
        InvalidTokenResponseError,
        200,
        succeeds_for=NO_EXPIRY,
    ),
    Case("expires-bool", lambda f: [answer(f, expiry=True)], InvalidTokenResponseError, 200, succeeds_for=NO_EXPIRY),
    Case("expires-absurd", lambda f: [answer(f, expiry=10**30)]),
    Case("expires-float", lambda f: [answer(f, expiry=3599.5)]),
    # Beyond any float, or not finite: the sign decides. Any negative is refused as a small
    # lifetime is; a positive one is capped at a day (a bogus one pins nothing for years).
    *(
        Case(f"expires-{name}", lambda f, literal=literal: [f.answer_with_lifetime(literal)])
        for name, literal in [
            ("10**400", "1" + "0" * 400),
            ("1e400", "1e400"),
            ("Infinity", "Infinity"),
            ("string-inf", '"inf"'),
            ("string-1e400", '"1e400"'),
            ("5000-digit-integer", "9" * 5000),
        ]
    ),
    *(
        Case(
            f"expires-{name}",
            lambda f, literal=literal: [f.answer_with_lifetime(literal)],
            InvalidTokenResponseError,
            200,
            None,
            False,
            succeeds_for=NO_EXPIRY,
        )
        for name, literal in [
            ("minus-10**400", "-1" + "0" * 400),
            ("minus-1e400", "-1e400"),
            ("minus-Infinity", "-Infinity"),
            ("string-minus-inf", '"-inf"'),
            ("string-minus-1e400", '"-1e400"'),
            ("minus-5000-digit-integer", "-" + "9" * 5000),
            ("minus-zero", "-0.0"),
            ("string-minus-zero", '"-0"'),
            ("tiny-negative", "-1e-400"),
            ("NaN", "NaN"),
            ("string-nan", '"nan"'),
        ]
    ),
    Case(
        "many-megabytes",
        times(Fault.raw(200, b'{"x": "' + b"y" * (3 * 1024 * 1024) + b'"}'), 1),
        InvalidTokenResponseError,
        200,
    ),
    Case("deeply-nested-json", times(Fault.raw(200, b"[" * 50_000 + b"]" * 50_000), 1), InvalidTokenResponseError, 200),
    Case("400-unknown-body", times(Fault.raw(400, b"nope", "text/plain"), 1), TokenRequestError, 400, None, False),
    Case(
        "401-error-code",
        times(Fault.status(401, {"error": "invalid_client"}), 1),
        TokenRequestError,
        401,
        "invalid_client",
        False,
    ),
    Case("404-wrong-url", times(Fault.status(404), 1), TokenRequestError, 404, None, False),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
@pytest.mark.parametrize("flow", FLOWS, ids=[f.name for f in FLOWS])
def test_token_endpoint_fault(flow: Flow, case: Case, sandbox: Sandbox) -> None:
    for fault in case.faults(flow):
        sandbox.add_fault(flow.vendor, "token", fault)
    auth = flow.auth(sandbox, timeout=0.5, max_retries=RETRIES, backoff=0.01, max_backoff=0.2)
    session = requests.Session()
    session.auth = auth
    started = time.monotonic()
    if case.raises is None or flow.vendor in case.succeeds_for:
        assert flow.call(session, sandbox).ok
    else:
        with pytest.raises(case.raises) as caught:
            flow.call(session, sandbox)
        error = caught.value
        assert isinstance(error, TokenRequestError)
        assert error.status_code == case.status
        if case.error is not None:
            assert error.error == case.error
        if case.transient is not None:
            assert error.transient is case.transient
        attempts = sandbox.count(flow.vendor, "token")
        assert attempts == (ALL_FAIL if error.transient else 1)
        for secret in sandbox.secrets():
            assert secret not in str(error)
    assert time.monotonic() - started < 10
    sandbox.clear_faults()
    assert flow.call(session, sandbox).ok, "the auth object must be usable once the fault clears"


@pytest.mark.parametrize("flow", FLOWS, ids=[f.name for f in FLOWS])
@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_token_endpoint_redirect_is_refused_and_carries_nothing(flow: Flow, status: int, sandbox: Sandbox) -> None:
    sandbox.add_fault(flow.vendor, "token", Fault.redirect(sandbox.storage_url + "/collect", status))
    with pytest.raises(TokenRequestError) as caught:
        flow.auth(sandbox).get_token()
    assert caught.value.status_code == status
    assert not caught.value.transient
    assert "check token_url" in str(caught.value)
    assert sandbox.calls_to("storage") == []


@pytest.mark.parametrize("flow", FLOWS, ids=[f.name for f in FLOWS])
def test_connection_refused(flow: Flow, sandbox: Sandbox) -> None:
    with socket.socket() as probe:  # a port that was free a moment ago and has no listener
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    path = flow.auth(sandbox).token_url.split("/", 3)[3]
    auth = flow.auth(sandbox, token_url=f"http://127.0.0.1:{port}/{path}", max_retries=1, backoff=0.01)
    started = time.monotonic()
    with pytest.raises(TokenRequestError) as caught:
        auth.get_token()
    assert time.monotonic() - started < 10
    assert (caught.value.status_code, caught.value.transient) == (None, True)
    assert "could not reach" in str(caught.value)
    assert isinstance(caught.value.__cause__, requests.ConnectionError)


@pytest.mark.parametrize("flow", FLOWS, ids=[f.name for f in FLOWS])
def test_api_401_then_200(flow: Flow, sandbox: Sandbox) -> None:
    session = requests.Session()
    session.auth = flow.auth(sandbox)
    flow.call(session, sandbox)
    sandbox.add_fault(flow.vendor, "api", Fault.status(401))
    response = flow.call(session, sandbox)
    assert response.ok
    assert [r.status_code for r in response.history] == [401]
    assert sandbox.count(flow.vendor, "token") == 2


@pytest.mark.parametrize("flow", FLOWS, ids=[f.name for f in FLOWS])
def test_api_401_forever_is_returned_after_one_replay(flow: Flow, sandbox: Sandbox) -> None:
    session = requests.Session()
    session.auth = flow.auth(sandbox)
    sandbox.add_fault(flow.vendor, "api", Fault.status(401), times=100)
    for _ in range(3):
        assert flow.call(session, sandbox).status_code == 401
    assert sandbox.count(flow.vendor, "api") == 6  # one replay per call, never a loop
    sandbox.clear_faults()
    assert flow.call(session, sandbox).ok


@pytest.mark.parametrize("flow", FLOWS, ids=[f.name for f in FLOWS])
def test_api_403_is_not_retried(flow: Flow, sandbox: Sandbox) -> None:
    session = requests.Session()
    session.auth = flow.auth(sandbox)
    sandbox.add_fault(flow.vendor, "api", Fault.status(403, {"message": "not granted"}))
    assert flow.call(session, sandbox).status_code == 403
    assert sandbox.count(flow.vendor, "api") == 1
    assert sandbox.count(flow.vendor, "token") == 1
    assert flow.call(session, sandbox).ok
