"""The credential boundary, attacked: odd URLs, hostile redirects, replays that redirect.

Real loopback HTTP against the sandbox, whose second address (the "storage" host,
127.0.0.2) plays the foreign host; and, for the property-based part, a recording
transport adapter standing in for hosts that cannot exist here (evil.host).
"""

from __future__ import annotations

import contextlib
import io
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

from .flows import FLOWS, Flow


def _storage_hostport(box: Sandbox) -> str:
    return box.storage_url.split("://", 1)[1]


def _secret_values(auth: TokenAuth, box: Sandbox) -> list[str]:
    values = [s for s in box.secrets() if len(s) >= 4]
    cached = auth._token
    if cached is not None:
        values.append(cached.value)
    return values


def _assert_storage_got_nothing(box: Sandbox, auth: TokenAuth) -> None:
    secrets = _secret_values(auth, box)
    for call in box.calls_to("storage"):
        for name in auth.credential_headers:
            assert call.header(name) is None, f"{name} reached the foreign host"
        for name, value in call.headers.items():
            for secret in secrets:
                assert secret not in value, f"a secret reached the foreign host in {name}"


# -- 1. hostile Location headers -----------------------------------------------------------------


@pytest.mark.parametrize(
    "location",
    [
        "////{foreign}/landing",
        "https:////{foreign}/landing",
        "http:////{foreign}/landing",
        "///{foreign}/landing",
        "//{foreign}/landing",
        "http://{foreign}/landing",
        "http:\t//{foreign}/landing",
        "\t//{foreign}/landing",
        "http://127.0.0.1\\@{foreign}/landing",
    ],
)
@pytest.mark.parametrize("flow", FLOWS, ids=[f.name for f in FLOWS])
def test_hostile_location_never_carries_credentials_off_host(sandbox: Sandbox, flow: Flow, location: str) -> None:
    auth = flow.auth(sandbox)
    session = requests.Session()
    session.auth = auth
    assert flow.call(session, sandbox).ok  # a token is cached and in use
    target = location.format(foreign=_storage_hostport(sandbox))
    # Some of these are no URL requests can follow; what matters is where bytes went.
    with contextlib.suppress(requests.RequestException):
        session.get(sandbox.url + "/redirect", params={"to": target}, timeout=10)
    _assert_storage_got_nothing(sandbox, auth)


def test_same_origin_redirect_keeps_credentials(sandbox: Sandbox) -> None:
    auth = sandbox.algonomy_auth()
    session = requests.Session()
    session.auth = auth
    response = session.post(
        sandbox.url + "/redirect",
        params={"to": "/algonomy/api/v1/profile/b2b/basic", "status": "307"},
        json={"customerId": "c1"},
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
    _assert_storage_got_nothing(sandbox, auth)
    assert all(refused not in v for c in sandbox.calls_to("storage") for v in c.headers.values())


def test_replay_then_same_host_redirect_loop_sends_the_fresh_token_and_replays_once(sandbox: Sandbox) -> None:
    auth = sandbox.rokt_auth()
    session = requests.Session()
    session.auth = auth
    session.max_redirects = 5
    url = sandbox.rokt.api_url + "/reporting/accounts/123/summary"
    assert session.get(url, timeout=10).ok
    refused = auth.get_token()
    sandbox.add_fault("rokt", "api", Fault.status(401, {"error": "invalid_token"}))
    for _ in range(20):
        sandbox.add_fault("rokt", "api", Fault.redirect(url))
    sandbox.reset_counts()
    before = len(sandbox.calls_to(path_prefix="/rokt/reporting"))
    with pytest.raises(requests.TooManyRedirects):
        session.get(url, timeout=10)
    hops = sandbox.calls_to(path_prefix="/rokt/reporting")[before:]
    assert len(hops) == 1 + 1 + 5  # the refused call, its one replay, then requests' redirect limit
    fresh = auth.get_token()
    assert fresh != refused
    assert [c.header("Authorization") for c in hops[1:]] == ["Bearer " + fresh] * 6
    assert sandbox.count("rokt", "token") == 1


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
        session.get(sandbox.rokt.api_url + "/reporting/accounts/1/summary?key=private", timeout=10)
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
        assert (
            session.get(sandbox.rokt.api_url + "/reporting/accounts/1/summary?key=private", timeout=10).status_code
            == 401
        )
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
            assert client.get(sandbox.rokt.api_url + "/reporting/accounts/1/summary").status_code == 401
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
    secrets = _secret_values(auth, sandbox)
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
