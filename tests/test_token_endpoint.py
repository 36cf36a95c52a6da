"""A token endpoint that misbehaves: deadlines, slow drips, echoed secrets, escaped text, absurd numbers, locals."""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import socket
import threading
import time
import traceback
from collections.abc import Iterator
from html import escape as html_escape
from typing import Any, Optional
from urllib.parse import quote, quote_plus

import pytest
import requests

from requests_adtech_auth import (
    AuthError,
    InvalidTokenResponseError,
    RoktAuth,
    RoktPartnershipsAuth,
    TokenCache,
    TokenRequestError,
)
from requests_adtech_auth.cache import StoredToken
from requests_adtech_auth.control_chars import escape_controls
from requests_adtech_auth.sandbox import Fault, Sandbox
from requests_adtech_auth.token_answers import MAX_LIFETIME

from .control_text import CONTROL_CLASSES, raw_controls
from .helpers import (
    FLOWS,
    Flow,
    RawServer,
    error_answer,
    library_locals,
    sent_secrets,
    token_state_of,
)

# -- 4. no secret in the locals of any frame an error carries ------------------------------------------


def _locals_text(error: BaseException) -> str:
    shown = traceback.TracebackException(type(error), error, error.__traceback__, capture_locals=True)
    return "".join(shown.format())


@pytest.mark.parametrize(
    "fault",
    [
        Fault.status(400, {"error": "invalid_client"}),
        Fault.status(503, {"error": "unavailable"}),
        Fault.close(),
        Fault.raw(200, b"<html>not a token</html>", "text/html"),
    ],
    ids=["400", "503", "closed", "html"],
)
@pytest.mark.parametrize("flow", FLOWS, ids=[f.name for f in FLOWS])
@pytest.mark.parametrize("entry", ["get_token", "api_call"])
def test_errors_carry_no_frame_holding_a_secret(sandbox: Sandbox, flow: Flow, fault: Fault, entry: str) -> None:
    auth = flow.auth(sandbox, max_retries=1)
    sandbox.add_fault(flow.vendor, "token", fault, times=5)
    session = requests.Session()
    session.auth = auth
    with pytest.raises(TokenRequestError) as caught:
        auth.get_token() if entry == "get_token" else flow.call(session, sandbox)
    text = _locals_text(caught.value)
    assert "auth = <" in text or "self = <" in text  # locals were captured
    for secret in sent_secrets(auth, sandbox):
        assert secret not in text, "a secret is in the locals of a frame the error carries"


def test_a_cause_is_kept_without_frames(sandbox: Sandbox) -> None:
    auth = RoktAuth("app", "secret-value", token_url="http://127.0.0.1:9/t", max_retries=0)
    with pytest.raises(TokenRequestError) as caught:
        auth.get_token()
    cause = caught.value.__cause__
    assert isinstance(cause, requests.ConnectionError)
    assert cause.__traceback__ is None and cause.request is None
    assert caught.value.__context__ is None


# -- 5. a slow drip cannot outlast timeout ------------------------------------------------------------


class _DripServer:
    """Answers every request by dripping one byte every ``gap`` seconds: in the headers or the body."""

    def __init__(self, where: str, gap: float = 0.1, longest: float = 20.0) -> None:
        self.where, self.gap, self.longest = where, gap, longest
        self.stop = threading.Event()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}/token"
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        self.listener.settimeout(0.2)
        while not self.stop.is_set():
            try:
                conn, _ = self.listener.accept()
            except OSError:
                continue
            threading.Thread(target=self._drip, args=(conn,), daemon=True).start()

    def _drip(self, conn: socket.socket) -> None:
        with conn:
            conn.recv(65536)
            if self.where == "headers":
                head, drip = b"HTTP/1.1 200 OK\r\n", b"X-Slow: " + b"a" * 10_000
            else:
                head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 10000\r\n\r\n"
                drip = b" " * 10_000
            deadline = time.monotonic() + self.longest
            with contextlib.suppress(OSError):
                conn.sendall(head)
                for byte in drip:
                    if self.stop.is_set() or time.monotonic() > deadline:
                        break
                    conn.sendall(bytes([byte]))
                    time.sleep(self.gap)

    def close(self) -> None:
        self.stop.set()
        self.listener.close()
        self.thread.join(5)


@pytest.fixture(params=["headers", "body"])
def drip_server(request: pytest.FixtureRequest) -> Iterator[_DripServer]:
    server = _DripServer(request.param)
    yield server
    server.close()


def test_timeout_bounds_a_whole_attempt_against_a_slow_drip(drip_server: _DripServer) -> None:
    auth = RoktAuth("app", "secret-value", token_url=drip_server.url, timeout=1, max_retries=0)
    started = time.monotonic()
    with pytest.raises(TokenRequestError, match="did not answer in full within 1 s") as caught:
        auth.get_token()
    elapsed = time.monotonic() - started
    assert elapsed < 5, f"one attempt took {elapsed:.1f} s with timeout=1 (the drip lasts 20 s)"
    assert caught.value.transient
    # The renewal lock is free: another caller is not stuck behind the dripping attempt.
    assert token_state_of(auth).lock.acquire(timeout=1)
    token_state_of(auth).lock.release()


# -- 6. echoed secrets are hidden in every form the library sends them -------------------------------


_ODD_SECRET = "Sec+ret/=&%x é"


def test_echoed_secret_in_sent_forms_is_redacted(sandbox: Sandbox) -> None:
    app_id = "odd-app"
    basic = base64.b64encode(f"{app_id}:{_ODD_SECRET}".encode()).decode()
    echo = (
        f"Authorization: Basic {basic}; body client_secret={quote_plus(_ODD_SECRET)}; "
        f"lower {quote(_ODD_SECRET, safe='').lower()}; json {json.dumps(_ODD_SECRET)[1:-1]}"
    )
    sandbox.add_fault("rokt", "token", Fault.status(400, {"error": "invalid_client", "error_description": echo}))
    auth = RoktAuth(app_id, _ODD_SECRET, token_url=sandbox.rokt.token_url)
    with pytest.raises(TokenRequestError) as caught:
        auth.get_token()
    shown = f"{caught.value} {caught.value.description} {caught.value!r}"
    for form in (basic, quote_plus(_ODD_SECRET), quote(_ODD_SECRET, safe="").lower(), json.dumps(_ODD_SECRET)[1:-1]):
        assert form not in shown
    assert shown.count("[redacted]") >= 4


def test_partnerships_form_body_echo_is_redacted(sandbox: Sandbox) -> None:
    auth = RoktPartnershipsAuth("rspub_x", _ODD_SECRET, "parent-1", token_url=sandbox.rokt_partnerships.token_url)
    body = auth._token_request().data or ""
    sandbox.add_fault(
        "rokt_partnerships", "token", Fault.raw(400, f"<pre>{body}</pre>".encode(), "text/html; charset=utf-8")
    )
    with pytest.raises(TokenRequestError) as caught:
        auth.get_token()
    assert quote_plus(_ODD_SECRET) not in str(caught.value)
    assert "text/html" in str(caught.value)  # the snippet of a non-JSON body is there, redacted


# -- 7. absurd numbers from the server ------------------------------------------------------------------


@pytest.mark.parametrize("expiry", [b"1" + b"0" * 400, b"1e400", b"1.7976931348623157e308", b'"1e400"'])
@pytest.mark.parametrize("flow", [f for f in FLOWS if f.expiry_field], ids=lambda f: f.name)
def test_absurd_expiry_is_capped_not_a_crash(sandbox: Sandbox, flow: Flow, expiry: bytes) -> None:
    body = b'{"%s": "tok-123456", "%s": %s}' % (flow.token_field.encode(), (flow.expiry_field or "").encode(), expiry)
    sandbox.add_fault(flow.vendor, "token", Fault.raw(200, body))
    auth = flow.auth(sandbox)
    assert auth.get_token() == "tok-123456"
    status = auth.token_status
    assert status is not None and 0 < status.expires_in <= MAX_LIFETIME


# -- 8. what a server writes is data, never terminal or log control -----------------------------------------


def _all_shown(error: TokenRequestError, caplog: pytest.LogCaptureFixture) -> list[str]:
    """Every text the library made of a failed fetch: the message, the attributes, each log record."""
    return [str(error), error.error or "", error.description or ""] + [r.getMessage() for r in caplog.records]


@pytest.mark.parametrize("sample", CONTROL_CLASSES.values(), ids=list(CONTROL_CLASSES))
@pytest.mark.parametrize("flow", FLOWS, ids=[f.name for f in FLOWS])
def test_control_characters_in_error_fields_are_escaped_in_messages_and_logs(
    sandbox: Sandbox, flow: Flow, sample: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    auth = flow.auth(sandbox, max_retries=1)
    retry_now = {"Retry-After": "0"}
    sandbox.add_fault(flow.vendor, "token", Fault.status(503, error_answer(flow.vendor, sample), retry_now), times=2)
    with pytest.raises(TokenRequestError) as caught:
        auth.get_token()
    for text in _all_shown(caught.value, caplog):
        assert raw_controls(text) == [], text
    escaped = escape_controls(sample)
    assert caught.value.error == f"unavailable{escaped}"  # the attributes hold what the message shows
    assert f"unavailable{escaped} (down{escaped}now" in str(caught.value)
    if flow.vendor == "rokt_partnerships":
        assert f"request_id req{escaped}1" in str(caught.value)
    retries = [r.getMessage() for r in caplog.records if "retry 1 of 1" in r.getMessage()]
    assert len(retries) == 1 and f"down{escaped}now" in retries[0]


# Header values travel as latin-1: C0, DEL and C1 controls can be in them, CR and LF cannot.
_HOSTILE_CONTENT_TYPE = "text/html\x1b]0;owned\x07\x1b[2J\x00\x7f\x9b2J\x85; charset=utf-8"


@pytest.mark.parametrize("status", [200, 502])
@pytest.mark.parametrize("flow", FLOWS, ids=[f.name for f in FLOWS])
def test_a_hostile_content_type_of_a_non_json_answer_is_escaped(
    sandbox: Sandbox, flow: Flow, status: int, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    auth = flow.auth(sandbox, max_retries=1)
    fault = Fault.raw(status, b"<html>\x1b[2Jbusy\r\n</html>", _HOSTILE_CONTENT_TYPE, **{"Retry-After": "0"})
    sandbox.add_fault(flow.vendor, "token", fault, times=2)
    with pytest.raises(TokenRequestError) as caught:
        auth.get_token()
    for text in _all_shown(caught.value, caplog):
        assert raw_controls(text) == [], text
    if status == 200:  # a 2xx body is never quoted (it may hold a token), its content type is named
        assert f"{escape_controls(_HOSTILE_CONTENT_TYPE)}, 23 bytes" in str(caught.value)
    else:
        assert f"{escape_controls(_HOSTILE_CONTENT_TYPE)}: '<html> [2Jbusy </html>'" in str(caught.value)


@pytest.mark.parametrize("flow", FLOWS, ids=[f.name for f in FLOWS])
def test_a_hostile_redirect_location_is_escaped(sandbox: Sandbox, flow: Flow, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    location = "https://elsewhere.example/\x1b]0;owned\x07\x1b[2J\x00\x7f"
    sandbox.add_fault(flow.vendor, "token", Fault.redirect(location))
    with pytest.raises(TokenRequestError) as caught:
        flow.auth(sandbox, max_retries=0).get_token()
    for text in _all_shown(caught.value, caplog):
        assert raw_controls(text) == [], text
    assert f"a redirect to '{escape_controls(location)}'" in str(caught.value)


def test_a_secret_holding_controls_is_redacted_before_anything_is_escaped(sandbox: Sandbox) -> None:
    # Escaping first would turn the secret into text that no longer matches it, and show it.
    secret = "rsec_Q7xZk\u202ePw9Vt\x85Lm3Rd"
    auth = RoktPartnershipsAuth("rspub_x", secret, "parent-1", token_url=sandbox.rokt_partnerships.token_url)
    refusal = {"error": "Unauthorized", "message": f"no client with {secret}\u202e", "request_id": secret}
    sandbox.add_fault("rokt_partnerships", "token", Fault.status(401, refusal))
    with pytest.raises(TokenRequestError) as caught:
        auth.get_token()
    shown = f"{caught.value} {caught.value.description}"
    assert raw_controls(shown) == []
    assert "no client with [redacted]\\u202e; request_id [redacted]" in shown
    for piece in ("Q7xZk", "Pw9Vt", "Lm3Rd"):
        assert piece not in shown


# -- 11. a shared cache's entries are trusted no further than a fetched answer ---------------------------


class _PlainCache(TokenCache):
    """A cache that hands back exactly what was put in it (as a tampered backend could)."""

    def __init__(self, entry: Optional[StoredToken]) -> None:
        self.entry = entry

    def load(self, key: str) -> Optional[StoredToken]:
        return self.entry

    def store(self, key: str, token: StoredToken) -> None:
        self.entry = token

    def discard(self, key: str, value: str) -> None:
        self.entry = None

    def lock(self, key: str) -> Any:
        return contextlib.nullcontext()


@pytest.mark.parametrize(
    ("refresh", "expires"),
    [(float("nan"), float("nan")), (float("inf"), float("inf")), (float("nan"), 1e12), (-1e308, float("nan"))],
)
def test_non_finite_cache_entries_are_not_adopted(sandbox: Sandbox, refresh: float, expires: float) -> None:
    cache = _PlainCache(StoredToken("poisoned-token", refresh, expires))
    auth = sandbox.rokt_auth(cache=cache)
    assert auth.get_token() != "poisoned-token"
    assert sandbox.count("rokt", "token") == 1


def test_a_thirty_year_cache_entry_is_capped(sandbox: Sandbox) -> None:
    now = time.time()
    cache = _PlainCache(StoredToken("long-lived-token", now + 30 * 365 * 86400, now + 30 * 365 * 86400 + 60))
    auth = sandbox.rokt_auth(cache=cache)
    assert auth.get_token() == "long-lived-token"
    status = auth.token_status
    assert status is not None and status.expires_in <= MAX_LIFETIME and status.renews_in <= status.expires_in


# -- answers a server breaks on purpose: unreadable, huge, dripping, echoing ----------------------------


@pytest.fixture
def raw_server(request: pytest.FixtureRequest) -> Iterator[RawServer]:
    server = RawServer(request.param)
    yield server
    server.close()


def _send(raw: bytes) -> Any:
    return lambda server, index, conn: conn.sendall(raw)


@pytest.mark.parametrize(
    "raw_server",
    [
        _send(b"HTTP/1.1 302 Found\r\nLocation: /\xff\r\nContent-Length: 0\r\n\r\n"),
        _send(b"HTTP/1.1 302 Found\r\nLocation: http://[::1\r\nContent-Length: 0\r\n\r\n"),
        _send(b"HTTP/1.1 302 Found\r\nLocation: http://[127.0.0.1]/\r\nContent-Length: 0\r\n\r\n"),
        _send(b'HTTP/1.1 200 OK\r\nContent-Length: \xb2\r\nConnection: close\r\n\r\n{"access_token":"T0KEN"}'),
    ],
    indirect=True,
    ids=["location-not-utf8", "location-bad-ipv6", "location-bracketed-ipv4", "content-length-superscript"],
)
def test_unreadable_token_answers_are_library_errors(raw_server: RawServer) -> None:
    auth = RoktPartnershipsAuth(
        "rspub_x", _ODD_SECRET + "-long", "parent", token_url=raw_server.url + "/t", max_retries=0
    )
    try:
        auth.get_token()
    except requests.RequestException as error:  # an AuthError is one; nothing else may escape
        assert isinstance(error, TokenRequestError), repr(error)
        assert _ODD_SECRET not in library_locals(error)


def _refuse_with_a_huge_body(server: RawServer, index: int, conn: socket.socket) -> None:
    if index > 1:  # the replay
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
        return
    conn.sendall(b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 400000000\r\nConnection: close\r\n\r\n")
    chunk = b"x" * 65536
    while server.sent < 400_000_000 and not server.stop.is_set():
        conn.sendall(chunk)
        server.sent += len(chunk)


@pytest.mark.parametrize("raw_server", [_refuse_with_a_huge_body], indirect=True)
def test_a_refusal_with_a_huge_body_is_not_read_before_the_replay(sandbox: Sandbox, raw_server: RawServer) -> None:
    auth = sandbox.digital_turbine_auth()  # allowed on 127.0.0.1, where the raw server listens
    started = time.monotonic()
    response = requests.get(raw_server.url + "/api", auth=auth, stream=True, timeout=10)
    assert response.status_code == 200
    assert time.monotonic() - started < 5
    assert raw_server.sent < 50_000_000, f"{raw_server.sent} bytes of the refusal were read"


def test_a_snippet_never_shows_part_of_a_secret(sandbox: Sandbox) -> None:
    secret = "S3cr3t-" + "q" * 57  # 64 characters
    sandbox.add_fault("rokt", "token", Fault.raw(400, ((secret + " ") * 13).encode(), "text/html"))
    with pytest.raises(TokenRequestError) as caught:
        RoktAuth("app", secret, token_url=sandbox.rokt.token_url).get_token()
    assert secret[:12] not in str(caught.value)
    assert "[redacted]" in str(caught.value)


def test_an_expired_token_is_not_in_the_locals_of_a_failed_renewal(sandbox: Sandbox) -> None:
    from requests_adtech_auth.token_state import CachedToken

    for auth in (sandbox.rokt_auth(), sandbox.rokt_partnerships_auth()):
        old = auth.get_token()
        now = time.monotonic()
        token_state_of(auth).token = CachedToken.of(old, now - 2, now - 1)  # expired
        vendor = "rokt" if isinstance(auth, RoktAuth) else "rokt_partnerships"
        sandbox.add_fault(vendor, "token", Fault.status(400, {"error": "invalid_client"}))
        url = (
            (sandbox.rokt.api_url + "/v1/query/accounts")
            if vendor == "rokt"
            else (sandbox.rokt_partnerships.api_url + "/v1/accounts/register/partnership")
        )
        with pytest.raises(TokenRequestError) as caught:
            requests.get(url, auth=auth, timeout=10)
        assert old not in library_locals(caught.value)


def test_a_token_living_less_than_a_second_is_refused(sandbox: Sandbox) -> None:
    sandbox.add_fault("rokt", "token", Fault.status(200, {"access_token": "tok-tiny", "expires_in": 1e-300}))
    with pytest.raises(TokenRequestError, match="under 1 s"):
        sandbox.rokt_auth().get_token()


def _drip_headers(server: RawServer, index: int, conn: socket.socket) -> None:
    conn.sendall(b"HTTP/1.1 200 OK\r\n")
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not server.stop.is_set():
        conn.sendall(b"X-A: b\r\n")
        time.sleep(0.1)


@pytest.mark.parametrize("raw_server", [_drip_headers], indirect=True)
def test_an_abandoned_header_drip_releases_its_thread_and_socket(raw_server: RawServer) -> None:
    auth = RoktAuth("app", "secret-value", token_url=raw_server.url + "/t", timeout=0.5, max_retries=0)
    for _ in range(5):
        with pytest.raises(TokenRequestError, match=r"within 0\.5 s"):
            auth.get_token()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and any(t.is_alive() for t in raw_server.threads):
        time.sleep(0.05)
    assert not any(t.is_alive() for t in raw_server.threads), "a dripping connection is still open"
    workers = [t for t in threading.enumerate() if t.name == "requests-adtech-auth token request"]
    assert not workers, f"{len(workers)} token request threads still running"


@pytest.mark.parametrize(
    "body",
    [
        b"access_token=tok-0123456789secret&expires_in=3600",  # a form-encoded answer no parser reads
        b'{"access_token": "tok-0123456789secret", ',  # JSON cut off
        b"<html>tok-0123456789secret</html>",
    ],
    ids=["form", "truncated-json", "html"],
)
@pytest.mark.parametrize("flow", FLOWS, ids=lambda f: f.name)
def test_a_2xx_answer_that_is_no_json_object_is_never_quoted(flow: Flow, body: bytes, sandbox: Sandbox) -> None:
    # The token in it is unknown to the redactor: only the content type and size are named.
    sandbox.add_fault(flow.vendor, "token", Fault.raw(200, body, "application/x-www-form-urlencoded"))
    with pytest.raises(InvalidTokenResponseError) as caught:
        flow.auth(sandbox, max_retries=0).get_token()
    assert "tok-0123456789secret" not in str(caught.value)
    assert f"application/x-www-form-urlencoded, {len(body)} bytes" in str(caught.value)


@pytest.mark.parametrize(
    "flow", [f for f in FLOWS if f.vendor in ("rokt", "rokt_partnerships", "digital_turbine")], ids=lambda f: f.name
)
def test_a_token_beside_an_error_in_a_2xx_answer_is_never_shown(flow: Flow, sandbox: Sandbox) -> None:
    token = "NEWTOK-0123456789abcdef"
    answer = {flow.token_field: token, "error": f"oops {token}", "error_description": f"issued {token}"}
    if flow.vendor == "rokt_partnerships":
        answer["message"] = f"issued {token}"
    sandbox.add_fault(flow.vendor, "token", Fault.status(200, answer))
    try:
        flow.auth(sandbox, max_retries=0).get_token()
    except AuthError as error:
        shown = [str(error), repr(error), str(getattr(error, "error", "")), str(getattr(error, "description", ""))]
        assert not any(token in text for text in shown), shown
    else:  # a flow that reads the token and ignores the error: nothing shown to check
        pass


@pytest.mark.parametrize("encode", [html_escape, quote], ids=["html-escaped", "percent-keeping-slashes"])
def test_a_secret_echoed_escaped_for_html_or_a_path_is_hidden(encode: Any, sandbox: Sandbox) -> None:
    secret = "s3cret/&<value>-4711"
    auth = RoktAuth("app-id", secret, token_url=sandbox.rokt.token_url, max_retries=0)
    sandbox.add_fault("rokt", "token", Fault.raw(401, f"<p>bad secret {encode(secret)}</p>".encode(), "text/html"))
    with pytest.raises(TokenRequestError) as caught:
        auth.get_token()
    assert encode(secret) not in str(caught.value) and "[redacted]" in str(caught.value)


# -- every vendor: a mistyped token URL ----------------------------------------------


@pytest.mark.parametrize(
    ("vendor", "typo"),
    [
        ("rokt", ("/oauth2/token", "/oauth2/tokn")),
        ("rokt_partnerships", ("/oauth/token", "/oauth/tokens")),
        ("digital_turbine", ("/v1/token", "/v1/tokn")),
        ("algonomy", ("/profile/create", "/profile/creat")),
    ],
)
def test_a_mistyped_token_url_is_a_404_that_says_check_token_url(
    vendor: str, typo: tuple[str, str], sandbox: Sandbox
) -> None:
    emulation = getattr(sandbox, vendor)
    auth = getattr(sandbox, f"{vendor}_auth")(token_url=emulation.token_url.replace(*typo))
    with pytest.raises(TokenRequestError) as caught:
        auth.get_token()
    assert (caught.value.status_code, caught.value.transient) == (404, False)
    assert str(caught.value).endswith("; check token_url"), str(caught.value)
    assert sandbox.count(vendor, "token_issued") == 0
