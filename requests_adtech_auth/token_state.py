"""A credential's token state: cached, renewed before expiry, fetched single-flight.

:class:`TokenState` knows nothing of HTTP or of vendors: it holds the cached token
on a monotonic clock, decides when it is due, makes sure one caller at a time
fetches (through a function it is handed), shares tokens through a
:class:`~requests_adtech_auth.cache.TokenCache`, and survives ``fork()``. The
requests glue (:mod:`~requests_adtech_auth.core`) and the httpx adapter both
stand on it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
import weakref
from collections import OrderedDict
from typing import Any, Callable, NamedTuple, Optional

from .cache import CacheUnavailableError, StoredToken, TokenCache
from .exception_copies import for_another_caller
from .exceptions import AuthError
from .token_answers import MAX_LIFETIME

__all__ = [
    "BINDING",
    "CACHE_RETRY_INTERVAL",
    "RENEWAL_RETRY_INTERVAL",
    "UNBOUND",
    "CachedToken",
    "ServedToken",
    "TokenState",
    "Unbound",
    "shared_state",
]

logger = logging.getLogger("requests_adtech_auth")

#: After a shared cache fails, fetch directly for this long before trying it again.
CACHE_RETRY_INTERVAL = 30.0
#: After a failed renewal while the old token is still valid, try again this soon.
RENEWAL_RETRY_INTERVAL = 5.0
#: Credentials whose token state outlives their auth objects (the most recently used):
#: ``requests.get(url, auth=RoktAuth(...))`` in a loop drops its object after each call.
RECENT_CREDENTIALS = 256

_monotonic = time.monotonic


class CachedToken(NamedTuple):
    """A token in memory, its times on this process's monotonic clock.

    Auth objects of one credential share it, each renewing it on its own leeway
    (see :meth:`renews_at`).
    """

    value: str
    #: The earliest any object renews it: where the capped leeway begins (a
    #: quarter of the lifetime before expiry), or later after a failed renewal.
    refresh_at: float
    expires_at: float
    issued_at: float  # when the request that got it left

    @classmethod
    def of(cls, value: str, refresh_at: float, expires_at: float, issued_at: Optional[float] = None) -> CachedToken:
        """A cached token, issued now unless ``issued_at`` says when."""
        return cls(value, refresh_at, expires_at, _monotonic() if issued_at is None else issued_at)

    def renews_at(self, leeway: float) -> float:
        """When an object with ``leeway`` renews it: that long before expiry, never before ``refresh_at``."""
        return max(self.refresh_at, self.expires_at - leeway)

    def with_value(self, value: str) -> CachedToken:
        """The same lifetime for another value (a vendor that updates a token in place)."""
        return self._replace(value=value)

    def __repr__(self) -> str:  # traceback locals show reprs: never the token
        return f"<cached token, expires in {self.expires_at - _monotonic():.0f} s>"


def presented_token(scheme: str, value: str) -> str:
    """The token as its header carries it: ``"<scheme> <value>"``, or the value alone with no scheme."""
    return f"{scheme} {value}" if scheme else value


class ServedToken:
    """What the per-request path reads of the cached token, as named fields of one immutable object.

    Replaced whole, so a reader on another thread sees one token's times and header
    together without a lock; ``__slots__`` fields read as fast as a tuple's items (bench/README.md).
    """

    __slots__ = ("expires_at", "presented", "refresh_at", "value")
    #: When it is due at the earliest (:attr:`CachedToken.refresh_at`), when it expires, the token
    #: header's value (:func:`presented_token`, built once per token) and the token itself.
    refresh_at: float
    expires_at: float
    presented: str
    value: str

    def __init__(self, token: CachedToken, authorization_scheme: str) -> None:
        assign = object.__setattr__
        assign(self, "refresh_at", token.refresh_at)
        assign(self, "expires_at", token.expires_at)
        assign(self, "presented", presented_token(authorization_scheme, token.value))
        assign(self, "value", token.value)

    def __setattr__(self, name: str, value: object = None) -> None:
        raise AttributeError("a served token is replaced whole, never changed: readers rely on it")

    __delattr__ = __setattr__

    def __repr__(self) -> str:  # traceback locals show reprs: never the token
        return f"<served token, expires in {self.expires_at - _monotonic():.0f} s>"


#: Fetches a fresh token (with retries); raises AuthError.
Fetch = Callable[[], CachedToken]


class TokenState:
    """The cached token of one credential and the single-flight machinery around it.

    Args:
        cache: a shared cache to look in before fetching and to store into.
        describe: how log lines name the credential (never a secret).
        authorization_scheme: what goes before the token in its header ("" for nothing).
    """

    _token: Optional[CachedToken]
    #: The cached token as the per-request path reads it (None also while a refusal is handled).
    served: Optional[ServedToken]

    def __init__(self, cache: Optional[TokenCache], describe: str, authorization_scheme: str = "Bearer") -> None:
        self.cache = cache
        self.describe = describe
        self.authorization_scheme = authorization_scheme
        self.token = None
        self._init_runtime()
        _REGISTRY.all.add(self)

    @property
    def token(self) -> Optional[CachedToken]:
        """The cached token, or None."""
        return self._token

    @token.setter
    def token(self, token: Optional[CachedToken]) -> None:
        self._token = token
        self.served = None if token is None else ServedToken(token, self.authorization_scheme)

    def _init_runtime(self) -> None:
        # RLock: a vendor method holding the lock (Algonomy's update) may renew.
        self.lock = threading.RLock()
        self.generation = 0
        self.last_failure: Optional[AuthError] = None
        self.cache_warned = False
        self.cache_retry_at = 0.0
        #: The last token value the vendor refused, marked without the lock (see :meth:`refuse`).
        self.refused: Optional[str] = None

    def after_fork(self) -> None:
        """New locks in a forked child (a parent thread may have held one); the token stays."""
        self._init_runtime()

    def __getstate__(self) -> dict[str, object]:
        return {"cache": self.cache, "describe": self.describe, "authorization_scheme": self.authorization_scheme}

    def __setstate__(self, state: dict[str, object]) -> None:
        self.__dict__.update(state)
        self.token = None  # a token stays with the process that fetched it
        self._init_runtime()
        _REGISTRY.all.add(self)

    def get(self, fetch: Fetch, key: Callable[[], str], leeway: float) -> str:
        """A valid token value: the cached one while fresh, else renewed.

        Args:
            fetch: gets a fresh token from the vendor.
            key: the shared-cache key of the credential.
            leeway: the asking object's: it renews that long before expiry (see :meth:`CachedToken.renews_at`).
        """
        cached = self.token
        if cached is not None and self.fresh(cached, _monotonic(), leeway):
            if self.served is None:
                self._republish(cached)
            return cached.value
        return self.renew(self.generation, fetch, key, leeway)

    def _republish(self, cached: CachedToken) -> None:
        """Put ``cached`` back on the per-request path, which :meth:`refuse` cleared by a race."""
        if not self.lock.acquire(blocking=False):
            return  # whoever holds it publishes a token of its own
        try:
            if self.token is cached and self.served is None:
                self.token = cached
                if self.refused == cached.value:  # refuse() ran meanwhile: it may have missed this
                    self.served = None
        finally:
            self.lock.release()

    def fresh(self, cached: CachedToken, now: float, leeway: float) -> bool:
        """Whether ``cached`` is served as it is to an object with ``leeway``: not due, not refused by the vendor."""
        return now < cached.renews_at(leeway) and cached.value != self.refused

    def serves_during_renewal(self, cached: CachedToken, now: float, leeway: float) -> bool:
        """Whether ``cached``, due for renewal, is still sent while another caller renews it.

        Until half the asking object's leeway is left, rather than queueing
        behind the renewal; closer to expiry, callers wait for the fresh token:
        one sent in its last moments may be stale on arrival. Never a token the
        vendor refused. Threads and coroutines follow this rule.
        """
        margin = (cached.expires_at - cached.renews_at(leeway)) / 2
        return now < cached.expires_at - margin and cached.value != self.refused

    def refuse(self, value: str) -> None:
        """Mark ``value`` refused by the vendor, and take it off the per-request path, at once.

        Without the lock, which a renewal (or Algonomy's update) may hold for
        seconds: until the token is dropped, no request, renewal or shared cache
        serves or keeps it.
        """
        self.refused = value
        served = self.served
        if served is not None and served.value == value:
            # May clear a fresher token published this instant: get() puts it back.
            self.served = None

    def renew(self, seen_generation: int, fetch: Fetch, key: Callable[[], str], leeway: float) -> str:
        """Renew unless another caller did since ``seen_generation``; one fetch however many ask.

        ``leeway`` is the asking object's: whether the token is due is its own call.
        """
        cached = self.token
        if cached is not None and self.serves_during_renewal(cached, _monotonic(), leeway):
            if not self.lock.acquire(blocking=False):
                return cached.value  # another thread is renewing: keep serving this one
        else:
            self.lock.acquire()
        try:
            return self._renew_locked(seen_generation, fetch, key, leeway)
        finally:
            self.lock.release()

    def _renew_locked(self, seen_generation: int, fetch: Fetch, key: Callable[[], str], leeway: float) -> str:
        cached = self.token
        now = _monotonic()
        if cached is not None and self.fresh(cached, now, leeway):
            return cached.value
        if self.generation != seen_generation and self.last_failure is not None:
            # The fetch this thread waited on has just failed: one failure for
            # all waiters, not one full retry cycle per waiting thread.
            raise for_another_caller(self.last_failure)
        try:
            fresh = self._obtain(fetch, key, leeway)
        except AuthError as exc:
            self.generation += 1
            # Not a token the vendor refused, even while this renewal ran.
            if cached is not None and now < cached.expires_at and cached.value != self.refused:
                retry_in = min(RENEWAL_RETRY_INTERVAL, (cached.expires_at - now) / 2)
                self.token = cached._replace(refresh_at=now + retry_in)
                self.last_failure = None
                logger.warning(
                    "%s: renewing the token failed (%s); the current one is valid for %.0f s more",
                    self.describe,
                    exc,
                    cached.expires_at - now,
                )
                return cached.value
            self.last_failure = exc
            raise
        self.generation += 1
        self.last_failure = None
        self.token = fresh
        self.refused = None  # a fresh token is refused by no one yet, even if the vendor sent the same value
        return fresh.value

    def _obtain(self, fetch: Fetch, key_of: Callable[[], str], leeway: float) -> CachedToken:
        """A fresh token: from the shared cache if it has one, else fetched (and shared)."""
        cache = self.cache
        if cache is None or _monotonic() < self.cache_retry_at:
            return fetch()
        key = key_of()
        with contextlib.ExitStack() as held:
            try:
                found = self._adopt_unrefused(cache, key, leeway)
                if found is None:
                    # Another process may be fetching: wait for it, then look again.
                    held.enter_context(cache.lock(key))
                    found = self._adopt_unrefused(cache, key, leeway)
            except CacheUnavailableError as exc:
                self.cache_down(exc)
                found, cache = None, None
            if found is not None:
                logger.debug("%s: using the token in %r", self.describe, self.cache)
                return found
            fresh = fetch()
            if cache is not None:
                self.store_shared(fresh, key)
            return fresh

    def _adopt_unrefused(self, cache: TokenCache, key: str, leeway: float) -> Optional[CachedToken]:
        """The shared cache's token, unless it is the one the vendor just refused (not yet discarded)."""
        found = adopt(cache.load(key), leeway)
        return None if found is None or found.value == self.refused else found

    def cache_down(self, exc: CacheUnavailableError) -> None:
        """Leave a failing cache alone for a while; warn once."""
        # Each attempt may cost the backend's own timeouts, on the caller's request.
        self.cache_retry_at = _monotonic() + CACHE_RETRY_INTERVAL
        if not self.cache_warned:
            self.cache_warned = True
            logger.warning("%s: %s; fetching tokens directly until it is back", self.describe, exc)

    def store_shared(self, token: CachedToken, key: str) -> None:
        """Put ``token`` in the shared cache, if there is one (its times as wall clock)."""
        if self.cache is None:
            return
        now_wall, now = time.time(), _monotonic()
        stored = StoredToken(token.value, now_wall + token.refresh_at - now, now_wall + token.expires_at - now)
        try:
            self.cache.store(key, stored)
        except CacheUnavailableError as exc:
            self.cache_down(exc)

    def discard_shared(self, value: str, key: str) -> None:
        """Remove ``value`` from the shared cache, if it still holds it."""
        if self.cache is not None:
            try:
                self.cache.discard(key, value)
            except CacheUnavailableError as exc:
                self.cache_down(exc)

    def drop_refused(self, refused: str, key: Callable[[], str]) -> None:
        """Drop the token :meth:`refuse` marked, without waiting for the lock.

        Whoever holds the lock (a renewal, in any thread) replaces the token; until
        then the refused one is served to no one. Its copy in a shared cache goes
        either way.
        """
        if not self.lock.acquire(blocking=False):
            self.discard_shared(refused, key())
            return
        try:
            self.drop(refused, key)
        finally:
            self.lock.release()

    def drop(self, value: Optional[str], key: Callable[[], str]) -> None:
        """Forget the cached token, or (given ``value``) only if it is that refused one.

        With ``value=None`` the shared cache's token goes too, even if this process
        holds none. Another thread may already have replaced a refused token: that
        one stays.
        """
        with self.lock:
            cached = self.token
            if cached is not None and (value is None or cached.value == value):
                self.token = None
                self.discard_shared(cached.value, key())
            elif value is None and self.cache is not None:
                # Nothing in memory (a new process): the shared cache may still hold one.
                try:
                    stored = self.cache.load(key())
                except CacheUnavailableError as exc:
                    self.cache_down(exc)
                else:
                    if stored is not None:
                        self.discard_shared(stored.value, key())


class _Registry:
    """Every state (for fork safety) and one state per credential (for sharing)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.all: weakref.WeakSet[TokenState] = weakref.WeakSet()
        # A state lives while an auth object uses it, or while it is among the most
        # recently used: memory stays bounded however many credentials come and go.
        self.shared: weakref.WeakValueDictionary[tuple[str, int, str], TokenState] = weakref.WeakValueDictionary()
        self.recent: OrderedDict[tuple[str, int, str], TokenState] = OrderedDict()

    def after_fork(self) -> None:
        # Another parent thread may have held a lock at fork time: replace them all.
        self.lock = threading.Lock()
        for state in list(self.all):
            state.after_fork()


_REGISTRY = _Registry()

if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_REGISTRY.after_fork)


def shared_state(key: str, cache: Optional[TokenCache], describe: str, authorization_scheme: str) -> TokenState:
    """The one token state of credential ``key`` in this process, created on first use.

    Auth objects built again and again for one credential (in a loop, a notebook
    cell, a request handler) find the token the first one fetched. A different shared
    cache object (part of how a state renews) or scheme makes a different state.
    """
    # The state holds the cache, so its id stays unique; the scheme shapes the served header.
    ident = (key, id(cache) if cache is not None else 0, authorization_scheme)
    with _REGISTRY.lock:
        state = _REGISTRY.shared.get(ident)
        if state is None:
            state = _REGISTRY.shared[ident] = TokenState(cache, describe, authorization_scheme)
        recent = _REGISTRY.recent
        recent[ident] = state
        recent.move_to_end(ident)
        if len(recent) > RECENT_CREDENTIALS:
            recent.popitem(last=False)
        return state


def adopt(stored: Optional[StoredToken], leeway: float) -> Optional[CachedToken]:
    """A shared cache's entry as this process's token, or None if it is unusable or due for ``leeway``.

    Wall-clock times become monotonic ones. An entry is trusted no further than a
    fetched answer: a usable token, finite times, at most MAX_LIFETIME from now.
    """
    # Checked again here: a TokenCache of the caller's own may skip StoredToken.loads.
    if stored is None or not stored.is_valid():
        return None
    now_wall, now = time.time(), _monotonic()
    if now_wall >= max(stored.refresh_at, stored.expires_at - leeway):
        return None
    expires_in = min(stored.expires_at - now_wall, MAX_LIFETIME)
    refresh_in = min(stored.refresh_at - now_wall, expires_in)
    # Its age is unknown: count it as old, so that a refusal may renew it at once.
    return CachedToken.of(stored.value, now + refresh_in, now + expires_in, issued_at=now - MAX_LIFETIME)


class Unbound:
    """What an auth object holds before its token state is bound: no token to serve."""

    __slots__ = ()
    served: None = None

    def __getattr__(self, name: str) -> Any:
        # Only this placeholder's lookups come here, never the auth object's.
        raise AttributeError(f"the token state is bound on first use: read _bound_state().{name}")


UNBOUND = Unbound()


class _BindingLock:
    """Serializes first bindings: objects used by many threads at once bind one state."""

    def __init__(self) -> None:
        self.lock = threading.Lock()

    def after_fork(self) -> None:
        self.lock = threading.Lock()  # another thread may have held it at the fork


BINDING = _BindingLock()

if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=BINDING.after_fork)
