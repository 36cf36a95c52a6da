"""The aiohttp middleware: every flow through real aiohttp ClientSessions against the sandbox.

Lazy fetch, one token shared with requests and httpx, one replay after a refusal
(with the body, or none for a stream), the vendors' headers, no credential or
personal-data header on a cross-origin redirect hop, token-endpoint faults as the
library's errors with no secret shown, and the concurrency rules: one token call
for many coroutines, the event loop never waits on a token, cancellation holds
nothing. The redirect Location forms shared with requests and httpx are in
test_boundary.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable
from typing import Any, NamedTuple

import aiohttp
import httpx
import pytest
import requests
from yarl import URL

from requests_adtech_auth import AuthError, InsecureTransportError, RoktAuth, TokenAuth, TokenRequestError
from requests_adtech_auth.aiohttp import _TRAILS_BEFORE_PURGE, AiohttpAuth
from requests_adtech_auth.httpx import HttpxAuth
from requests_adtech_auth.sandbox import Fault, Sandbox

from .adapter_checks import (
    FAULTS,
    Ticker,
    api_call,
    assert_replayed_with_a_fresh_token,
    check_token_endpoint_faults,
    count_worker_calls,
    hung_and_healthy,
    sent_token,
)
from .foreign_host import HOSTILE_LOCATIONS, assert_storage_got_nothing, storage_hostport
from .helpers import (
    DT_REPORT,
    FLOWS,
    Flow,
    RawServer,
    age_shared_token,
    kept_trails,
    library_locals,
    token_state_of,
)
from .helpers import flow as flow_named

ROKT_PATH = "/v1/query/accounts"


class Answer(NamedTuple):
    """What one request through aiohttp got back."""

    status: int
    history: list[int]
    text: str
    #: The headers of the request that got the answer (the last hop's, the replay's), as sent.
    sent: dict[str, str]


async def _send(session: aiohttp.ClientSession, method: str, url: str, **kwargs: Any) -> Answer:
    async with session.request(method, url, **kwargs) as response:
        text = await response.text()
        sent = dict(response.request_info.headers)
        return Answer(response.status, [r.status for r in response.history], text, sent)


def call(
    auth: AiohttpAuth, method: str, url: str, *, per_request: bool = False, outer: Any = None, **kwargs: Any
) -> Answer:
    """One request through a fresh ClientSession, the middleware on the session or on the request.

    ``outer``: a middleware of the caller's, placed before the adapter.
    """
    kwargs.setdefault("timeout", aiohttp.ClientTimeout(total=10))
    middlewares = (auth,) if outer is None else (outer, auth)
    if per_request:
        kwargs["middlewares"] = middlewares

    async def run() -> Answer:
        async with aiohttp.ClientSession(middlewares=() if per_request else middlewares) as session:
            return await _send(session, method, url, **kwargs)

    return asyncio.run(run())


def flow_call(auth: AiohttpAuth, flow: Flow, box: Sandbox, **kwargs: Any) -> Answer:
    method, url, body, headers = api_call(flow, box)
    return call(auth, method, url, json=body, headers={**headers, **kwargs.pop("headers", {})}, **kwargs)


# -- every flow, one token with requests and httpx ------------------------------------------------------


@pytest.mark.parametrize("flow", FLOWS, ids=[f.name for f in FLOWS])
def test_every_flow_shares_one_token_with_requests_and_httpx(sandbox: Sandbox, flow: Flow) -> None:
    auth = flow.auth(sandbox)
    wrapped = AiohttpAuth(auth)
    assert sandbox.count(flow.vendor, "token") == 0  # lazy: nothing fetched yet
    for per_request in (False, True):
        answer = flow_call(wrapped, flow, sandbox, per_request=per_request)
        assert answer.status < 300, answer.text
        assert sent_token(flow, sandbox) == auth.get_token()
    session = requests.Session()
    session.auth = auth
    assert flow.call(session, sandbox).ok
    method, url, body, headers = api_call(flow, sandbox)
    with httpx.Client(auth=HttpxAuth(auth)) as client:
        assert client.request(method, url, json=body, headers=headers).is_success
    assert sandbox.count(flow.vendor, "token") == 1


def test_partnerships_parent_header_set_by_the_caller_wins_as_on_requests(sandbox: Sandbox) -> None:
    auth = sandbox.rokt_partnerships_auth()
    url = sandbox.rokt_partnerships.api_url + "/v1/accounts/register/partnership"
    mine = {"X-Platform-Parent-Account-Id": "sbx-parent-caller"}
    answer = call(AiohttpAuth(auth), "POST", url, json={"name": "shop"}, headers=mine)
    assert answer.sent["X-Platform-Parent-Account-Id"] == "sbx-parent-caller"
    assert answer.sent["Authorization"] == "Bearer " + auth.get_token()


def test_algonomy_headers_overwrite_the_callers_as_on_requests(sandbox: Sandbox) -> None:
    auth = sandbox.algonomy_auth()
    url = sandbox.algonomy.api_url + "/api/v1/profile/b2b/basic"
    stale = {"access_token": "old-token", "tenant_hash": "old-hash", "gcrId": "c1"}
    answer = call(AiohttpAuth(auth), "POST", url, headers=stale)
    assert answer.status == 200, answer.text
    got = sandbox.calls_to("main", "/algonomy/api")[-1].headers
    assert (got["access_token"], got["tenant_hash"]) == (auth.get_token(), sandbox.algonomy.tenant_hash)


# -- the credential boundary on the URL aiohttp sends ----------------------------------------------------


def test_no_credential_and_no_token_call_for_a_host_not_allowed(sandbox: Sandbox) -> None:
    auth = sandbox.algonomy_auth()
    assert call(AiohttpAuth(auth), "GET", sandbox.storage_url + "/collect").status == 200
    assert_storage_got_nothing(sandbox, auth)
    assert sandbox.count("algonomy", "token") == 0


def test_each_request_is_decided_on_its_own_url_in_one_session(sandbox: Sandbox) -> None:
    # The adapter keeps the text of the last URL it sent: requests alternating between
    # the API and a foreign host must each be decided on their own.
    auth = sandbox.rokt_auth()
    api, foreign = sandbox.rokt.api_url + ROKT_PATH, sandbox.storage_url + "/collect"

    async def run() -> list[Answer]:
        async with aiohttp.ClientSession(middlewares=(AiohttpAuth(auth),)) as session:
            return [await _send(session, "GET", url) for url in (foreign, api, foreign, api, api, foreign)]

    answers = asyncio.run(run())
    assert [a.status for a in answers] == [200] * 6
    assert [a.sent.get("Authorization") for a in answers] == [None, "Bearer " + auth.get_token()] * 2 + [
        "Bearer " + auth.get_token(),
        None,
    ]
    assert_storage_got_nothing(sandbox, auth)


def test_plain_http_to_an_allowed_remote_host_is_refused_before_sending(sandbox: Sandbox) -> None:
    auth = sandbox.rokt_auth(hosts=["api.rokt.com"])
    with pytest.raises(InsecureTransportError):
        call(AiohttpAuth(auth), "GET", "http://api.rokt.com/v1/query/accounts")
    assert sandbox.count("rokt", "token") == 0


def test_a_refusal_of_a_request_sent_bare_says_hosts_may_be_too_narrow(
    sandbox: Sandbox, caplog: pytest.LogCaptureFixture
) -> None:
    # The sandbox's main server under another name: a host the auth object does not allow, whose API refuses.
    other_name = sandbox.rokt.api_url.replace("127.0.0.1", "localhost")
    assert call(AiohttpAuth(sandbox.rokt_auth()), "GET", other_name + ROKT_PATH).status == 401
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("sent without credentials" in w and "localhost" in w for w in warnings), warnings
    assert sandbox.count("rokt", "token") == 0


def _import_with(fake: str) -> subprocess.CompletedProcess[str]:
    code = f"import sys\n{fake}\nimport requests_adtech_auth.aiohttp\n"
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False)


def test_importing_the_adapter_with_an_aiohttp_older_than_3_12_names_the_version() -> None:
    # An aiohttp without client middleware (a stand-in module): as 3.11 has, no ClientHandlerType.
    done = _import_with(
        "import types\n"
        "fake = types.ModuleType('aiohttp')\n"
        "fake.__version__ = '3.11.18'\n"
        "for name in ('ClientRequest', 'ClientResponse', 'payload'):\n"
        "    setattr(fake, name, object)\n"
        "sys.modules['aiohttp'] = fake"
    )
    assert done.returncode != 0
    assert "aiohttp 3.12 or later" in done.stderr and "3.11.18" in done.stderr


# -- one replay after a refusal ------------------------------------------------------------------------


@pytest.mark.parametrize("flow", FLOWS, ids=[f.name for f in FLOWS])
def test_refused_token_is_renewed_and_the_request_replayed_with_its_body(sandbox: Sandbox, flow: Flow) -> None:
    auth = flow.auth(sandbox)
    wrapped = AiohttpAuth(auth)
    assert flow_call(wrapped, flow, sandbox).status < 300
    refused = auth.get_token()
    sandbox.add_fault(flow.vendor, "api", Fault.status(401, {"error": "invalid_token"}))
    answer = flow_call(wrapped, flow, sandbox)
    assert answer.status < 300, answer.text
    assert_replayed_with_a_fresh_token(sandbox, flow, auth, refused)


@pytest.mark.parametrize("body", ["bytes", "text", "form"])
def test_every_body_aiohttp_holds_whole_is_replayed(sandbox: Sandbox, body: str) -> None:
    auth = sandbox.digital_turbine_auth()
    refused = auth.get_token()
    sandbox.add_fault("digital_turbine", "api", Fault.status(401, {"error": "invalid_token"}))
    data: Any = {"bytes": b'{"a": 1}', "text": '{"a": 1}', "form": {"field": "value"}}[body]
    answer = call(AiohttpAuth(auth), "POST", sandbox.digital_turbine.api_url + "/api/v1/report", data=data)
    first, replay = sandbox.calls_to("main", "/dt/api")[-2:]
    assert first.body == replay.body != b""
    assert answer.sent["Authorization"] == "Bearer " + auth.get_token() != "Bearer " + refused


def test_refusal_forever_is_returned_after_one_replay(sandbox: Sandbox) -> None:
    flow = flow_named("rokt")
    wrapped = AiohttpAuth(flow.auth(sandbox))
    sandbox.add_fault(flow.vendor, "api", Fault.status(401), times=100)
    for _ in range(3):
        assert flow_call(wrapped, flow, sandbox).status == 401
    assert sandbox.count(flow.vendor, "api") == 6  # one replay per call, never a loop
    sandbox.clear_faults()
    assert flow_call(wrapped, flow, sandbox).status == 200


def test_rokt_403_for_a_fresh_token_is_not_replayed(sandbox: Sandbox) -> None:
    sandbox.rokt.forbidden_paths.add(ROKT_PATH)
    assert call(AiohttpAuth(sandbox.rokt_auth()), "GET", sandbox.rokt.api_url + ROKT_PATH).status == 403
    assert (sandbox.count("rokt", "api"), sandbox.count("rokt", "token")) == (1, 1)


def test_streamed_body_is_not_replayed_but_the_refused_token_is_dropped(
    sandbox: Sandbox, caplog: pytest.LogCaptureFixture
) -> None:
    auth = sandbox.digital_turbine_auth()
    wrapped = AiohttpAuth(auth)
    url = sandbox.digital_turbine.api_url + "/api/v1/report"
    refused = auth.get_token()
    sandbox.add_fault("digital_turbine", "api", Fault.status(401, {"error": "invalid_token"}))

    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"metrics": '
        yield b'["installs"]}'

    answer = call(wrapped, "POST", url, data=chunks(), headers={"Content-Type": "application/json"})
    assert answer.status == 401  # a consumed stream cannot go again: the answer is returned
    assert sandbox.count("digital_turbine", "api") == 1
    assert token_state_of(auth).token is None or token_state_of(auth).token.value != refused
    assert any("cannot be replayed" in r.getMessage() and r.levelno == logging.INFO for r in caplog.records)
    assert call(wrapped, "POST", url, json=DT_REPORT).status == 200
    assert sandbox.count("digital_turbine", "token") == 2


def test_a_failed_renewal_for_a_replay_leaves_no_credential_in_locals(sandbox: Sandbox) -> None:
    auth = sandbox.algonomy_auth()
    url = sandbox.algonomy.api_url + "/api/v1/profile/b2b/basic"
    assert call(AiohttpAuth(auth), "POST", url, headers={"gcrId": "c1"}).status == 200
    refused = auth.get_token()
    sandbox.add_fault("algonomy", "api", Fault.status(401, {"message": "token expired"}))
    sandbox.add_fault("algonomy", "token", Fault.status(400, {"message": "bad"}))
    with pytest.raises(TokenRequestError) as caught:
        call(AiohttpAuth(auth), "POST", url, headers={"gcrId": "c1"})
    shown = library_locals(caught.value)
    assert refused not in shown and sandbox.algonomy.tenant_hash not in shown


# -- redirects: each hop decided on the URL aiohttp sends ---------------------------------------------


@pytest.mark.parametrize("flow", FLOWS, ids=[f.name for f in FLOWS])
def test_cross_origin_redirect_carries_no_credential_header(sandbox: Sandbox, flow: Flow) -> None:
    auth = flow.auth(sandbox)
    wrapped = AiohttpAuth(auth)
    assert flow_call(wrapped, flow, sandbox).status < 300  # a token is cached and in use
    target = sandbox.storage_url + "/landing"
    answer = call(wrapped, "GET", sandbox.url + "/redirect", params={"to": target})
    assert (answer.status, answer.history) == (200, [302])
    assert len(sandbox.calls_to("storage")) == 1
    assert_storage_got_nothing(sandbox, auth)


@pytest.mark.parametrize("flow", FLOWS, ids=[f.name for f in FLOWS])
def test_redirect_to_another_allowed_origin_drops_credentials_as_requests_does(sandbox: Sandbox, flow: Flow) -> None:
    # The middleware sees every hop: it must not attach a token to one that requests would send bare.
    storage_host = httpx.URL(sandbox.storage_url).host
    auth = flow.auth(sandbox, hosts=["127.0.0.1", storage_host])
    target = {"to": sandbox.storage_url + "/landing"}
    answer = call(AiohttpAuth(auth), "GET", sandbox.url + "/redirect", params=target)
    assert answer.status == 200
    assert_storage_got_nothing(sandbox, auth)
    assert sandbox.count(flow.vendor, "token") == 1
    # The first hop, to an allowed origin, did carry them.
    assert flow.token_header(sandbox.calls_to("main", "/redirect")[-1].headers) == auth.get_token()


def test_same_origin_307_keeps_credentials_personal_headers_and_body(sandbox: Sandbox) -> None:
    answer = call(
        AiohttpAuth(sandbox.algonomy_auth()),
        "POST",
        sandbox.url + "/redirect",
        params={"to": "/algonomy/api/v1/profile/b2b/basic", "status": "307"},
        headers={"gcrId": "c1"},
    )
    assert (answer.status, answer.history) == (200, [307]), answer.text


def test_same_origin_hop_then_foreign_hop(sandbox: Sandbox) -> None:
    auth = sandbox.rokt_partnerships_auth()
    foreign = sandbox.storage_url + "/landing"
    via = "/redirect?" + str(httpx.QueryParams({"to": foreign}))
    mine = {"X-Platform-Parent-Account-Id": "sbx-parent-caller"}
    answer = call(AiohttpAuth(auth), "GET", sandbox.url + "/redirect", params={"to": via}, headers=mine)
    assert answer.history == [302, 302]
    assert all(c.header("X-Platform-Parent-Account-Id") for c in sandbox.calls_to("main", "/redirect"))
    assert_storage_got_nothing(sandbox, auth)
    assert sandbox.calls_to("storage")[-1].header("X-Platform-Parent-Account-Id") is None


def test_foreign_hop_then_back_to_the_api_host_stays_bare(sandbox: Sandbox) -> None:
    auth = sandbox.rokt_auth()
    back = sandbox.rokt.api_url + ROKT_PATH
    # The sandbox's main server under another name: another origin, which sends the request back.
    elsewhere = sandbox.url.replace("127.0.0.1", "localhost") + "/redirect?" + str(httpx.QueryParams({"to": back}))
    answer = call(AiohttpAuth(auth), "GET", sandbox.url + "/redirect", params={"to": elsewhere})
    assert answer.history == [302, 302]
    last = sandbox.calls_to("main", "/rokt/v1/query")[-1]
    assert last.header("Authorization") is None, "once a hop lost the credentials, so do the hops after it"


def test_replay_whose_answer_redirects_off_host_carries_nothing(sandbox: Sandbox) -> None:
    flow = flow_named("algonomy")  # custom headers, which aiohttp itself keeps on every hop
    auth = flow.auth(sandbox)
    wrapped = AiohttpAuth(auth)
    assert flow_call(wrapped, flow, sandbox).status == 200
    sandbox.add_fault(flow.vendor, "api", Fault.status(401, {"error": "invalid_token"}))
    sandbox.add_fault(flow.vendor, "api", Fault.redirect(sandbox.storage_url + "/landing", 307))
    answer = flow_call(wrapped, flow, sandbox)
    assert answer.status == 200  # the storage host's answer
    assert_storage_got_nothing(sandbox, auth)
    assert sandbox.count(flow.vendor, "token") == 2


def test_one_replay_per_request_however_its_hops_are_refused(sandbox: Sandbox) -> None:
    # A hostile API: refused, the replay redirected to itself, refused again. requests and httpx replay once.
    auth = sandbox.rokt_auth()
    url = sandbox.rokt.api_url + ROKT_PATH
    auth.get_token()
    for _ in range(3):
        sandbox.add_fault("rokt", "api", Fault.status(401, {"error": "invalid_token"}))
        sandbox.add_fault("rokt", "api", Fault.redirect(url))
    answer = call(AiohttpAuth(auth), "GET", url)
    assert (answer.status, answer.history) == (401, [302])
    assert sandbox.count("rokt", "token") == 2, "one renewal for the one replay"
    assert sandbox.count("rokt", "api") == 3  # refused, replayed (redirected), refused


def test_a_replay_aiohttp_sends_again_on_a_new_connection_is_not_replayed_again(sandbox: Sandbox) -> None:
    # Refused; the replay's connection is closed unanswered, so aiohttp sends the replay again,
    # through the middleware, which is refused again: that is still the request's one replay.
    auth = sandbox.rokt_auth()
    auth.get_token()
    sandbox.add_fault("rokt", "api", Fault.status(401, {"error": "invalid_token"}))
    sandbox.add_fault("rokt", "api", Fault.close())
    sandbox.add_fault("rokt", "api", Fault.status(401, {"error": "invalid_token"}))
    answer = call(AiohttpAuth(auth), "GET", sandbox.rokt.api_url + ROKT_PATH)
    assert answer.status == 401
    assert sandbox.count("rokt", "api") == 3, "refused, replayed (dropped), sent again (refused)"
    assert sandbox.count("rokt", "token") == 2, "one renewal for the one replay"
    assert answer.sent["Authorization"] == "Bearer " + auth.get_token()


@pytest.mark.parametrize("flow", FLOWS, ids=[f.name for f in FLOWS])
def test_a_request_sent_between_two_hops_of_another_leaves_its_trail_alone(sandbox: Sandbox, flow: Flow) -> None:
    # A trace hook sends requests through the same session, in the same task, between two hops
    # of another, and they are redirected too: more of them than any fixed table of a task's
    # requests would hold. The outer request's next hop, to another origin (an allowed host:
    # a first hop there would get a token), still loses the credentials.
    storage_host = httpx.URL(sandbox.storage_url).host
    auth = flow.auth(sandbox, hosts=["127.0.0.1", storage_host])
    sandbox.add_fault(flow.vendor, "api", Fault.redirect(sandbox.storage_url + "/landing", 307))
    method, url, body, headers = api_call(flow, sandbox)
    nested: list[Answer] = []
    nesting = threading.Event()

    async def run() -> Answer:
        async def audit(session: aiohttp.ClientSession, context: object, params: object) -> None:
            if not nesting.is_set():  # no nesting within the nested requests
                nesting.set()
                for _ in range(100):
                    nested.append(await _send(session, "GET", sandbox.url + "/redirect", params={"to": "/landing"}))

        tracing = aiohttp.TraceConfig()
        tracing.on_request_redirect.append(audit)
        async with aiohttp.ClientSession(middlewares=(AiohttpAuth(auth),), trace_configs=[tracing]) as session:
            return await _send(session, method, url, json=body, headers={**headers, "gcrId": "c1"})

    answer = asyncio.run(run())
    assert (answer.status, answer.history) == (200, [307])
    assert [n.history for n in nested] == [[302]] * 100, "the nested requests were redirected too"
    (foreign,) = sandbox.calls_to("storage")
    assert_storage_got_nothing(sandbox, auth)
    if flow.vendor == "algonomy":  # the personal-data header and body go with the credentials
        assert foreign.header("gcrId") is None and not foreign.body


def test_a_crawl_of_redirects_left_to_the_caller_pushes_out_no_live_trail(sandbox: Sandbox) -> None:
    # Redirects the caller takes itself (allow_redirects=False) leave trails aiohttp never
    # ends. While thousands of them pile up, an Algonomy request's 307 to a foreign host
    # waits (behind a middleware of the caller's): its trail must outlast them all.
    auth = sandbox.algonomy_auth()
    sandbox.add_fault("algonomy", "api", Fault.redirect(sandbox.storage_url + "/landing", 307))
    method, url, body, headers = api_call(flow_named("algonomy"), sandbox)
    storage_host = httpx.URL(sandbox.storage_url).host
    wrapped = AiohttpAuth(auth)
    crawl = _TRAILS_BEFORE_PURGE * 2 + 10

    async def run() -> tuple[Answer, list[int], int]:
        crawled = asyncio.Event()  # made in the loop: on Python 3.9 an event binds to a loop when made

        async def second_hop_waits(request: aiohttp.ClientRequest, handler: Any) -> aiohttp.ClientResponse:
            if request.url.host == storage_host:
                await crawled.wait()
            return await handler(request)

        async with aiohttp.ClientSession(middlewares=(second_hop_waits, wrapped)) as session:
            redirected = asyncio.ensure_future(
                _send(session, method, url, json=body, headers={**headers, "gcrId": "c1"})
            )
            statuses = []
            for _ in range(crawl):
                answer = await _send(
                    session, "GET", sandbox.url + "/redirect", params={"to": "/x"}, allow_redirects=False
                )
                statuses.append(answer.status)
            crawled.set()
            return await redirected, statuses, kept_trails(wrapped)

    answer, statuses, kept = asyncio.run(run())
    assert (answer.status, answer.history, statuses) == (200, [307], [302] * crawl)
    (foreign,) = sandbox.calls_to("storage")
    assert_storage_got_nothing(sandbox, auth)
    assert foreign.header("gcrId") is None and not foreign.body
    assert kept <= _TRAILS_BEFORE_PURGE, "the dead requests' trails were let go"


def test_a_trail_goes_when_its_request_is_answered(sandbox: Sandbox) -> None:
    wrapped = AiohttpAuth(sandbox.rokt_auth())

    async def run() -> int:
        async with aiohttp.ClientSession(middlewares=(wrapped,)) as session:
            for _ in range(20):
                answer = await _send(session, "GET", sandbox.url + "/redirect", params={"to": "/landing"})
                assert answer.history == [302]
            return kept_trails(wrapped)

    assert asyncio.run(run()) == 0


async def _hop_in_a_task_of_its_own(request: aiohttp.ClientRequest, handler: Any) -> aiohttp.ClientResponse:
    return await asyncio.create_task(handler(request))


async def _hop_shielded(request: aiohttp.ClientRequest, handler: Any) -> aiohttp.ClientResponse:
    return await asyncio.shield(handler(request))


async def _hop_with_a_timeout(request: aiohttp.ClientRequest, handler: Any) -> aiohttp.ClientResponse:
    return await asyncio.wait_for(handler(request), 10)  # a task of its own before Python 3.12


@pytest.mark.parametrize("outer", [_hop_in_a_task_of_its_own, _hop_shielded, _hop_with_a_timeout])
def test_an_outer_middleware_sending_each_hop_from_its_own_task_changes_nothing(sandbox: Sandbox, outer: Any) -> None:
    algonomy, rokt = sandbox.algonomy_auth(), sandbox.rokt_auth()
    sandbox.add_fault("algonomy", "api", Fault.redirect(sandbox.storage_url + "/landing", 307))
    method, url, body, headers = api_call(flow_named("algonomy"), sandbox)
    api = sandbox.rokt.api_url + ROKT_PATH
    # The sandbox's main server under another name: a foreign first URL, which sends the request to the API.
    foreign_first = sandbox.url.replace("127.0.0.1", "localhost") + "/redirect?" + str(httpx.QueryParams({"to": api}))

    async def run() -> tuple[Answer, Answer]:
        async with aiohttp.ClientSession() as session:
            pii = await _send(
                session,
                method,
                url,
                json=body,
                headers={**headers, "gcrId": "c1"},
                middlewares=(outer, AiohttpAuth(algonomy)),
            )
            bare = await _send(session, "GET", foreign_first, middlewares=(outer, AiohttpAuth(rokt)))
            return pii, bare

    pii, bare = asyncio.run(run())
    assert (pii.history, bare.history) == ([307], [302])
    (foreign,) = sandbox.calls_to("storage")
    assert_storage_got_nothing(sandbox, algonomy)
    assert foreign.header("gcrId") is None and not foreign.body
    assert sandbox.calls_to("main", "/rokt/v1/query")[-1].header("Authorization") is None
    assert sandbox.count("rokt", "token") == 0


@pytest.mark.parametrize("renewals", [0, 9], ids=["same token", "renewed nine times meanwhile"])
@pytest.mark.parametrize("flow", FLOWS, ids=[f.name for f in FLOWS])
def test_a_request_an_outer_middleware_sends_again_to_a_foreign_host_loses_its_credentials(
    sandbox: Sandbox, flow: Flow, renewals: int
) -> None:
    # A failover middleware: on a 503 it points the same request object at a backup host.
    # The token the request carries may have been replaced since, many times (and still be
    # valid): the request object is known, not its token.
    auth = flow.auth(sandbox)
    sandbox.add_fault(flow.vendor, "api", Fault.status(503))
    backup = URL(sandbox.storage_url + "/collect")

    async def failover(request: aiohttp.ClientRequest, handler: Any) -> aiohttp.ClientResponse:
        response = await handler(request)
        if response.status != 503:
            return response
        response.release()
        for _ in range(renewals):
            auth.invalidate()
            await asyncio.to_thread(auth.get_token)
        request.url = backup
        return await handler(request)

    method, url, body, headers = api_call(flow, sandbox)
    answer = call(AiohttpAuth(auth), method, url, json=body, headers=headers, outer=failover)
    assert (answer.status, sandbox.count(flow.vendor, "api")) == (200, 1)
    assert sandbox.count(flow.vendor, "token") == 1 + renewals
    (sent,) = sandbox.calls_to("storage")
    assert_storage_got_nothing(sandbox, auth)
    if flow.vendor == "algonomy":  # the personal-data headers and body leave with the credentials
        assert not sent.body


def test_a_request_sent_again_to_a_foreign_host_that_redirects_stays_stripped_on_every_hop(sandbox: Sandbox) -> None:
    # The backup host redirects to another foreign host: aiohttp builds that hop from the
    # caller's headers again (the personal-data header among them), and it must lose them too.
    auth = sandbox.algonomy_auth()
    sandbox.add_fault("algonomy", "api", Fault.status(503))
    onward = str(httpx.QueryParams({"to": sandbox.storage_url + "/collect"}))
    backup = URL(sandbox.url.replace("127.0.0.1", "localhost") + "/redirect?" + onward)  # another origin

    async def failover(request: aiohttp.ClientRequest, handler: Any) -> aiohttp.ClientResponse:
        response = await handler(request)
        if response.status != 503:
            return response
        response.release()
        request.url = backup
        return await handler(request)

    method, url, body, headers = api_call(flow_named("algonomy"), sandbox)
    headers = {**headers, "gcrId": "c1"}
    answer = call(AiohttpAuth(auth), method, url, json=body, headers=headers, outer=failover)
    assert (answer.status, answer.history) == (200, [302])
    (bounced,) = sandbox.calls_to("main", "/redirect")
    (landed,) = sandbox.calls_to("storage")
    for hop in (bounced, landed):
        assert hop.header("gcrId") is None and hop.header("access_token") is None and not hop.body
    assert_storage_got_nothing(sandbox, auth)


def test_an_algonomy_request_sent_again_elsewhere_after_its_resources_changed_loses_everything(
    sandbox: Sandbox,
) -> None:
    # add_resources() after invalidate() gives the auth object another token state: the
    # request object still carries the old token and the tenant hash.
    auth = sandbox.algonomy_auth()
    sandbox.add_fault("algonomy", "api", Fault.status(503))
    backup = URL(sandbox.storage_url + "/collect")

    async def failover(request: aiohttp.ClientRequest, handler: Any) -> aiohttp.ClientResponse:
        response = await handler(request)
        response.release()
        auth.invalidate()
        await asyncio.to_thread(auth.add_resources, "segments")
        request.url = backup
        return await handler(request)

    method, url, body, headers = api_call(flow_named("algonomy"), sandbox)
    headers = {**headers, "gcrId": "c1"}
    answer = call(AiohttpAuth(auth), method, url, json=body, headers=headers, outer=failover)
    assert answer.status == 200
    (sent,) = sandbox.calls_to("storage")
    assert_storage_got_nothing(sandbox, auth)
    assert sent.header("tenant_hash") is None and sent.header("gcrId") is None and not sent.body


@pytest.mark.parametrize("hop", ["redirected", "replayed"])
def test_a_hop_an_outer_middleware_sends_again_elsewhere_after_its_connection_drops_is_judged_anew(
    sandbox: Sandbox, hop: str
) -> None:
    # The request already has a trail (a same-origin redirect, or a replay after a 401);
    # its next hop's connection drops (twice: aiohttp's own retry too), and a failover
    # middleware sends the same request object to a backup host, which is no resend.
    auth = sandbox.rokt_auth()
    api = sandbox.rokt.api_url + ROKT_PATH
    if hop == "redirected":
        first = sandbox.url + "/redirect?" + str(httpx.QueryParams({"to": api}))
    else:
        first = api
        sandbox.add_fault("rokt", "api", Fault.status(401))
    sandbox.add_fault("rokt", "api", Fault.close(), times=2)
    backup = URL(sandbox.storage_url + "/collect")

    async def failover(request: aiohttp.ClientRequest, handler: Any) -> aiohttp.ClientResponse:
        try:
            return await handler(request)
        except aiohttp.ClientError:
            request.url = backup
            return await handler(request)

    answer = call(AiohttpAuth(auth), "GET", first, outer=failover)
    assert answer.status == 200
    assert len(sandbox.calls_to("storage")) == 1
    assert_storage_got_nothing(sandbox, auth)


def test_a_foreign_hop_that_aiohttp_sends_again_is_stripped_again(sandbox: Sandbox) -> None:
    # A hostile foreign host drops the first connection unanswered: aiohttp rebuilds the hop from
    # the caller's headers and sends it again, through the middleware.
    auth = sandbox.algonomy_auth()
    received: list[bytes] = []

    def drop_then_answer(server: RawServer, index: int, conn: socket.socket) -> None:
        if index > 1:
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")

    foreign = RawServer(drop_then_answer, host="127.0.0.2", received=received)
    try:
        sandbox.add_fault("algonomy", "api", Fault.redirect(foreign.url + "/landing", 302))
        url = sandbox.algonomy.api_url + "/api/v1/profile/b2b/basic"
        answer = call(AiohttpAuth(auth), "GET", url, headers={"gcrId": "gcr-40917733"})
    finally:
        foreign.close()
    assert answer.status == 200 and len(received) == 2, "the hop was sent twice"
    for sent in received:
        assert b"gcr-40917733" not in sent and b"access_token" not in sent.lower() and b"tenant_hash" not in sent


def test_a_redirect_left_to_the_caller_is_a_new_request(sandbox: Sandbox) -> None:
    auth = sandbox.algonomy_auth()
    url = sandbox.algonomy.api_url + "/api/v1/profile/b2b/basic"
    sandbox.add_fault("algonomy", "api", Fault.redirect(url, 307))

    async def run() -> list[int]:
        async with aiohttp.ClientSession(middlewares=(AiohttpAuth(auth),)) as session:
            first = await _send(session, "POST", url, headers={"gcrId": "c1"}, allow_redirects=False)
            second = await _send(session, "POST", url, headers={"gcrId": "c1"})
            return [first.status, second.status]

    assert asyncio.run(run()) == [307, 200]
    assert all(c.header("access_token") == auth.get_token() for c in sandbox.calls_to("main", "/algonomy/api"))


#: The hostile Location forms of foreign_host.py (aiohttp follows some, refuses others), and more that it follows.
LOCATIONS = [
    *HOSTILE_LOCATIONS,
    "http://user:pw@{foreign}/landing",
    "http://[::1]:{port}/landing",
    "http://localhost:{port}/landing",
    "http://{foreign}:80/landing",
]


@pytest.mark.parametrize("location", LOCATIONS)
@pytest.mark.parametrize("flow", FLOWS, ids=[f.name for f in FLOWS])
def test_hostile_location_never_carries_credentials_off_host(sandbox: Sandbox, flow: Flow, location: str) -> None:
    auth = flow.auth(sandbox)
    port = sandbox.url.rsplit(":", 1)[1]
    target = location.format(foreign=storage_hostport(sandbox), port=port)

    async def run() -> None:
        async with aiohttp.ClientSession(middlewares=(AiohttpAuth(auth),)) as session:
            method, url, body, headers = api_call(flow, sandbox)
            assert (await _send(session, method, url, json=body, headers=headers)).status < 300
            # Some of these are no URL aiohttp follows; what matters is where bytes went.
            with contextlib.suppress(aiohttp.ClientError, ValueError):
                await _send(session, "GET", sandbox.url + "/redirect", params={"to": target})

    asyncio.run(run())
    assert_storage_got_nothing(sandbox, auth)
    for hop in sandbox.calls_to("main", "/landing"):  # the main server under another name: another origin
        assert flow.token_header(hop.headers) is None


def test_a_hop_aiohttp_cannot_tie_to_its_request_gets_no_credential(sandbox: Sandbox) -> None:
    # An aiohttp that no longer hands every hop the request's list of tracing hooks.
    auth = sandbox.rokt_auth()
    wrapped = AiohttpAuth(auth)

    async def untied(request: aiohttp.ClientRequest, handler: aiohttp.ClientHandlerType) -> aiohttp.ClientResponse:
        request._traces = ()  # type: ignore[assignment]
        return await handler(request)

    async def run() -> None:
        async with aiohttp.ClientSession(middlewares=(untied, wrapped)) as session:
            await _send(session, "GET", sandbox.rokt.api_url + ROKT_PATH)

    with pytest.raises(AuthError, match="cannot tell a redirect hop from a new request"):
        asyncio.run(run())
    assert sandbox.count("rokt", "api") == 0


# -- token-endpoint faults surface as the library's errors, with no secret shown ----------------------------


AIOHTTP_FAULTS = {**FAULTS, "hang": (Fault.hang(5), 3, TokenRequestError, None, True)}


@pytest.mark.parametrize("flow", FLOWS, ids=[f.name for f in FLOWS])
def test_token_endpoint_faults_through_aiohttp(sandbox: Sandbox, flow: Flow) -> None:
    def answered(auth: TokenAuth) -> bool:
        return flow_call(AiohttpAuth(auth), flow, sandbox).status < 300

    check_token_endpoint_faults(sandbox, flow, AIOHTTP_FAULTS, answered, "AiohttpAuth(", timeout=0.3)


def test_errors_keep_their_type_and_are_aiohttp_client_errors_too(sandbox: Sandbox) -> None:
    # aiohttp would turn any other OSError (the library's errors are requests' OSErrors) into a ClientOSError.
    auth = RoktAuth("app", "wrong", token_url=sandbox.rokt.token_url, max_retries=0)
    with pytest.raises(TokenRequestError) as caught:
        call(AiohttpAuth(auth), "GET", sandbox.rokt.api_url + ROKT_PATH)
    assert (caught.value.status_code, caught.value.transient) == (400, False)
    assert isinstance(caught.value, aiohttp.ClientError) and not isinstance(caught.value, aiohttp.ClientOSError)
    assert type(caught.value).__name__ == "TokenRequestError"


# -- many coroutines, threads and loops; the loop never waits; cancellation ---------------------------------


def test_500_coroutines_on_a_cold_start_make_one_token_call_in_one_worker(sandbox: Sandbox) -> None:
    auth = sandbox.rokt_auth()
    workers = count_worker_calls(auth)
    sandbox.token_delay = 0.2  # every coroutine arrives while the fetch is in flight
    url = sandbox.rokt.api_url + ROKT_PATH

    async def run() -> list[int]:
        connector = aiohttp.TCPConnector(limit=20)
        timeout = aiohttp.ClientTimeout(total=60)
        async with aiohttp.ClientSession(middlewares=(AiohttpAuth(auth),), connector=connector, timeout=timeout) as s:
            answers = await asyncio.gather(*(_send(s, "GET", url) for _ in range(500)))
        return [a.status for a in answers]

    assert asyncio.run(run()) == [200] * 500
    assert sandbox.count("rokt", "token") == 1
    assert len(workers) == 1, "one worker thread renews for the whole loop, not one per coroutine"
    assert workers[0].startswith("requests_adtech_auth"), "the library's own threads, not the loop's default pool"


def test_a_failed_renewal_fails_every_waiting_coroutine_with_one_token_call(sandbox: Sandbox) -> None:
    sandbox.token_delay = 0.1
    sandbox.add_fault("rokt", "token", Fault.status(401, {"error": "invalid_client"}), times=50)
    wrapped = AiohttpAuth(sandbox.rokt_auth())

    async def run() -> list[BaseException]:
        async with aiohttp.ClientSession(middlewares=(wrapped,)) as session:
            calls = (_send(session, "GET", sandbox.rokt.api_url + ROKT_PATH) for _ in range(20))
            return [a for a in await asyncio.gather(*calls, return_exceptions=True) if isinstance(a, BaseException)]

    errors = asyncio.run(run())
    assert len(errors) == 20 and all(isinstance(e, TokenRequestError) for e in errors)
    assert len({id(e) for e in errors}) == 20, "each coroutine raises its own copy"
    assert sandbox.count("rokt", "token") == 1


def test_the_loop_keeps_running_while_a_slow_token_fetch_is_in_flight(sandbox: Sandbox) -> None:
    sandbox.token_delay = 0.5
    ticker = Ticker()

    async def run() -> tuple[int, float]:
        async with aiohttp.ClientSession(middlewares=(AiohttpAuth(sandbox.rokt_auth()),)) as session:
            assert (await _send(session, "GET", sandbox.storage_url + "/warm-up")).status == 200
            ticking = asyncio.ensure_future(ticker())
            await asyncio.sleep(0.02)
            started = time.perf_counter()
            answer = await _send(session, "GET", sandbox.rokt.api_url + ROKT_PATH)
            took = time.perf_counter() - started
            ticker.running = False
            await ticking
        return answer.status, took

    status, took = asyncio.run(run())
    assert status == 200 and took >= 0.5  # the fetch really was slow while the ticker ran
    ticker.check("during a 0.5 s token fetch")


def test_coroutines_cancelled_mid_fetch_leave_no_lock_and_the_next_request_works(sandbox: Sandbox) -> None:
    sandbox.token_delay = 0.5
    auth = sandbox.rokt_auth()
    url = sandbox.rokt.api_url + ROKT_PATH

    async def run() -> None:
        async with aiohttp.ClientSession(middlewares=(AiohttpAuth(auth),)) as session:
            # The first coroutine starts the fetch, the others wait for it; all are cancelled mid-fetch.
            tasks = [asyncio.ensure_future(_send(session, "GET", url)) for _ in range(5)]
            await asyncio.sleep(0.15)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            assert sandbox.count("rokt", "api") == 0
            # The abandoned fetch is still running: this request waits for it, off the loop.
            answer = await asyncio.wait_for(_send(session, "GET", url), 10)
            assert answer.status == 200

    asyncio.run(run())
    assert sandbox.count("rokt", "token") == 1, "the cancelled fetch's token is the one used"
    assert token_state_of(auth).lock.acquire(blocking=False), "no lock is left held"
    token_state_of(auth).lock.release()


def test_requests_that_give_up_on_a_hung_token_endpoint_hold_one_worker_and_starve_no_other(
    sandbox: Sandbox,
) -> None:
    hung_auth, fetches, healthy_auth, (method, url, body, headers) = hung_and_healthy(sandbox)
    hung, healthy = AiohttpAuth(hung_auth), AiohttpAuth(healthy_auth)

    async def run() -> Answer:
        async with aiohttp.ClientSession() as session:
            for _ in range(6):  # more requests giving up than the library has worker threads
                waiting = asyncio.ensure_future(
                    _send(session, "GET", sandbox.rokt.api_url + ROKT_PATH, middlewares=(hung,))
                )
                await asyncio.sleep(0.2)  # in the middleware, waiting for the token
                waiting.cancel()
                await asyncio.gather(waiting, return_exceptions=True)
            # Far less than the hang: the other credential's renewal did not queue behind it.
            call = _send(session, method, url, json=body, headers=headers, middlewares=(healthy,))
            return await asyncio.wait_for(call, 10)

    assert asyncio.run(run()).status < 300
    assert len(fetches) == 1, "one renewal of the hung credential, however many requests gave up on it"
    assert sandbox.count("rokt", "api") == 0


async def _until(condition: Callable[[], bool], what: str) -> None:
    """Wait, without blocking the loop, until ``condition()`` holds (10 s at most)."""
    deadline = time.monotonic() + 10
    while not condition():
        assert time.monotonic() < deadline, f"waited 10 s for {what}"
        await asyncio.sleep(0.02)


@pytest.mark.parametrize("renewing", ["in a worker, its endpoint hung", "in a thread of the caller's"])
def test_refusals_during_renewals_hold_no_more_workers_and_starve_no_other(sandbox: Sandbox, renewing: str) -> None:
    # Two credentials are being renewed, and the vendor refuses their old tokens meanwhile.
    # The drop of a refused token leaves it to the renewal (it does not wait for the token
    # state's lock), so each credential holds one worker thread at most, and a third
    # credential still gets one for its first token.
    _, _, healthy_auth, (method, url, body, headers) = hung_and_healthy(sandbox)
    sandbox.clear_faults()
    partnerships = flow_named("rokt_partnerships")
    held = [sandbox.rokt_auth(timeout=120, max_retries=0), partnerships.auth(sandbox, timeout=120, max_retries=0)]
    vendors = ("rokt", "rokt_partnerships")
    calls = [("GET", sandbox.rokt.api_url + ROKT_PATH, None, {}), api_call(partnerships, sandbox)]
    in_a_worker = renewing.startswith("in a worker")
    release, holding = threading.Event(), threading.Barrier(len(held) + 1)

    def renewing_elsewhere(auth: TokenAuth) -> None:
        with token_state_of(auth).lock:
            holding.wait(10)
            release.wait(60)

    holders = [threading.Thread(target=renewing_elsewhere, args=(auth,)) for auth in held]
    for auth, vendor in zip(held, vendors):
        auth.get_token()
        if in_a_worker:  # due for renewal, with margin enough to be served meanwhile
            age_shared_token(auth, left=auth.leeway * 0.8)
            sandbox.add_fault(vendor, "token", Fault.hang(120), times=20)
        sandbox.revoke_tokens(vendor)
    if not in_a_worker:
        for holder in holders:
            holder.start()
        holding.wait(10)
    # More refusals than the library has worker threads, where a renewal serves the old token.
    refusals = 6 if in_a_worker else 1

    async def run() -> Answer:
        async with aiohttp.ClientSession() as session:

            def send(auth: TokenAuth, request: tuple[str, str, Any, dict[str, str]]) -> asyncio.Future[Answer]:
                verb, target, payload, extra = request
                answer = _send(session, verb, target, json=payload, headers=extra, middlewares=(AiohttpAuth(auth),))
                return asyncio.ensure_future(answer)

            waiting = []
            for auth, request, vendor in zip(held, calls, vendors):
                if in_a_worker:
                    waiting.append(send(auth, request))  # starts the renewal, which hangs holding the lock
                    await asyncio.sleep(0.3)
                waiting += [send(auth, request) for _ in range(refusals)]
                await _until(lambda vendor=vendor: sandbox.count(vendor, "api_401_stale") == refusals, "the refusals")
                waiting.append(send(auth, request))  # the token refused: waits for the renewal
            await asyncio.sleep(0.3)
            try:
                call = _send(session, method, url, json=body, headers=headers, middlewares=(AiohttpAuth(healthy_auth),))
                return await asyncio.wait_for(call, 10)  # far less than the hang
            finally:
                for task in waiting:
                    task.cancel()
                await asyncio.gather(*waiting, return_exceptions=True)

    try:
        assert asyncio.run(run()).status < 300
    finally:
        release.set()
        for holder in holders:
            if holder.is_alive():
                holder.join(10)
    assert [sandbox.count(vendor, "api_401_stale") for vendor in vendors] == [refusals, refusals]


def test_threads_loops_and_a_requests_session_share_one_token(sandbox: Sandbox) -> None:
    sandbox.token_delay = 0.2
    auth = sandbox.rokt_auth()
    url = sandbox.rokt.api_url + ROKT_PATH
    statuses: list[int] = []
    lock = threading.Lock()

    def one_loop() -> None:
        async def run() -> list[int]:
            async with aiohttp.ClientSession(middlewares=(AiohttpAuth(auth),)) as session:
                return [a.status for a in await asyncio.gather(*(_send(session, "GET", url) for _ in range(20)))]

        got = asyncio.run(run())
        with lock:
            statuses.extend(got)

    def with_requests() -> None:
        got = requests.get(url, auth=auth, timeout=10).status_code
        with lock:
            statuses.append(got)

    threads = [threading.Thread(target=one_loop) for _ in range(3)] + [threading.Thread(target=with_requests)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert statuses == [200] * 61
    assert sandbox.count("rokt", "token") == 1


def test_a_token_due_for_renewal_is_renewed_once_for_all(sandbox: Sandbox) -> None:
    auth = sandbox.rokt_auth(leeway=60)
    wrapped = AiohttpAuth(auth)
    url = sandbox.rokt.api_url + ROKT_PATH
    first = call(wrapped, "GET", url).sent["Authorization"]
    age_shared_token(auth, left=10)  # past its leeway and past half of it: callers wait for the renewal

    async def run() -> set[str]:
        async with aiohttp.ClientSession(middlewares=(wrapped,)) as session:
            return {
                a.sent["Authorization"] for a in await asyncio.gather(*(_send(session, "GET", url) for _ in range(30)))
            }

    sent = asyncio.run(run())
    assert sent == {"Bearer " + auth.get_token()} and first not in sent
    assert sandbox.count("rokt", "token") == 2
