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
import math
from contextlib import AbstractContextManager
from typing import NamedTuple, Optional

from .exceptions import AuthError
from .token_answers import is_token_syntax

__all__ = ["CacheUnavailableError", "StoredToken", "TokenCache", "cache_key"]


class CacheUnavailableError(AuthError):
    """The shared cache cannot be reached; the auth object fetches directly instead.

    Cache implementations raise it for backend failures (a Redis outage, an
    unwritable directory). The core catches it, logs once, and carries on
    without the cache: a cache outage never fails a request.
    """


#: Longest serialised entry read back; a real one is well under 17 KiB.
MAX_ENTRY_SIZE = 65536


class StoredToken(NamedTuple):
    """A token as a shared cache holds it; times are Unix timestamps (wall clock).

    Its repr never shows the token value.
    """

    value: str
    refresh_at: float
    expires_at: float

    def __repr__(self) -> str:
        return f"StoredToken(value=<hidden>, refresh_at={self.refresh_at!r}, expires_at={self.expires_at!r})"

    def is_valid(self) -> bool:
        """True for a visible-ASCII token with finite times, renewed no later than it expires."""
        return (
            isinstance(self.value, str)
            and is_token_syntax(self.value)  # what the core accepts from a token endpoint
            and all(_is_number(t) and math.isfinite(t) for t in (self.refresh_at, self.expires_at))
            and self.refresh_at <= self.expires_at
        )

    def dumps(self) -> str:
        """Serialise to the JSON the caches store."""
        return json.dumps({"v": 1, "token": self.value, "refresh_at": self.refresh_at, "expires_at": self.expires_at})

    @classmethod
    def loads(cls, text: object) -> Optional[StoredToken]:
        """Parse :meth:`dumps` output; None for anything else.

        A shared cache is written by other processes, so nothing in it is
        trusted: corrupt, truncated or foreign entries, entries over
        :data:`MAX_ENTRY_SIZE`, non-finite times, a renewal time after the
        expiry, and tokens that are not 1 to 16384 visible ASCII characters
        all give None.
        """
        if not isinstance(text, (str, bytes, bytearray)) or len(text) > MAX_ENTRY_SIZE:
            return None
        try:
            data = json.loads(text)
        except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
            return None
        if not isinstance(data, dict) or data.get("v") != 1:
            return None
        value = data.get("token")
        refresh_at, expires_at = _number(data.get("refresh_at")), _number(data.get("expires_at"))
        if not isinstance(value, str) or refresh_at is None or expires_at is None:
            return None
        token = cls(value, refresh_at, expires_at)
        return token if token.is_valid() else None


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _number(value: object) -> Optional[float]:
    """A JSON number as a float; None for anything else (a bool, a string, an integer beyond float)."""
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return None
    try:
        return float(value)
    except OverflowError:
        return None


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

    Implementations raise :class:`CacheUnavailableError` when their backend
    fails, and no other exception: the core relies on it to fall back to
    direct fetches. :meth:`load` returns None for an entry it cannot use, and
    leaving the :meth:`lock` context never raises.
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
