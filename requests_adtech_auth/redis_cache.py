"""A token cache in Redis, shared by workers on many machines.

Needs the ``redis`` extra (``pip install requests-adtech-auth[redis]``) and a
``redis.Redis`` client you configure (URL, TLS, password) as for the rest of your
fleet.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Iterator
from typing import Any, Optional

from .cache import CacheUnavailableError, StoredToken, TokenCache

__all__ = ["RedisTokenCache"]


class RedisTokenCache(TokenCache):
    """Tokens in Redis, with a Redis TTL matching their expiry.

    Args:
        client: a ``redis.Redis`` client.
        prefix: put before every key this cache writes.
        lock_timeout: seconds after which a lock expires by itself, so a
            crashed holder cannot block the others for longer than this.
        wait_timeout: longest wait for another worker's token fetch before
            fetching anyway.
    """

    def __init__(
        self, client: Any, *, prefix: str = "adtech-auth:", lock_timeout: float = 30.0, wait_timeout: float = 30.0
    ) -> None:
        import redis

        self._errors: tuple[type[BaseException], ...] = (redis.RedisError,)
        self.client = client
        self.prefix = prefix
        self.lock_timeout = lock_timeout
        self.wait_timeout = wait_timeout

    def __repr__(self) -> str:
        return f"RedisTokenCache(prefix={self.prefix!r})"

    @contextlib.contextmanager
    def _backend(self, doing: str) -> Iterator[None]:
        try:
            yield
        except self._errors as exc:
            raise CacheUnavailableError(f"Redis token cache failed while {doing} ({type(exc).__name__})") from None

    def load(self, key: str) -> Optional[StoredToken]:
        """Return the token stored under ``key``, or None."""
        with self._backend("reading"):
            text = self.client.get(self.prefix + key)
        return None if text is None else StoredToken.loads(text)

    def store(self, key: str, token: StoredToken) -> None:
        """Store ``token`` with a TTL ending at its expiry."""
        ttl_ms = math.ceil((token.expires_at - time.time()) * 1000)
        if ttl_ms <= 0:
            return
        with self._backend("writing"):
            self.client.set(self.prefix + key, token.dumps(), px=ttl_ms)

    def discard(self, key: str, value: str) -> None:
        """Delete ``key`` if it still holds ``value``."""
        stored = self.load(key)
        if stored is not None and stored.value == value:
            with self._backend("deleting"):
                self.client.delete(self.prefix + key)

    @contextlib.contextmanager
    def lock(self, key: str) -> Iterator[object]:
        """A Redis lock that expires after ``lock_timeout`` even if its holder dies."""
        lock = self.client.lock(
            self.prefix + key + ":lock", timeout=self.lock_timeout, blocking_timeout=self.wait_timeout
        )
        with self._backend("locking"):
            acquired = lock.acquire()
        if not acquired:
            raise CacheUnavailableError(f"the Redis token lock was held for over {self.wait_timeout:g} s")
        try:
            yield lock
        finally:
            # Expired already, or Redis went away: the lock ends by itself either way.
            with contextlib.suppress(*self._errors):
                lock.release()
