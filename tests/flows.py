"""The five flows as one table, for the parametrized suites."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any, Callable

import requests

from requests_adtech_auth import TokenAuth
from requests_adtech_auth.sandbox import Sandbox


@dataclass(frozen=True)
class Flow:
    """One vendor flow, as the parametrized tests see it."""

    name: str
    vendor: str  # the sandbox's name for it
    make: Callable[..., TokenAuth]
    call: Callable[[requests.Session, Sandbox], requests.Response]
    token_field: str  # where the sandbox's answer carries the token (for fault answers)
    expiry_field: str | None  # where it carries the lifetime; None: the answer has none

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


def _rokt_event(box: Sandbox, **options: Any) -> TokenAuth:
    from requests_adtech_auth import RoktEventAuth

    options.setdefault("token_url", box.rokt.token_url)
    return RoktEventAuth(box.rokt.app_id, box.rokt.app_secret, **options)


FLOWS = [
    Flow("rokt_event", "rokt", _rokt_event, _rokt_call, "access_token", "expires_in"),
    Flow("rokt_reporting", "rokt", lambda box, **kw: box.rokt_auth(**kw), _rokt_call, "access_token", "expires_in"),
    Flow(
        "rokt_partnerships",
        "rokt_partnerships",
        lambda box, **kw: box.rokt_partnerships_auth(**kw),
        _partnerships_call,
        "access_token",
        "expires_in",
    ),
    Flow(
        "digital_turbine",
        "digital_turbine",
        lambda box, **kw: box.digital_turbine_auth(**kw),
        _dt_call,
        "accessToken",
        "expiresIn",
    ),
    Flow("algonomy", "algonomy", lambda box, **kw: box.algonomy_auth(**kw), _algonomy_call, "token", None),
]


def error_answer(vendor: str, text: str) -> dict[str, object]:
    """A transient (503) error answer in ``vendor``'s shape (sandbox name), ``text`` in each field the library repeats.

    Rokt Partnerships answers in Rokt's envelope (code, message, request id);
    the others in OAuth 2.0's (code, description).
    """
    if vendor == "rokt_partnerships":
        return {"status": 503, "error": f"unavailable{text}", "message": f"down{text}now", "request_id": f"req{text}1"}
    return {"error": f"unavailable{text}", "error_description": f"down{text}now"}


def in_threads(count: int, work: Callable[[], None]) -> None:
    """Run ``work`` in ``count`` threads released together; wait for all (bounded)."""
    barrier = threading.Barrier(count)

    def start_together() -> None:
        barrier.wait()
        work()

    threads = [threading.Thread(target=start_together) for _ in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not any(t.is_alive() for t in threads), "a thread is stuck"
