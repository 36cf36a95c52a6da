"""The credential boundary, attacked: odd URLs, hostile redirects, replays that redirect.

Real loopback HTTP against the sandbox, whose second address (the "storage" host,
127.0.0.2) plays the foreign host, as does its main server under another name or,
through its interception of vendor hosts, under another scheme, port or vendor host
name; and, for the property-based part, a recording transport adapter standing in
for hosts that cannot exist here (evil.host).
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import logging
import urllib.parse
from typing import Any

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from requests.adapters import HTTPAdapter
from urllib3 import HTTPResponse
from urllib3.util import parse_url

from requests_adtech_auth import ConfigurationError, InsecureTransportError, RoktAuth, TokenAuth
from requests_adtech_auth.boundary import CredentialBoundary, origin_of
from requests_adtech_auth.sandbox import Fault, Sandbox

from .foreign_host import HOSTILE_LOCATIONS, assert_storage_got_nothing, secret_values, storage_hostport
from .helpers import FLOWS, Flow

# -- 1. hostile Location headers -----------------------------------------------------------------


@pytest.mark.parametrize("location", HOSTILE_LOCATIONS)
@pytest.mark.parametrize("flow", FLOWS, ids=[f.name for f in FLOWS])
def test_hostile_location_never_carries_credentials_off_host(sandbox: Sandbox, flow: Flow, location: str) -> None:
    auth = flow.auth(sandbox)
    session = requests.Session()
    session.auth = auth
    assert flow.call(session, sandbox).ok  # a token is cached and in use
    target = location.format(foreign=storage_hostport(sandbox))
    # Some of these are no URL requests can follow; what matters is where bytes went.
    with contextlib.suppress(requests.RequestException):
        session.get(sandbox.url + "/redirect", params={"to": target}, timeout=10)
    assert_storage_got_nothing(sandbox, auth)


def test_same_origin_redirect_keeps_credentials(sandbox: Sandbox) -> None:
    auth = sandbox.algonomy_auth()
    session = requests.Session()
    session.auth = auth
    response = session.post(
        sandbox.url + "/redirect",
        params={"to": "/algonomy/api/v1/profile/b2b/basic", "status": "307"},
        headers={"gcrId": "c1"},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    assert response.history and response.history[0].status_code == 307


# -- 2. a replay whose answer redirects ------------------------------------------------------------


@pytest.mark.parametrize("flow", FLOWS, ids=[f.name for f in FLOWS])
def test_replayed_request_that_redirects_off_host_carries_nothing(sandbox: Sandbox, flow: Flow) -> None:
    auth = flow.auth(sandbox)
    session = requests.Session()
    session.auth = auth
    assert flow.call(session, sandbox).ok
    refused = auth.get_token()
    # The next call is refused (401); its replay, with a fresh token, is redirected off the host.
    sandbox.add_fault(flow.vendor, "api", Fault.status(401, {"error": "invalid_token"}))
    sandbox.add_fault(flow.vendor, "api", Fault.redirect(sandbox.storage_url + "/landing"))
    response = flow.call(session, sandbox)
    assert response.status_code == 200  # the storage host's answer
    assert [r.status_code for r in response.history] == [302]  # requests keeps the redirect chain only
    assert_storage_got_nothing(sandbox, auth)
    assert all(refused not in v for c in sandbox.calls_to("storage") for v in c.headers.values())


def test_replay_then_same_host_redirect_loop_sends_the_fresh_token_and_replays_once(sandbox: Sandbox) -> None:
    auth = sandbox.rokt_auth()
    session = requests.Session()
    session.auth = auth
    session.max_redirects = 5
    url = sandbox.rokt.api_url + "/v1/query/accounts"
    assert session.get(url, timeout=10).ok
    refused = auth.get_token()
    sandbox.add_fault("rokt", "api", Fault.status(401, {"error": "invalid_token"}))
    for _ in range(20):
        sandbox.add_fault("rokt", "api", Fault.redirect(url))
    sandbox.reset_counts()
    before = len(sandbox.calls_to(path_prefix="/rokt/v1/query"))
    with pytest.raises(requests.TooManyRedirects):
        session.get(url, timeout=10)
    hops = sandbox.calls_to(path_prefix="/rokt/v1/query")[before:]
    assert len(hops) == 1 + 1 + 5  # the refused call, its one replay, then requests' redirect limit
    fresh = auth.get_token()
    assert fresh != refused
    assert [c.header("Authorization") for c in hops[1:]] == ["Bearer " + fresh] * 6
    assert sandbox.count("rokt", "token") == 1


# -- personal data on redirects: Algonomy's identifier headers and bodies ----------------------------

#: Customer identifiers as a caller sets them on Algonomy calls, names in odd letter case on purpose.
_PERSONAL_HEADERS = {
    "gcrId": "gcr-40917733",
    "EMAIL_ADDRESS": "jo.doe.4711@example.com",
    "mobile_number": "+15550104711",
    "Customer_Code_External": "ext-4711-cust",
    "reqparamvalue": "jo.doe.4711@example.org",
}
#: The GCR ID API's body: the same identifiers.
_PERSONAL_BODY = {"email_address": "body.jo.4711@example.com", "mobile_number": "+15550994711"}
_PERSONAL_VALUES = [*_PERSONAL_HEADERS.values(), *_PERSONAL_BODY.values()]
_CLIENTS = ["requests", "httpx-sync", "httpx-async"]
#: aiohttp is not routed by the sandbox's interception of vendor hosts: only loopback starts.
_LOOPBACK_CLIENTS = [*_CLIENTS, "aiohttp"]
#: The API host the documentation's examples use (the sandbox's interception routes it to the sandbox).
_VENDOR_HOST = "b2b.example.algonomy.com"


def _send(client: str, auth: TokenAuth, url: str) -> None:
    """POST ``url`` with the personal headers and body through ``client``, following redirects."""
    if client == "requests":
        session = requests.Session()
        session.auth = auth
        session.post(url, headers=_PERSONAL_HEADERS, json=_PERSONAL_BODY, timeout=10)
        return
    kwargs: dict[str, Any] = {"headers": _PERSONAL_HEADERS, "json": _PERSONAL_BODY, "timeout": 10}
    if client == "aiohttp":
        _send_aiohttp(auth, url, kwargs)
        return
    httpx = pytest.importorskip("httpx")
    from requests_adtech_auth.httpx import HttpxAuth

    if client == "httpx-sync":
        with httpx.Client(auth=HttpxAuth(auth), follow_redirects=True) as sync_client:
            sync_client.post(url, **kwargs)
        return

    async def run() -> None:
        async with httpx.AsyncClient(auth=HttpxAuth(auth), follow_redirects=True) as async_client:
            await async_client.post(url, **kwargs)

    asyncio.run(run())


def _send_aiohttp(auth: TokenAuth, url: str, kwargs: dict[str, Any]) -> None:
    aiohttp = pytest.importorskip("aiohttp")
    from requests_adtech_auth.aiohttp import AiohttpAuth

    async def run() -> None:
        timeout = aiohttp.ClientTimeout(total=kwargs.pop("timeout"))
        async with (
            aiohttp.ClientSession(middlewares=(AiohttpAuth(auth),), timeout=timeout) as session,
            session.post(url, **kwargs) as response,
        ):
            await response.read()

    # Some Locations are no URL aiohttp follows; what matters is where bytes went.
    with contextlib.suppress(aiohttp.ClientError):
        asyncio.run(run())


def _redirected(box: Sandbox, client: str, start: str, location: str, status: int = 307) -> tuple[Any, Any]:
    """Send the Algonomy API call, answered with a redirect to ``location``: (the call, the hop) as received."""
    hosts = [urllib.parse.urlsplit(box.url).hostname or "", _VENDOR_HOST]
    auth = box.algonomy_auth(hosts=hosts)
    base = box.algonomy.api_url if start == "loopback" else f"https://{_VENDOR_HOST}"
    box.add_fault("algonomy", "api", Fault.redirect(location, status))
    with box.intercept_vendor_hosts():
        _send(client, auth, base + "/api/v1/profile/b2b/basic")
    (first,) = [c for c in box.calls if c.path.endswith("/b2b/basic")]
    hops = [c for c in box.calls if c.path.endswith("/landing")]
    assert len(hops) == 1, f"the redirect to {location!r} was not followed to /landing"
    for name, value in _PERSONAL_HEADERS.items():
        assert first.header(name) == value, "the call to the API host itself carries the caller's headers"
    return first, hops[0]


def _assert_nothing_personal(hop: Any, auth_headers: tuple[str, ...]) -> None:
    for name in (*auth_headers, *_PERSONAL_HEADERS):
        assert hop.header(name) is None, f"{name} reached another origin"
    for value in _PERSONAL_VALUES:
        assert value.encode() not in hop.body, "a request body with personal data reached another origin"
        assert all(value not in v for v in hop.headers.values())


def _assert_everything_kept(hop: Any) -> None:
    for name, value in _PERSONAL_HEADERS.items():
        assert hop.header(name) == value, f"{name} was taken off a same-origin redirect"
    assert hop.header("access_token") and hop.header("tenant_hash")
    assert json.loads(hop.body) == _PERSONAL_BODY


_ALGONOMY_CREDENTIALS = ("access_token", "tenant_hash")
_NOT_FOLLOWED_BY_HTTPX = "httpx does not follow this Location (it fails before sending)"


def _forms(*cases: tuple[Any, ...]) -> list[Any]:
    """(id, start, location, clients) rows as pytest params over the clients that follow each."""
    return [
        pytest.param(start, location, client, id=f"{name}-{client}")
        for name, start, location, clients in cases
        for client in clients
    ]


# The Location forms of the hostile-Location test above (which httpx and aiohttp do not all follow), and the ones the
# boundary's property test generates that a loopback server can answer: another host, scheme, port or name
# of the same address; user info; odd letter case; a trailing dot; an IDNA host.
@pytest.mark.parametrize(
    ("start", "location", "client"),
    _forms(
        ("other-host", "loopback", "http://{foreign}/landing", _LOOPBACK_CLIENTS),
        ("protocol-relative", "loopback", "//{foreign}/landing", _LOOPBACK_CLIENTS),
        ("four-slashes", "loopback", "////{foreign}/landing", ["requests", "aiohttp"]),
        ("http-four-slashes", "loopback", "http:////{foreign}/landing", ["requests"]),
        ("tab-in-scheme", "loopback", "http:\t//{foreign}/landing", ["requests", "aiohttp"]),
        ("tab-first", "loopback", "\t//{foreign}/landing", _LOOPBACK_CLIENTS),
        ("backslash-user-info", "loopback", "http://{main}\\@{foreign}/landing", _CLIENTS),
        ("user-info", "loopback", "http://user:pw@{foreign}/landing", _LOOPBACK_CLIENTS),
        ("api-host-as-user-info", "loopback", "http://{main}@{foreign}/landing", _LOOPBACK_CLIENTS),
        ("upper-case-scheme", "loopback", "HTTP://{foreign}/landing", _LOOPBACK_CLIENTS),
        ("other-name-same-address", "loopback", "http://localhost:{port}/landing", _LOOPBACK_CLIENTS),
        ("upper-case-other-name", "loopback", "http://LOCALHOST:{port}/landing", _LOOPBACK_CLIENTS),
        ("scheme-change", "vendor", "http://{vendor}/landing", _CLIENTS),
        ("port-change", "vendor", "https://{vendor}:8443/landing", _CLIENTS),
        ("trailing-dot", "vendor", "https://{vendor}./landing", _CLIENTS),
        ("other-subdomain", "vendor", "https://other.algonomy.com/landing", _CLIENTS),
        ("idna-a-label", "vendor", "https://xn--bcher-kva.algonomy.com/landing", _CLIENTS),
        # UTF-8 on the wire, as a server sends it (the sandbox writes header text as latin-1).
        ("idna-u-label", "vendor", "https://bücher.algonomy.com/landing".encode().decode("latin-1"), _CLIENTS),
        ("vendor-as-user-info", "vendor", "https://{vendor}@other.algonomy.com/landing", _CLIENTS),
        ("vendor-protocol-relative", "vendor", "//other.algonomy.com/landing", _CLIENTS),
    ),
)
def test_personal_data_never_follows_a_redirect_to_another_origin(
    sandbox: Sandbox, start: str, location: str, client: str
) -> None:
    storage = storage_hostport(sandbox)
    main = sandbox.url.split("://", 1)[1]
    target = location.format(foreign=storage, main=main, port=main.rsplit(":", 1)[1], vendor=_VENDOR_HOST)
    _, hop = _redirected(sandbox, client, start, target)
    if hop.server == "main" and location.replace("http:", "").startswith("////"):
        # Python 3.12.4+ and 3.13 rebuild "http:////host/x" with its empty authority, and
        # requests then resolves it as a path on the same origin: a hop that may keep all.
        _assert_everything_kept(hop)
        return
    _assert_nothing_personal(hop, _ALGONOMY_CREDENTIALS)
    assert hop.method == "POST"  # a 307 keeps the method: only what it carries changed


@pytest.mark.parametrize(
    ("start", "location", "client"),
    _forms(
        ("relative", "loopback", "/algonomy/landing", _LOOPBACK_CLIENTS),
        ("absolute", "loopback", "http://{main}/algonomy/landing", _LOOPBACK_CLIENTS),
        ("three-slashes-is-a-path", "loopback", "///{foreign}/landing", _LOOPBACK_CLIENTS),
        ("backslash-path", "loopback", "/\\{foreign}/landing", _LOOPBACK_CLIENTS),
        ("odd-case-host", "vendor", "https://B2B.Example.Algonomy.COM/landing", _CLIENTS),
        ("upper-case-scheme", "vendor", "HTTPS://{vendor}/landing", _CLIENTS),
        ("default-port", "vendor", "https://{vendor}:443/landing", _CLIENTS),
    ),
)
def test_a_same_origin_redirect_keeps_personal_data(sandbox: Sandbox, start: str, location: str, client: str) -> None:
    main = sandbox.url.split("://", 1)[1]
    target = location.format(foreign=storage_hostport(sandbox), main=main, vendor=_VENDOR_HOST)
    _, hop = _redirected(sandbox, client, start, target)
    _assert_everything_kept(hop)


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
@pytest.mark.parametrize("client", _LOOPBACK_CLIENTS)
def test_personal_data_leaves_on_every_redirect_status(
    sandbox: Sandbox, client: str, status: int, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("WARNING", logger="requests_adtech_auth")
    _, hop = _redirected(sandbox, client, "loopback", sandbox.storage_url + "/landing", status)
    _assert_nothing_personal(hop, _ALGONOMY_CREDENTIALS)
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    if status in (307, 308):
        # The clients resend a body on these: the hop keeps its method but goes without the body.
        assert hop.method == "POST" and hop.body == b""
        assert len(warnings) == 1 and "127.0.0.2" in warnings[0] and "body" in warnings[0], warnings
    else:
        assert hop.method == "GET"  # the clients drop the body themselves
        assert warnings == []
    for value in _PERSONAL_VALUES:
        assert all(value not in text for text in caplog.messages)


@pytest.mark.parametrize("status", [307, 308])
@pytest.mark.parametrize("client", _LOOPBACK_CLIENTS)
def test_a_same_origin_307_or_308_keeps_the_body(sandbox: Sandbox, client: str, status: int) -> None:
    _, hop = _redirected(sandbox, client, "loopback", "/algonomy/landing", status)
    _assert_everything_kept(hop)


@pytest.mark.parametrize("client", _LOOPBACK_CLIENTS)
def test_a_replay_redirected_to_another_origin_carries_no_personal_data(sandbox: Sandbox, client: str) -> None:
    auth = sandbox.algonomy_auth()
    auth.get_token()
    # The call is refused (401); its replay, with a fresh token, is redirected off the host.
    sandbox.add_fault("algonomy", "api", Fault.status(401, {"message": "token expired"}))
    sandbox.add_fault("algonomy", "api", Fault.redirect(sandbox.storage_url + "/landing", 307))
    _send(client, auth, sandbox.algonomy.api_url + "/api/v1/profile/b2b/basic")
    (hop,) = sandbox.calls_to("storage")
    _assert_nothing_personal(hop, _ALGONOMY_CREDENTIALS)
    assert sandbox.count("algonomy", "token") == 2


class _Recorder:
    """A second origin on the sandbox's own host (another port): records each request and answers ``status``."""

    def __init__(self, status: int) -> None:
        import http.server
        import threading

        self.seen: list[tuple[dict[str, str], bytes]] = []
        seen, answer = self.seen, status

        class Handler(http.server.BaseHTTPRequestHandler):
            def _any(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                seen.append((dict(self.headers.items()), self.rfile.read(length) if length else b""))
                self.send_response(answer)
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_GET = do_POST = _any

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def assert_got_nothing(self, secrets: list[str]) -> None:
        assert self.seen, "the other origin was reached"
        for headers, body in self.seen:
            lowered = {name.lower() for name in headers}
            for name in (*_ALGONOMY_CREDENTIALS, "authorization", *_PERSONAL_HEADERS):
                assert name.lower() not in lowered, f"{name} reached another origin"
            for value in [*_PERSONAL_VALUES, *secrets]:
                assert value.encode() not in body and all(value not in v for v in headers.values())


@pytest.fixture
def other_origin() -> Any:
    recorder = _Recorder(401)
    yield recorder
    recorder.close()


def test_a_replay_redirected_away_and_followed_by_hand_carries_nothing(
    sandbox: Sandbox, other_origin: _Recorder
) -> None:
    # allow_redirects=False, then the usual manual follow of the answer's request: the replay's.
    auth = sandbox.algonomy_auth()
    auth.get_token()
    sandbox.add_fault("algonomy", "api", Fault.status(401, {"message": "token expired"}))
    sandbox.add_fault("algonomy", "api", Fault.redirect(other_origin.url + "/landing", 307))
    session = requests.Session()
    url = sandbox.algonomy.api_url + "/api/v1/profile/b2b/basic"
    answer = session.post(url, headers=_PERSONAL_HEADERS, json=_PERSONAL_BODY, auth=auth, allow_redirects=False)
    assert answer.status_code == 307 and sandbox.count("algonomy", "api") == 2, "refused, then replayed"
    for _ in session.resolve_redirects(answer, answer.request):
        pass
    other_origin.assert_got_nothing([*sandbox.secrets(), auth.get_token()])


@pytest.mark.parametrize("flow", FLOWS, ids=[f.name for f in FLOWS])
def test_a_refusal_from_another_origin_a_redirect_led_to_gets_no_token(
    sandbox: Sandbox, flow: Flow, other_origin: _Recorder
) -> None:
    # The other origin is on an allowed host (another port): a fresh request there would get
    # the token; a redirect hop that lost it must not get it back by answering 401.
    sandbox.add_fault(flow.vendor, "api", Fault.redirect(other_origin.url + "/landing", 302))
    with requests.Session() as session:
        session.auth = flow.auth(sandbox)
        assert flow.call(session, sandbox).status_code == 401
    assert len(other_origin.seen) == 1, "no replay to the other origin"
    other_origin.assert_got_nothing(sandbox.secrets())


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_an_httpx_redirect_followed_by_hand_loses_what_a_hop_would(
    sandbox: Sandbox, other_origin: _Recorder, mode: str
) -> None:
    httpx = pytest.importorskip("httpx")
    from requests_adtech_auth.httpx import HttpxAuth

    auth = sandbox.algonomy_auth()
    sandbox.add_fault("algonomy", "api", Fault.redirect(other_origin.url + "/landing", 307))
    url = sandbox.algonomy.api_url + "/api/v1/profile/b2b/basic"
    kwargs: dict[str, Any] = {"headers": _PERSONAL_HEADERS, "json": _PERSONAL_BODY}
    if mode == "sync":
        with httpx.Client(auth=HttpxAuth(auth)) as client:
            answer = client.post(url, **kwargs)
            client.send(answer.next_request)
    else:

        async def run() -> None:
            async with httpx.AsyncClient(auth=HttpxAuth(auth)) as client:
                answer = await client.post(url, **kwargs)
                await client.send(answer.next_request)

        asyncio.run(run())
    other_origin.assert_got_nothing([*sandbox.secrets(), auth.get_token()])


# -- 3. token URLs whose parsers disagree ------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://evil.test\\@127.0.0.1/token",
        "https://evil.test\\@127.0.0.1/token",
        "http://127.0.0.1\\@evil.test/token",
        " https://api.rokt.com/auth/oauth2/token",
        "https://api.rokt.com/auth/oauth2/token\n",
        "https://user:pw@api.rokt.com/auth/oauth2/token",
        "http://evil.test#@127.0.0.1/token",
        "https:///api.rokt.com/token",
        "//api.rokt.com/token",
    ],
)
def test_ambiguous_or_unsafe_token_urls_are_refused(url: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        RoktAuth("app", "secret-value", token_url=url)
    assert "pw" not in str(caught.value)


def test_token_url_userinfo_never_shows() -> None:
    with pytest.raises(ConfigurationError) as caught:
        RoktAuth("app", "secret-value", token_url="https://user:hunter2hunter2@api.rokt.com/auth/oauth2/token")
    assert "hunter2" not in str(caught.value)
    assert "user:password" in str(caught.value)


# -- 15. hosts and other constructor input ------------------------------------------------------------


@pytest.mark.parametrize(
    ("hosts", "words"),
    [
        ([], "empty"),
        (["api.rokt.com:443"], "a port"),
        (["*.rokt.com"], "a wildcard"),
        (["user@api.rokt.com"], "user info"),
        (["api.rokt.com/path"], "'/'"),
        ("api.rokt.com", "not a string"),
        ([None], "bare host names"),
        (5, "collection"),
    ],
)
def test_bad_hosts_are_configuration_errors(hosts: Any, words: str) -> None:
    with pytest.raises(ConfigurationError, match=words):
        RoktAuth("app", "secret", hosts=hosts)


@pytest.mark.parametrize(
    ("url", "bare"),
    [
        ("https://api.rokt.com", "api.rokt.com"),
        ("http://x", "x"),
        ("https://x/path", "x"),
        ("https://API.Rokt.com:8443/", "api.rokt.com"),
        ("https://user:hunter2@api.rokt.com", "api.rokt.com"),
    ],
)
def test_a_url_in_hosts_is_named_a_url_and_its_host_suggested(url: str, bare: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        RoktAuth("app", "secret", hosts=[url])
    message = str(caught.value)
    assert "is a URL, not a host name" in message
    assert message.endswith(f"use {bare!r}")
    assert "a port" not in message
    assert "hunter2" not in message


def test_hosts_are_compared_as_requests_sends_them(sandbox: Sandbox) -> None:
    auth = RoktAuth("app", "secret", token_url=sandbox.rokt.token_url, hosts=["API.Rokt.COM", "bücher.de", "[::1]"])
    assert auth.hosts == frozenset({"api.rokt.com", "xn--bcher-kva.de", "::1"})


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("timeout", float("inf")),
        ("timeout", float("nan")),
        ("timeout", 0),
        ("timeout", 1e6),
        ("max_backoff", float("inf")),
        ("backoff", float("inf")),
        ("leeway", float("inf")),
        ("leeway", float("nan")),
        ("max_retries", 10**9),
    ],
)
def test_unbounded_numbers_are_configuration_errors(option: str, value: Any) -> None:
    with pytest.raises(ConfigurationError, match=option):
        RoktAuth("app", "secret", **{option: value})


def test_rokt_app_id_with_a_colon_is_refused() -> None:
    # RFC 7617: a Basic user-id cannot contain ':' (the server would split there).
    with pytest.raises(ConfigurationError, match="app_id"):
        RoktAuth("app:id", "secret")


# -- the boundary's own rules -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("https://api.rokt.com/x", True),
        ("https://api.rokt.com:443/x", True),
        ("https://API.ROKT.COM/x", True),
        ("https://api.rokt.com./x", False),
        ("https://api.rokt.com.evil.host/x", False),
        ("https://evil.host/api.rokt.com", False),
        ("https://api.rokt.com@evil.host/x", False),
        ("https://evil.host\\@api.rokt.com/x", False),
        ("https://evil.host%5C@api.rokt.com/x", True),  # user info "evil.host\\": the host is api.rokt.com
        ("https://api.rokt.com\t/x", False),
        ("ftp://api.rokt.com/x", False),
        ("//api.rokt.com/x", False),
        ("https:////api.rokt.com/x", False),
    ],
)
def test_boundary_decisions(url: str, allowed: bool) -> None:
    assert CredentialBoundary(["api.rokt.com"], "Rokt").allows_quietly(url) is allowed


def test_plain_http_to_an_allowed_non_loopback_host_is_refused_loudly() -> None:
    boundary = CredentialBoundary(["api.rokt.com"], "Rokt")
    with pytest.raises(InsecureTransportError):
        boundary.allows("http://api.rokt.com/x")
    assert boundary.allows_quietly("http://api.rokt.com/x") is False


def test_withheld_credentials_are_logged_once_per_host(sandbox: Sandbox, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("DEBUG", logger="requests_adtech_auth")
    session = requests.Session()
    session.auth = sandbox.rokt_auth(hosts=["api.rokt.com"])
    for _ in range(3):
        session.get(sandbox.rokt.api_url + "/v1/query/accounts?key=private", timeout=10)
    lines = [r.getMessage() for r in caplog.records if "no credentials sent" in r.getMessage()]
    assert len(lines) == 1
    assert "127.0.0.1" in lines[0] and "private" not in lines[0] and "/reporting" not in lines[0]


def _refusal_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.levelname == "WARNING" and "sent without credentials" in r.getMessage()
    ]


def test_a_refused_bare_request_warns_once_per_host_naming_hosts(
    sandbox: Sandbox, caplog: pytest.LogCaptureFixture
) -> None:
    # The API is on 127.0.0.1, but hosts= names only the real host: every call goes bare and gets 401.
    caplog.set_level("WARNING", logger="requests_adtech_auth")
    session = requests.Session()
    session.auth = sandbox.rokt_auth(hosts=["api.rokt.com"])
    for _ in range(3):
        assert session.get(sandbox.rokt.api_url + "/v1/query/accounts?key=private", timeout=10).status_code == 401
    lines = _refusal_warnings(caplog)
    assert len(lines) == 1, lines
    assert "127.0.0.1" in lines[0] and "answered 401" in lines[0] and "hosts=" in lines[0]
    assert "private" not in lines[0] and "/reporting" not in lines[0]
    assert sandbox.count("rokt", "token") == 0  # nothing fetched for a host outside hosts


def test_a_bare_request_that_succeeds_stays_silent(sandbox: Sandbox, caplog: pytest.LogCaptureFixture) -> None:
    # Digital Turbine's report download goes to a storage host without credentials, as it must.
    caplog.set_level("DEBUG", logger="requests_adtech_auth")
    auth = sandbox.digital_turbine_auth()
    assert requests.get(sandbox.storage_url + "/anything", auth=auth, timeout=10).status_code == 200
    assert _refusal_warnings(caplog) == []
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []


def test_a_refused_bare_httpx_request_warns_too(sandbox: Sandbox, caplog: pytest.LogCaptureFixture) -> None:
    httpx = pytest.importorskip("httpx")
    from requests_adtech_auth.httpx import HttpxAuth

    caplog.set_level("WARNING", logger="requests_adtech_auth")
    with httpx.Client(auth=HttpxAuth(sandbox.rokt_auth(hosts=["api.rokt.com"]))) as client:
        for _ in range(2):
            assert client.get(sandbox.rokt.api_url + "/v1/query/accounts").status_code == 401
    assert len(_refusal_warnings(caplog)) == 1


# -- property: no credential reaches a host that is not allowed ---------------------------------------


class _RecordingAdapter(HTTPAdapter):
    """A transport that records where each request would connect, and answers from a script."""

    def __init__(self, script: list[tuple[int, dict[str, str]]]) -> None:
        super().__init__()
        self.script = script
        self.sent: list[tuple[str, dict[str, str]]] = []

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        self.sent.append((request.url or "", dict(request.headers)))
        status, headers = self.script.pop(0) if self.script else (200, {})
        # As urllib3 hands over a real server's header bytes: UTF-8 on the wire, read as latin-1.
        wire = {name: value.encode("utf-8").decode("latin-1") for name, value in headers.items()}
        raw = HTTPResponse(body=io.BytesIO(b""), headers=wire, status=status, preload_content=False)
        return self.build_response(request, raw)


def _connect_hosts(url: str) -> set[str]:
    """Every host a request to ``url`` might connect to: requests >= 2.32, urllib3, proxies."""
    hosts = set()
    try:
        hosts.add((urllib.parse.urlparse(url).hostname or "").lower())
    except ValueError:
        hosts.add("(unparseable)")
    try:
        hosts.add((parse_url(url).host or "").strip("[]").lower())
    except ValueError:
        hosts.add("(unparseable)")
    return hosts


_PIECES = st.sampled_from(
    [
        "",
        "/",
        "//",
        "///",
        "////",
        "\\",
        "\\\\",
        "/\\",
        "\t",
        " ",
        "\n",
        "@",
        ":",
        "?",
        "#",
        ".",
        "%2F",
        "%5C",
        "%40",
        "%2e",
        "https:",
        "http:",
        "HTTPS:",
        "https://",
        "http://",
        "evil.host",
        "api.rokt.com",
        "API.ROKT.COM",
        "api.rokt.com.",
        "127.0.0.1",
        "xn--bcher-kva.de",
        "bücher.de",
        "[::1]",
        ":443",
        ":8443",
        ":80",
        "user:pw",
        "x",
        "/path",
        "?q=1",
        "#frag",
    ]
)
_FREE_TEXT = st.lists(_PIECES, min_size=1, max_size=8).map("".join)


def _urls(allowed: list[str]) -> st.SearchStrategy[str]:
    """URLs and Location values shaped like the tricks that fool one parser but not another."""
    hosts = [*allowed, *(h.upper() for h in allowed), *(h + "." for h in allowed), "evil.host", "127.0.0.2"]
    structured = st.builds(
        lambda *parts: "".join(parts),
        st.sampled_from(["", "https:", "http:", "HTTPS:", "https:\t", "\t", " "]),
        st.sampled_from(["", "/", "//", "///", "////", "\\\\", "/\\", "/\t/", "//\t"]),
        st.sampled_from(["", "user@", "a:b@", *(h + "@" for h in allowed), "evil.host\\@", "evil.host%5C@"]),
        st.sampled_from(hosts),
        st.sampled_from(["", ":443", ":8443", ":80", ":"]),
        st.sampled_from(
            ["", "/x", "/@evil.host/", "?a=@evil.host", "#@evil.host", "\\@evil.host/", "\\x", "/%2F%2Fevil.host"]
        ),
    )
    return st.one_of(structured, _FREE_TEXT, st.tuples(structured, _FREE_TEXT).map("".join))


def _check_no_leak(adapter: _RecordingAdapter, auth: TokenAuth, secrets: list[str]) -> None:
    for url, headers in adapter.sent:
        carried = [n for n in headers if n.lower() in {c.lower() for c in auth.credential_headers}] + [
            n for n, v in headers.items() if any(s in v for s in secrets)
        ]
        if carried:
            hosts = _connect_hosts(url)
            assert hosts <= auth.hosts, f"{carried} sent to {url!r} (hosts {hosts})"
            origin = origin_of(url)
            assert origin is not None and (origin.scheme == "https" or origin.host == "127.0.0.1")


@pytest.mark.parametrize("flow", FLOWS, ids=[f.name for f in FLOWS])
def test_property_no_credential_reaches_a_host_not_allowed(sandbox: Sandbox, flow: Flow) -> None:
    auth = flow.auth(sandbox)
    auth.get_token()
    secrets = secret_values(auth, sandbox)
    base = "https://" + sorted(h for h in auth.hosts if h != "127.0.0.1")[0] if len(auth.hosts) > 1 else sandbox.url
    urls = _urls(sorted(auth.hosts))

    @settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(
        first=st.one_of(urls, st.just(base + "/x")),
        location=urls,
        status=st.sampled_from([301, 302, 303, 307, 308]),
        refuse_first=st.booleans(),
    )
    def check(first: str, location: str, status: int, refuse_first: bool) -> None:
        script = [(401, {})] if refuse_first else []
        script += [(status, {"Location": location}), (status, {"Location": location}), (200, {})]
        adapter = _RecordingAdapter(script)
        session = requests.Session()
        session.trust_env = False
        session.auth = auth
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        # requests refuses many of these URLs: fine, as long as nothing leaked first. Any other
        # exception type fails the test: only requests' own may escape a call.
        with contextlib.suppress(requests.RequestException):
            session.get(first, timeout=5)
        _check_no_leak(adapter, auth, secrets)

    check()


@settings(max_examples=200, deadline=None)
@given(url=st.one_of(_urls(["api.rokt.com", "127.0.0.1", "localhost"]), _FREE_TEXT.map(lambda tail: "http" + tail)))
def test_property_token_urls_are_refused_or_unambiguous(url: str) -> None:
    try:
        auth = RoktAuth("app", "secret-value", token_url=url)
    except ConfigurationError:
        return
    sent = auth.token_url
    hosts = _connect_hosts(sent)
    assert len(hosts) == 1, f"parsers disagree on {sent!r}: {hosts}"
    origin = origin_of(sent)
    assert origin is not None
    assert origin.scheme == "https" or origin.host in ("127.0.0.1", "localhost", "::1")


def test_withheld_credentials_are_explained_once_debug_is_on(
    sandbox: Sandbox, caplog: pytest.LogCaptureFixture
) -> None:
    auth = sandbox.rokt_auth(hosts=["api.rokt.com"])
    url = sandbox.rokt.api_url + "/v1/query/accounts"
    caplog.set_level(logging.INFO, logger="requests_adtech_auth")
    assert requests.get(url, auth=auth, timeout=10).status_code == 401  # DEBUG is off: nothing said
    caplog.set_level(logging.DEBUG, logger="requests_adtech_auth")
    requests.get(url, auth=auth, timeout=10)  # turned on after the surprise: now it is said
    said = [r.getMessage() for r in caplog.records if "no credentials sent" in r.getMessage()]
    assert len(said) == 1 and "token_url" in said[0]
