"""Configuration from the environment: from_env() for every class."""

from __future__ import annotations

import pytest
import requests

from requests_adtech_auth import (
    AlgonomyAuth,
    ConfigurationError,
    DigitalTurbineAuth,
    RoktAuth,
    RoktEventAuth,
    RoktPartnershipsAuth,
)
from requests_adtech_auth.sandbox import Sandbox

from .helpers import ALGONOMY_CUSTOMER, DT_REPORT


@pytest.mark.parametrize(
    ("cls", "vendor", "url"),
    [
        (RoktAuth, "rokt", "/rokt/v1/query/accounts"),
        (RoktEventAuth, "rokt", "/rokt/v1/query/accounts"),
        (RoktPartnershipsAuth, "rokt_partnerships", "/rokt-partnerships/v1/accounts"),
        (DigitalTurbineAuth, "digital_turbine", "/dt/api/v1/report"),
        (AlgonomyAuth, "algonomy", "/algonomy/api/v1/profile/b2b/segments"),
    ],
)
def test_from_env_builds_a_working_auth(cls: type, vendor: str, url: str, sandbox: Sandbox) -> None:
    auth = cls.from_env(environ=sandbox.environ())
    method = "GET" if "accounts" in url else "POST"
    body = DT_REPORT if "report" in url else None
    response = requests.request(method, sandbox.url + url, json=body, headers=ALGONOMY_CUSTOMER, auth=auth, timeout=10)
    assert response.ok, response.text
    assert sandbox.count(vendor, "token") == 1


def test_prefix_lets_two_accounts_live_side_by_side(sandbox: Sandbox) -> None:
    environ = {**sandbox.environ("ACME_"), "ROKT_APP_ID": "other", "ROKT_APP_SECRET": "other-secret"}
    auth = RoktAuth.from_env("ACME_", environ=environ)
    assert auth.client_id == sandbox.rokt.app_id
    assert RoktAuth.from_env(environ=environ).client_id == "other"


def test_a_prefix_without_its_underscore_is_named_as_the_fix(sandbox: Sandbox) -> None:
    with pytest.raises(ConfigurationError) as caught:
        RoktAuth.from_env("ACME", environ=sandbox.environ("ACME_"))
    assert "pass ACME_" in str(caught.value)
    assert sandbox.rokt.app_secret not in str(caught.value)


def test_algonomy_lists_and_numbers(sandbox: Sandbox) -> None:
    environ = {**sandbox.environ(), "ALGONOMY_RESOURCES": " basic, segments ,,", "ALGONOMY_VALIDITY": "30"}
    auth = AlgonomyAuth.from_env(environ=environ)
    assert auth.resources == ("basic", "segments")
    assert auth.validity == 30


def test_every_wrong_variable_is_named_and_no_value_shown() -> None:
    environ = {"ALGONOMY_TENANT_HASH": "t0p-s3cret-tenant", "ALGONOMY_VALIDITY": "fifteen"}
    with pytest.raises(ConfigurationError) as caught:
        AlgonomyAuth.from_env(environ=environ)
    message = str(caught.value)
    for name in ("ALGONOMY_TOKEN_URL is not set", "ALGONOMY_RESOURCES is not set", "ALGONOMY_VALIDITY is not a number"):
        assert name in message
    assert "t0p-s3cret-tenant" not in message
    assert "fifteen" not in message


def test_missing_secret_is_named() -> None:
    with pytest.raises(ConfigurationError, match=r"ROKT_APP_SECRET is not set") as caught:
        RoktAuth.from_env(environ={"ROKT_APP_ID": "abc"})
    assert "ROKT_APP_ID" not in str(caught.value)


def test_constructor_errors_name_the_variables() -> None:
    environ = {"DT_CLIENT_ID": "id", "DT_CLIENT_SECRET": "s3cr3t-value", "DT_TOKEN_URL": "http://dt.example.com/t"}
    with pytest.raises(ConfigurationError) as caught:
        DigitalTurbineAuth.from_env(environ=environ)
    assert "DT_TOKEN_URL" in str(caught.value)
    assert "s3cr3t-value" not in str(caught.value)


def test_from_env_reads_os_environ_and_takes_options(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DT_CLIENT_ID", "id-from-env")
    monkeypatch.setenv("DT_CLIENT_SECRET", "secret-from-env")
    auth = DigitalTurbineAuth.from_env(timeout=3, leeway=10)
    assert (auth.client_id, auth.timeout, auth.leeway) == ("id-from-env", 3.0, 10.0)
    assert auth.token_url == "https://reporting.digitalturbine.com/auth/v1/token"


def test_an_argument_given_to_from_env_wins_over_its_variable(sandbox: Sandbox) -> None:
    environ = {**sandbox.environ(), "ALGONOMY_VALIDITY": "not-a-number"}  # given below, so never read
    auth = AlgonomyAuth.from_env(environ=environ, hosts=["b2b.example.algonomy.com"], validity=30)
    assert auth.hosts == frozenset({"b2b.example.algonomy.com"})
    assert auth.validity == 30
    rokt = RoktAuth.from_env(environ=sandbox.environ(), token_url=sandbox.rokt.token_url + "?given=1")
    assert rokt.token_url.endswith("?given=1")


def test_a_malformed_value_names_its_own_variable() -> None:
    environ = {"ROKT_APP_ID": "id", "ROKT_APP_SECRET": "secret", "ROKT_TOKEN_URL": "ftp://tokens.example"}
    with pytest.raises(ConfigurationError, match=r"\(read from ROKT_TOKEN_URL\)$"):
        RoktAuth.from_env(environ=environ)
