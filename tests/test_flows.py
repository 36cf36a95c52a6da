"""The core's contract, held by every one of the five flows (one suite, parametrized)."""

from __future__ import annotations

import pickle
import time

import pytest
import requests

from requests_adtech_auth import TokenRequestError
from requests_adtech_auth.sandbox import Fault, Sandbox

from .helpers import Flow, in_threads

CREDENTIAL_HEADERS = ("Authorization", "X-Platform-Parent-Account-Id", "access_token", "tenant_hash")


def session_for(flow: Flow, box: Sandbox, **options: object) -> requests.Session:
    session = requests.Session()
    session.auth = flow.auth(box, **options)
    return session


def test_lazy_then_one_token_for_many_calls(flow: Flow, sandbox: Sandbox) -> None:
    session = session_for(flow, sandbox)
    assert sandbox.count(flow.vendor, "token") == 0
    for _ in range(5):
        response = flow.call(session, sandbox)
        assert response.ok, response.text
    assert sandbox.count(flow.vendor, "token") == 1
    assert sandbox.count(flow.vendor, "api_ok") == 5


def test_single_flight_under_threads(flow: Flow, sandbox: Sandbox) -> None:
    sandbox.token_delay = 0.2
    session = session_for(flow, sandbox)
    results: list[int] = []
    in_threads(16, lambda: results.append(flow.call(session, sandbox).status_code))
    assert len(results) == 16
    assert all(200 <= s < 300 for s in results)
    assert sandbox.count(flow.vendor, "token") == 1


def test_short_lived_tokens_renew_early(flow: Flow, sandbox: Sandbox) -> None:
    session = session_for(flow, sandbox, lifetime=1.2)  # renewed after 0.9 s
    deadline = time.monotonic() + 1.5  # at least one renewal (at 0.9 s), no 401
    while time.monotonic() < deadline:
        assert flow.call(session, sandbox).ok
        time.sleep(0.03)
    assert sandbox.count(flow.vendor, "api_401") == 0
    assert 2 <= sandbox.count(flow.vendor, "token") <= 4


def test_401_gets_one_fresh_token_and_one_replay(flow: Flow, sandbox: Sandbox) -> None:
    session = session_for(flow, sandbox)
    first = flow.call(session, sandbox)
    sandbox.revoke_tokens()
    second = flow.call(session, sandbox)
    assert second.ok
    assert [r.status_code for r in second.history] == [401]
    assert sandbox.count(flow.vendor, "token") == 2
    sent = [flow.token_header(c.headers) for c in sandbox.calls_to(path_prefix=first.request.path_url[:8])]
    assert len(set(t for t in sent if t)) == 2


def test_transient_token_failure_then_success(flow: Flow, sandbox: Sandbox) -> None:
    sandbox.add_fault(flow.vendor, "token", Fault.status(503))
    sandbox.add_fault(flow.vendor, "token", Fault.reset())
    assert flow.call(session_for(flow, sandbox), sandbox).ok
    assert sandbox.count(flow.vendor, "token") == 3


def test_malformed_token_answer_is_a_library_error(flow: Flow, sandbox: Sandbox) -> None:
    sandbox.add_fault(flow.vendor, "token", Fault.raw(200, b"<html>maintenance</html>", "text/html"))
    auth = flow.auth(sandbox)
    with pytest.raises(TokenRequestError) as caught:
        auth.get_token()
    assert caught.value.status_code == 200
    assert auth.get_token()


def test_token_with_header_injection_is_refused(flow: Flow, sandbox: Sandbox) -> None:
    sandbox.add_fault(flow.vendor, "token", Fault.status(200, {flow.token_field: "abc\r\nSet-Cookie: x=1"}))
    with pytest.raises(TokenRequestError, match="header"):
        flow.auth(sandbox).get_token()


def test_no_credential_header_follows_a_cross_host_redirect(flow: Flow, sandbox: Sandbox) -> None:
    session = session_for(flow, sandbox)
    sandbox.add_fault(flow.vendor, "api", Fault.redirect(sandbox.storage_url + "/landing", 307))
    response = flow.call(session, sandbox)
    assert response.status_code == 200
    assert response.history and response.history[0].status_code == 307
    (call,) = sandbox.calls_to("storage")
    for name in CREDENTIAL_HEADERS:
        assert call.header(name) is None, name


def test_no_credentials_to_a_foreign_host(flow: Flow, sandbox: Sandbox) -> None:
    session = session_for(flow, sandbox)
    assert session.post(sandbox.storage_url + "/collect", json={}, timeout=10).ok
    (call,) = sandbox.calls_to("storage")
    for name in CREDENTIAL_HEADERS:
        assert call.header(name) is None, name
    assert sandbox.count(flow.vendor, "token") == 0


def test_pickled_auth_works_and_leaves_the_token_behind(flow: Flow, sandbox: Sandbox) -> None:
    auth = flow.auth(sandbox, share_token=False)  # as the copy in another process would be
    token = auth.get_token()
    twin = pickle.loads(pickle.dumps(auth))
    session = requests.Session()
    session.auth = twin
    assert flow.call(session, sandbox).ok
    assert twin.get_token() != token
    assert token not in pickle.dumps(auth).decode("latin-1")


def test_repr_shows_state_never_secrets(flow: Flow, sandbox: Sandbox) -> None:
    auth = flow.auth(sandbox)
    assert "token=none yet" in repr(auth)
    token = auth.get_token()
    text = repr(auth)
    assert "token=valid for" in text
    for secret in sandbox.secrets():
        assert secret not in text
    assert token not in text


def test_repr_states_and_html(flow: Flow, sandbox: Sandbox) -> None:
    auth = flow.auth(sandbox, lifetime=1.0)
    assert "token=none yet" in repr(auth)
    token = auth.get_token()
    assert "token=valid for" in repr(auth)
    html = auth._repr_html_()
    assert auth.vendor.split()[0] in html
    assert "valid for" in html
    time.sleep(1.05)
    assert "token=expired" in repr(auth)
    for text in (repr(auth), html):
        assert token not in text
        for secret in sandbox.secrets():
            assert secret not in text
