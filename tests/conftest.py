"""Shared fixtures: the sandbox, the five flows as one table, and the suite-wide secret check."""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass
from typing import Any, Callable, Iterator

import pytest
import requests

from requests_adtech_auth import TokenAuth
from requests_adtech_auth.sandbox import Sandbox

_SANDBOXES: list[Sandbox] = []


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--soak", action="store_true", help="run the soak tests for their full length")


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    """A fresh sandbox for one test (its secrets join the leak check)."""
    with Sandbox() as box:
        _SANDBOXES.append(box)
        yield box


class _Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.texts: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage()
        if record.exc_info:
            text += logging.Formatter().formatException(record.exc_info)
        self.texts.append(text)


@pytest.fixture(autouse=True)
def no_secret_in_logs_or_warnings() -> Iterator[None]:
    """Every test: all log records at DEBUG and all warnings must be free of sandbox secrets."""
    capture = _Capture()
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(capture)
    root.setLevel(logging.DEBUG)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
    root.removeHandler(capture)
    root.setLevel(old_level)
    texts = capture.texts + [str(w.message) for w in caught]
    secrets = [s for box in _SANDBOXES for s in box.secrets() if s]
    _SANDBOXES.clear()
    for text in texts:
        for secret in secrets:
            assert secret not in text, f"a secret leaked into a log record or warning: {text[:200]!r}"
    for w in caught:
        # Hand them back to pytest, whose filterwarnings=error makes them fail the test.
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)


@dataclass(frozen=True)
class Flow:
    """One vendor flow, as the parametrized tests see it."""

    name: str
    vendor: str  # the sandbox's name for it
    make: Callable[..., TokenAuth]
    call: Callable[[requests.Session, Sandbox], requests.Response]
    token_field: str  # where the sandbox's answer carries the token (for fault answers)

    def auth(self, box: Sandbox, *, lifetime: float | None = None, **options: Any) -> TokenAuth:
        """A ready auth object; ``lifetime`` sets the token lifetime in seconds."""
        if lifetime is not None:
            if self.vendor == "algonomy":
                options["validity"] = lifetime / 60.0
            else:
                box.lifetimes[self.vendor] = lifetime
        options.setdefault("backoff", 0.01)
        return self.make(box, **options)

    def token_header(self, call_headers: Any) -> str | None:
        """The token an API call carried."""
        if self.vendor == "algonomy":
            return call_headers.get("access_token")
        value = call_headers.get("Authorization") or ""
        return value[len("Bearer ") :] if value.startswith("Bearer ") else None


def _rokt_call(session: requests.Session, box: Sandbox) -> requests.Response:
    return session.get(box.rokt.api_url + "/reporting/accounts/123/summary", timeout=10)


def _partnerships_call(session: requests.Session, box: Sandbox) -> requests.Response:
    return session.post(
        box.rokt_partnerships.api_url + "/v1/accounts/register/partnership", json={"name": "shop"}, timeout=10
    )


def _dt_call(session: requests.Session, box: Sandbox) -> requests.Response:
    return session.post(box.digital_turbine.api_url + "/api/v1/report", json={"metrics": ["installs"]}, timeout=10)


def _algonomy_call(session: requests.Session, box: Sandbox) -> requests.Response:
    return session.post(box.algonomy.api_url + "/api/v1/profile/b2b/basic", json={"customerId": "c1"}, timeout=10)


FLOWS = [
    Flow("rokt_event", "rokt", lambda box, **kw: _rokt_event(box, **kw), _rokt_call, "access_token"),
    Flow("rokt_reporting", "rokt", lambda box, **kw: box.rokt_auth(**kw), _rokt_call, "access_token"),
    Flow(
        "rokt_partnerships",
        "rokt_partnerships",
        lambda box, **kw: box.rokt_partnerships_auth(**kw),
        _partnerships_call,
        "access_token",
    ),
    Flow(
        "digital_turbine", "digital_turbine", lambda box, **kw: box.digital_turbine_auth(**kw), _dt_call, "accessToken"
    ),
    Flow("algonomy", "algonomy", lambda box, **kw: box.algonomy_auth(**kw), _algonomy_call, "token"),
]


def _rokt_event(box: Sandbox, **options: Any) -> TokenAuth:
    from requests_adtech_auth import RoktEventAuth

    return RoktEventAuth(box.rokt.app_id, box.rokt.app_secret, token_url=box.rokt.token_url, **options)


@pytest.fixture(params=FLOWS, ids=[f.name for f in FLOWS])
def flow(request: pytest.FixtureRequest) -> Flow:
    """Each of the five flows in turn."""
    return request.param  # type: ignore[no-any-return]
