"""The httpx adapter under asyncio and trio: the loop never blocks, one renewal for many, cancellation.

Real AsyncClients against the sandbox (in this process, on loopback). The sandbox's
``token_delay`` makes the token endpoint slow, so that a fetch is in flight long
enough to be shared, measured and cancelled.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import threading
import time
from collections.abc import Awaitable, Iterator
from contextlib import AbstractContextManager
from typing import Any, Callable

import anyio
import httpx
import pytest
import requests

from requests_adtech_auth import FileTokenCache, TokenRequestError
from requests_adtech_auth.httpx import HttpxAuth
from requests_adtech_auth.sandbox import Fault, Sandbox

from .adapter_checks import TLS, Ticker, api_call, count_worker_calls, hung_and_healthy
from .helpers import FLOWS, cache_key_of, token_state_of
from .subclassed_rokt import MissingScope, ScopeCheckingRokt

BACKENDS = ["asyncio", "trio"]
ROKT_PATH = "/v1/query/accounts"


def run(backend: str, main: Callable[[], Awaitable[Any]]) -> Any:
    """Run ``main`` on a fresh event loop of ``backend`` (no pytest plugin needed)."""
    if backend == "trio":
        pytest.importorskip("trio")
    return anyio.run(main, backend=backend)


# -- many coroutines, one renewal ------------------------------------------------------------------------


def test_500_coroutines_on_a_cold_start_make_one_token_call_in_one_worker(sandbox: Sandbox) -> None:
    auth = sandbox.rokt_auth()
    workers = count_worker_calls(auth)
    sandbox.token_delay = 0.2  # every coroutine arrives while the fetch is in flight
    url = sandbox.rokt.api_url + ROKT_PATH
    wrapped = HttpxAuth(auth)

    async def main() -> list[int]:
        # Ten clients (a framework makes several) on one auth object; small pools, because
        # httpcore's pool costs grow with the square of the requests queued in one.
        limits = httpx.Limits(max_connections=4)
        clients = [httpx.AsyncClient(auth=wrapped, verify=TLS, limits=limits, timeout=60) for _ in range(10)]
        try:
            responses = await asyncio.gather(*(clients[i % 10].get(url) for i in range(500)))
        finally:
            for client in clients:
                await client.aclose()
        return [r.status_code for r in responses]

    assert asyncio.run(main()) == [200] * 500
    assert sandbox.count("rokt", "token") == 1
    assert len(workers) == 1, "one worker thread renews for the whole loop, not one per coroutine"


def test_every_flow_cold_starts_many_coroutines_on_one_token(sandbox: Sandbox) -> None:
    sandbox.token_delay = 0.1

    async def main() -> None:
        async with httpx.AsyncClient(verify=TLS, timeout=30) as client:
            for flow in FLOWS:
                wrapped = HttpxAuth(flow.auth(sandbox))
                parts = [api_call(flow, sandbox) for _ in range(20)]  # each with its own idempotency key
                calls = (client.request(m, u, json=b, headers=h, auth=wrapped) for m, u, b, h in parts)
                assert all(r.is_success for r in await asyncio.gather(*calls))

    asyncio.run(main())
    for flow in FLOWS:
        assert sandbox.count(flow.vendor, "token") == 1  # the two Rokt flows share one credential's token


def test_a_failed_renewal_fails_every_waiting_coroutine_with_one_token_call(sandbox: Sandbox) -> None:
    sandbox.token_delay = 0.1
    sandbox.add_fault("rokt", "token", Fault.status(401, {"error": "invalid_client"}), times=50)
    wrapped = HttpxAuth(sandbox.rokt_auth())

    async def main() -> list[BaseException]:
        async with httpx.AsyncClient(auth=wrapped, verify=TLS, timeout=30) as client:
            calls = (client.get(sandbox.rokt.api_url + ROKT_PATH) for _ in range(50))
            outcomes = await asyncio.gather(*calls, return_exceptions=True)
        return [o for o in outcomes if isinstance(o, BaseException)]

    errors = asyncio.run(main())
    assert len(errors) == 50 and all(isinstance(e, TokenRequestError) and e.status_code == 401 for e in errors)
    assert len({id(e) for e in errors}) == 50, "each coroutine raises its own copy of the one failure"
    assert len({str(e) for e in errors}) == 1
    assert sandbox.count("rokt", "token") == 1


def test_waiting_coroutines_share_a_subclass_own_failure_with_its_type(sandbox: Sandbox) -> None:
    sandbox.token_delay = 0.1
    rokt = sandbox.rokt
    wrapped = HttpxAuth(ScopeCheckingRokt(rokt.app_id, rokt.app_secret, token_url=rokt.token_url, share_token=False))

    async def main() -> list[Any]:
        return await asyncio.gather(*(wrapped.aget_token() for _ in range(6)), return_exceptions=True)

    outcomes = asyncio.run(main())
    assert [type(o) for o in outcomes] == [MissingScope] * 6
    assert len({id(o) for o in outcomes}) == 6
    assert sandbox.count("rokt", "token") == 1


@pytest.mark.parametrize(
    ("left_of_leeway", "served_old"),
    [(0.9, True), (0.1, False)],
    ids=["most-of-the-leeway-left-keeps-the-old-token", "near-expiry-waits-for-the-new-one"],
)
def test_coroutines_follow_the_threads_rule_while_a_renewal_is_in_flight(
    sandbox: Sandbox, left_of_leeway: float, served_old: bool
) -> None:
    leeway = 600.0  # the token is due; left_of_leeway of its renewal window remains
    wrapped = HttpxAuth(sandbox.rokt_auth(share_token=False, leeway=leeway))
    old = wrapped.auth.get_token()
    state = token_state_of(wrapped.auth)
    now = time.monotonic()
    due = state.token
    assert due is not None
    state.token = due._replace(refresh_at=now - leeway * (1 - left_of_leeway), expires_at=now + leeway * left_of_leeway)
    sandbox.token_delay = 1.0  # the renewal stays in flight while the second coroutine asks

    async def main() -> tuple[str, str, bool]:
        renewal = asyncio.ensure_future(wrapped.aget_token())
        await asyncio.sleep(0.1)  # the first coroutine's renewal is now in flight
        second = await wrapped.aget_token()
        pending = not renewal.done()
        return second, await renewal, pending

    second, renewed, renewal_still_pending = asyncio.run(main())
    assert renewed != old
    assert sandbox.count("rokt", "token") == 2
    if served_old:
        assert second == old and renewal_still_pending, "a token with half its leeway left is used, not waited on"
    else:
        assert second == renewed, "near expiry a coroutine waits for the fresh token"


async def _until(condition: Callable[[], bool], seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.01)


def test_a_token_refused_during_a_renewal_is_not_served_to_coroutines(sandbox: Sandbox) -> None:
    wrapped = HttpxAuth(sandbox.rokt_auth(share_token=False))
    old = wrapped.auth.get_token()
    state = token_state_of(wrapped.auth)
    cached = state.token
    assert cached is not None
    now = time.monotonic()
    state.token = cached._replace(refresh_at=now - 0.01, expires_at=now + 20)  # due, a safe margin left
    sandbox.token_delay = 1.5
    sandbox.revoke_tokens("rokt")
    sandbox.reset_counts()
    url = sandbox.rokt.api_url + ROKT_PATH

    async def streamed() -> Any:
        yield b""  # httpx cannot send a generator body twice: this refusal is returned, not replayed

    async def main() -> tuple[int, int, str, str]:
        async with httpx.AsyncClient(auth=wrapped, verify=TLS, timeout=30) as client:
            renewal = asyncio.ensure_future(wrapped.aget_token())
            await _until(lambda: sandbox.count("rokt", "token") == 1)  # counted on arrival: in flight
            first = asyncio.ensure_future(client.request("GET", url, content=streamed()))
            await _until(lambda: sandbox.count("rokt", "api_401_stale") == 1)
            await asyncio.sleep(0.2)  # the refusal is processed (the marking takes no lock)
            assert not renewal.done(), "the renewal is still in flight"
            token_now = await wrapped.aget_token()
            second = await client.get(url)
            return (await first).status_code, second.status_code, token_now, await renewal

    first_status, second_status, token_now, renewed = asyncio.run(main())
    assert first_status == 401 and second_status == 200
    assert token_now == renewed != old, "a coroutine waits for the renewal instead of taking the refused token"
    assert sandbox.count("rokt", "api_401_stale") == 1
    assert sandbox.count("rokt", "token") == 1


# -- the loop never blocks -------------------------------------------------------------------------------


def request_while_ticking(backend: str, wrapped: HttpxAuth, box: Sandbox) -> tuple[int, float, Ticker]:
    """One Rokt API request on a warm client while a Ticker runs: its status, its seconds, the ticker."""
    ticker = Ticker()

    async def main() -> tuple[int, float]:
        async with httpx.AsyncClient(auth=wrapped, verify=TLS, timeout=30) as client:
            # Warm up first (imports, a connection), on a host that gets no token.
            assert (await client.get(box.storage_url + "/warm-up")).status_code == 200
            async with anyio.create_task_group() as group:
                group.start_soon(ticker)
                await anyio.sleep(0.02)  # the ticker is running before the request starts
                started = time.perf_counter()
                response = await client.get(box.rokt.api_url + ROKT_PATH)
                took = time.perf_counter() - started
                ticker.running = False
        return response.status_code, took

    status, took = run(backend, main)
    return status, took, ticker


@contextlib.contextmanager
def held_elsewhere(lock: AbstractContextManager[Any], seconds: float = 0.5) -> Iterator[None]:
    """Hold ``lock`` in another thread from now until ``seconds`` from now."""
    locked, release = threading.Event(), threading.Event()

    def hold() -> None:
        with lock:
            locked.set()
            release.wait(10)

    holder = threading.Thread(target=hold)
    holder.start()
    assert locked.wait(10)
    timer = threading.Timer(seconds, release.set)
    timer.start()
    try:
        yield
    finally:
        release.set()
        holder.join(10)


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_loop_keeps_running_while_a_slow_token_fetch_is_in_flight(sandbox: Sandbox, backend: str) -> None:
    sandbox.token_delay = 0.5
    status, took, ticker = request_while_ticking(backend, HttpxAuth(sandbox.rokt_auth()), sandbox)
    assert status == 200
    assert took >= 0.5  # the fetch really was slow while the ticker ran
    ticker.check("during a 0.5 s token fetch")


def test_the_loop_keeps_running_while_another_process_holds_the_cache_lock(sandbox: Sandbox, tmp_path: Any) -> None:
    auth = sandbox.rokt_auth(cache=FileTokenCache(tmp_path))
    assert auth.cache is not None
    # As a process fetching the same credential's token would.
    with held_elsewhere(auth.cache.lock(cache_key_of(auth))):
        status, took, ticker = request_while_ticking("asyncio", HttpxAuth(auth), sandbox)
    assert status == 200
    assert took >= 0.4  # it did wait for the lock
    ticker.check("behind a file lock")


def test_the_loop_keeps_running_while_a_refusal_waits_for_the_token_lock(sandbox: Sandbox) -> None:
    auth = sandbox.rokt_auth()
    refused = auth.get_token()
    sandbox.add_fault("rokt", "api", Fault.status(401, {"error": "invalid_token"}))
    # Another thread holds the token's lock, as during its own fetch.
    with held_elsewhere(token_state_of(auth).lock):
        status, _, ticker = request_while_ticking("asyncio", HttpxAuth(auth), sandbox)
    assert status == 200
    assert auth.get_token() != refused
    ticker.check("deciding on a refusal")


# -- cancellation ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
def test_coroutines_cancelled_mid_fetch_leave_no_lock_and_the_next_request_works(
    sandbox: Sandbox, backend: str
) -> None:
    sandbox.token_delay = 0.5
    auth = sandbox.rokt_auth()
    wrapped = HttpxAuth(auth)
    url = sandbox.rokt.api_url + ROKT_PATH

    async def main() -> None:
        async with httpx.AsyncClient(auth=wrapped, verify=TLS, timeout=30) as client:
            # The first coroutine starts the fetch, the others wait for it; all are cancelled mid-fetch.
            with anyio.move_on_after(0.15) as scope:
                async with anyio.create_task_group() as group:
                    for _ in range(5):
                        group.start_soon(client.get, url)
            assert scope.cancelled_caught
            assert sandbox.count("rokt", "api") == 0
            # The abandoned fetch is still running: this request waits for it, off the loop.
            with anyio.fail_after(10):
                response = await client.get(url)
            assert response.status_code == 200

    run(backend, main)
    assert sandbox.count("rokt", "token") == 1, "the cancelled fetch's token is the one used"
    assert token_state_of(auth).lock.acquire(blocking=False), "no lock is left held"
    token_state_of(auth).lock.release()


@pytest.mark.parametrize("backend", BACKENDS)
def test_requests_that_give_up_on_a_hung_token_endpoint_hold_one_worker_and_starve_no_other(
    sandbox: Sandbox, backend: str
) -> None:
    hung_auth, fetches, healthy_auth, (method, url, body, headers) = hung_and_healthy(sandbox)
    hung, healthy = HttpxAuth(hung_auth), HttpxAuth(healthy_auth)

    async def main() -> int:
        async with httpx.AsyncClient(verify=TLS, timeout=30) as client:
            for _ in range(6):  # more requests giving up than the library has worker threads
                with anyio.move_on_after(0.2):  # in the auth flow, waiting for the token
                    await client.get(sandbox.rokt.api_url + ROKT_PATH, auth=hung)
            # Far less than the hang: the other credential's renewal did not queue behind it.
            with anyio.fail_after(10):
                response = await client.request(method, url, json=body, headers=headers, auth=healthy)
        return response.status_code

    assert run(backend, main) < 300
    assert len(fetches) == 1, "one renewal of the hung credential, however many requests gave up on it"
    assert sandbox.count("rokt", "api") == 0


def test_a_cancelled_fetch_still_stores_its_token(sandbox: Sandbox) -> None:
    sandbox.token_delay = 0.3
    auth = sandbox.rokt_auth()
    wrapped = HttpxAuth(auth)

    async def main() -> None:
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(wrapped.aget_token(), 0.05)

    asyncio.run(main())
    deadline = time.monotonic() + 10
    while auth.token_status is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert auth.token_status is not None, "the worker thread finished the fetch and stored the token"
    assert asyncio.run(wrapped.aget_token()) == auth.get_token()
    assert sandbox.count("rokt", "token") == 1


# -- threads, loops and requests on one auth object, 2 s tokens under load ---------------------------------


def test_threads_loops_and_requests_share_one_renewal_and_see_no_stale_token(sandbox: Sandbox) -> None:
    sandbox.lifetimes["rokt"] = 2.0  # renewed 0.5 s before expiry: every 1.5 s
    auth = sandbox.rokt_auth()
    url = sandbox.rokt.api_url + ROKT_PATH
    wrapped = HttpxAuth(auth)
    duration = 3.3
    statuses: list[int] = []
    failures: list[BaseException] = []
    start = threading.Barrier(5)
    stop_at = [0.0]

    def guarded(work: Callable[[], None]) -> Callable[[], None]:
        def body() -> None:
            try:
                start.wait(10)
                work()
            except BaseException as exc:  # reported by the test thread
                failures.append(exc)

        return body

    def with_requests() -> None:
        session = requests.Session()
        session.auth = auth
        while time.monotonic() < stop_at[0]:
            statuses.append(session.get(url, timeout=10).status_code)

    def with_httpx() -> None:
        with httpx.Client(auth=wrapped, verify=TLS, timeout=10) as client:
            while time.monotonic() < stop_at[0]:
                statuses.append(client.get(url).status_code)

    def with_asyncio() -> None:
        async def worker(client: httpx.AsyncClient) -> None:
            while time.monotonic() < stop_at[0]:
                statuses.append((await client.get(url)).status_code)

        async def main() -> None:
            async with httpx.AsyncClient(auth=wrapped, verify=TLS, timeout=10) as client:
                await asyncio.gather(*(worker(client) for _ in range(3)))

        asyncio.run(main())

    threads = [
        threading.Thread(target=guarded(work)) for work in (with_requests, with_httpx, with_asyncio, with_asyncio)
    ]
    for thread in threads:
        thread.start()
    started = time.monotonic()
    stop_at[0] = started + duration
    start.wait(10)
    for thread in threads:
        thread.join(30)
    elapsed = time.monotonic() - started
    assert not failures, failures[:3]
    assert statuses and set(statuses) == {200}
    assert sandbox.count("rokt", "api_401_stale") == 0, "a request went out with a stale token"
    renewals = sandbox.count("rokt", "token")
    ideal = 1 + math.floor(elapsed / 1.5)
    assert 2 <= renewals <= ideal + 1, f"{renewals} token calls in {elapsed:.1f} s (ideal {ideal})"
