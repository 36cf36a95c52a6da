"""A credential's token for coroutines, free of any HTTP client and of any event-loop library.

What the async adapters (:mod:`~requests_adtech_auth.httpx` on anyio,
:mod:`~requests_adtech_auth.aiohttp` on asyncio) share: the token is renewed in a
worker thread of the library's own, never on the event loop. There is at most
one such renewal per token state in the process: every event loop awaits the same
one, and it stays that one until its thread finishes, whoever stopped waiting for
it, so a token endpoint that hangs holds one worker thread, not one per cancelled
request or per loop, and other credentials' renewals still get a thread. The
coroutines of one loop wait on one event; other threads and processes are kept to
one token call by the token state's lock (and a shared cache's). The replay
decision after a refusal is made on the loop; dropping the refused token is one
job in a worker thread however many requests the vendor refused it for, and it
leaves the token to a renewal holding that lock rather than wait for it. Each
adapter hands :class:`AsyncTokens` the things that differ between event-loop
libraries, as a :class:`LoopRuntime`.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import threading
import time
import weakref
from collections.abc import Awaitable, Hashable, Mapping, MutableMapping
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, Callable, Optional, Protocol, TypeVar

from .boundary import api_url_for_log
from .exception_copies import for_another_caller
from .exceptions import AuthError
from .token_state import TokenState, presented_token

if TYPE_CHECKING:
    from .core import TokenAuth
    from .credential import Credential

__all__ = [
    "AsyncTokens",
    "Flight",
    "LoopRuntime",
    "RenewalEvent",
    "announce_replay",
    "headers_carrying",
    "shut_down_workers",
]

logger = logging.getLogger("requests_adtech_auth")

_monotonic = time.monotonic
_T = TypeVar("_T")


class RenewalEvent(Protocol):
    """An event of the running loop's library (``anyio.Event``, ``asyncio.Event``)."""

    def set(self) -> Any:
        """Wake every waiter."""
        ...

    def wait(self) -> Awaitable[Any]:
        """Wait until set."""
        ...


class Flight:
    """One renewal in flight, shared by the coroutines of one event loop."""

    __slots__ = ("done", "error", "token")

    def __init__(self, done: RenewalEvent) -> None:
        self.done = done
        self.token: Optional[str] = None
        self.error: Optional[AuthError] = None


#: The renewals in flight in one event loop, per token state.
Flights = MutableMapping[TokenState, Flight]


class LoopRuntime(Protocol):
    """What an event-loop library supplies: per-loop flights, an event, a wake-up from another thread."""

    def flights(self) -> Flights:
        """The renewals in flight in the running loop (created empty on first use)."""
        ...

    def event(self) -> RenewalEvent:
        """A new event of the running loop."""
        ...

    def call_soon_threadsafe(self) -> Callable[[Callable[[], object]], object]:
        """How another thread has the running loop call a function soon, without waiting for it."""
        ...


#: This library's own worker threads: a loop's default executor (anyio's default
#: limiter) is the application's, which may fill it with threads waiting on that very loop.
_WORKER_SLOTS = 4


class _Workers:
    """The worker threads that renew tokens, and the one job of each kind running per token state.

    A job is a token state's renewal, which may wait on the state's lock (held
    by a renewal in any thread while the token endpoint answers, or hangs), or the
    drop of a token the vendor refused, which does not wait for it. A credential
    has one renewal running at most, whoever asks: a hung endpoint takes one
    thread, so other credentials still get one.
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.pool: Optional[ThreadPoolExecutor] = None
        self.running: dict[Hashable, Future[Any]] = {}

    def get(self) -> ThreadPoolExecutor:
        pool = self.pool
        if pool is None:
            with self.lock:
                pool = self.pool
                if pool is None:
                    pool = self.pool = ThreadPoolExecutor(_WORKER_SLOTS, thread_name_prefix="requests_adtech_auth")
        return pool

    def renewal(self, state: TokenState, fetch: Callable[[], str]) -> Future[str]:
        """The renewal of ``state`` running in a worker thread: the one already running, or a new one."""
        return self._one(state, fetch)

    def drop(self, state: TokenState, refused: str, key: Callable[[], str]) -> Future[None]:
        """The drop of ``state``'s ``refused`` token in a worker thread: the one already running, or a new one.

        Every request the vendor refused that token for asks for the same drop, and
        it does not wait for the state's lock (see :meth:`TokenState.drop_refused`):
        it holds a thread only for a shared cache's answer.
        """
        return self._one((state, refused), functools.partial(state.drop_refused, refused, key))

    def _one(self, job: Hashable, work: Callable[[], _T]) -> Future[_T]:
        pool = self.get()
        with self.lock:
            running = self.running.get(job)
            if running is not None and not running.done():
                return running
            running = self.running[job] = pool.submit(work)
        # Kept until its thread finishes, not until its waiters stop waiting: a new
        # one would only queue behind it on the token state's lock, holding a thread.
        running.add_done_callback(functools.partial(self._finished, job))
        return running

    def _finished(self, job: Hashable, done: Future[Any]) -> None:
        with self.lock:
            if self.running.get(job) is done:
                del self.running[job]

    def shut_down(self) -> None:
        """Let the worker threads finish their renewals and end, as they do at interpreter exit."""
        with self.lock:
            pool, self.pool = self.pool, None
        if pool is not None:
            pool.shutdown(wait=True)

    def after_fork(self) -> None:
        self.lock = threading.Lock()
        self.pool = None  # its threads stayed with the parent, and so did their jobs
        self.running = {}


_WORKERS = _Workers()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_WORKERS.after_fork)


def shut_down_workers() -> None:
    """End the library's worker threads once their renewals finish (made anew on next use)."""
    _WORKERS.shut_down()


def new_flights() -> Flights:
    """An empty table of flights, which forgets a token state no auth object holds any more."""
    return weakref.WeakKeyDictionary()


class AsyncTokens:
    """The token of one auth object for the coroutines of any event loop.

    Args:
        auth: the wrapped credential; its token state, leeway and decisions rule.
        runtime: the event-loop library's parts.
    """

    __slots__ = ("auth", "runtime")

    def __init__(self, auth: Credential, runtime: LoopRuntime) -> None:
        self.auth = auth
        self.runtime = runtime

    def fresh(self) -> Optional[str]:
        """The cached token if it is served as it is, without a wait: the per-request fast path; else None."""
        state = self.auth._bound_state()
        cached = state.token
        if cached is not None and state.fresh(cached, _monotonic(), self.auth.leeway):
            return cached.value
        return None

    async def token(self) -> str:
        """A valid token, renewed in a worker thread if due; the loop never waits on it.

        Raises:
            TokenRequestError: the token endpoint refused or failed (after retries).
        """
        state = self.auth._bound_state()
        leeway = self.auth.leeway  # the wrapped object's own, as on requests
        while True:
            cached, now = state.token, _monotonic()
            if cached is not None and state.fresh(cached, now, leeway):
                return cached.value
            flights = self.runtime.flights()
            flight = flights.get(state)
            if flight is None:
                return await self._renew(state, flights)
            if cached is not None and state.serves_during_renewal(cached, now, leeway):
                return cached.value  # as threads do: no wait while the token has a safe margin left
            await flight.done.wait()
            if flight.error is not None:
                raise for_another_caller(flight.error)
            if flight.token is not None:
                return flight.token
            # Its coroutine was cancelled; the renewal it awaited may still be running,
            # and the next flight awaits that same one rather than starting another.

    async def _renew(self, state: TokenState, flights: Flights) -> str:
        """Await the process's renewal of ``state`` (started if none runs), as this event loop's one wait for it."""
        flight = flights[state] = Flight(self.runtime.event())
        try:
            flight.token = await self._outcome(_WORKERS.renewal(state, self.auth.get_token))
        except AuthError as exc:
            flight.error = exc
            raise
        finally:
            # Also on cancellation: the waiters wake up, and one of them renews.
            if flights.get(state) is flight:
                del flights[state]
            flight.done.set()
        return flight.token

    async def _outcome(self, job: Future[_T]) -> _T:
        """What the worker's ``job`` returned, awaited without blocking the loop; cancelling this leaves it running."""
        if not job.done():
            finished = self.runtime.event()
            call_soon = self.runtime.call_soon_threadsafe()

            def wake(_: Future[_T]) -> None:
                with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits any more
                    call_soon(finished.set)

            job.add_done_callback(wake)
            await finished.wait()
        error = job.exception()
        if isinstance(error, AuthError):
            raise for_another_caller(error)  # other loops raise the one renewal's error too
        return job.result()

    async def replays(self, url: str, status: int, sent: Mapping[str, Any]) -> bool:
        """The credential's replay decision for a request refused with ``status``.

        Made on the loop; dropping the refused token (from a shared cache too) is
        one job in a worker thread for every request refused with that token, and
        does not wait for a renewal holding the token state's lock.
        """
        if status not in self.auth.refused_token_statuses:
            return False
        replay, refused = self.auth._refusal_verdict(url, status, sent)
        if refused is not None:
            await self._outcome(_WORKERS.drop(self.auth._bound_state(), refused, self.auth._cache_key))
        return replay


def headers_carrying(auth: TokenAuth, token: str, existing: Mapping[str, str]) -> dict[str, str]:
    """The credential headers a request that already has ``existing`` headers gets for ``token``.

    As on a requests request: a header the flow lets the caller set (Partnerships'
    parent account) keeps the caller's value.
    """
    if auth._plain_authorization:
        return {"Authorization": presented_token(auth.authorization_scheme, token)}
    present = {name: existing[name] for name in auth.credential_headers if name in existing}
    return auth._credential_headers(token, present)


def announce_replay(auth: Credential, url: str, status: int, resendable: bool) -> bool:
    """Log the replay of a refused request, or why there is none; return ``resendable``.

    A body the client cannot send again (a stream, a generator, a file) means no
    replay: the refused answer is returned.
    """
    describe = auth._describe()
    if not resendable:
        logger.info("%s: got HTTP %d but the request body cannot be replayed; returning it", describe, status)
        return False
    logger.info("%s: got HTTP %d from %s; replaying once with a fresh token", describe, status, api_url_for_log(url))
    return True
