"""The token core through the Rokt Event/Reporting flow, over real loopback HTTP."""

from __future__ import annotations

import base64
import copy
import io
import json
import logging
import pickle
import time
from typing import Callable

import pytest
import requests

from requests_adtech_auth import (
    AuthError,
    CacheUnavailableError,
    ConfigurationError,
    InsecureTransportError,
    InvalidTokenResponseError,
    RoktAuth,
    RoktEventAuth,
    RoktReportingAuth,
    TokenRequestError,
)
from requests_adtech_auth.exception_copies import for_another_caller
from requests_adtech_auth.sandbox import Fault, Sandbox

from .helpers import (
    ROKT_SUMMARY_PARAMS,
    in_threads,
    rokt_event_headers,
    rokt_events,
    session_with,
    token_state_of,
)
from .subclassed_rokt import MissingScope, ScopeCheckingRokt


def summary(session: requests.Session, box: Sandbox, account: str = "123") -> requests.Response:
    return session.get(
        f"{box.rokt.api_url}/reporting/accounts/{account}/summary", params=ROKT_SUMMARY_PARAMS, timeout=10
    )


def test_quickstart_lazy_then_bearer(sandbox: Sandbox) -> None:
    auth = sandbox.rokt_auth()
    session = session_with(auth)
    assert sandbox.count("rokt", "token") == 0, "the constructor must not fetch"
    response = summary(session, sandbox)
    assert response.status_code == 200
    assert response.json()["accountId"] == "123"
    assert sandbox.count("rokt", "token") == 1
    api_call = sandbox.calls_to(path_prefix="/rokt/reporting")[-1]
    assert api_call.header("Authorization") == "Bearer " + auth.get_token()


def test_one_token_for_many_calls(sandbox: Sandbox) -> None:
    session = session_with(sandbox.rokt_auth())
    for account in range(20):
        assert summary(session, sandbox, str(account)).status_code == 200
    assert sandbox.count("rokt", "token") == 1
    assert sandbox.count("rokt", "api_ok") == 20


def test_token_request_is_basic_auth_and_form_body(sandbox: Sandbox) -> None:
    summary(session_with(sandbox.rokt_auth()), sandbox)
    (call,) = sandbox.calls_to(path_prefix="/rokt/auth")
    assert call.method == "POST"
    expected = base64.b64encode(f"{sandbox.rokt.app_id}:{sandbox.rokt.app_secret}".encode()).decode()
    assert call.header("Authorization") == "Basic " + expected
    assert call.content_type() == "application/x-www-form-urlencoded"
    assert call.body == b"grant_type=client_credentials"


@pytest.mark.parametrize("field", ["Access_token", "ACCESS_TOKEN", "access_token"])
def test_access_token_key_in_any_case(sandbox: Sandbox, field: str) -> None:
    sandbox.rokt.token_field = field
    assert summary(session_with(sandbox.rokt_auth()), sandbox).status_code == 200


def test_event_and_reporting_names_are_the_same_flow(sandbox: Sandbox) -> None:
    for cls in (RoktEventAuth, RoktReportingAuth):
        auth = cls(sandbox.rokt.app_id, sandbox.rokt.app_secret, token_url=sandbox.rokt.token_url)
        assert isinstance(auth, RoktAuth)
        response = session_with(auth).post(
            sandbox.rokt.api_url + "/v1/events", json=rokt_events(1), headers=rokt_event_headers(), timeout=10
        )
        assert response.json() == {"unprocessedRecords": []}


def test_short_lived_tokens_renew_before_expiry_with_no_401(sandbox: Sandbox) -> None:
    sandbox.lifetimes["rokt"] = 2.0  # leeway is capped at a quarter: renewal after 1.5 s
    session = session_with(sandbox.rokt_auth())
    deadline = time.monotonic() + 3.5
    calls = 0
    while time.monotonic() < deadline:
        assert summary(session, sandbox).status_code == 200
        calls += 1
        time.sleep(0.02)
    assert sandbox.count("rokt", "api_401") == 0
    # 3.5 s at one renewal per 1.5 s: the first token and two renewals.
    assert 2 <= sandbox.count("rokt", "token") <= 4
    assert calls > 20


def test_long_leeway_does_not_refetch_short_tokens_every_request(sandbox: Sandbox) -> None:
    sandbox.lifetimes["rokt"] = 4.0
    session = session_with(sandbox.rokt_auth(leeway=3600))
    for _ in range(10):
        summary(session, sandbox)
    assert sandbox.count("rokt", "token") == 1


def test_32_threads_one_token_call(sandbox: Sandbox) -> None:
    sandbox.token_delay = 0.2  # keep the fetch in flight while every thread arrives
    session = session_with(sandbox.rokt_auth())
    statuses: list[int] = []
    in_threads(32, lambda: statuses.append(summary(session, sandbox).status_code))
    assert statuses == [200] * 32
    assert sandbox.count("rokt", "token") == 1


def test_waiting_threads_share_one_failure(sandbox: Sandbox) -> None:
    sandbox.token_delay = 0.2
    auth = RoktAuth(sandbox.rokt.app_id, "wrong-secret", token_url=sandbox.rokt.token_url)
    errors: list[TokenRequestError] = []

    def worker() -> None:
        try:
            auth.get_token()
        except TokenRequestError as exc:
            errors.append(exc)

    in_threads(8, worker)
    assert len(errors) == 8
    assert sandbox.count("rokt", "token") == 1
    # One failure, but an exception object per thread: raising one object in eight
    # threads would splice their stacks into the one traceback they all hold.
    assert len({id(e) for e in errors}) == 8
    first = errors[0]
    assert first.error == "invalid_client" and first.status_code is not None
    assert {(type(e), str(e), e.status_code, e.error, e.transient) for e in errors} == {
        (type(first), str(first), first.status_code, first.error, first.transient)
    }


def test_waiting_threads_share_a_subclass_own_failure_with_its_type(sandbox: Sandbox) -> None:
    sandbox.token_delay = 0.2
    auth = ScopeCheckingRokt(sandbox.rokt.app_id, sandbox.rokt.app_secret, token_url=sandbox.rokt.token_url)
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            auth.get_token()
        except Exception as exc:  # anything: a TypeError from copying it would be a bug
            errors.append(exc)

    in_threads(6, worker)
    assert sandbox.count("rokt", "token") == 1
    assert [type(e) for e in errors] == [MissingScope] * 6
    assert {(str(e), e.scope) for e in errors if isinstance(e, MissingScope)} == {
        ("the token lacks the reporting scope", "reporting")
    }


def _raised(exc: AuthError) -> AuthError:
    try:
        try:
            raise requests.ConnectionError("the socket, detached")
        except requests.ConnectionError as cause:
            raise exc from cause
    except AuthError as caught:
        if hasattr(caught, "add_note"):  # Python 3.11+
            caught.add_note("the first caller's note")
        return caught


class KeywordOnlyNew(TokenRequestError):
    """A subclass whose own __new__ and __init__ take keyword arguments only."""

    def __new__(cls, *, reason: str) -> KeywordOnlyNew:
        return super().__new__(cls, reason)

    def __init__(self, *, reason: str) -> None:
        super().__init__(f"refused: {reason}", status_code=403)
        self.reason = reason


class Slotted(AuthError):
    __slots__ = ("scope",)

    def __init__(self, scope: str) -> None:
        super().__init__(f"no {scope}")
        self.scope = scope


@pytest.mark.parametrize(
    "failure",
    [
        lambda: TokenRequestError("refused", status_code=503, error="busy", transient=True, retry_after=2.5),
        lambda: InvalidTokenResponseError("no token in the answer", status_code=200),
        lambda: ConfigurationError("token_url is not a URL"),
        lambda: CacheUnavailableError("Redis token cache failed while reading (TimeoutError)"),
        lambda: MissingScope("reporting"),
        lambda: KeywordOnlyNew(reason="not yours"),
        lambda: Slotted("reporting"),
        lambda: AuthError(13, "denied"),
    ],
    ids=[
        "TokenRequestError",
        "InvalidTokenResponseError",
        "ConfigurationError",
        "CacheUnavailableError",
        "subclass",
        "own-__new__",
        "__slots__",
        "errno",
    ],
)
def test_a_failure_copied_for_another_caller_keeps_all_but_the_frames(failure: Callable[[], AuthError]) -> None:
    original = _raised(failure())
    copied = for_another_caller(original)
    assert copied is not original and type(copied) is type(original)
    assert str(copied) == str(original) and copied.args == original.args
    assert vars(copied) == vars(original)
    assert getattr(copied, "scope", None) == getattr(original, "scope", None)
    assert (copied.errno, copied.strerror) == (original.errno, original.strerror)
    assert copied.__cause__ is original.__cause__ and copied.__traceback__ is None
    assert original.__traceback__ is not None, "the first caller's own error keeps its frames"
    if hasattr(copied, "add_note"):
        copied.add_note("another caller's note")
        assert original.__notes__ == ["the first caller's note"]


def test_401_refreshes_once_and_replays_post_body(sandbox: Sandbox) -> None:
    session = session_with(sandbox.rokt_auth())
    summary(session, sandbox)
    sandbox.revoke_tokens()
    headers = rokt_event_headers()
    response = session.post(sandbox.rokt.api_url + "/v1/events", json=rokt_events(2), headers=headers, timeout=10)
    assert response.status_code == 200
    assert response.json() == {"unprocessedRecords": []}
    assert [r.status_code for r in response.history] == [401]
    posts = sandbox.calls_to(path_prefix="/rokt/v1/events")
    assert len(posts) == 2
    assert posts[0].body == posts[1].body == json.dumps(rokt_events(2)).encode()
    assert posts[0].header("Idempotency-Key") == posts[1].header("Idempotency-Key") == headers["Idempotency-Key"]
    assert sandbox.count("rokt", "token") == 2


def test_401_replays_a_seekable_file_body(sandbox: Sandbox) -> None:
    session = session_with(sandbox.rokt_auth())
    summary(session, sandbox)
    sandbox.revoke_tokens()
    raw = json.dumps(rokt_events(3)).encode()
    headers = {"Content-Type": "application/json", **rokt_event_headers()}
    response = session.post(sandbox.rokt.api_url + "/v1/events", data=io.BytesIO(raw), headers=headers, timeout=10)
    assert response.json() == {"unprocessedRecords": []}
    posts = sandbox.calls_to(path_prefix="/rokt/v1/events")
    assert [p.body for p in posts] == [raw] * 2


def test_401_with_unreplayable_body_is_returned(sandbox: Sandbox) -> None:
    session = session_with(sandbox.rokt_auth())
    summary(session, sandbox)
    sandbox.revoke_tokens()
    chunks = iter([b'{"events": ', b"[]}"])
    response = session.post(sandbox.rokt.api_url + "/v1/events", data=chunks, timeout=10)
    assert response.status_code == 401
    assert len(sandbox.calls_to(path_prefix="/rokt/v1/events")) == 1


def test_transient_token_failures_are_retried(sandbox: Sandbox) -> None:
    sandbox.add_fault("rokt", "token", Fault.status(503))
    sandbox.add_fault("rokt", "token", Fault.raw(502, b"<html>bad gateway</html>", "text/html"))
    session = session_with(sandbox.rokt_auth(backoff=0.01))
    assert summary(session, sandbox).status_code == 200
    assert sandbox.count("rokt", "token") == 3


def test_retries_are_bounded(sandbox: Sandbox) -> None:
    sandbox.add_fault("rokt", "token", Fault.status(503, {"error": "temporarily_unavailable"}), times=10)
    auth = sandbox.rokt_auth(backoff=0.01, max_retries=2)
    with pytest.raises(TokenRequestError) as caught:
        auth.get_token()
    assert caught.value.status_code == 503
    assert caught.value.error == "temporarily_unavailable"
    assert caught.value.transient
    assert sandbox.count("rokt", "token") == 3


def test_retry_after_is_honoured(sandbox: Sandbox) -> None:
    sandbox.add_fault("rokt", "token", Fault.status(429, {"error": "slow_down"}, {"Retry-After": "0.4"}))
    auth = sandbox.rokt_auth(backoff=0.01)
    started = time.monotonic()
    auth.get_token()
    assert time.monotonic() - started >= 0.35
    assert sandbox.count("rokt", "token") == 2


def test_retry_after_is_capped(sandbox: Sandbox) -> None:
    sandbox.add_fault("rokt", "token", Fault.status(429, None, {"Retry-After": "3600"}))
    auth = sandbox.rokt_auth(max_backoff=0.05)
    started = time.monotonic()
    auth.get_token()
    assert time.monotonic() - started < 30


def test_bad_secret_is_a_clear_error_not_retried(sandbox: Sandbox) -> None:
    secret = "not-the-secret-" + "x" * 20
    auth = RoktAuth(sandbox.rokt.app_id, secret, token_url=sandbox.rokt.token_url)
    with pytest.raises(TokenRequestError) as caught:
        summary(session_with(auth), sandbox)
    error = caught.value
    assert isinstance(error, AuthError)
    assert isinstance(error, requests.RequestException)
    assert error.status_code == 400
    assert error.error == "invalid_client"
    assert error.description == "Client authentication failed"
    assert not error.transient
    assert "app secret" in str(error)
    assert sandbox.count("rokt", "token") == 1
    for text in (str(error), repr(error), repr(error.args), repr(auth), str(auth)):
        assert secret not in text


def test_server_echoing_the_secret_is_redacted(sandbox: Sandbox) -> None:
    secret = sandbox.rokt.app_secret
    sandbox.add_fault(
        "rokt", "token", Fault.status(400, {"error": "invalid_client", "error_description": f"bad {secret}"})
    )
    with pytest.raises(TokenRequestError) as caught:
        sandbox.rokt_auth().get_token()
    assert secret not in str(caught.value)
    assert secret not in (caught.value.description or "")
    assert "[redacted]" in (caught.value.description or "")


@pytest.mark.parametrize(
    ("fault", "words"),
    [
        (Fault.raw(200, b"<html><body>Sign in</body></html>", "text/html"), "not a JSON object"),
        (Fault.raw(200, b""), "empty"),
        (Fault.raw(200, b'{"access_token": "abc'), "not a JSON object"),
        (Fault.raw(200, b"[1, 2]"), "not a JSON object"),
        (Fault.status(200, {"token_type": "Bearer", "expires_in": 3600}), "no access_token"),
        (Fault.status(200, {"access_token": 12345, "expires_in": 3600}), "not a string"),
        (Fault.status(200, {"access_token": "abc\r\nX-Evil: 1", "expires_in": 3600}), "cannot be sent in a header"),
        (Fault.status(200, {"access_token": "abc", "expires_in": "soon"}), "not a number"),
        (Fault.status(200, {"access_token": "abc", "expires_in": -5}), "not positive"),
        (Fault.status(200, {"access_token": "abc", "expires_in": 0}), "not positive"),
        (Fault.raw(200, b"[" * 100_000), "not a JSON object"),
        (Fault.raw(200, b'{"a": "' + b"x" * 2_000_000 + b'"}'), "larger than"),
    ],
)
def test_unusable_token_answers_are_library_errors(sandbox: Sandbox, fault: Fault, words: str) -> None:
    sandbox.add_fault("rokt", "token", fault)
    auth = sandbox.rokt_auth()
    with pytest.raises(InvalidTokenResponseError) as caught:
        auth.get_token()
    assert words in str(caught.value)
    assert caught.value.status_code == 200
    assert auth.get_token()  # usable again once the fault clears


def test_error_field_in_a_200_answer_is_mapped(sandbox: Sandbox) -> None:
    sandbox.add_fault("rokt", "token", Fault.status(200, {"error": "invalid_client", "error_description": "nope"}))
    with pytest.raises(TokenRequestError) as caught:
        sandbox.rokt_auth().get_token()
    assert caught.value.error == "invalid_client"


def test_missing_or_odd_expires_in(sandbox: Sandbox) -> None:
    sandbox.add_fault("rokt", "token", Fault.status(200, {"access_token": "tok-a"}))
    auth = sandbox.rokt_auth()
    assert auth.get_token() == "tok-a"
    assert "valid for 59 min" in repr(auth)  # the documented 3600 s
    sandbox.add_fault("rokt", "token", Fault.status(200, {"access_token": "tok-b", "expires_in": "120"}))
    auth = sandbox.rokt_auth(share_token=False)
    assert auth.get_token() == "tok-b"
    sandbox.add_fault("rokt", "token", Fault.status(200, {"access_token": "tok-c", "expires_in": 10**12}))
    auth = sandbox.rokt_auth(share_token=False)
    assert auth.get_token() == "tok-c"
    assert "valid for 1439 min" in repr(auth) or "valid for 1440 min" in repr(auth)  # capped at a day


def test_hanging_token_endpoint_times_out(sandbox: Sandbox) -> None:
    sandbox.add_fault("rokt", "token", Fault.hang(30))
    auth = sandbox.rokt_auth(timeout=0.3, max_retries=0)
    started = time.monotonic()
    with pytest.raises(TokenRequestError) as caught:
        auth.get_token()
    assert time.monotonic() - started < 5
    assert caught.value.transient
    assert caught.value.status_code is None
    assert "0.3 s" in str(caught.value)


def test_connection_reset_and_refused_are_transient_errors(sandbox: Sandbox) -> None:
    sandbox.add_fault("rokt", "token", Fault.reset(), times=3)
    auth = sandbox.rokt_auth(max_retries=2, backoff=0.01)
    with pytest.raises(TokenRequestError) as caught:
        auth.get_token()
    assert caught.value.transient
    assert auth.get_token()
    refused = RoktAuth("id", "secret", token_url="http://127.0.0.1:9/token", max_retries=0)
    with pytest.raises(TokenRequestError, match="could not reach"):
        refused.get_token()


def test_token_endpoint_redirect_is_not_followed(sandbox: Sandbox) -> None:
    sandbox.add_fault("rokt", "token", Fault.redirect(sandbox.storage_url + "/steal", 307))
    with pytest.raises(TokenRequestError) as caught:
        sandbox.rokt_auth().get_token()
    assert caught.value.status_code == 307
    assert sandbox.calls_to("storage") == []


@pytest.mark.parametrize(
    "url", ["http://api.rokt.com/auth/oauth2/token", "http://10.0.0.8/token", "http://rokt.localhost.evil.com/t"]
)
def test_plain_http_token_url_is_refused(url: str) -> None:
    with pytest.raises(InsecureTransportError, match="https"):
        RoktAuth("id", "secret", token_url=url)


@pytest.mark.parametrize("url", ["http://127.0.0.5:8/t", "http://localhost:8/t", "http://[::1]:8/t"])
def test_plain_http_loopback_token_url_is_allowed(url: str) -> None:
    assert RoktAuth("id", "secret", token_url=url).token_url == url


def test_plain_http_api_call_to_an_allowed_host_is_refused(sandbox: Sandbox) -> None:
    session = session_with(sandbox.rokt_auth())
    with pytest.raises(InsecureTransportError):
        session.get("http://api.rokt.com/v1/query/accounts", timeout=1)
    assert sandbox.count("rokt", "token") == 0


def test_nothing_is_sent_to_a_foreign_host(sandbox: Sandbox) -> None:
    session = session_with(sandbox.rokt_auth())
    response = session.get(sandbox.storage_url + "/anything", timeout=10)
    assert response.status_code == 200
    (call,) = sandbox.calls_to("storage")
    assert call.header("Authorization") is None
    assert sandbox.count("rokt", "token") == 0


def test_redirect_to_a_foreign_host_carries_no_token(sandbox: Sandbox) -> None:
    session = session_with(sandbox.rokt_auth())
    target = sandbox.storage_url + "/landing"
    response = session.get(sandbox.url + "/redirect", params={"to": target}, timeout=10)
    assert response.status_code == 200
    (call,) = sandbox.calls_to("storage")
    assert call.header("Authorization") is None


def test_foreign_401_after_redirect_gets_no_token(sandbox: Sandbox) -> None:
    session = session_with(sandbox.rokt_auth())
    summary(session, sandbox)
    # The storage host answers 401 to a request with a credential; here it gets none and must stay so.
    sandbox.add_fault("rokt", "api", Fault.redirect(sandbox.storage_url + "/reports/x.csv?X-Signature=bad"))
    response = summary(session, sandbox)
    assert response.status_code == 403
    assert all(c.header("Authorization") is None for c in sandbox.calls_to("storage"))


def test_hosts_option_limits_and_extends_credentials(sandbox: Sandbox) -> None:
    auth = sandbox.rokt_auth(hosts=["api.rokt.com"])  # not the sandbox's host
    response = summary(session_with(auth), sandbox)
    assert response.status_code == 401
    assert sandbox.count("rokt", "token") == 0
    assert sandbox.rokt_auth().hosts == frozenset({"api.rokt.com", "127.0.0.1"})


def test_repr_and_logs_hold_no_secret_or_token(sandbox: Sandbox, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    auth = sandbox.rokt_auth()
    session = session_with(auth)
    summary(session, sandbox)
    sandbox.revoke_tokens()
    summary(session, sandbox)
    token = auth.get_token()
    texts = [repr(auth), str(auth), caplog.text]
    for text in texts:
        assert sandbox.rokt.app_secret not in text
        assert token not in text
    assert "fetched a token" in caplog.text
    assert "replaying once" in caplog.text
    assert "token=valid for 59 min" in repr(auth)


def test_invalidate_and_get_token(sandbox: Sandbox) -> None:
    auth = sandbox.rokt_auth()
    first = auth.get_token()
    assert auth.get_token() == first
    auth.invalidate()
    assert auth.get_token() != first
    assert sandbox.count("rokt", "token") == 2


def test_failed_renewal_keeps_a_still_valid_token(sandbox: Sandbox) -> None:
    sandbox.lifetimes["rokt"] = 4.0
    auth = sandbox.rokt_auth(max_retries=0)
    first = auth.get_token()
    time.sleep(3.1)  # past the renewal point (3 s), before expiry (4 s)
    sandbox.add_fault("rokt", "token", Fault.status(503))
    assert auth.get_token() == first
    assert sandbox.count("rokt", "token") == 2
    assert auth.get_token() == first  # no new attempt straight away
    assert sandbox.count("rokt", "token") == 2


@pytest.mark.parametrize("clone", [lambda a: pickle.loads(pickle.dumps(a)), copy.deepcopy])
def test_pickle_and_deepcopy(sandbox: Sandbox, clone) -> None:  # type: ignore[no-untyped-def]
    auth = sandbox.rokt_auth()
    token = auth.get_token()
    assert token not in pickle.dumps(auth).decode("latin-1"), "the cached token must not travel"
    twin = clone(auth)
    # In this process the copy is the same credential: it shares the token (one per credential).
    assert twin.get_token() == token
    assert summary(session_with(twin), sandbox).status_code == 200
    assert sandbox.count("rokt", "token") == 1
    assert sandbox.rokt.app_secret not in repr(twin)
    loner = clone(sandbox.rokt_auth(share_token=False))
    assert token_state_of(loner).lock is not token_state_of(auth).lock
    assert loner.get_token() != token, "an object that does not share fetches its own"
    assert sandbox.count("rokt", "token") == 2


def test_token_request_error_pickles_with_attributes() -> None:
    error = TokenRequestError("boom", status_code=400, error="invalid_client", description="d", retry_after=1.5)
    twin = pickle.loads(pickle.dumps(error))
    assert (twin.status_code, twin.error, twin.description, twin.retry_after, str(twin)) == (
        400,
        "invalid_client",
        "d",
        1.5,
        "boom",
    )


@pytest.mark.parametrize(
    ("args", "kwargs", "words"),
    [
        (("", "secret"), {}, "app_id"),
        (("id", ""), {}, "app_secret"),
        (("id", " secret"), {}, "spaces"),
        (("id", "secret"), {"hosts": "api.rokt.com"}, "not a string"),
        (("id", "secret"), {"hosts": ["https://api.rokt.com/"]}, "bare host"),
        (("id", "secret"), {"timeout": 0}, "timeout"),
        (("id", "secret"), {"leeway": -1}, "leeway"),
        (("id", "secret"), {"max_retries": -1}, "max_retries"),
        (("id", "secret"), {"token_url": "ftp://x/y"}, "https"),
        (("id", "secret"), {"session": object()}, "Session"),
    ],
)
def test_bad_arguments_are_configuration_errors(args, kwargs, words) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigurationError, match=words) as caught:
        RoktAuth(*args, **kwargs)
    assert isinstance(caught.value, ValueError)
    assert "secret" not in str(caught.value).replace("app_secret", "")


def test_custom_session_is_used_for_token_calls(sandbox: Sandbox) -> None:
    token_session = requests.Session()
    token_session.headers["User-Agent"] = "custom-agent/1"
    auth = sandbox.rokt_auth(session=token_session)
    auth.get_token()
    (call,) = sandbox.calls_to(path_prefix="/rokt/auth")
    assert call.header("User-Agent") == "custom-agent/1"


def test_caller_session_auth_is_not_applied_to_token_calls(sandbox: Sandbox) -> None:
    # Passing the caller's own session (with this auth on it) must not recurse.
    session = requests.Session()
    auth = sandbox.rokt_auth(session=session)
    session.auth = auth
    assert summary(session, sandbox).status_code == 200
