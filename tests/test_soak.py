"""Soak: 64 threads per flow against 2 s tokens with token-endpoint faults sprinkled in.

``python -m pytest`` runs a 2 s form per flow; ``python -m pytest --soak -m soak``
runs each for 10 s.
"""

from __future__ import annotations

import collections
import threading
import time

import pytest
import requests

from requests_adtech_auth.sandbox import Fault, Sandbox

from .helpers import FLOWS, Flow
from .run_reports import SOAK_REPORT

THREADS = 64
LIFETIME = 2.0
RENEWAL_INTERVAL = LIFETIME * 0.75  # the leeway is capped at a quarter of the lifetime


@pytest.mark.soak
@pytest.mark.parametrize("flow", FLOWS, ids=[f.name for f in FLOWS])
def test_soak(flow: Flow, sandbox: Sandbox, request: pytest.FixtureRequest) -> None:
    duration = 10.0 if request.config.getoption("--soak") else 2.0
    sandbox.record = False
    sandbox.token_delay = 0.01
    auth = flow.auth(sandbox, lifetime=LIFETIME, backoff=0.01)
    outcomes: collections.Counter[str] = collections.Counter()
    lock = threading.Lock()
    stop = threading.Event()
    start = threading.Barrier(THREADS + 1)

    def worker() -> None:
        with requests.Session() as session:
            session.auth = auth
            start.wait()
            while not stop.is_set():
                try:
                    status = str(flow.call(session, sandbox).status_code)
                except Exception as exc:
                    status = type(exc).__name__
                with lock:
                    outcomes[status] += 1

    def sprinkle_faults() -> None:
        faults = [Fault.status(503), Fault.reset(), Fault.status(429, None, {"Retry-After": "0"}), Fault.close()]
        n = 0
        while not stop.wait(0.5):
            # One pending fault at a time: each renewal may meet one, and its retry succeeds.
            if not sandbox.pending_faults(flow.vendor, "token"):
                sandbox.add_fault(flow.vendor, "token", faults[n % len(faults)])
                n += 1

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(THREADS)]
    threads.append(threading.Thread(target=sprinkle_faults, daemon=True))
    for t in threads:
        t.start()
    start.wait()
    began = time.monotonic()
    time.sleep(duration)
    stop.set()
    for t in threads:
        t.join(30)
    elapsed = time.monotonic() - began
    assert not any(t.is_alive() for t in threads), "a worker is stuck: deadlock"

    total = sum(outcomes.values())
    issued = sandbox.count(flow.vendor, "token_issued")
    ideal = 1 + int(elapsed / RENEWAL_INTERVAL)
    SOAK_REPORT.append(
        f"{flow.name}: {total} requests in {elapsed:.1f} s by {THREADS} threads, outcomes {dict(outcomes)}, "
        f"tokens issued {issued} (ideal {ideal}), token endpoint calls {sandbox.count(flow.vendor, 'token')}, "
        f"stale-token 401s {sandbox.count(flow.vendor, 'api_401_stale')}"
    )
    assert total > THREADS
    assert set(outcomes) <= {"200", "201"}, f"lost requests: {outcomes}"
    assert sandbox.count(flow.vendor, "api_401_stale") == 0
    assert sandbox.count(flow.vendor, "api_401") == 0
    assert ideal - 1 <= issued <= ideal + 2
