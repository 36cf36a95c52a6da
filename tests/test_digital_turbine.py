"""Digital Turbine's error table, row by row, against the sandbox's token endpoint.

Each row of the page's table is produced by the request that causes it: the
library always sends a well-formed request, so a "proxy" (a transport adapter on
the token session) rewrites it on the way, as a broken proxy or WAF would.
"""

from __future__ import annotations

import json
from typing import Any, Callable

import pytest
import requests
from requests.adapters import HTTPAdapter

from requests_adtech_auth import (
    ConfigurationError,
    DigitalTurbineAuth,
    TokenRequestError,
)
from requests_adtech_auth.sandbox import Fault, Sandbox

from .helpers import DT_REPORT

Rewrite = Callable[[requests.PreparedRequest], None]

# Words of the wrong-credentials hint: no row but invalid_client may carry them.
CREDENTIALS_WORDS = ("revoked", "encrypted email")


class RewritingProxy(HTTPAdapter):
    """Rewrites every request before it leaves, like a misbehaving proxy."""

    def __init__(self, rewrite: Rewrite) -> None:
        super().__init__()
        self.rewrite = rewrite

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> requests.Response:
        self.rewrite(request)
        return super().send(request, *args, **kwargs)


def _body(request: requests.PreparedRequest) -> dict[str, Any]:
    raw = request.body
    text = raw.decode() if isinstance(raw, bytes) else str(raw)
    document: dict[str, Any] = json.loads(text)
    return document


def _set_body(request: requests.PreparedRequest, body: bytes) -> None:
    request.body = body
    request.headers["Content-Length"] = str(len(body))


def as_get(request: requests.PreparedRequest) -> None:
    request.method = "GET"
    _set_body(request, b"")


def plain_text(request: requests.PreparedRequest) -> None:
    request.headers["Content-Type"] = "text/plain"


def empty_body(request: requests.PreparedRequest) -> None:
    _set_body(request, b"")


def broken_json(request: requests.PreparedRequest) -> None:
    _set_body(request, b'{"grant_type": "client_credentials", ')


def without_grant_type(request: requests.PreparedRequest) -> None:
    document = _body(request)
    del document["grant_type"]
    _set_body(request, json.dumps(document).encode())


def without_secret(request: requests.PreparedRequest) -> None:
    document = _body(request)
    del document["client_secret"]
    _set_body(request, json.dumps(document).encode())


def password_grant(request: requests.PreparedRequest) -> None:
    document = _body(request)
    document["grant_type"] = "password"
    _set_body(request, json.dumps(document).encode())


def through_proxy(sandbox: Sandbox, rewrite: Rewrite) -> DigitalTurbineAuth:
    session = requests.Session()
    session.mount("http://", RewritingProxy(rewrite))
    return sandbox.digital_turbine_auth(session=session, backoff=0.01)


@pytest.mark.parametrize(
    ("rewrite", "status", "error", "words"),
    [
        # 405 (Method_Not_Allowed), error N/A: the request method is not POST.
        (as_get, 405, "Method_Not_Allowed", ("not POST", "check token_url")),
        # 400, error "400 (Bad_Request)": empty request body or incorrect Content-Type header.
        (plain_text, 400, "Bad_Request", ("Content-Type", "proxy")),
        (empty_body, 400, "Bad_Request", ("empty body", "proxy")),
        # 400 invalid_request: unparsable JSON, no grant_type, missing or invalid client_id / client_secret.
        (broken_json, 400, "invalid_request", ("invalid client_id or client_secret",)),
        (without_grant_type, 400, "invalid_request", ("grant_type", "invalid client_id or client_secret")),
        (without_secret, 400, "invalid_request", ("invalid client_id or client_secret",)),
        # 400 unsupported_grant_type: always client_credentials.
        (password_grant, 400, "unsupported_grant_type", ("client_credentials",)),
    ],
    ids=[
        "405",
        "bad-request-content-type",
        "bad-request-empty",
        "invalid-json",
        "no-grant-type",
        "no-secret",
        "unsupported-grant-type",
    ],
)
def test_error_table_rows_through_a_rewriting_proxy(
    sandbox: Sandbox, rewrite: Rewrite, status: int, error: str, words: tuple[str, ...]
) -> None:
    with pytest.raises(TokenRequestError) as caught:
        through_proxy(sandbox, rewrite).get_token()
    exc = caught.value
    assert (exc.status_code, exc.error, exc.transient) == (status, error, False)
    message = str(exc)
    for word in words:
        assert word in message
    for word in CREDENTIALS_WORDS:
        assert word not in message  # not the wrong-credentials hint
    assert "redirect" not in message  # token requests never follow one
    assert sandbox.digital_turbine.client_secret not in message
    assert sandbox.count("digital_turbine", "token") == 1  # not retried


def test_sandbox_answers_the_tables_literal_bad_request(sandbox: Sandbox) -> None:
    # The table's error column for the Content-Type row is "400 (Bad_Request)", verbatim.
    response = requests.post(
        sandbox.digital_turbine.token_url, data="x", headers={"Content-Type": "text/plain"}, timeout=10
    )
    assert (response.status_code, response.json()) == (400, {"error": "400 (Bad_Request)"})
    response = requests.get(sandbox.digital_turbine.token_url, timeout=10)
    assert (response.status_code, response.content) == (405, b"")


def test_invalid_client_row_has_the_credentials_hint(sandbox: Sandbox) -> None:
    # The credentials were not found, are incorrect, revoked, or the account is disabled.
    e = sandbox.digital_turbine
    with pytest.raises(TokenRequestError) as caught:
        DigitalTurbineAuth(e.client_id, "not-the-secret-" + "q" * 20, token_url=e.token_url).get_token()
    exc = caught.value
    assert (exc.status_code, exc.error, exc.transient) == (400, "invalid_client", False)
    for word in CREDENTIALS_WORDS:
        assert word in str(exc)
    assert "q" * 20 not in str(exc)


@pytest.mark.parametrize("status", [200, 400, 500])
def test_internal_server_error_is_transient_whatever_the_status(sandbox: Sandbox, status: int) -> None:
    # The page's sample unsuccessful response, in a 200, a 4xx or a 5xx: retried, then explained.
    sandbox.add_fault("digital_turbine", "token", Fault.status(status, {"error": "internal_server_error"}), times=3)
    auth = sandbox.digital_turbine_auth(backoff=0.01, max_retries=2)
    with pytest.raises(TokenRequestError) as caught:
        auth.get_token()
    exc = caught.value
    assert (exc.status_code, exc.error, exc.transient) == (status, "internal_server_error", True)
    assert "try again later" in str(exc)
    for word in CREDENTIALS_WORDS:
        assert word not in str(exc)
    assert sandbox.count("digital_turbine", "token") == 3


@pytest.mark.parametrize("status", [200, 400])
def test_internal_server_error_then_a_token(sandbox: Sandbox, status: int) -> None:
    sandbox.add_fault("digital_turbine", "token", Fault.status(status, {"error": "internal_server_error"}))
    session = requests.Session()
    session.auth = sandbox.digital_turbine_auth(backoff=0.01)
    assert session.post(sandbox.digital_turbine.api_url + "/api/v1/report", json=DT_REPORT, timeout=10).ok
    assert sandbox.count("digital_turbine", "token") == 2


@pytest.mark.parametrize(
    ("status", "answer", "error", "words"),
    [
        (400, None, "Bad_Request", ("Content-Type",)),  # no body: the table's name for the status
        (405, None, "Method_Not_Allowed", ("not POST",)),
        (400, {"error": "400 (Bad_Request)"}, "Bad_Request", ("Content-Type",)),
        (200, {"error": "400 (Bad_Request)"}, "Bad_Request", ("Content-Type",)),
        (405, {"error": "405 (Method_Not_Allowed)"}, "Method_Not_Allowed", ("not POST",)),
        (200, {"error": "invalid_client"}, "invalid_client", CREDENTIALS_WORDS),
    ],
)
def test_error_codes_as_a_server_may_spell_them(
    sandbox: Sandbox, status: int, answer: dict[str, str] | None, error: str, words: tuple[str, ...]
) -> None:
    sandbox.add_fault("digital_turbine", "token", Fault.status(status, answer))
    with pytest.raises(TokenRequestError) as caught:
        sandbox.digital_turbine_auth().get_token()
    exc = caught.value
    assert (exc.status_code, exc.error, exc.transient) == (status, error, False)
    for word in words:
        assert word in str(exc)
    if error != "invalid_client":
        for word in CREDENTIALS_WORDS:
            assert word not in str(exc)
    assert sandbox.count("digital_turbine", "token") == 1


def test_an_error_echoing_the_secret_in_a_200_is_redacted(sandbox: Sandbox) -> None:
    secret = sandbox.digital_turbine.client_secret
    sandbox.add_fault("digital_turbine", "token", Fault.status(200, {"error": f"bad secret {secret}"}))
    with pytest.raises(TokenRequestError) as caught:
        sandbox.digital_turbine_auth().get_token()
    assert secret not in str(caught.value)
    assert caught.value.error is not None and secret not in caught.value.error


@pytest.mark.parametrize(
    "host", ["reporting.digitialturbine.com", "digitialturbine.com", "REPORTING.DIGITIALTURBINE.COM"]
)
def test_the_token_pages_typo_host_is_refused_before_any_secret_goes_there(host: str) -> None:
    with pytest.raises(ConfigurationError, match="a typo on Digital Turbine's token page") as caught:
        DigitalTurbineAuth("id", "s3cret-value", token_url=f"https://{host}/auth/v1/token")
    assert "https://reporting.digitalturbine.com/auth/v1/token" in str(caught.value)
    assert "s3cret-value" not in str(caught.value)


# -- the token request, answer forms, the report download ----------------------------


def test_dt_token_request_is_json(sandbox: Sandbox) -> None:
    e = sandbox.digital_turbine
    sandbox.digital_turbine_auth().get_token()
    (call,) = sandbox.calls_to(path_prefix="/dt/auth")
    assert call.method == "POST"
    assert call.content_type() == "application/json"
    assert call.header("Authorization") is None
    assert json.loads(call.body) == {
        "grant_type": "client_credentials",
        "client_id": e.client_id,
        "client_secret": e.client_secret,
    }


@pytest.mark.parametrize(
    "answer",
    [
        {"accessToken": "tok123", "tokenType": "bearer", "expiresIn": 3600},
        {"access_token": "tok123", "token_type": "bearer", "expires_in": 3600},
        {"AccessToken": "tok123"},
    ],
)
def test_dt_reads_camel_case_and_snake_case(sandbox: Sandbox, answer: dict[str, object]) -> None:
    sandbox.add_fault("digital_turbine", "token", Fault.status(200, answer))
    assert sandbox.digital_turbine_auth().get_token() == "tok123"


def test_dt_internal_server_error_is_retried_then_raised(sandbox: Sandbox) -> None:
    sandbox.add_fault("digital_turbine", "token", Fault.status(500, {"error": "internal_server_error"}), times=3)
    with pytest.raises(TokenRequestError) as caught:
        sandbox.digital_turbine_auth(backoff=0.01).get_token()
    assert (caught.value.status_code, caught.value.error, caught.value.transient) == (
        500,
        "internal_server_error",
        True,
    )
    assert sandbox.count("digital_turbine", "token") == 3


def test_dt_real_bad_credentials(sandbox: Sandbox) -> None:
    e = sandbox.digital_turbine
    auth = DigitalTurbineAuth(e.client_id, "wrong-" + "z" * 30, token_url=e.token_url)
    with pytest.raises(TokenRequestError) as caught:
        auth.get_token()
    assert caught.value.error == "invalid_client"
    assert "z" * 30 not in str(caught.value)


def test_dt_signed_url_downloads_without_authorization(sandbox: Sandbox) -> None:
    session = requests.Session()
    session.auth = sandbox.digital_turbine_auth()
    report = session.post(sandbox.digital_turbine.api_url + "/api/v1/report", json=DT_REPORT, timeout=10)
    signed_url = report.json()["signed_url"]
    assert not signed_url.startswith(sandbox.url)
    download = session.get(signed_url, timeout=10)
    while download.status_code == 200 and not download.content:  # produced asynchronously
        download = session.get(signed_url, timeout=10)
    assert download.status_code == 200, download.text
    assert download.text.startswith("Date,Country,Installs")
    calls = sandbox.calls_to("storage")
    assert len(calls) == sandbox.digital_turbine.polls_until_ready + 1
    assert all(call.header("Authorization") is None for call in calls)


def test_dt_storage_refuses_a_second_credential(sandbox: Sandbox) -> None:
    # The sandbox's storage host behaves like a pre-signed URL host: it is why the above matters.
    response = requests.get(sandbox.storage_url + "/reports/x.csv", headers={"Authorization": "Bearer x"}, timeout=10)
    assert response.status_code == 400
