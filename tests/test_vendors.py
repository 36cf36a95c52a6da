"""What differs per vendor: exact token requests, headers on calls, error mapping, quirks."""

from __future__ import annotations

import json
from urllib.parse import parse_qsl

import pytest
import requests

from requests_adtech_auth import (
    AlgonomyAuth,
    ConfigurationError,
    DigitalTurbineAuth,
    RoktAuth,
    RoktPartnershipsAuth,
    TokenAuth,
    TokenRequestError,
)
from requests_adtech_auth.sandbox import Fault, Sandbox

from .helpers import ALGONOMY_CUSTOMER, DT_REPORT, PARTNERSHIP, idempotency_key, in_threads


class _TokenSchemeAuth(RoktAuth):
    authorization_scheme = "Token"


def test_a_flows_authorization_scheme_goes_before_its_token(sandbox: Sandbox) -> None:
    auth = _TokenSchemeAuth(sandbox.rokt.app_id, sandbox.rokt.app_secret, token_url=sandbox.rokt.token_url)
    prepared = auth(requests.Request("GET", sandbox.rokt.api_url + "/v1/query/accounts").prepare())
    token = auth.get_token()
    assert prepared.headers["Authorization"] == "Token " + token
    assert auth(requests.Request("GET", sandbox.rokt.api_url + "/v1/query/accounts").prepare()).headers[
        "Authorization"
    ] == ("Token " + token)
    assert auth.get_headers() == {"Authorization": "Token " + token}


# -- Rokt Partnerships ------------------------------------------------------------------


def test_partnerships_token_request_has_credentials_in_the_form(sandbox: Sandbox) -> None:
    e = sandbox.rokt_partnerships
    sandbox.rokt_partnerships_auth().get_token()
    (call,) = sandbox.calls_to(path_prefix="/rokt-partnerships/api/v1/oauth")
    assert call.method == "POST"
    assert call.header("Authorization") is None
    assert call.content_type() == "application/x-www-form-urlencoded"
    assert dict(parse_qsl(call.body.decode())) == {
        "grant_type": "client_credentials",
        "client_id": e.client_id,
        "client_secret": e.client_secret,
    }


def assert_token_timing(auth: TokenAuth, lifetime: float, leeway: float) -> None:
    """Fetch a token; it must expire in ``lifetime`` s and be renewed ``leeway`` s before."""
    auth.get_token()
    status = auth.token_status
    assert status is not None
    assert lifetime - 1 <= status.expires_in <= lifetime
    assert status.expires_in - status.renews_in == pytest.approx(leeway)


def test_partnerships_tokens_live_300_s_and_renew_after_240(sandbox: Sandbox) -> None:
    assert_token_timing(sandbox.rokt_partnerships_auth(), 300, 60)


def test_partnerships_parent_header_on_writes_and_reads(sandbox: Sandbox) -> None:
    e = sandbox.rokt_partnerships
    session = requests.Session()
    session.auth = sandbox.rokt_partnerships_auth()
    created = session.post(
        e.api_url + "/v1/accounts/register/partnership", json=PARTNERSHIP, headers=idempotency_key(), timeout=10
    )
    assert created.status_code == 201
    assert created.json()["data"]["parent_account_id"] == e.parent_account_id
    read = session.get(e.api_url + "/v1/accounts", timeout=10)
    assert read.json()["parent"] == e.parent_account_id
    for call in sandbox.calls_to(path_prefix="/rokt-partnerships/v1"):
        assert call.header(
            "Authorization",
        ).startswith("Bearer ")  # type: ignore[union-attr]


def test_partnerships_write_without_parent_header_is_a_422(sandbox: Sandbox) -> None:
    # What the auth object's header prevents: the sandbox answers Rokt's envelope.
    token = sandbox.rokt_partnerships_auth().get_token()
    response = requests.post(
        sandbox.rokt_partnerships.api_url + "/v1/accounts/register/partnership",
        json=PARTNERSHIP,
        headers={"Authorization": "Bearer " + token, **idempotency_key()},
        timeout=10,
    )
    assert response.status_code == 422
    assert response.json()["error"] == "ValidationFailed"
    assert response.headers["X-Request-Id"] == response.json()["request_id"]


def test_partnerships_callers_parent_header_wins(sandbox: Sandbox) -> None:
    session = requests.Session()
    session.auth = sandbox.rokt_partnerships_auth()
    response = session.post(
        sandbox.rokt_partnerships.api_url + "/v1/accounts/register/partnership",
        json=PARTNERSHIP,
        headers={"X-Platform-Parent-Account-Id": "managed-sub-account", **idempotency_key()},
        timeout=10,
    )
    assert response.json()["data"]["parent_account_id"] == "managed-sub-account"


class _TracedPartnershipsAuth(RoktPartnershipsAuth):
    def _apply_token(self, request: requests.PreparedRequest, token: str) -> None:
        super()._apply_token(request, token)
        request.headers["X-Trace-Id"] = "trace-1"


def test_partnerships_subclass_changing_apply_token_has_it_applied(sandbox: Sandbox) -> None:
    # RoktPartnershipsAuth sets its headers inline on requests: a subclass's own _apply_token must still run.
    session = requests.Session()
    session.auth = _TracedPartnershipsAuth(**sandbox.rokt_partnerships.auth_arguments())
    response = session.get(sandbox.rokt_partnerships.api_url + "/v1/accounts", timeout=10)
    assert response.status_code == 200
    assert response.request.headers["X-Trace-Id"] == "trace-1"
    assert response.request.headers["X-Platform-Parent-Account-Id"] == sandbox.rokt_partnerships.parent_account_id


def test_partnerships_bad_secret_maps_the_envelope(sandbox: Sandbox) -> None:
    e = sandbox.rokt_partnerships
    secret = "rsec_wrong_" + "y" * 20
    auth = RoktPartnershipsAuth(e.client_id, secret, e.parent_account_id, token_url=e.token_url)
    with pytest.raises(TokenRequestError) as caught:
        auth.get_token()
    error = caught.value
    assert (error.status_code, error.error, error.transient) == (401, "Unauthorized", False)
    assert error.description is not None
    assert error.description.startswith("invalid client credentials; request_id ")
    assert "rsec_" in str(error)  # the hint names the credential's shape...
    assert secret not in str(error)  # ...never its value
    assert sandbox.count("rokt_partnerships", "token") == 1


def test_partnerships_requires_a_parent_account_id(sandbox: Sandbox) -> None:
    e = sandbox.rokt_partnerships
    with pytest.raises(ConfigurationError, match="parent_account_id"):
        RoktPartnershipsAuth(e.client_id, e.client_secret, "", token_url=e.token_url)
    assert RoktPartnershipsAuth("a", "b", "c").hosts == frozenset({"accounts.rokt.com", "auth.rokt.com"})


# -- Digital Turbine --------------------------------------------------------------------


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


# -- Algonomy ---------------------------------------------------------------------------


def test_algonomy_token_request(sandbox: Sandbox) -> None:
    e = sandbox.algonomy
    sandbox.algonomy_auth(["basic", "segments"], validity=30).get_token()
    (call,) = sandbox.calls_to(path_prefix="/algonomy/secureApi")
    assert call.method == "POST"
    assert call.path.endswith("/secureApi/token/profile/create")
    assert call.header("tenant_hash") == e.tenant_hash
    assert call.header("oauth_key_secret") == e.oauth_key_secret
    assert call.header("Authorization") is None
    assert call.content_type() == "application/json"
    assert json.loads(call.body) == {"resource": ["basic", "segments"], "validity": 30}


def test_algonomy_lifetime_is_the_validity_asked_for(sandbox: Sandbox) -> None:
    assert_token_timing(sandbox.algonomy_auth(validity=1), 60, 15)


def test_algonomy_call_headers(sandbox: Sandbox) -> None:
    auth = sandbox.algonomy_auth()
    response = requests.post(
        sandbox.algonomy.api_url + "/api/v1/profile/b2b/basic", headers=ALGONOMY_CUSTOMER, auth=auth, timeout=10
    )
    assert response.status_code == 200
    call = sandbox.calls_to(path_prefix="/algonomy/api")[-1]
    assert call.header("access_token") == auth.get_token()
    assert call.header("tenant_hash") == sandbox.algonomy.tenant_hash
    assert call.header("Authorization") is None
    assert call.header("oauth_key_secret") is None


def test_algonomy_403_for_a_missing_resource_is_not_retried(sandbox: Sandbox) -> None:
    auth = sandbox.algonomy_auth(["basic"])
    url = sandbox.algonomy.api_url + "/api/v1/profile/b2b/segments"
    response = requests.post(url, headers=ALGONOMY_CUSTOMER, auth=auth, timeout=10)
    assert response.status_code == 403
    assert sandbox.count("algonomy", "api") == 1
    assert sandbox.count("algonomy", "token") == 1


def test_algonomy_add_resources_updates_the_live_token(sandbox: Sandbox) -> None:
    auth = sandbox.algonomy_auth(["basic"])
    session = requests.Session()
    session.auth = auth
    api = sandbox.algonomy.api_url + "/api/v1/profile/b2b/"
    assert session.post(api + "basic", headers=ALGONOMY_CUSTOMER, timeout=10).ok
    token = auth.get_token()
    auth.add_resources("segments", "userActivity")
    assert auth.resources == ("basic", "segments", "userActivity")
    assert session.post(api + "segments", headers=ALGONOMY_CUSTOMER, timeout=10).ok
    assert session.post(api + "userActivity", headers=ALGONOMY_CUSTOMER, timeout=10).ok
    assert auth.get_token() == token
    assert sandbox.count("algonomy", "token") == 1
    assert sandbox.count("algonomy", "update") == 1
    (update,) = sandbox.calls_to(path_prefix="/algonomy/secureApi/token/profile/update")
    assert json.loads(update.body) == {"resource": ["basic", "segments", "userActivity"], "token": token}
    assert update.header("tenant_hash") == sandbox.algonomy.tenant_hash


def test_algonomy_add_resources_without_a_token_only_records(sandbox: Sandbox) -> None:
    auth = sandbox.algonomy_auth(["basic"])
    auth.add_resources("campaigns")
    auth.add_resources("campaigns", "basic")  # nothing new: no call
    assert sandbox.count("algonomy", "update") == 0
    response = requests.post(
        sandbox.algonomy.api_url + "/api/v1/profile/b2b/campaigns", headers=ALGONOMY_CUSTOMER, auth=auth, timeout=10
    )
    assert response.ok
    (create,) = sandbox.calls_to(path_prefix="/algonomy/secureApi")
    assert json.loads(create.body)["resource"] == ["basic", "campaigns"]


def test_algonomy_update_failure_records_nothing(sandbox: Sandbox) -> None:
    auth = sandbox.algonomy_auth(["basic"])
    auth.get_token()
    sandbox.add_fault("algonomy", "update", Fault.status(400, {"message": "unknown resources: nope"}))
    with pytest.raises(TokenRequestError) as caught:
        auth.add_resources("segments")
    assert caught.value.status_code == 400
    assert auth.resources == ("basic",)


def test_algonomy_update_of_a_dead_token_falls_back_to_a_new_token(sandbox: Sandbox) -> None:
    auth = sandbox.algonomy_auth(["basic"])
    auth.get_token()
    sandbox.revoke_tokens()
    auth.add_resources("segments")
    response = requests.post(
        sandbox.algonomy.api_url + "/api/v1/profile/b2b/segments", headers=ALGONOMY_CUSTOMER, auth=auth, timeout=10
    )
    assert response.ok
    assert sandbox.count("algonomy", "token") == 2


def test_algonomy_add_resources_is_thread_safe(sandbox: Sandbox) -> None:
    auth = sandbox.algonomy_auth(["basic"])
    auth.get_token()
    names = ["segments", "searchSegments", "isCustomerInSegment", "campaigns", "userActivity", "userAttributes"]
    pending = list(names)
    in_threads(len(names), lambda: auth.add_resources(pending.pop()))
    assert set(auth.resources) == {"basic", *names}
    session = requests.Session()
    session.auth = auth
    for name in names:
        assert session.post(
            sandbox.algonomy.api_url + "/api/v1/profile/b2b/" + name, headers=ALGONOMY_CUSTOMER, timeout=10
        ).ok
    assert sandbox.count("algonomy", "token") == 1


def test_algonomy_gdpr_flow_and_update_url(sandbox: Sandbox) -> None:
    e = sandbox.algonomy
    auth = AlgonomyAuth(e.gdpr_token_url, e.tenant_hash, ["registerGdprRequest"], oauth_key_secret=e.oauth_key_secret)
    assert auth.update_url == e.gdpr_token_url.replace("/create", "/update")
    response = requests.post(e.api_url + "/api/v1/gdpr/b2b/registerGdprRequest", json={}, auth=auth, timeout=10)
    assert response.ok
    auth.add_resources("gdprRequestStatus")
    assert sandbox.calls_to(path_prefix="/algonomy/secureApi/token/gdpr/update")


@pytest.mark.parametrize(("tenant", "key"), [("bad-tenant", None), (None, "bad-key"), (None, "omit")])
def test_algonomy_bad_tenant_credentials(sandbox: Sandbox, tenant: str | None, key: str | None) -> None:
    e = sandbox.algonomy
    secret = key if key not in (None, "omit") else e.oauth_key_secret
    auth = AlgonomyAuth(
        e.token_url,
        tenant or e.tenant_hash,
        ["basic"],
        oauth_key_secret=None if key == "omit" else secret,
    )
    with pytest.raises(TokenRequestError) as caught:
        auth.get_token()
    assert caught.value.status_code == 401
    assert "tenant_hash" in str(caught.value)
    assert e.tenant_hash not in str(caught.value)


def test_algonomy_custom_headers_do_not_follow_a_cross_host_redirect(sandbox: Sandbox) -> None:
    auth = sandbox.algonomy_auth()
    target = sandbox.storage_url + "/elsewhere"
    response = requests.post(
        sandbox.url + "/redirect", params={"to": target, "status": "307"}, json={}, auth=auth, timeout=10
    )
    assert response.ok
    (call,) = sandbox.calls_to("storage")
    assert call.header("access_token") is None
    assert call.header("tenant_hash") is None
    # ...while the request that was redirected did carry them
    assert sandbox.count("algonomy", "token") == 1


def test_algonomy_same_origin_redirect_keeps_headers(sandbox: Sandbox) -> None:
    auth = sandbox.algonomy_auth()
    target = sandbox.algonomy.api_url + "/api/v1/profile/b2b/basic"
    response = requests.post(
        sandbox.url + "/redirect",
        params={"to": target, "status": "307"},
        headers=ALGONOMY_CUSTOMER,
        auth=auth,
        timeout=10,
    )
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"resources": "basic"}, "not a string"),
        ({"resources": []}, "at least one"),
        ({"validity": 0}, "validity"),
        ({"validity": True}, "validity"),
        ({"tenant_hash": ""}, "tenant_hash"),
    ],
)
def test_algonomy_bad_arguments(kwargs: dict[str, object], words: str) -> None:
    arguments: dict[str, object] = {
        "token_url": "https://x.example/secureApi/token/profile/create",
        "tenant_hash": "t" * 32,
        "resources": ["basic"],
    }
    arguments.update(kwargs)
    with pytest.raises(ConfigurationError, match=words):
        AlgonomyAuth(**arguments)  # type: ignore[arg-type]


# -- every vendor: a mistyped token URL --------------------------------------------------


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


def test_algonomy_a_mistyped_update_url_says_check_update_url(sandbox: Sandbox) -> None:
    e = sandbox.algonomy
    auth = sandbox.algonomy_auth(update_url=e.token_url.replace("/create", "/updat"))
    token = auth.get_token()
    with pytest.raises(TokenRequestError) as caught:
        auth.add_resources("segments")
    assert caught.value.status_code == 404
    assert str(caught.value).endswith("; check update_url"), str(caught.value)
    # Not taken for a forgotten token: no new token was asked for in its place.
    assert (auth.get_token(), auth.resources) == (token, ("basic",))
    assert sandbox.count("algonomy", "token_issued") == 1
