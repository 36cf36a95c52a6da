"""What a caller's configuration mistakes get: constructor errors that name the fix, environment typos pointed out."""

from __future__ import annotations

import logging
import traceback

import pytest

from requests_adtech_auth import (
    AlgonomyAuth,
    ConfigurationError,
    DigitalTurbineAuth,
    InsecureTransportError,
    RoktAuth,
    RoktEventAuth,
    RoktPartnershipsAuth,
    RoktReportingAuth,
    TokenAuth,
)

from .helpers import library_locals

SECRET = "TOPSECRET-value-42"


@pytest.mark.parametrize(
    "build",
    [
        lambda: RoktAuth("id", SECRET, token_url="http://api.rokt.com/auth/oauth2/token"),
        lambda: RoktAuth("id:x", SECRET),
        lambda: RoktAuth("id", SECRET, timeout=float("inf")),
        lambda: RoktPartnershipsAuth("rspub_x", SECRET, " parent "),
        lambda: AlgonomyAuth("https://a.example.com/secureApi/token/profile/create", SECRET, ["basic"], validity=0),
        lambda: AlgonomyAuth("https://a.example.com/t", "tenant", ["basic"], oauth_key_secret=SECRET + " é"),
        lambda: RoktAuth("id", SECRET, tokn_url="https://api.rokt.com/t"),  # a TypeError
    ],
)
def test_constructor_errors_hold_no_secret_in_traceback_locals(build) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises((ConfigurationError, TypeError)) as caught:
        build()
    shown = library_locals(caught.value)
    assert SECRET not in shown
    error = caught.value
    # The three-argument form: Python 3.9 has no one-argument format_exception.
    assert SECRET not in "".join(traceback.format_exception(type(error), error, error.__traceback__))


VENDOR_ARGUMENTS = {
    RoktAuth: ("id", SECRET),
    RoktEventAuth: ("id", SECRET),
    RoktReportingAuth: ("id", SECRET),
    RoktPartnershipsAuth: ("rspub_x", SECRET, "parent"),
    DigitalTurbineAuth: ("id", SECRET),
    AlgonomyAuth: ("https://a.example.com/secureApi/token/profile/create", SECRET, ["basic"]),
}


@pytest.mark.parametrize("cls", list(VENDOR_ARGUMENTS), ids=lambda cls: cls.__name__)
def test_a_misspelt_keyword_names_the_vendor_class_and_the_likely_one(cls: type[TokenAuth]) -> None:
    with pytest.raises(TypeError) as caught:
        cls(*VENDOR_ARGUMENTS[cls], tokn_url="https://a.example.com/t")  # type: ignore[arg-type,call-arg]
    assert str(caught.value) == (
        f"{cls.__name__}() got an unexpected keyword argument 'tokn_url'; did you mean 'token_url'?"
    )
    assert SECRET not in library_locals(caught.value)


def test_an_unknown_keyword_without_a_near_miss_lists_the_accepted_ones() -> None:
    with pytest.raises(TypeError) as caught:
        RoktAuth("id", SECRET, colour="blue")  # type: ignore[call-arg]
    assert str(caught.value) == (
        "RoktAuth() got an unexpected keyword argument 'colour'; it takes app_id, app_secret, token_url, "
        "session, timeout, leeway, hosts, max_retries, backoff, max_backoff, cache, share_token"
    )


def test_from_env_errors_hold_no_environment_in_traceback_locals() -> None:
    environ = {"ROKT_APP_ID": "id", "ROKT_APP_SECRET": SECRET, "ROKT_TOKEN_URL": "http://api.rokt.com/t"}
    with pytest.raises(InsecureTransportError) as caught:  # the type survives from_env's rewording
        RoktAuth.from_env(environ=environ)
    assert "ROKT_TOKEN_URL" in str(caught.value)
    assert SECRET not in library_locals(caught.value)


def test_a_typo_in_a_required_variable_is_pointed_out() -> None:
    environ = {"ROKT_APP_ID": "id", "ROKT_APP_SECERT": SECRET}
    with pytest.raises(ConfigurationError, match=r"ROKT_APP_SECRET is not set \(ROKT_APP_SECERT is: a typo\?\)"):
        RoktAuth.from_env(environ=environ)


def test_a_typo_in_an_optional_variable_is_warned_about(caplog: pytest.LogCaptureFixture) -> None:
    environ = {"ROKT_APP_ID": "id", "ROKT_APP_SECRET": SECRET, "ROKT_TOKE_URL": "http://127.0.0.1:9/t"}
    auth = RoktAuth.from_env(environ=environ)
    assert auth.token_url == "https://api.rokt.com/auth/oauth2/token"
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("ROKT_TOKEN_URL is not set but ROKT_TOKE_URL is" in w for w in warned), warned
    assert not any("127.0.0.1" in w for w in warned), "names only, never values"


def test_an_empty_variable_is_called_empty() -> None:
    with pytest.raises(ConfigurationError, match="ROKT_APP_SECRET is empty"):
        RoktAuth.from_env(environ={"ROKT_APP_ID": "id", "ROKT_APP_SECRET": "  "})
