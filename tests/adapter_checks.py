"""What the httpx and aiohttp adapter suites share: one flow's API call, and the checks both adapters must pass alike.

A refused token is replayed once with a fresh one; token-endpoint faults surface as the
library's own errors with no secret shown; the event loop never stalls on a token; a hung
token endpoint holds one worker and starves no other credential.
"""

from __future__ import annotations

import ssl
import threading
import time
import traceback
from typing import Any, Callable, Optional

import anyio
import httpx
import pytest

from requests_adtech_auth import RoktAuth, TokenAuth, TokenRequestError
from requests_adtech_auth.sandbox import Fault, Sandbox

from .helpers import Flow, sent_secrets
from .helpers import flow as flow_named

#: Shared by every httpx client in the suite: httpx builds one per client otherwise, which takes a while.
TLS = ssl.create_default_context()


def api_call(flow: Flow, box: Sandbox) -> tuple[str, str, Optional[Any], dict[str, str]]:
    """The method, URL, JSON body and headers of one of the flow's first API call (a new idempotency key each)."""
    first = flow.registered.calls[0]
    return first.method, box.emulation(flow.vendor).api_url + first.path, first.json, first.headers_to_send()


def sent_token(flow: Flow, box: Sandbox, path: str = "/") -> Optional[str]:
    """The token the last API call under ``path`` carried."""
    return flow.token_header(box.calls_to("main", path)[-1].headers)


# -- one replay after a refusal --------------------------------------------------------------------


def assert_replayed_with_a_fresh_token(box: Sandbox, flow: Flow, auth: TokenAuth, refused: str) -> None:
    """The flow's last API call went twice: with ``refused``, then with the same body and a fresh token."""
    path = httpx.URL(api_call(flow, box)[1]).path
    first, replay = box.calls_to("main", path)[-2:]
    assert replay.body == first.body and replay.method == first.method
    assert flow.token_header(first.headers) == refused
    assert flow.token_header(replay.headers) == auth.get_token() != refused
    assert box.count(flow.vendor, "token") == 2


# -- token-endpoint faults surface as the library's errors -----------------------------------------


FAULTS = {
    "reset-always": (Fault.reset(), 3, TokenRequestError, 200, True),
    "500-always": (Fault.status(500, {"error": "server_error"}), 3, TokenRequestError, 500, True),
    "503-once": (Fault.status(503), 1, None, None, None),
    "200-html": (Fault.raw(200, b"<!doctype html><p>Login</p>", "text/html"), 1, TokenRequestError, 200, False),
    "401-invalid-client": (Fault.status(401, {"error": "invalid_client"}), 1, TokenRequestError, 401, False),
}


def check_token_endpoint_faults(
    box: Sandbox,
    flow: Flow,
    faults: dict[str, Any],
    answered: Callable[[TokenAuth], bool],
    adapter_repr: str,
    timeout: float,
) -> None:
    """Each fault in turn: the library's own error with no secret shown (or success), then usable again."""
    for case, (fault, times, raises, status, transient) in faults.items():
        box.add_fault(flow.vendor, "token", fault, times=times)
        box.reset_counts()
        auth = flow.auth(box, timeout=timeout, max_retries=2, backoff=0.01, max_backoff=0.05)
        auth.invalidate()  # the previous case's token: objects with one credential share it
        if raises is None:
            assert answered(auth), case
        else:
            with pytest.raises(raises) as caught:
                answered(auth)
            error = caught.value
            assert isinstance(error, TokenRequestError)
            assert (error.status_code, error.transient) == (status, transient), case
            assert box.count(flow.vendor, "token") == times, case
            _assert_no_secret_shown(error, auth, box, adapter_repr)
        box.clear_faults()
        assert answered(auth), f"{case}: usable once the fault clears"


def _assert_no_secret_shown(error: BaseException, auth: TokenAuth, box: Sandbox, adapter_repr: str) -> None:
    """Neither the error, its repr, nor the locals of the frames it carries hold a secret the flow sends."""
    shown = "".join(traceback.TracebackException.from_exception(error, capture_locals=True).format())
    assert adapter_repr in shown, "locals were captured"
    for secret in sent_secrets(auth, box):
        assert secret not in shown and secret not in repr(error), "a secret is in the error or its frames' locals"


# -- the event loop never waits on a token; a hung endpoint holds one worker ----------------------


def count_worker_calls(auth: TokenAuth) -> list[str]:
    """Record the threads ``auth.get_token`` runs in (the async path calls it in workers only)."""
    threads: list[str] = []
    real = auth.get_token

    def counted() -> str:
        threads.append(threading.current_thread().name)
        return real()

    auth.get_token = counted  # type: ignore[method-assign]
    return threads


#: The longest stall allowed while a 0.5 s fetch or lock wait is in flight. A loop
#: that blocked on it would stall >= 0.5 s; a loop that runs stalls a few ms, and on
#: a loaded 2-core machine the OS now and then adds ~0.1 s to any thread.
MAX_STALL = 0.25


class Ticker:
    """Measures the event loop's longest stall: how late a 5 ms sleep wakes up."""

    def __init__(self) -> None:
        self.worst = 0.0
        self.ticks = 0
        self.running = True

    async def __call__(self) -> None:
        while self.running:
            started = time.perf_counter()
            await anyio.sleep(0.005)
            self.worst = max(self.worst, time.perf_counter() - started - 0.005)
            self.ticks += 1

    def check(self, what: str) -> None:
        assert self.worst < MAX_STALL, f"the event loop stalled {self.worst:.3f} s {what}"
        assert self.ticks >= 10, f"the loop ran only {self.ticks} ticks {what}"


def hung_and_healthy(box: Sandbox) -> tuple[RoktAuth, list[str], TokenAuth, tuple[str, str, Any, dict[str, str]]]:
    """A Rokt credential whose token endpoint hangs (until the sandbox stops), its fetches, and a healthy one's call."""
    box.add_fault("rokt", "token", Fault.hang(120), times=20)
    hung = box.rokt_auth(timeout=120, max_retries=0)
    healthy_flow = flow_named("digital_turbine")
    return hung, count_worker_calls(hung), healthy_flow.auth(box), api_call(healthy_flow, box)
