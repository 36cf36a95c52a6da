"""The keyword options every auth class takes: their defaults, their checks, and their typing."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Optional

from .exceptions import ConfigurationError

__all__ = [
    "DEFAULT_BACKOFF",
    "DEFAULT_LEEWAY",
    "DEFAULT_MAX_BACKOFF",
    "DEFAULT_MAX_RETRIES",
    "DEFAULT_TIMEOUT",
    "LEEWAY_FRACTION",
    "MAX_WAIT",
    "REFUSAL_RENEWAL_FLOOR",
    "check_objects",
    "require_text",
    "seconds",
]

if TYPE_CHECKING:
    import requests
    from typing_extensions import TypedDict

    from .cache import TokenCache

    class CommonOptions(TypedDict, total=False):
        """Keyword options shared by every auth class; see :class:`~requests_adtech_auth.core.TokenAuth`."""

        session: Optional[requests.Session]
        timeout: float
        leeway: float
        hosts: Optional[Iterable[str]]
        max_retries: int
        backoff: float
        max_backoff: float
        cache: Optional[TokenCache]
        share_token: bool


#: Seconds allowed for each token-endpoint attempt in all: connect, headers and body.
DEFAULT_TIMEOUT = 10.0
#: Seconds before expiry at which a token is renewed (capped, see LEEWAY_FRACTION).
DEFAULT_LEEWAY = 60.0
#: The leeway never exceeds this fraction of a token's lifetime, so a 300 s token
#: is renewed after 240 s and a 60 s token after 45 s, not on every request.
LEEWAY_FRACTION = 0.25
#: Token-endpoint failures retried after the first attempt (transient ones only).
DEFAULT_MAX_RETRIES = 2
#: First backoff delay in seconds; doubled on each retry, with jitter.
DEFAULT_BACKOFF = 0.5
#: No wait between retries is longer than this, whatever Retry-After says.
DEFAULT_MAX_BACKOFF = 10.0
#: A refusal status other than 401 (Rokt's 403) renews only a token at least this
#: old: it may also mean "not allowed", and a caller looping over accounts it may
#: not read must not cost a token call per request.
REFUSAL_RENEWAL_FLOOR = 60.0
#: Longest timeout or backoff accepted, in seconds: beyond it a caller waits on nothing.
MAX_WAIT = 3600.0


def require_text(name: str, value: object) -> str:
    """Return ``value`` if it is a non-empty string without surrounding spaces.

    Raises:
        ConfigurationError: it is not (the message names ``name``, never the value).
    """
    if not isinstance(value, str) or not value:
        raise ConfigurationError(f"{name} must be a non-empty string")
    if value != value.strip() or any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
        raise ConfigurationError(f"{name} has surrounding spaces or control characters; copy it again")
    return value


def seconds(name: str, value: object, *, zero_ok: bool = False, most: float = MAX_WAIT) -> float:
    """``value`` as a number of seconds, checked (ConfigurationError naming ``name`` otherwise)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigurationError(f"{name} must be a number of seconds, not {type(value).__name__}")
    number = float(value)
    if not (number >= 0 if zero_ok else number > 0) or number > most:
        lowest = ">= 0" if zero_ok else "> 0"
        raise ConfigurationError(f"{name} must be a number of seconds {lowest} and at most {most:g}, not {value!r}")
    return number


def check_objects(*, max_retries: object, session: object, cache: object, share_token: object) -> None:
    """Check the options that are objects or counts (ConfigurationError naming the option otherwise)."""
    import requests

    from .cache import TokenCache

    if isinstance(max_retries, bool) or not isinstance(max_retries, int) or not 0 <= max_retries <= 100:
        raise ConfigurationError(f"max_retries must be an integer from 0 to 100, not {max_retries!r}")
    if session is not None and not isinstance(session, requests.Session):
        raise ConfigurationError("session must be a requests.Session")
    if cache is not None and not isinstance(cache, TokenCache):
        raise ConfigurationError("cache must be a TokenCache, e.g. FileTokenCache() or RedisTokenCache(client)")
    if not isinstance(share_token, bool):
        raise ConfigurationError("share_token must be True or False")
