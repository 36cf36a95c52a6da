"""Rokt Partnerships: the token request, token timing, the parent-account header, errors."""

from __future__ import annotations

from urllib.parse import parse_qsl

import pytest
import requests

from requests_adtech_auth import (
    ConfigurationError,
    RoktPartnershipsAuth,
    TokenRequestError,
)
from requests_adtech_auth.sandbox import Sandbox

from .helpers import PARTNERSHIP, assert_token_timing, idempotency_key


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
