"""What the tests share: the registered flows as one table, payloads the vendors accept, small helpers."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import threading
import time
import traceback
import uuid
from dataclasses import dataclass
from typing import Any, Callable, Optional
from urllib.parse import quote, quote_plus

import pytest
import requests

import requests_adtech_auth
from requests_adtech_auth import TokenAuth, registry
from requests_adtech_auth.digital_turbine import REPORT_EXAMPLE
from requests_adtech_auth.sandbox import Fault, Sandbox
from requests_adtech_auth.token_state import CachedToken, TokenState


@dataclass(frozen=True)
class Flow:
    """One registered vendor flow, as the parametrized tests see it."""

    registered: registry.Vendor

    @property
    def name(self) -> str:
        return self.registered.name.replace("-", "_")

    @property
    def _emulation_class(self) -> Any:
        emulation = self.registered.emulation_class()
        assert emulation is not None
        return emulation

    @property
    def vendor(self) -> str:
        """The sandbox's name for it (its emulation's)."""
        return str(self._emulation_class.name)

    @property
    def token_field(self) -> str:
        """Where the sandbox's answer carries the token (for fault answers)."""
        return str(self._emulation_class.token_field)

    @property
    def expiry_field(self) -> str | None:
        """Where it carries the lifetime; None: the answer has none."""
        return self._emulation_class.lifetime_field  # type: ignore[no-any-return]

    def _emulation(self, box: Sandbox) -> Any:
        return box.emulation(self.vendor)

    def auth(self, box: Sandbox, *, lifetime: float | None = None, **options: Any) -> TokenAuth:
        """A ready auth object; ``lifetime`` sets the token lifetime in seconds."""
        if lifetime is not None:
            options.update(self._emulation(box).lifetime_options(lifetime))
        options.setdefault("backoff", 0.01)
        return box.auth(self.registered.name, **options)  # type: ignore[no-any-return]

    def call(self, session: requests.Session, box: Sandbox) -> requests.Response:
        """The flow's first documented call, through ``session``."""
        return self.registered.calls[0].send(session, self._emulation(box).api_url)

    def answer_with_lifetime(self, literal: str, token: str = "tok-0123456789") -> Fault:
        """A 200 token answer whose lifetime field holds ``literal`` as written (none in Algonomy's).

        Written by hand: JSON that ``json.dumps`` never writes (``1e400``, a 5000-digit integer).
        """
        fields = [f"{json.dumps(self.token_field)}: {json.dumps(token)}"]
        if self.expiry_field:
            fields.append(f"{json.dumps(self.expiry_field)}: {literal}")
        return Fault.raw(200, ("{" + ", ".join(fields) + "}").encode())

    def token_header(self, call_headers: Any) -> str | None:
        """The token an API call carried."""
        return self._emulation_class.presented_token(call_headers)  # type: ignore[no-any-return]


#: Every registered token flow the sandbox serves with calls to make (RoktReportingAuth is RoktAuth
#: renamed). A key flow (Rokt's Event API v2) has no token to fault, expire or share: the
#: contract suite (tests/test_contract.py) and its own tests cover it.
FLOWS = [
    flow
    for flow in (Flow(v) for v in registry.vendors() if v.emulation is not None and v.calls)
    if flow._emulation_class.token_paths
]


def flow(name: str) -> Flow:
    """The flow called ``name`` (``"algonomy"``, ``"rokt"``, ...)."""
    return next(f for f in FLOWS if f.name == name.replace("-", "_"))


def error_answer(vendor: str, text: str) -> dict[str, object]:
    """A transient (503) error answer in ``vendor``'s shape (sandbox name), ``text`` in each field the library repeats.

    Rokt Partnerships answers in Rokt's envelope (code, message, request id);
    the others in OAuth 2.0's (code, description).
    """
    if vendor == "rokt_partnerships":
        return {"status": 503, "error": f"unavailable{text}", "message": f"down{text}now", "request_id": f"req{text}1"}
    return {"error": f"unavailable{text}", "error_description": f"down{text}now"}


_PACKAGE_DIR = os.path.dirname(requests_adtech_auth.__file__) + os.sep


def library_locals(error: BaseException) -> str:
    """The locals of the library's own frames that ``error`` carries, as an error tracker shows them.

    Frames are the library's by the installed package's directory, not by name: an
    unpacked sdist's tests sit below a folder named ``requests_adtech_auth-<version>``.
    """
    shown = traceback.TracebackException.from_exception(error, capture_locals=True)
    return "".join(
        f"{frame.name}: {frame.locals}\n" for frame in shown.stack if frame.filename.startswith(_PACKAGE_DIR)
    )


def sent_secrets(auth: TokenAuth, box: Sandbox) -> set[str]:
    """Every secret ``auth``'s flow sends to ``box``, in each form it may take on the wire or in a text."""
    found: set[str] = set()
    for secret in (s for s in box.secrets() if len(s) >= 4):
        found |= {secret, quote(secret, safe=""), quote_plus(secret), json.dumps(secret)[1:-1]}
    spec = auth._token_request()
    for name, value in spec.headers.items():
        if name.lower() == "authorization":
            found.add(value)
            found.add(value.partition(" ")[2])
    if spec.data:
        found.add(spec.data)
    return found


#: What Rokt's account summary needs besides the token (its Reporting API page).
ROKT_SUMMARY_PARAMS = {
    "dateStart": "2026-11-01",
    "dateEnd": "2026-11-07",
    "currency": "USD",
    "timeZoneVariation": "UTC",
}


#: A report request Digital Turbine's report page accepts.
DT_REPORT = REPORT_EXAMPLE
#: A customer, as Algonomy's profile APIs take one: in a request header.
ALGONOMY_CUSTOMER = {"gcrId": "c1"}
#: A partnership registration body the Partnerships pages describe.
PARTNERSHIP = {"external_account_id": "shop-1", "store_url": "https://shop.example", "vertical_ids": [12]}


def idempotency_key() -> dict[str, str]:
    """A new ``Idempotency-Key`` header, as every Partnerships write and Rokt event call carries."""
    return {"Idempotency-Key": str(uuid.uuid4())}


def rokt_events(count: int = 1) -> dict[str, list[dict[str, str]]]:
    """A valid Event API body of ``count`` events (each with the four fields Rokt requires)."""
    return {
        "events": [
            {
                "accountId": "123",
                "clientEventId": f"e{i}",
                "eventTime": "2026-11-01T12:00:00Z",
                "eventType": "conversion",
            }
            for i in range(count)
        ]
    }


def rokt_event_headers() -> dict[str, str]:
    """The Event API's required headers, with a new Idempotency-Key."""
    return {"Rokt-Version": "2020-05-21", **idempotency_key()}


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


def session_with(auth: Any) -> requests.Session:
    """A session that sends ``auth`` with every request."""
    session = requests.Session()
    session.auth = auth
    return session


# The token state is internal: these are the only places the tests reach it, for
# what no public call can arrange (a token made old, a lock held by "another thread").
def token_state_of(auth: TokenAuth) -> TokenState:
    """The token state ``auth`` uses (bound on first use)."""
    return auth._bound_state()


def cached_token(auth: TokenAuth) -> CachedToken:
    """The token ``auth`` holds in memory; fails the test if it holds none."""
    cached = token_state_of(auth).token
    assert cached is not None, "the auth object holds a token"
    return cached


def kept_trails(adapter: Any) -> int:
    """How many requests' redirect trails an ``AiohttpAuth`` holds (internal: what no public call shows)."""
    return len(adapter._trails)


def make_older(auth: TokenAuth, seconds: float) -> None:
    """Move the held token's renewal point and expiry ``seconds`` earlier, as if fetched that long ago."""
    cached = cached_token(auth)
    token_state_of(auth).token = cached._replace(
        refresh_at=cached.refresh_at - seconds, expires_at=cached.expires_at - seconds
    )


def cache_key_of(auth: TokenAuth) -> str:
    """The key ``auth`` stores its token under in a shared cache."""
    return auth._cache_key()


def assert_token_timing(auth: TokenAuth, lifetime: float, leeway: float) -> None:
    """Fetch a token; it must expire in ``lifetime`` s and be renewed ``leeway`` s before."""
    auth.get_token()
    status = auth.token_status
    assert status is not None
    assert lifetime - 1 <= status.expires_in <= lifetime
    assert status.expires_in - status.renews_in == pytest.approx(leeway)


def run_cli(*args: str, env: dict[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run ``python -m requests_adtech_auth ARGS`` as a user would, with no terminal on stdin.

    ``env`` replaces the environment; by default the child inherits this process's.
    """
    return subprocess.run(
        [sys.executable, "-m", "requests_adtech_auth", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        check=False,
    )


def age_shared_token(auth: TokenAuth, left: float) -> None:
    """Make ``auth``'s shared token as old as if it had ``left`` seconds to live, without waiting."""
    make_older(auth, cached_token(auth).expires_at - time.monotonic() - left)


class RawServer:
    """A loopback server that answers each connection with ``answer(index, connection)``."""

    def __init__(self, answer: Any, host: str = "127.0.0.1", received: Optional[list[bytes]] = None) -> None:
        self.answer, self.sent, self.count = answer, 0, 0
        self.received = received if received is not None else []
        self.stop = threading.Event()
        self.listener = socket.create_server((host, 0))
        self.listener.settimeout(0.2)
        self.url = f"http://{host}:{self.listener.getsockname()[1]}"
        self.threads: list[threading.Thread] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.listener.accept()
            except OSError:
                continue
            self.count += 1
            thread = threading.Thread(target=self._serve, args=(self.count, conn), daemon=True)
            self.threads.append(thread)
            thread.start()

    def _serve(self, index: int, conn: socket.socket) -> None:
        with conn, contextlib.suppress(OSError):
            conn.settimeout(10)
            self.received.append(conn.recv(65536))
            self.answer(self, index, conn)

    def close(self) -> None:
        self.stop.set()
        self.listener.close()
