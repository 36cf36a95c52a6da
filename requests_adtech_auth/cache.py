"""Token caches shared between auth objects, processes and machines.

An auth object keeps its token in memory. Give it ``cache=`` to share tokens
with every other process using the same cache and credential: the core looks
the token up there before fetching, holds the cache's lock across a fetch (one
token request per renewal across all of them), and stores what it fetched.
Expiry is stored as wall-clock time, since monotonic clocks are not shared.

:class:`~requests_adtech_auth.file_cache.FileTokenCache` serves one machine;
:class:`~requests_adtech_auth.redis_cache.RedisTokenCache` serves a fleet.
"""

from __future__ import annotations

import hashlib
import json
from contextlib import AbstractContextManager
from typing import NamedTuple, Optional

from .exceptions import AuthError

__all__ = ["CacheUnavailableError", "StoredToken", "TokenCache", "cache_key"]


class CacheUnavailableError(AuthError):
    """The shared cache cannot be reached; the auth object fetches directly instead.

    Cache implementations raise it for backend failures (a Redis outage, an
    unwritable directory). The core catches it, logs once, and carries on
    without the cache: a cache outage never fails a request.
    """


class StoredToken(NamedTuple):
    """A token as a shared cache holds it; times are Unix timestamps (wall clock)."""

    value: str
    refresh_at: float
    expires_at: float

    def dumps(self) -> str:
        """Serialise to the JSON the caches store."""
        return json.dumps({"v": 1, "token": self.value, "refresh_at": self.refresh_at, "expires_at": self.expires_at})

    @classmethod
    def loads(cls, text: object) -> Optional[StoredToken]:
        """Parse :meth:`dumps` output; None for anything else (corrupt, truncated, foreign)."""
        try:
            data = json.loads(text)  # type: ignore[arg-type]
            token = cls(str(data["token"]), float(data["refresh_at"]), float(data["expires_at"]))
        except (ValueError, TypeError, KeyError, RecursionError):
            return None
        return token if data.get("v") == 1 and isinstance(data["token"], str) else None


def cache_key(*parts: str) -> str:
    """A cache key for a credential: a SHA-256 of everything that identifies it.

    The parts include the secrets, so different credentials never share a
    token, and the key reveals none of them.
    """
    digest = hashlib.sha256(b"requests-adtech-auth/token/v1")
    for part in parts:
        encoded = part.encode("utf-8")
        digest.update(len(encoded).to_bytes(4, "big") + encoded)
    return digest.hexdigest()


class TokenCache:
    """The interface of a shared token cache.

    Implementations raise :class:`CacheUnavailableError` when their backend fails.
    """

    def load(self, key: str) -> Optional[StoredToken]:
        """Return the token stored under ``key``, or None."""
        raise NotImplementedError

    def store(self, key: str, token: StoredToken) -> None:
        """Store ``token`` under ``key``, replacing what was there."""
        raise NotImplementedError

    def discard(self, key: str, value: str) -> None:
        """Remove the token under ``key`` if it is ``value`` (a server refused it)."""
        raise NotImplementedError

    def lock(self, key: str) -> AbstractContextManager[object]:
        """A lock on ``key`` shared by every user of the cache, held across a token fetch."""
        raise NotImplementedError
