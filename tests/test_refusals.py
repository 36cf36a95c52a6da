"""Token-refused statuses beyond 401 (Rokt's 403), the token's public state, repr, and renewal margins."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, Callable, Optional

import pytest
import requests

from requests_adtech_auth import FileTokenCache, RoktAuth, TokenRequestError
from requests_adtech_auth.sandbox import Fault, Sandbox

from .helpers import PARTNERSHIP, ROKT_SUMMARY_PARAMS, idempotency_key, session_with, token_state_of

SUMMARY = "/reporting/accounts/{}/summary"


def _summary(session: requests.Session, box: Sandbox, account: str = "123") -> requests.Response:
    return session.get(box.rokt.api_url + SUMMARY.format(account), params=ROKT_SUMMARY_PARAMS, timeout=10)


class _QuickFloorAuth(RoktAuth):
    refusal_renewal_floor = 0.2  # the 60 s floor, shortened so that a test can pass it


def test_rokt_403_for_a_revoked_token_renews_once_and_replays(sandbox: Sandbox) -> None:
    sandbox.rokt.stale_token_status = 403  # the Reporting page: "either a 400 or 403"
    auth = _QuickFloorAuth(sandbox.rokt.app_id, sandbox.rokt.app_secret, token_url=sandbox.rokt.token_url)
    session = session_with(auth)
    assert _summary(session, sandbox).status_code == 200
    first = auth.get_token()
    time.sleep(0.3)
    sandbox.revoke_tokens("rokt")  # a key rotation: the token dies before its hour
    response = _summary(session, sandbox)
    assert response.status_code == 200
    assert [r.status_code for r in response.history] == [403]
    assert auth.get_token() != first
    assert sandbox.count("rokt", "token") == 2


def test_a_fresh_token_refused_with_403_is_not_renewed(sandbox: Sandbox) -> None:
    sandbox.rokt.stale_token_status = 403
    auth = sandbox.rokt_auth()
    session = session_with(auth)
    assert _summary(session, sandbox).status_code == 200
    sandbox.revoke_tokens("rokt")
    assert _summary(session, sandbox).status_code == 403  # younger than the floor: "not allowed" wins
    assert sandbox.count("rokt", "token") == 1


class _HalfSecondFloorAuth(RoktAuth):
    refusal_renewal_floor = 0.5


@pytest.mark.parametrize("age", [0.0, 0.55], ids=["fresh-token", "token-past-the-floor"])
def test_100_genuine_403s_cost_at_most_one_token_call_per_floor(sandbox: Sandbox, age: float) -> None:
    sandbox.rokt.forbidden_paths.add(SUMMARY.format(999))  # an account this user may not read
    auth = _HalfSecondFloorAuth(sandbox.rokt.app_id, sandbox.rokt.app_secret, token_url=sandbox.rokt.token_url)
    session = session_with(auth)
    started = time.monotonic()  # before the token is fetched: its age never exceeds this
    assert _summary(session, sandbox).status_code == 200
    time.sleep(age)
    statuses = {_summary(session, sandbox, "999").status_code for _ in range(100)}
    elapsed = time.monotonic() - started
    assert statuses == {403}
    renewals = sandbox.count("rokt", "token") - 1
    # At most one per floor that passed, never one per request: 100 calls here take a
    # fraction of a second, so this is 0 (fresh) or 1 (past the floor) unless the machine stalls.
    assert renewals <= int(elapsed / _HalfSecondFloorAuth.refusal_renewal_floor)
    assert sandbox.rokt.api_url and sandbox.count("rokt", "api_403") >= 100


def test_other_vendors_do_not_renew_on_403(sandbox: Sandbox) -> None:
    auth = sandbox.rokt_partnerships_auth()
    session = session_with(auth)  # type: ignore[arg-type]
    url = sandbox.rokt_partnerships.api_url + "/v1/accounts/register/partnership"
    assert session.post(url, json=PARTNERSHIP, headers=idempotency_key(), timeout=10).ok
    sandbox.add_fault("rokt_partnerships", "api", Fault.status(403, {"error": "Forbidden"}))
    assert session.post(url, json=PARTNERSHIP, headers=idempotency_key(), timeout=10).status_code == 403
    assert sandbox.count("rokt_partnerships", "token") == 1


def test_token_status_is_public_and_never_the_token(sandbox: Sandbox) -> None:
    sandbox.lifetimes["rokt"] = 600
    auth = sandbox.rokt_auth()
    assert auth.token_status is None
    token = auth.get_token()
    status = auth.token_status
    assert status is not None
    assert 590 < status.expires_in <= 600
    assert 530 < status.renews_in <= 540  # a 60 s leeway
    assert token not in repr(status)
    with pytest.raises(AttributeError):
        auth.token_status = None


def test_the_served_token_is_replaced_whole_and_never_shown(sandbox: Sandbox) -> None:
    # Requests on other threads read its fields without a lock: changing one in place would mix two tokens.
    auth = sandbox.rokt_auth(share_token=False)
    token = auth.get_token()
    served = token_state_of(auth).served
    assert served is not None
    assert (served.value, served.presented) == (token, "Bearer " + token)
    with pytest.raises(AttributeError):
        served.presented = "Bearer another"
    with pytest.raises(AttributeError):
        del served.value
    assert token not in repr(served)


def test_repr_shows_hosts_and_algonomy_shows_what_it_grants(sandbox: Sandbox) -> None:
    rokt = sandbox.rokt_auth()
    assert "hosts=['127.0.0.1', 'api.rokt.com']" in repr(rokt)
    algonomy = sandbox.algonomy_auth(resources=["basic", "segments"], validity=15)
    shown = repr(algonomy) + algonomy._repr_html_()
    assert "id=''" not in shown
    assert "resources=['basic', 'segments']" in repr(algonomy) and "15 min" in shown
    assert sandbox.algonomy.tenant_hash not in shown


def test_log_lines_name_a_credential_as_its_repr_does(sandbox: Sandbox, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, "requests_adtech_auth")
    rokt = sandbox.rokt_auth()
    algonomy = sandbox.algonomy_auth(resources=["basic", "segments"], validity=15)
    for auth in (rokt, algonomy):
        auth.get_token()
    fetched = [r.getMessage() for r in caplog.records if "fetched a token" in r.getMessage()]
    assert fetched[0].startswith(f"Rokt (id='{sandbox.rokt.app_id[:4]}…'): ")
    assert fetched[1].startswith("Algonomy (resources=['basic', 'segments'] validity=15 min): ")
    assert "resources=['basic', 'segments'] validity=15 min" in repr(algonomy)


def test_html_error_from_a_proxy_is_told_apart(sandbox: Sandbox) -> None:
    page = b"<html><head><title>502 Bad Gateway</title></head><body>" + b"nginx " * 100 + b"</body></html>"
    sandbox.add_fault("rokt", "token", Fault.raw(502, page, "text/html"), times=3)
    with pytest.raises(Exception) as caught:
        sandbox.rokt_auth(max_retries=0).get_token()
    message = str(caught.value)
    assert "text/html" in message and "502 Bad Gateway" in message
    quoted = message[message.index("text/html") :]
    assert len(quoted) < 260  # a short snippet (200 characters), not the page


def _hold(lock: threading.RLock, release: threading.Event) -> threading.Thread:
    held = threading.Event()

    def run() -> None:
        with lock:
            held.set()
            release.wait(10)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    assert held.wait(5)
    return thread


def _wait_for(condition: Callable[[], bool], seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def _due_with_a_safe_margin(box: Sandbox) -> tuple[RoktAuth, str]:
    """An object of its own whose token is due for renewal with most of its leeway left; and that token."""
    auth = box.rokt_auth(share_token=False)
    old = auth.get_token()
    state = token_state_of(auth)
    cached = state.token
    assert cached is not None
    now = time.monotonic()
    state.token = cached._replace(refresh_at=now - 0.01, expires_at=now + 20)
    return auth, old


def test_a_token_refused_during_a_renewal_is_not_served_while_the_renewal_runs(sandbox: Sandbox) -> None:
    auth, old = _due_with_a_safe_margin(sandbox)
    sandbox.token_delay = 1.5  # the renewal holds the token lock this long
    sandbox.revoke_tokens("rokt")
    sandbox.reset_counts()
    renewal = threading.Thread(target=auth.get_token, daemon=True)
    renewal.start()
    _wait_for(lambda: sandbox.count("rokt", "token") == 1)  # counted on arrival: the renewal is in flight
    statuses: list[int] = []
    # The first request still goes out with the old token (the vendor revoked it a moment ago) and
    # is refused; its body is a stream, so it cannot be replayed and comes back as it is.
    first = threading.Thread(target=lambda: statuses.append(_summary_streamed(auth, sandbox)), daemon=True)
    first.start()
    _wait_for(lambda: sandbox.count("rokt", "api_401_stale") == 1)
    time.sleep(0.2)  # the refusal is processed (the marking takes no lock)
    assert renewal.is_alive(), "the renewal is still in flight"
    second = _summary(session_with(auth), sandbox)
    first.join(10)
    renewal.join(10)
    assert second.status_code == 200 and not second.history, "the refused token was not sent again"
    assert statuses == [401]
    assert sandbox.count("rokt", "api_401_stale") == 1
    assert sandbox.count("rokt", "token") == 1
    assert auth.get_token() != old


def _summary_streamed(auth: RoktAuth, box: Sandbox) -> int:
    body = (chunk for chunk in [b""])  # a generator: requests cannot send it twice
    url = box.rokt.api_url + SUMMARY.format("123")
    return requests.get(url, params=ROKT_SUMMARY_PARAMS, data=body, auth=auth, timeout=10).status_code


def _refused_in_a_thread(auth: RoktAuth, box: Sandbox, old: str) -> threading.Thread:
    """A request that carries ``old`` (revoked) with a streamed body: refused, marked, not replayed."""
    thread = threading.Thread(target=lambda: _summary_streamed(auth, box), daemon=True)
    thread.start()
    state = token_state_of(auth)
    _wait_for(lambda: state.refused == old)
    return thread


def test_a_renewal_that_fails_after_a_refusal_does_not_keep_the_refused_token(sandbox: Sandbox) -> None:
    auth, old = _due_with_a_safe_margin(sandbox)
    sandbox.token_delay = 1.0
    sandbox.add_fault("rokt", "token", Fault.status(401, {"error": "invalid_client"}), times=50)
    sandbox.revoke_tokens("rokt")
    sandbox.reset_counts()
    outcomes: list[object] = []

    def ask() -> None:
        try:
            outcomes.append(auth.get_token())
        except TokenRequestError as exc:
            outcomes.append(exc)

    renewal = threading.Thread(target=ask, daemon=True)
    renewal.start()
    _wait_for(lambda: sandbox.count("rokt", "token") == 1)
    refused = _refused_in_a_thread(auth, sandbox, old)
    assert renewal.is_alive(), "the refusal came while the renewal was in flight"
    waiters = [threading.Thread(target=ask, daemon=True) for _ in range(4)]
    for thread in waiters:
        thread.start()
    for thread in (renewal, *waiters, refused):
        thread.join(10)
    assert len(outcomes) == 5 and all(isinstance(o, TokenRequestError) for o in outcomes), outcomes
    assert sandbox.count("rokt", "token") == 1


def test_a_refused_token_leaves_the_per_request_path_while_another_thread_holds_the_lock(sandbox: Sandbox) -> None:
    auth = sandbox.rokt_auth(share_token=False)
    old = auth.get_token()
    state = token_state_of(auth)
    sandbox.revoke_tokens("rokt")
    sandbox.reset_counts()
    release = threading.Event()
    holder = _hold(state.lock, release)  # as Algonomy's update holds it through a slow call
    try:
        refused = _refused_in_a_thread(auth, sandbox, old)
        prepared = requests.Request("GET", sandbox.rokt.api_url + SUMMARY.format("123")).prepare()
        asker = threading.Thread(target=lambda: auth(prepared), daemon=True)
        asker.start()
        asker.join(0.3)
        assert asker.is_alive(), "a request waits for the lock instead of taking the refused token"
    finally:
        release.set()
    holder.join(5)
    asker.join(10)
    refused.join(10)
    assert prepared.headers["Authorization"] != "Bearer " + old
    assert sandbox.count("rokt", "api_401_stale") == 1


def test_a_shared_cache_does_not_hand_back_a_refused_token_before_the_drop(sandbox: Sandbox, tmp_path: Any) -> None:
    auth = sandbox.rokt_auth(cache=FileTokenCache(str(tmp_path)), share_token=False)
    old = auth.get_token()
    state = token_state_of(auth)
    real_drop = state.drop

    def late_drop(value: Optional[str], key: Callable[[], str]) -> None:
        time.sleep(0.3)  # a thread switch, or a busy lock, between the refusal and the drop
        real_drop(value, key)

    state.drop = late_drop  # type: ignore[method-assign]
    sandbox.revoke_tokens("rokt")
    sandbox.reset_counts()
    refused = threading.Thread(target=lambda: _summary(session_with(auth), sandbox), daemon=True)
    refused.start()
    _wait_for(lambda: state.refused == old)
    assert auth.get_token() != old, "the shared file still held it: not adopted"
    refused.join(10)
    assert sandbox.count("rokt", "token") == 1


def test_a_young_tokens_403_is_logged_at_debug(sandbox: Sandbox, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="requests_adtech_auth")
    sandbox.rokt.forbidden_paths.add("/v1/query/accounts")
    response = requests.get(sandbox.rokt.api_url + "/v1/query/accounts", auth=sandbox.rokt_auth(), timeout=10)
    assert response.status_code == 403
    assert any("in use for less than 60 s" in r.getMessage() for r in caplog.records)
