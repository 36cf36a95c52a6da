"""TokenState on its own: a fake clock and a fake fetch, no HTTP and no vendor.

The rules every adapter relies on (when a token is fetched, served, renewed,
refused, shared and dropped), each checked at exact times rather than by sleeping.
"""

from __future__ import annotations

import contextlib
import logging
import pickle
import threading
from collections.abc import Iterator
from typing import Optional

import pytest

from requests_adtech_auth import token_state
from requests_adtech_auth.cache import CacheUnavailableError, StoredToken, TokenCache
from requests_adtech_auth.exceptions import AuthError, TokenRequestError
from requests_adtech_auth.token_state import (
    CACHE_RETRY_INTERVAL,
    RENEWAL_RETRY_INTERVAL,
    CachedToken,
    TokenState,
)

KEY = "credential-key"


class Clock:
    """Monotonic and wall time that move only when told to."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.wall_offset = 1_700_000_000.0

    def monotonic(self) -> float:
        return self.now

    def time(self) -> float:
        return self.now + self.wall_offset

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(token_state, "_monotonic", fake.monotonic)
    monkeypatch.setattr(token_state, "time", fake)  # adopt() and store_shared() read time.time()
    return fake


class Vendor:
    """A fake fetch: tokens numbered from 1, ``lifetime`` seconds each; fails while ``failing`` is set."""

    def __init__(self, clock: Clock, lifetime: float = 100.0) -> None:
        self.clock = clock
        self.lifetime = lifetime
        self.calls = 0
        self.failing: Optional[AuthError] = None
        self.started = threading.Event()
        self.proceed: Optional[threading.Event] = None

    def fetch(self) -> CachedToken:
        self.calls += 1
        self.started.set()
        if self.proceed is not None:
            assert self.proceed.wait(10)
        if self.failing is not None:
            raise self.failing
        now = self.clock.now
        # The core's rule: renewal may start a quarter of the lifetime before expiry.
        return CachedToken.of(f"token-{self.calls}", now + self.lifetime * 0.75, now + self.lifetime)


class DictCache(TokenCache):
    """A shared cache in a dict; ``down`` makes every call fail as a lost backend would."""

    def __init__(self) -> None:
        self.entries: dict[str, StoredToken] = {}
        self.down = False
        self.calls = 0

    def _check(self) -> None:
        self.calls += 1
        if self.down:
            raise CacheUnavailableError("the test cache is down")

    def load(self, key: str) -> Optional[StoredToken]:
        self._check()
        return self.entries.get(key)

    def store(self, key: str, token: StoredToken) -> None:
        self._check()
        self.entries[key] = token

    def discard(self, key: str, value: str) -> None:
        self._check()
        if key in self.entries and self.entries[key].value == value:
            del self.entries[key]

    @contextlib.contextmanager
    def lock(self, key: str) -> Iterator[None]:
        self._check()
        yield


def _get(state: TokenState, vendor: Vendor, leeway: float = 10.0) -> str:
    return state.get(vendor.fetch, lambda: KEY, leeway)


def test_nothing_is_fetched_until_a_token_is_asked_for(clock: Clock) -> None:
    vendor = Vendor(clock)
    state = TokenState(None, "test")
    assert state.token is None and vendor.calls == 0
    assert _get(state, vendor) == "token-1"
    assert vendor.calls == 1


def test_a_token_is_served_until_the_leeway_before_expiry_then_renewed(clock: Clock) -> None:
    vendor = Vendor(clock, lifetime=100)
    state = TokenState(None, "test")
    _get(state, vendor, leeway=10)
    clock.advance(89.9)
    assert _get(state, vendor, leeway=10) == "token-1"
    clock.advance(0.1)  # 10 s before expiry
    assert _get(state, vendor, leeway=10) == "token-2"
    assert vendor.calls == 2


def test_a_leeway_longer_than_a_quarter_of_the_lifetime_is_capped(clock: Clock) -> None:
    vendor = Vendor(clock, lifetime=100)
    state = TokenState(None, "test")
    _get(state, vendor, leeway=60)
    clock.advance(74.9)  # a 60 s leeway alone would have renewed at 40 s
    assert _get(state, vendor, leeway=60) == "token-1"
    clock.advance(0.1)
    assert _get(state, vendor, leeway=60) == "token-2"


def test_objects_sharing_a_state_each_renew_on_their_own_leeway(clock: Clock) -> None:
    vendor = Vendor(clock, lifetime=100)
    state = TokenState(None, "test")
    _get(state, vendor, leeway=5)
    clock.advance(91)
    assert _get(state, vendor, leeway=5) == "token-1", "5 s leeway: not due yet"
    assert _get(state, vendor, leeway=10) == "token-2", "10 s leeway: due"


def test_a_failed_renewal_keeps_the_valid_token_and_tries_again_soon(
    clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    vendor = Vendor(clock, lifetime=100)
    state = TokenState(None, "test")
    _get(state, vendor)
    clock.advance(90)
    vendor.failing = TokenRequestError("the token endpoint is down", status_code=503)
    with caplog.at_level(logging.WARNING, logger="requests_adtech_auth"):
        assert _get(state, vendor) == "token-1"
    assert "valid for 10 s more" in caplog.text
    calls = vendor.calls
    clock.advance(RENEWAL_RETRY_INTERVAL - 0.1)  # the interval, or half the time left if that is shorter
    assert _get(state, vendor) == "token-1"
    assert vendor.calls == calls, "no new attempt before the retry point"
    vendor.failing = None
    clock.advance(0.1)
    assert _get(state, vendor) == f"token-{calls + 1}", "renewed at the retry point"


def test_a_failed_fetch_with_no_valid_token_raises(clock: Clock) -> None:
    vendor = Vendor(clock, lifetime=100)
    state = TokenState(None, "test")
    vendor.failing = TokenRequestError("the token endpoint is down", status_code=503)
    with pytest.raises(TokenRequestError):
        _get(state, vendor)
    vendor.failing = None
    assert _get(state, vendor) == "token-2", "the next caller tries again"


def test_an_expired_token_is_never_served_when_the_renewal_fails(clock: Clock) -> None:
    vendor = Vendor(clock, lifetime=100)
    state = TokenState(None, "test")
    _get(state, vendor)
    clock.advance(100)
    vendor.failing = TokenRequestError("the token endpoint is down", status_code=503)
    with pytest.raises(TokenRequestError):
        _get(state, vendor)


def test_the_old_token_is_served_during_a_renewal_only_with_half_the_leeway_left(clock: Clock) -> None:
    vendor = Vendor(clock, lifetime=100)
    state = TokenState(None, "test")
    _get(state, vendor, leeway=20)
    cached = state.token
    assert cached is not None
    clock.advance(80)  # due: 20 s left
    assert state.serves_during_renewal(cached, clock.now, 20)
    clock.advance(9.9)  # 10.1 s left: more than half the leeway
    assert state.serves_during_renewal(cached, clock.now, 20)
    clock.advance(0.1)
    assert not state.serves_during_renewal(cached, clock.now, 20)


def test_while_one_thread_renews_another_gets_the_old_token_without_waiting(clock: Clock) -> None:
    vendor = Vendor(clock, lifetime=100)
    state = TokenState(None, "test")
    _get(state, vendor, leeway=20)
    clock.advance(81)  # due, with more than half the leeway left
    vendor.proceed = threading.Event()
    vendor.started.clear()
    renewal = threading.Thread(target=_get, args=(state, vendor, 20), daemon=True)
    renewal.start()
    assert vendor.started.wait(10)
    try:
        assert _get(state, vendor, leeway=20) == "token-1"
    finally:
        vendor.proceed.set()
    renewal.join(10)
    assert vendor.calls == 2 and _get(state, vendor, leeway=20) == "token-2"


def test_close_to_expiry_a_thread_waits_for_the_renewal_rather_than_send_the_old_token(clock: Clock) -> None:
    vendor = Vendor(clock, lifetime=100)
    state = TokenState(None, "test")
    _get(state, vendor, leeway=20)
    clock.advance(91)  # 9 s left: less than half the leeway
    vendor.proceed = threading.Event()
    vendor.started.clear()
    renewal = threading.Thread(target=_get, args=(state, vendor, 20), daemon=True)
    renewal.start()
    assert vendor.started.wait(10)
    got: list[str] = []
    asker = threading.Thread(target=lambda: got.append(_get(state, vendor, 20)), daemon=True)
    asker.start()
    asker.join(0.3)
    try:
        assert asker.is_alive(), "it waits: a token in its last seconds may be stale on arrival"
    finally:
        vendor.proceed.set()
    renewal.join(10)
    asker.join(10)
    assert got == ["token-2"] and vendor.calls == 2


def test_many_threads_asking_at_once_make_one_fetch(clock: Clock) -> None:
    vendor = Vendor(clock)
    state = TokenState(None, "test")
    vendor.proceed = threading.Event()
    got: list[str] = []
    threads = [threading.Thread(target=lambda: got.append(_get(state, vendor)), daemon=True) for _ in range(16)]
    for thread in threads:
        thread.start()
    assert vendor.started.wait(10)
    vendor.proceed.set()
    for thread in threads:
        thread.join(10)
    assert got == ["token-1"] * 16
    assert vendor.calls == 1


def test_one_failure_is_raised_to_every_waiter_without_a_fetch_each(clock: Clock) -> None:
    vendor = Vendor(clock)
    state = TokenState(None, "test")
    vendor.failing = TokenRequestError("the token endpoint is down", status_code=503)
    vendor.proceed = threading.Event()
    errors: list[BaseException] = []

    def ask() -> None:
        try:
            _get(state, vendor)
        except TokenRequestError as exc:
            errors.append(exc)

    threads = [threading.Thread(target=ask, daemon=True) for _ in range(8)]
    threads[0].start()
    assert vendor.started.wait(10)
    for thread in threads[1:]:
        thread.start()
    vendor.proceed.set()
    for thread in threads:
        thread.join(10)
    assert len(errors) == 8
    assert vendor.calls == 1


def test_a_refused_token_is_no_longer_fresh_and_the_next_get_renews(clock: Clock) -> None:
    vendor = Vendor(clock)
    state = TokenState(None, "test")
    _get(state, vendor)
    cached = state.token
    assert cached is not None
    state.refuse("token-1")
    assert not state.fresh(cached, clock.now, 10)
    assert not state.serves_during_renewal(cached, clock.now, 10)
    assert _get(state, vendor) == "token-2"
    assert state.refused is None, "a fresh token is refused by no one"


def test_a_refusal_of_an_older_value_leaves_the_current_token(clock: Clock) -> None:
    vendor = Vendor(clock)
    state = TokenState(None, "test")
    _get(state, vendor)
    state.drop(None, lambda: KEY)
    _get(state, vendor)
    state.refuse("token-1")
    assert _get(state, vendor) == "token-2"
    state.drop("token-1", lambda: KEY)
    assert state.token is not None and state.token.value == "token-2", "drop(value) drops only that value"
    assert vendor.calls == 2


def test_a_shared_cache_entry_is_adopted_instead_of_fetching(clock: Clock) -> None:
    vendor = Vendor(clock)
    cache = DictCache()
    wall = clock.time()
    cache.entries[KEY] = StoredToken("from-another-process", wall + 50, wall + 60)
    state = TokenState(cache, "test")
    assert _get(state, vendor) == "from-another-process"
    assert vendor.calls == 0
    clock.advance(50)  # due: the other process's renewal point, on this process's clock
    assert _get(state, vendor) == "token-1"
    assert cache.entries[KEY].value == "token-1", "what this process fetched is shared"


def test_a_shared_entry_already_due_for_this_leeway_is_not_adopted(clock: Clock) -> None:
    vendor = Vendor(clock)
    cache = DictCache()
    wall = clock.time()
    # Past its earliest renewal point: due for an object whose leeway covers the 60 s left.
    cache.entries[KEY] = StoredToken("nearly-expired", wall - 1, wall + 60)
    assert _get(TokenState(cache, "test"), vendor, leeway=10) == "nearly-expired"
    assert _get(TokenState(cache, "test"), vendor, leeway=60) == "token-1"


def test_the_refused_token_is_not_adopted_again_from_the_shared_cache(clock: Clock) -> None:
    vendor = Vendor(clock)
    cache = DictCache()
    state = TokenState(cache, "test")
    _get(state, vendor)
    state.refuse("token-1")  # refused, not yet dropped: the shared cache still holds it
    assert cache.entries[KEY].value == "token-1"
    assert _get(state, vendor) == "token-2"


def test_drop_without_a_value_empties_the_shared_cache_too(clock: Clock) -> None:
    vendor = Vendor(clock)
    cache = DictCache()
    state = TokenState(cache, "test")
    _get(state, vendor)
    state.drop(None, lambda: KEY)
    assert state.token is None and KEY not in cache.entries
    cache.entries[KEY] = StoredToken("left-by-another-process", clock.time() + 50, clock.time() + 60)
    TokenState(cache, "a new process").drop(None, lambda: KEY)
    assert KEY not in cache.entries, "a state holding no token still clears the shared entry"


def test_a_refused_token_is_dropped_without_waiting_for_a_renewal_holding_the_lock(clock: Clock) -> None:
    vendor = Vendor(clock)
    cache = DictCache()
    state = TokenState(cache, "test")
    _get(state, vendor)
    state.refuse("token-1")
    renewing, finish = threading.Event(), threading.Event()

    def renewal_in_another_thread() -> None:
        with state.lock:
            renewing.set()
            finish.wait(10)

    holder = threading.Thread(target=renewal_in_another_thread)
    holder.start()
    try:
        assert renewing.wait(10)
        state.drop_refused("token-1", lambda: KEY)  # returns at once, the lock still held
        assert KEY not in cache.entries, "the shared copy goes"
        cached = state.token
        assert cached is not None and not state.fresh(cached, clock.now, 10), "left to the renewal, served to no one"
    finally:
        finish.set()
        holder.join(10)
    state.drop_refused("token-1", lambda: KEY)  # the lock free: dropped here
    assert state.token is None


def test_a_failing_cache_is_left_alone_for_a_while_and_warned_about_once(
    clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    vendor = Vendor(clock, lifetime=10)
    cache = DictCache()
    cache.down = True
    state = TokenState(cache, "test")
    with caplog.at_level(logging.WARNING, logger="requests_adtech_auth"):
        assert _get(state, vendor) == "token-1"
        calls = cache.calls
        clock.advance(10)
        assert _get(state, vendor) == "token-2"
        assert cache.calls == calls, "not tried again within the retry interval"
        clock.advance(CACHE_RETRY_INTERVAL)
        assert _get(state, vendor) == "token-3"
        assert cache.calls > calls, "tried again after it"
    assert sum("the test cache is down" in r.getMessage() for r in caplog.records) == 1


def test_a_pickled_state_carries_no_token(clock: Clock) -> None:
    vendor = Vendor(clock)
    state = TokenState(None, "test")
    _get(state, vendor)
    copy = pickle.loads(pickle.dumps(state))
    assert copy.token is None
    assert "token-1" not in repr(state.token) and "token-1" not in repr(vars(copy))
    assert _get(copy, vendor) == "token-2"


def test_after_fork_the_locks_are_new_and_the_token_stays(clock: Clock) -> None:
    vendor = Vendor(clock)
    state = TokenState(None, "test")
    _get(state, vendor)
    held = state.lock
    held.acquire()  # as a parent thread might hold it at fork time
    try:
        state.after_fork()
        assert state.lock is not held
        assert state.lock.acquire(blocking=False)
        state.lock.release()
        assert _get(state, vendor) == "token-1"
    finally:
        held.release()
