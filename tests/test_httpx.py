"""The httpx adapter: every flow through real httpx.Client and httpx.AsyncClient against the sandbox.

Sync and async alike: lazy fetch, one token shared with requests, one replay after a
refusal (with the body, or none for a stream), the vendors' headers, and no
credential header on a cross-origin redirect hop. Timing and concurrency (the event
loop never blocks, one renewal per loop, cancellation) are in test_httpx_async.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import AsyncIterator
from typing import Any, Callable

import anyio
import anyio.from_thread
import anyio.to_thread
import httpx
import pytest
import requests

from requests_adtech_auth import InsecureTransportError, RoktAuth, TokenAuth, TokenRequestError
from requests_adtech_auth.control_chars import escape_controls
from requests_adtech_auth.httpx import HttpxAuth
from requests_adtech_auth.sandbox import Fault, Sandbox

from .adapter_checks import (
    FAULTS,
    TLS,
    api_call,
    assert_replayed_with_a_fresh_token,
    check_token_endpoint_faults,
    sent_token,
)
from .control_text import CONTROL_CLASSES, raw_controls
from .foreign_host import assert_storage_got_nothing
from .helpers import (
    DT_REPORT,
    FLOWS,
    Flow,
    RawServer,
    age_shared_token,
    error_answer,
    library_locals,
    token_state_of,
)
from .helpers import flow as flow_named

MODES = ["sync", "async"]


def call(mode: str, auth: HttpxAuth, method: str, url: str, **kwargs: Any) -> httpx.Response:
    """One request through a fresh httpx.Client or httpx.AsyncClient."""
    kwargs.setdefault("timeout", 10)
    if mode == "sync":
        with httpx.Client(auth=auth, verify=TLS) as client:
            return client.request(method, url, **kwargs)

    async def run() -> httpx.Response:
        async with httpx.AsyncClient(auth=auth, verify=TLS) as client:
            return await client.request(method, url, **kwargs)

    return asyncio.run(run())


def flow_call(mode: str, auth: HttpxAuth, flow: Flow, box: Sandbox, **kwargs: Any) -> httpx.Response:
    method, url, body, headers = api_call(flow, box)
    return call(mode, auth, method, url, json=body, headers={**headers, **kwargs.pop("headers", {})}, **kwargs)


# -- every flow, sync and async, one token with requests ---------------------------------------------


@pytest.mark.parametrize("flow", FLOWS, ids=[f.name for f in FLOWS])
def test_every_flow_shares_one_token_across_requests_httpx_and_asyncio(sandbox: Sandbox, flow: Flow) -> None:
    auth = flow.auth(sandbox)
    wrapped = HttpxAuth(auth)
    assert sandbox.count(flow.vendor, "token") == 0  # lazy: nothing fetched yet
    for mode in MODES:
        response = flow_call(mode, wrapped, flow, sandbox)
        assert response.is_success, response.text
        assert sent_token(flow, sandbox) == auth.get_token()
    session = requests.Session()
    session.auth = auth
    assert flow.call(session, sandbox).ok
    assert sandbox.count(flow.vendor, "token") == 1


@pytest.mark.parametrize("mode", MODES)
def test_objects_sharing_a_token_renew_on_their_own_leeway_as_on_requests(sandbox: Sandbox, mode: str) -> None:
    early_auth, late_auth = sandbox.rokt_auth(leeway=600), sandbox.rokt_auth(leeway=60)  # 3600 s tokens
    early, late = HttpxAuth(early_auth), HttpxAuth(late_auth)
    url = sandbox.rokt.api_url + "/v1/query/accounts"

    def sent(wrapped: HttpxAuth) -> str:
        response = call(mode, wrapped, "GET", url)
        assert response.is_success
        return response.request.headers["Authorization"]

    first = sent(late)
    age_shared_token(late_auth, left=300)
    assert sent(late) == first  # 60 s leeway: 240 s to go
    assert sandbox.count("rokt", "token") == 1
    second = sent(early)  # 600 s leeway: due 300 s ago
    assert second != first
    assert sent(late) == second
    assert sandbox.count("rokt", "token") == 2


def test_partnerships_parent_header_set_by_the_caller_wins_as_on_requests(sandbox: Sandbox) -> None:
    auth = sandbox.rokt_partnerships_auth()
    url = sandbox.rokt_partnerships.api_url + "/v1/accounts/register/partnership"
    mine = {"X-Platform-Parent-Account-Id": "sbx-parent-caller"}
    session = requests.Session()
    session.auth = auth
    session.post(url, json={"name": "shop"}, headers=mine, timeout=10)
    on_requests = sandbox.calls_to("main", "/rokt-partnerships/v1")[-1].headers
    for mode in MODES:
        call(mode, HttpxAuth(auth), "POST", url, json={"name": "shop"}, headers=mine)
        got = sandbox.calls_to("main", "/rokt-partnerships/v1")[-1].headers
        assert got["X-Platform-Parent-Account-Id"] == on_requests["X-Platform-Parent-Account-Id"] == "sbx-parent-caller"
        assert got["Authorization"] == on_requests["Authorization"] == "Bearer " + auth.get_token()


def test_algonomy_headers_overwrite_the_callers_as_on_requests(sandbox: Sandbox) -> None:
    auth = sandbox.algonomy_auth()
    url = sandbox.algonomy.api_url + "/api/v1/profile/b2b/basic"
    stale = {"access_token": "old-token", "tenant_hash": "old-hash"}
    for mode in MODES:
        response = call(mode, HttpxAuth(auth), "POST", url, headers={**stale, "gcrId": "c1"})
        assert response.status_code == 200, response.text
        got = sandbox.calls_to("main", "/algonomy/api")[-1].headers
        assert (got["access_token"], got["tenant_hash"]) == (auth.get_token(), sandbox.algonomy.tenant_hash)


@pytest.mark.parametrize("mode", MODES)
def test_get_headers_and_its_async_twin(sandbox: Sandbox, mode: str) -> None:
    auth = sandbox.algonomy_auth()
    wrapped = HttpxAuth(auth)
    headers = auth.get_headers() if mode == "sync" else asyncio.run(wrapped.aget_headers())
    assert headers == {"access_token": auth.get_token(), "tenant_hash": sandbox.algonomy.tenant_hash}
    assert asyncio.run(wrapped.aget_token()) == auth.get_token()
    assert sandbox.count("algonomy", "token") == 1


# -- the credential boundary on the URL httpx sends ------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_no_credential_and_no_token_call_for_a_host_not_allowed(sandbox: Sandbox, mode: str) -> None:
    auth = sandbox.algonomy_auth()
    assert call(mode, HttpxAuth(auth), "GET", sandbox.storage_url + "/collect").status_code == 200
    assert_storage_got_nothing(sandbox, auth)
    assert sandbox.count("algonomy", "token") == 0


@pytest.mark.parametrize("mode", MODES)
def test_plain_http_to_an_allowed_remote_host_is_refused_before_sending(sandbox: Sandbox, mode: str) -> None:
    auth = sandbox.rokt_auth(hosts=["api.rokt.com"])
    with pytest.raises(InsecureTransportError):
        call(mode, HttpxAuth(auth), "GET", "http://api.rokt.com/v1/query/accounts")
    assert sandbox.count("rokt", "token") == 0


# -- one replay after a refusal ------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("flow", FLOWS, ids=[f.name for f in FLOWS])
def test_refused_token_is_renewed_and_the_request_replayed_with_its_body(
    sandbox: Sandbox, flow: Flow, mode: str
) -> None:
    auth = flow.auth(sandbox)
    wrapped = HttpxAuth(auth)
    assert flow_call(mode, wrapped, flow, sandbox).is_success
    refused = auth.get_token()
    sandbox.add_fault(flow.vendor, "api", Fault.status(401, {"error": "invalid_token"}))
    response = flow_call(mode, wrapped, flow, sandbox)
    assert response.is_success, response.text
    assert [r.status_code for r in response.history] == [401]
    assert_replayed_with_a_fresh_token(sandbox, flow, auth, refused)


@pytest.mark.parametrize("mode", MODES)
def test_refusal_forever_is_returned_after_one_replay(sandbox: Sandbox, mode: str) -> None:
    flow = flow_named("rokt")
    wrapped = HttpxAuth(flow.auth(sandbox))
    sandbox.add_fault(flow.vendor, "api", Fault.status(401), times=100)
    for _ in range(3):
        assert flow_call(mode, wrapped, flow, sandbox).status_code == 401
    assert sandbox.count(flow.vendor, "api") == 6  # one replay per call, never a loop
    sandbox.clear_faults()
    assert flow_call(mode, wrapped, flow, sandbox).is_success


@pytest.mark.parametrize("mode", MODES)
def test_rokt_403_for_a_fresh_token_is_not_replayed(sandbox: Sandbox, mode: str) -> None:
    sandbox.rokt.forbidden_paths.add("/v1/query/accounts")
    wrapped = HttpxAuth(sandbox.rokt_auth())
    url = sandbox.rokt.api_url + "/v1/query/accounts"
    assert call(mode, wrapped, "GET", url).status_code == 403
    assert (sandbox.count("rokt", "api"), sandbox.count("rokt", "token")) == (1, 1)


@pytest.mark.parametrize("mode", MODES)
def test_streamed_body_is_not_replayed_but_the_refused_token_is_dropped(sandbox: Sandbox, mode: str) -> None:
    auth = sandbox.digital_turbine_auth()
    wrapped = HttpxAuth(auth)
    url = sandbox.digital_turbine.api_url + "/api/v1/report"
    headers = {"Content-Type": "application/json"}
    refused = auth.get_token()
    sandbox.add_fault("digital_turbine", "api", Fault.status(401, {"error": "invalid_token"}))
    if mode == "sync":
        content: Any = iter([b'{"metrics": ', b'["installs"]}'])
    else:

        async def chunks() -> AsyncIterator[bytes]:
            yield b'{"metrics": '
            yield b'["installs"]}'

        content = chunks()
    response = call(mode, wrapped, "POST", url, content=content, headers=headers)
    assert response.status_code == 401  # a consumed stream cannot go again: the answer is returned
    assert sandbox.count("digital_turbine", "api") == 1
    assert token_state_of(auth).token is None or token_state_of(auth).token.value != refused
    assert call(mode, wrapped, "POST", url, json=DT_REPORT).status_code == 200
    assert sandbox.count("digital_turbine", "token") == 2


# -- redirects: no credential header on another origin ------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("flow", FLOWS, ids=[f.name for f in FLOWS])
def test_cross_origin_redirect_carries_no_credential_header(sandbox: Sandbox, flow: Flow, mode: str) -> None:
    auth = flow.auth(sandbox)
    wrapped = HttpxAuth(auth)
    assert flow_call(mode, wrapped, flow, sandbox).is_success  # a token is cached and in use
    target = sandbox.storage_url + "/landing"
    response = call(mode, wrapped, "GET", sandbox.url + "/redirect", params={"to": target}, follow_redirects=True)
    assert response.status_code == 200
    assert [r.status_code for r in response.history] == [302]
    assert len(sandbox.calls_to("storage")) == 1
    assert_storage_got_nothing(sandbox, auth)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("flow", FLOWS[1:], ids=[f.name for f in FLOWS[1:]])
def test_redirect_to_another_allowed_origin_drops_credentials_as_requests_does(
    sandbox: Sandbox, flow: Flow, mode: str
) -> None:
    # Bearer-only flows rely on httpx's own rule (they carry no trace callback); the others on the guard.
    storage_host = httpx.URL(sandbox.storage_url).host
    auth = flow.auth(sandbox, hosts=["127.0.0.1", storage_host])
    target = {"to": sandbox.storage_url + "/landing"}
    response = call(mode, HttpxAuth(auth), "GET", sandbox.url + "/redirect", params=target, follow_redirects=True)
    assert response.status_code == 200
    assert_storage_got_nothing(sandbox, auth)
    # The first hop, to an allowed origin, did carry them.
    assert flow.token_header(sandbox.calls_to("main", "/redirect")[-1].headers) == auth.get_token()


@pytest.mark.parametrize("mode", MODES)
def test_same_origin_redirect_keeps_credentials(sandbox: Sandbox, mode: str) -> None:
    response = call(
        mode,
        HttpxAuth(sandbox.algonomy_auth()),
        "POST",
        sandbox.url + "/redirect",
        params={"to": "/algonomy/api/v1/profile/b2b/basic", "status": "307"},
        headers={"gcrId": "c1"},
        follow_redirects=True,
    )
    assert response.status_code == 200, response.text
    assert [r.status_code for r in response.history] == [307]


@pytest.mark.parametrize("mode", MODES)
def test_same_origin_hop_then_foreign_hop(sandbox: Sandbox, mode: str) -> None:
    auth = sandbox.rokt_partnerships_auth()
    foreign = sandbox.storage_url + "/landing"
    via = "/redirect?" + str(httpx.QueryParams({"to": foreign}))
    response = call(mode, HttpxAuth(auth), "GET", sandbox.url + "/redirect", params={"to": via}, follow_redirects=True)
    assert [r.status_code for r in response.history] == [302, 302]
    assert all(c.header("X-Platform-Parent-Account-Id") for c in sandbox.calls_to("main", "/redirect"))
    assert_storage_got_nothing(sandbox, auth)


@pytest.mark.parametrize("mode", MODES)
def test_replay_whose_answer_redirects_off_host_carries_nothing(sandbox: Sandbox, mode: str) -> None:
    flow = flow_named("algonomy")  # Algonomy: custom headers, which httpx itself keeps on every hop
    auth = flow.auth(sandbox)
    wrapped = HttpxAuth(auth)
    assert flow_call(mode, wrapped, flow, sandbox).is_success
    sandbox.add_fault(flow.vendor, "api", Fault.status(401, {"error": "invalid_token"}))
    sandbox.add_fault(flow.vendor, "api", Fault.redirect(sandbox.storage_url + "/landing", 307))
    response = flow_call(mode, wrapped, flow, sandbox, follow_redirects=True)
    assert response.status_code == 200  # the storage host's answer
    assert_storage_got_nothing(sandbox, auth)
    assert sandbox.count(flow.vendor, "token") == 2


@pytest.mark.parametrize("mode", MODES)
def test_the_callers_trace_callback_still_gets_every_event(sandbox: Sandbox, mode: str) -> None:
    auth = sandbox.algonomy_auth()
    events: list[tuple[str, list[bytes]]] = []

    def record(event: str, info: dict[str, Any]) -> None:
        if event.endswith("send_request_headers.started"):
            events.append((event, [name.lower() for name, _ in info["request"].headers]))
        else:
            events.append((event, []))

    async def record_async(event: str, info: dict[str, Any]) -> None:
        record(event, info)

    trace: Callable[..., Any] = record if mode == "sync" else record_async
    target = sandbox.storage_url + "/landing"
    call(
        mode,
        HttpxAuth(auth),
        "GET",
        sandbox.url + "/redirect",
        params={"to": target},
        follow_redirects=True,
        extensions={"trace": trace},
    )
    headers_sent = [names for event, names in events if event.endswith("send_request_headers.started")]
    assert len(headers_sent) == 2
    assert b"access_token" in headers_sent[0]  # the first hop, to an allowed host
    assert b"access_token" not in headers_sent[1] and b"tenant_hash" not in headers_sent[1]  # as sent: stripped
    assert any(event.endswith("receive_response_headers.complete") for event, _ in events)
    assert_storage_got_nothing(sandbox, auth)


# -- token-endpoint faults surface as the same library errors --------------------------------------------


# Every flow on the async path (worker thread, shared renewal), and one on the sync path.
@pytest.mark.parametrize(
    ("flow", "mode"),
    [*((f, "async") for f in FLOWS), (flow_named("rokt"), "sync")],
    ids=[*(f"{f.name}-async" for f in FLOWS), "rokt-sync"],
)
def test_token_endpoint_faults_through_httpx(sandbox: Sandbox, flow: Flow, mode: str) -> None:
    def answered(auth: TokenAuth) -> bool:
        return flow_call(mode, HttpxAuth(auth), flow, sandbox).is_success

    check_token_endpoint_faults(sandbox, flow, FAULTS, answered, "HttpxAuth(", timeout=2)


@pytest.mark.parametrize("mode", MODES)
def test_control_characters_from_the_vendor_are_escaped_through_httpx(
    sandbox: Sandbox, mode: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    every = "".join(CONTROL_CLASSES.values())
    flow = next(f for f in FLOWS if f.vendor == "rokt_partnerships")  # the flow that repeats a request id too
    answer = error_answer(flow.vendor, every)
    sandbox.add_fault(flow.vendor, "token", Fault.status(503, answer, {"Retry-After": "0"}), times=2)
    with pytest.raises(TokenRequestError) as caught:
        flow_call(mode, HttpxAuth(flow.auth(sandbox, max_retries=1)), flow, sandbox)
    shown = [str(caught.value), *(r.getMessage() for r in caplog.records)]
    assert [raw_controls(text) for text in shown] == [[]] * len(shown)
    assert f"request_id req{escape_controls(every)}1" in str(caught.value)


def test_errors_keep_their_type_through_both_clients(sandbox: Sandbox) -> None:
    auth = RoktAuth("app", "wrong", token_url=sandbox.rokt.token_url, max_retries=0)
    url = sandbox.rokt.api_url + "/v1/query/accounts"
    for mode in MODES:
        with pytest.raises(TokenRequestError) as caught:
            call(mode, HttpxAuth(auth), "GET", url)
        assert (caught.value.status_code, caught.value.transient) == (400, False)
        assert isinstance(caught.value, requests.RequestException)  # the library's errors, not httpx's


# -- secrets in locals, worker threads, CONNECT requests, transports the guard cannot see, the extra ---


@pytest.mark.parametrize("mode", MODES)
def test_a_failed_renewal_for_a_replay_leaves_no_credential_in_locals(sandbox: Sandbox, mode: str) -> None:
    auth = sandbox.algonomy_auth()
    url = sandbox.algonomy.api_url + "/api/v1/profile/b2b/basic"
    assert call(mode, HttpxAuth(auth), "POST", url, headers={"gcrId": "c1"}).status_code == 200
    refused = auth.get_token()
    sandbox.add_fault("algonomy", "api", Fault.status(401, {"message": "token expired"}))
    sandbox.add_fault("algonomy", "token", Fault.status(400, {"message": "bad"}))
    with pytest.raises(TokenRequestError) as caught:
        call(mode, HttpxAuth(auth), "POST", url, headers={"gcrId": "c1"})
    shown = library_locals(caught.value)
    assert refused not in shown and sandbox.algonomy.tenant_hash not in shown


def test_renewal_does_not_wait_on_a_thread_pool_the_application_filled(sandbox: Sandbox) -> None:
    api = sandbox.rokt.api_url + "/v1/query/accounts"
    statuses: list[int] = []

    async def main() -> bool:
        async with httpx.AsyncClient(auth=HttpxAuth(sandbox.rokt_auth(share_token=False))) as client:

            def sync_endpoint() -> None:  # e.g. a sync FastAPI dependency calling back into the loop
                statuses.append(anyio.from_thread.run(client.get, api).status_code)

            with anyio.move_on_after(20) as scope:
                async with anyio.create_task_group() as group:
                    for _ in range(45):  # more than anyio's 40 default worker slots
                        group.start_soon(anyio.to_thread.run_sync, sync_endpoint)
            return not scope.cancelled_caught

    assert anyio.run(main), "the token renewal waited on a worker slot that never came free"
    assert statuses == [200] * 45
    assert sandbox.count("rokt", "token") == 1


@pytest.mark.parametrize("mode", MODES)
def test_a_callers_connect_request_is_guarded_like_any_other(sandbox: Sandbox, mode: str) -> None:
    auth = sandbox.algonomy_auth()  # allowed on 127.0.0.1, where the redirecting server listens
    auth.get_token()
    received: list[bytes] = []

    def record(server: RawServer, index: int, conn: socket.socket) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")

    foreign = RawServer(record, host="127.0.0.2", received=received)
    location = foreign.url.encode() + b"/x"
    redirect = b"HTTP/1.1 307 Temporary Redirect\r\nLocation: " + location + b"\r\nContent-Length: 0\r\n\r\n"
    server = RawServer(lambda server, index, conn: conn.sendall(redirect))
    try:
        if mode == "sync":
            with (
                httpx.Client(auth=HttpxAuth(auth), follow_redirects=True) as client,
                contextlib.suppress(httpx.HTTPError),
            ):
                client.request("CONNECT", server.url + "/r", timeout=10)
        else:

            async def run() -> None:
                async with httpx.AsyncClient(auth=HttpxAuth(auth), follow_redirects=True) as client:
                    with contextlib.suppress(httpx.HTTPError):
                        await client.request("CONNECT", server.url + "/r", timeout=10)

            anyio.run(run)
    finally:
        server.close()
        foreign.close()
    assert received, "the redirect was followed"
    seen = b"".join(received).lower()
    assert b"access_token" not in seen and b"tenant_hash" not in seen


def test_a_transport_the_guard_cannot_see_is_warned_about(sandbox: Sandbox, caplog: pytest.LogCaptureFixture) -> None:
    auth = sandbox.algonomy_auth()
    auth.get_token()
    allowed = sandbox.algonomy.api_url + "/api/v1/profile/b2b/basic"

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.host == "127.0.0.1":
            return httpx.Response(302, headers={"Location": "http://127.0.0.2:9/x"})
        return httpx.Response(200)

    with httpx.Client(auth=HttpxAuth(auth), follow_redirects=True, transport=httpx.MockTransport(handler)) as client:
        for _ in range(2):
            assert client.get(allowed).status_code == 200
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len([w for w in warnings if "does not report its requests" in w]) == 1
