"""A token cache in Redis, shared by workers on many machines.

Needs the ``redis`` extra (``pip install requests-adtech-auth[redis]``). Build
it from a URL with :meth:`RedisTokenCache.from_url`, or give it the
``redis.Redis`` client you configure (URL, TLS, password) for the rest of your
fleet: the cache then talks to the same server through its own copy of that
client, with short socket timeouts, and leaves yours as it is.
"""

from __future__ import annotations

import contextlib
import math
import threading
import time
from collections.abc import Iterator
from typing import Any, Callable, Optional, TypeVar

from .cache import CacheUnavailableError, StoredToken, TokenCache
from .deadline import run_within
from .exceptions import ConfigurationError

_T = TypeVar("_T")

__all__ = ["RedisTokenCache"]

#: Longest Redis TTL set, well beyond any token lifetime the core accepts (24 h).
MAX_TTL = 7 * 24 * 3600.0

#: Connection settings that belong to one pool or one client, not to the server
#: being reached: the cache's own pool makes its own (and its own retry policy).
_POOL_OWNED = frozenset(
    {
        "retry",
        "retry_on_timeout",
        "retry_on_error",
        "cache",
        "cache_config",
        "event_dispatcher",
        "himport_registry",
        "maint_notifications_pool_handler",
        "oss_cluster_maint_notifications_handler",
        "connection_pool",
    }
)


def _import_redis() -> Any:
    try:
        import redis
    except ImportError:
        raise ConfigurationError(
            "RedisTokenCache needs the 'redis' extra: pip install 'requests-adtech-auth[redis]'"
        ) from None
    return redis


def _positive(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < math.inf:
        raise ConfigurationError(f"{name} must be a finite number of seconds above 0")
    return float(value)


def _capped(value: object, limit: float) -> float:
    if isinstance(value, (int, float)) and not isinstance(value, bool) and 0 < value < limit:
        return float(value)
    return limit


class RedisTokenCache(TokenCache):
    """Tokens in Redis, with a Redis TTL matching their expiry.

    Args:
        client: a ``redis.Redis`` client. The cache does not use it directly: it
            makes a private client with the same connection settings (server,
            TLS, password, database) and socket timeouts of at most
            ``timeout``, without retries, so a Redis that stops answering costs
            a token fetch at most about ``timeout`` per cache operation. A
            client it cannot copy (a cluster or sentinel client) is used as it
            is, with its own timeouts, and the cache then does not pickle.
        prefix: put before every key this cache writes.
        lock_timeout: seconds after which a lock expires by itself, so a
            crashed holder cannot block the others for longer than this.
        wait_timeout: longest wait for another worker's token fetch before
            fetching anyway.
        timeout: the socket timeout (connect, and each reply) of every cache
            operation, in seconds.

    The cache pickles (with the auth object that holds it): the connection
    settings travel, and the copy connects on first use.

    Raises:
        ConfigurationError: the ``redis`` package (the ``redis`` extra) is
            missing, ``client`` is an asyncio client, or an option is out of range.
    """

    def __init__(
        self,
        client: Any,
        *,
        prefix: str = "adtech-auth:",
        lock_timeout: float = 30.0,
        wait_timeout: float = 30.0,
        timeout: float = 2.0,
    ) -> None:
        redis = _import_redis()
        if _is_asyncio_client(client):
            raise ConfigurationError("client must be a redis.Redis, not a redis.asyncio client")
        if not isinstance(prefix, str):
            raise ConfigurationError("prefix must be a str")
        self.prefix = prefix
        self.lock_timeout = _positive("lock_timeout", lock_timeout)
        self.wait_timeout = _positive("wait_timeout", wait_timeout)
        self.timeout = _positive("timeout", timeout)
        self._settings = _private_settings(redis, client, self.timeout)
        self._given = client if self._settings is None else None
        self._init_state()

    def _init_state(self) -> None:
        self._client: Any = self._given
        self._client_lock = threading.Lock()

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        prefix: str = "adtech-auth:",
        lock_timeout: float = 30.0,
        wait_timeout: float = 30.0,
        timeout: float = 2.0,
        **client_options: Any,
    ) -> RedisTokenCache:
        """A cache on the Redis server at ``url`` (``redis://``, ``rediss://`` or ``unix://``).

        Args:
            url: the server, as for ``redis.Redis.from_url``.
            prefix: as for the constructor.
            lock_timeout: as for the constructor.
            wait_timeout: as for the constructor.
            timeout: as for the constructor.
            client_options: passed to ``redis.Redis.from_url`` (``ssl_ca_certs``,
                ``username``, ...); socket timeouts above ``timeout`` are lowered to it.

        Raises:
            ConfigurationError: ``url`` or an option is not usable (the message
                never repeats the URL, which may hold a password).
        """
        redis = _import_redis()
        try:
            client = redis.Redis.from_url(url, **client_options)
        except (ValueError, TypeError, redis.RedisError) as exc:
            raise ConfigurationError(f"url or client options not usable for Redis ({type(exc).__name__})") from None
        return cls(client, prefix=prefix, lock_timeout=lock_timeout, wait_timeout=wait_timeout, timeout=timeout)

    def __repr__(self) -> str:
        return f"RedisTokenCache(prefix={self.prefix!r}, timeout={self.timeout:g})"

    def __getstate__(self) -> dict[str, Any]:
        if self._settings is None:
            raise TypeError(
                f"a RedisTokenCache over a client of type {type(self._given).__name__} does not pickle: "
                "give it a redis.Redis client, or use RedisTokenCache.from_url()"
            )
        state = self.__dict__.copy()
        for name in ("_client", "_client_lock", "_given"):
            state.pop(name, None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._given = None
        self._init_state()

    @property
    def client(self) -> Any:
        """The client the cache talks through (its private copy of the one it was given)."""
        client = self._client
        if client is None and self._settings is not None:
            # Built on first use: after unpickling, or in a process that never needs it.
            with self._client_lock:
                if self._client is None:
                    redis = _import_redis()
                    connection_class, kwargs = self._settings
                    pool = redis.ConnectionPool(connection_class=connection_class, **kwargs)
                    self._client = redis.Redis(connection_pool=pool)
                client = self._client
        return client

    @contextlib.contextmanager
    def _backend(self, doing: str) -> Iterator[None]:
        # Everything a client can raise (RedisError, OSError, a TypeError from a
        # setting the server or a client version rejects) means "no cache":
        # the core then fetches directly.
        try:
            yield
        except Exception as exc:
            raise CacheUnavailableError(f"Redis token cache failed while {doing} ({type(exc).__name__})") from None

    def _within(self, limit: float, doing: str, operation: Callable[[], _T]) -> _T:
        """Run ``operation`` against Redis, ending it after twice ``limit`` seconds in all.

        The socket timeouts bound each read; a server dripping its reply a byte
        at a time would still hold the token fetch (and its lock). Past the
        deadline the connections are dropped, which ends the blocked read.
        """
        limit *= 2  # the socket timeouts end a silent server first; this is for a dripping one

        def time_is_up() -> BaseException:
            with contextlib.suppress(Exception):
                self.client.connection_pool.disconnect()  # ends the blocked read
            return CacheUnavailableError(f"Redis token cache did not finish {doing} within {limit:g} s")

        try:
            return run_within(limit, operation, abandon=time_is_up, name="requests-adtech-auth redis")
        except CacheUnavailableError:
            raise
        except Exception:
            with self._backend(doing):  # the client's own failure, as every other call maps it
                raise

    def load(self, key: str) -> Optional[StoredToken]:
        """Return the token stored under ``key``, or None.

        Raises:
            CacheUnavailableError: Redis failed or did not answer within ``timeout``.
        """
        client = self.client
        text = self._within(self.timeout, "reading", lambda: client.get(self.prefix + key))
        return None if text is None else StoredToken.loads(text)

    def store(self, key: str, token: StoredToken) -> None:
        """Store ``token`` with a TTL ending at its expiry, :data:`MAX_TTL` at most.

        A token :meth:`StoredToken.loads` would refuse is not written.

        Raises:
            CacheUnavailableError: Redis failed or did not answer within ``timeout``.
        """
        if not isinstance(token, StoredToken) or not token.is_valid():
            return
        ttl_ms = math.ceil(min(token.expires_at - time.time(), MAX_TTL) * 1000)
        if ttl_ms <= 0:
            return
        client = self.client
        self._within(self.timeout, "writing", lambda: client.set(self.prefix + key, token.dumps(), px=ttl_ms))

    def discard(self, key: str, value: str) -> None:
        """Delete ``key`` if it still holds ``value``.

        Raises:
            CacheUnavailableError: Redis failed or did not answer within ``timeout``.
        """
        stored = self.load(key)
        if stored is not None and stored.value == value:
            client = self.client
            self._within(self.timeout, "deleting", lambda: client.delete(self.prefix + key))

    @contextlib.contextmanager
    def lock(self, key: str) -> Iterator[object]:
        """A Redis lock that expires after ``lock_timeout`` even if its holder dies.

        Raises:
            CacheUnavailableError: Redis failed, or another worker held the lock
                for over ``wait_timeout`` seconds.
        """
        with self._backend("locking"):
            # Not thread-local: it is taken in a worker thread (see _within) and released here.
            lock = self.client.lock(
                self.prefix + key + ":lock",
                timeout=self.lock_timeout,
                blocking_timeout=self.wait_timeout,
                thread_local=False,
            )
        acquired = self._within(self.wait_timeout + self.timeout, "locking", lock.acquire)
        if not acquired:
            raise CacheUnavailableError(f"the Redis token lock was held for over {self.wait_timeout:g} s")
        try:
            yield lock
        finally:
            # Expired already, or Redis went away: the lock ends by itself either
            # way, and leaving must never fail the fetch it was held for.
            with contextlib.suppress(Exception):
                self._within(self.timeout, "unlocking", lock.release)


def _is_asyncio_client(client: Any) -> bool:
    try:
        from redis.asyncio import Redis
    except ImportError:
        return False
    return isinstance(client, Redis)


def _private_settings(redis: Any, client: Any, timeout: float) -> Optional[tuple[Any, dict[str, Any]]]:
    """The connection class and settings of a private copy of ``client``; None if it cannot be copied."""
    pool: Any = getattr(client, "connection_pool", None)
    # Exact types: a sentinel pool is a ConnectionPool subclass whose connections need their pool.
    if type(pool) not in (redis.ConnectionPool, redis.BlockingConnectionPool):
        return None
    connection_class = pool.connection_class
    kwargs = {
        name: value
        for name, value in pool.connection_kwargs.items()
        # A bare object() is a redis-py "not given" marker: leave the default, and
        # let the settings pickle (a copy of the marker would not be the marker).
        if name not in _POOL_OWNED and type(value) is not object
    }
    kwargs["socket_timeout"] = _capped(kwargs.get("socket_timeout"), timeout)
    # Old redis-py Unix socket connections take no connect timeout (connecting is local).
    if "socket_connect_timeout" in kwargs or not issubclass(connection_class, redis.UnixDomainSocketConnection):
        kwargs["socket_connect_timeout"] = _capped(kwargs.get("socket_connect_timeout"), timeout)
    for name, value in list(kwargs.items()):
        # Newer redis-py keeps the timeouts to restore after a maintenance event ("orig_socket_timeout").
        if name.endswith(("_socket_timeout", "_socket_connect_timeout")):
            kwargs[name] = _capped(value, timeout)
    # No retries: each would cost another timeout, and a cache miss only costs a direct fetch.
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    kwargs["retry"] = Retry(NoBackoff(), 0)
    return connection_class, kwargs
