"""The token core shared by every vendor flow.

:class:`TokenAuth` owns everything that is the same for all vendors: the lazy,
cached, single-flight token; renewal before expiry on a monotonic clock; bounded
retries of transient token-endpoint failures; one replay of a request that got a
401; keeping credentials to their hosts (also across redirects); clear, redacted
errors; pickling and forking. A vendor module subclasses it and overrides only
:meth:`TokenAuth._token_request`, :meth:`TokenAuth._parse_token` and, where the
vendor does not use ``Authorization: Bearer``, :meth:`TokenAuth._apply_token`.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import random
import re
import threading
import time
import weakref
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, Callable, ClassVar, NamedTuple, Optional, TypeVar
from urllib.parse import urljoin, urlsplit

import requests
from requests.auth import AuthBase
from requests.cookies import extract_cookies_to_jar

from .cache import CacheUnavailableError, StoredToken, TokenCache, cache_key
from .exceptions import (
    AuthError,
    ConfigurationError,
    InsecureTransportError,
    InvalidTokenResponseError,
    TokenRequestError,
)

if TYPE_CHECKING:
    from typing_extensions import Self, Unpack

    from .options import CommonOptions

__all__ = ["EnvVar", "IssuedToken", "TokenAuth", "TokenRequest"]

logger = logging.getLogger("requests_adtech_auth")

#: Seconds allowed for each token-endpoint attempt (connect and read).
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
#: A token answer larger than this is refused; reading stops there (a token is a few KiB).
MAX_TOKEN_ANSWER_BYTES = 1024 * 1024
#: A lifetime claimed beyond this is capped: a token renewed daily costs nothing,
#: and a bogus ``expires_in`` must not pin a revoked token for years.
MAX_LIFETIME = 24 * 3600.0
#: After a shared cache fails, fetch directly for this long before trying it again.
CACHE_RETRY_INTERVAL = 30.0
#: After a failed renewal while the old token is still valid, try again this soon.
RENEWAL_RETRY_INTERVAL = 5.0

# RFC 6750 b64token is stricter; vendors' tokens are all visible ASCII, and that
# is what makes a value safe to put in a header (no CR/LF, no spaces).
_TOKEN_SYNTAX = re.compile(r"[\x21-\x7e]{1,16384}")
_REDACTED = "[redacted]"
_monotonic = time.monotonic  # bound once: read on every request
_T = TypeVar("_T")


class TokenRequest(NamedTuple):
    """What a vendor flow sends to its token endpoint (always a POST).

    Exactly one of ``data`` (form-encoded text) or ``json`` is normally set.
    """

    url: str
    headers: Mapping[str, str] = {}
    data: Optional[str] = None
    json: Any = None
    auth: Optional[AuthBase] = None


class IssuedToken(NamedTuple):
    """A token as parsed from a vendor's answer.

    ``lifetime`` is in seconds; None means the answer did not say, and the
    vendor's documented default lifetime applies.
    """

    value: str
    lifetime: Optional[float] = None


class EnvVar(NamedTuple):
    """One environment variable that :meth:`TokenAuth.from_env` reads.

    ``kind`` is ``"text"``, ``"list"`` (comma-separated) or ``"number"``.
    """

    argument: str
    name: str
    required: bool = True
    kind: str = "text"


_ENV_KINDS: dict[str, tuple[Callable[[str], Any], str]] = {
    "text": (str, "text"),
    "list": (lambda raw: [item.strip() for item in raw.split(",") if item.strip()], "a comma-separated list"),
    "number": (float, "a number"),
}


class _CachedToken(NamedTuple):
    value: str
    refresh_at: float  # monotonic
    expires_at: float  # monotonic
    bearer: str  # "Bearer <value>", built once rather than on every request

    @classmethod
    def of(cls, value: str, refresh_at: float, expires_at: float) -> _CachedToken:
        return cls(value, refresh_at, expires_at, "Bearer " + value)


class _NoAuth(AuthBase):
    """Keeps a caller's session-level auth (or .netrc) off our token requests."""

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        return r


_NO_AUTH = _NoAuth()

# Every live auth object, so that a forked child can replace locks that another
# parent thread may have held at fork time.
_LIVE: weakref.WeakSet[TokenAuth] = weakref.WeakSet()


def _reinit_after_fork() -> None:
    for auth in list(_LIVE):
        auth._after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reinit_after_fork)


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


def is_loopback_host(host: str) -> bool:
    """Return True for ``localhost`` and addresses in 127.0.0.0/8 or ``::1``."""
    host = host.strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    import ipaddress  # only constructors and plain-http URLs get here

    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def parse_lifetime(value: object, name: str) -> Optional[float]:
    """Read a token lifetime in seconds from an answer field.

    Args:
        value: the field's value as decoded from JSON (None when absent).
        name: the field's name, for the error message.

    Returns:
        The lifetime in seconds, capped at :data:`MAX_LIFETIME`, or None when absent.

    Raises:
        InvalidTokenResponseError: the value is not a positive number.
    """
    if value is None:
        return None
    number: float
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise InvalidTokenResponseError(f"the token answer's {name!r} is not a number of seconds", status_code=200)
    try:
        number = float(value)
    except ValueError:
        raise InvalidTokenResponseError(
            f"the token answer's {name!r} is not a number of seconds", status_code=200
        ) from None
    if not number > 0:  # also false for NaN
        raise InvalidTokenResponseError(
            f"the token answer's {name!r} is not positive: the token would be expired on arrival",
            status_code=200,
        )
    return min(number, MAX_LIFETIME)


def _host_of(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme.lower(), (parts.hostname or "")


def _crosses_origin(old_url: str, new_url: str) -> bool:
    # The same rule requests applies to Authorization, so that every credential
    # header is dropped exactly when Authorization is.
    old, new = urlsplit(old_url), urlsplit(new_url)
    if old.hostname != new.hostname:
        return True
    if old.scheme == "http" and new.scheme == "https" and old.port in (80, None) and new.port in (443, None):
        return False
    return old.scheme != new.scheme or old.port != new.port


def _retry_after_seconds(value: Optional[str]) -> Optional[float]:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    from email.utils import parsedate_to_datetime  # rare: keep it off the import path

    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


def _read_limited(response: requests.Response, limit: int) -> bytes:
    chunks = []
    size = 0
    for chunk in response.iter_content(65536):
        size += len(chunk)
        if size > limit:
            raise InvalidTokenResponseError(
                f"the token answer is larger than {limit} bytes; this is not a token answer",
                status_code=response.status_code,
            )
        chunks.append(chunk)
    return b"".join(chunks)


class _ResponseHook:
    """Response hook: one replay after a 401, credential stripping on redirects."""

    __slots__ = ("auth", "retry")

    def __init__(self, auth: TokenAuth, retry: bool) -> None:
        self.auth = auth
        self.retry = retry

    def __call__(self, response: requests.Response, **kwargs: Any) -> requests.Response:
        if response.is_redirect:
            self.auth._strip_for_redirect(response)
            return response
        if response.status_code == 401 and self.retry:
            return self.auth._replay_after_401(response, kwargs)
        return response


class TokenAuth(AuthBase):
    """Base class of every auth flow: a cached, self-renewing access token.

    Subclasses set the class attributes below and override ``_token_request``,
    ``_parse_token`` and, if needed, ``_apply_token``.

    Args:
        token_url: the vendor's token endpoint. ``https://``, or ``http://``
            on a loopback host only.
        session: a :class:`requests.Session` for token calls (proxies, CA
            bundle, adapters). Default: a private session, never the caller's.
        timeout: seconds allowed for each token-endpoint attempt.
        leeway: seconds before expiry at which the token is renewed; capped at
            a quarter of the token's lifetime.
        hosts: host names that receive credentials. Default: the vendor's
            documented API hosts plus the token URL's host.
        max_retries: retries of transient token-endpoint failures (timeouts,
            connection errors, 429, 5xx) after the first attempt.
        backoff: first retry delay in seconds, doubled on each retry.
        max_backoff: cap in seconds on any single retry delay, including one
            asked for by ``Retry-After``.
        cache: a shared :class:`~requests_adtech_auth.cache.TokenCache`
            (file, Redis) so that processes using the same credential share
            one token. Default: this object's memory only.

    Raises:
        ConfigurationError: an argument is unusable (the message names it).
        InsecureTransportError: ``token_url`` is plain http to a non-loopback host.
    """

    #: Vendor name used in messages and logs.
    vendor: ClassVar[str] = "token"
    #: API hosts that receive credentials by default (besides the token URL's host).
    default_api_hosts: ClassVar[tuple[str, ...]] = ()
    #: Lifetime in seconds when the answer does not say (the vendor's documented one).
    default_lifetime: ClassVar[float] = 3600.0
    #: Headers that carry credentials on API calls; removed on cross-origin redirects.
    credential_headers: ClassVar[tuple[str, ...]] = ("Authorization",)
    #: What to tell the user for a vendor error code.
    error_hints: ClassVar[Mapping[str, str]] = {}
    #: What to tell the user for a credential error without a known code.
    credentials_hint: ClassVar[str] = "check the client id and secret"
    #: The environment variables :meth:`from_env` reads (names without prefix).
    env_variables: ClassVar[tuple[EnvVar, ...]] = ()

    _plain_bearer: ClassVar[bool] = True
    _lock: threading.RLock
    _token: Optional[_CachedToken]
    _generation: int
    _last_failure: Optional[AuthError]

    def __init__(
        self,
        token_url: str,
        *,
        session: Optional[requests.Session] = None,
        timeout: float = DEFAULT_TIMEOUT,
        leeway: float = DEFAULT_LEEWAY,
        hosts: Optional[Iterable[str]] = None,
        max_retries: int = DEFAULT_MAX_RETRIES,
        backoff: float = DEFAULT_BACKOFF,
        max_backoff: float = DEFAULT_MAX_BACKOFF,
        cache: Optional[TokenCache] = None,
    ) -> None:
        self.token_url = self._check_token_url(token_url)
        for name, number in (("timeout", timeout), ("backoff", backoff), ("max_backoff", max_backoff)):
            if isinstance(number, bool) or not isinstance(number, (int, float)) or not number > 0:
                raise ConfigurationError(f"{name} must be a positive number of seconds, not {number!r}")
        if isinstance(leeway, bool) or not isinstance(leeway, (int, float)) or not leeway >= 0:
            raise ConfigurationError(f"leeway must be a number of seconds >= 0, not {leeway!r}")
        if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0:
            raise ConfigurationError(f"max_retries must be an integer >= 0, not {max_retries!r}")
        if session is not None and not isinstance(session, requests.Session):
            raise ConfigurationError("session must be a requests.Session")
        if cache is not None and not isinstance(cache, TokenCache):
            raise ConfigurationError("cache must be a TokenCache, e.g. FileTokenCache() or RedisTokenCache(client)")
        self.cache = cache
        self.timeout = float(timeout)
        self.leeway = float(leeway)
        self.max_retries = max_retries
        self.backoff = float(backoff)
        self.max_backoff = float(max_backoff)
        self.hosts = self._check_hosts(hosts)
        self._session = session
        self._owns_session = session is None
        # Prefixes ending right after the authority: everything before the first
        # "/" after "//" is what urlsplit reads the scheme and host from.
        self._allowed_prefixes: tuple[str, ...] = ()
        self._init_state()

    # -- what a vendor module overrides -------------------------------------------------

    def _token_request(self) -> TokenRequest:
        """Build the request that asks the vendor for a token."""
        raise NotImplementedError

    def _parse_token(self, answer: dict[str, Any]) -> IssuedToken:
        """Read the token out of a 2xx JSON-object answer.

        Raises:
            InvalidTokenResponseError: the answer holds no usable token.
        """
        raise NotImplementedError

    def _apply_token(self, request: requests.PreparedRequest, token: str) -> None:
        """Attach the token to an API request (default: ``Authorization: Bearer``)."""
        request.headers["Authorization"] = "Bearer " + token

    def _secrets(self) -> tuple[str, ...]:
        """Values that must never appear in messages (the vendor's secrets)."""
        return ()

    def _cache_scope(self) -> tuple[str, ...]:
        """What, beyond URL, id and secrets, tells two tokens apart (Algonomy: resources)."""
        return ()

    def _public_id(self) -> str:
        """The non-secret identity shown (shortened) in repr and logs."""
        return ""

    def _parse_error(self, status: int, answer: Optional[dict[str, Any]]) -> tuple[Optional[str], Optional[str]]:
        """Return ``(error code, description)`` from an error answer."""
        if answer is None:
            return None, None
        error = answer.get("error")
        description = answer.get("error_description", answer.get("message"))
        return (
            error if isinstance(error, str) and error else None,
            description if isinstance(description, str) and description else None,
        )

    # -- public API --------------------------------------------------------------------

    @classmethod
    def from_env(
        cls, prefix: str = "", *, environ: Optional[Mapping[str, str]] = None, **options: Unpack[CommonOptions]
    ) -> Self:
        """Build an auth object from environment variables.

        The variables are the class's :attr:`env_variables` (e.g. ``ROKT_APP_ID``,
        ``ROKT_APP_SECRET``), each read as ``prefix + name`` so that two accounts
        can live side by side (``prefix="ACME_"`` reads ``ACME_ROKT_APP_ID``).

        Args:
            prefix: put before every variable name.
            environ: the mapping to read (default: ``os.environ``).
            **options: the options every auth class takes.

        Raises:
            ConfigurationError: one message naming every variable that is
                missing or malformed (never a value).
        """
        environ = os.environ if environ is None else environ
        arguments: dict[str, Any] = {}
        problems = []
        for var in cls.env_variables:
            name = prefix + var.name
            raw = (environ.get(name) or "").strip()
            if not raw:
                if var.required:
                    problems.append(f"{name} is not set")
                continue
            parse, description = _ENV_KINDS[var.kind]
            try:
                arguments[var.argument] = parse(raw)
            except ValueError:
                problems.append(f"{name} is not {description}")
        if problems:
            raise ConfigurationError(f"cannot configure {cls.vendor} from the environment: {'; '.join(problems)}")
        try:
            return cls(**arguments, **options)
        except ConfigurationError as exc:
            names = ", ".join(prefix + var.name for var in cls.env_variables if var.argument in arguments)
            raise ConfigurationError(f"{exc} (read from {names})") from None

    def get_token(self) -> str:
        """Return a valid access token, fetching or renewing it if needed.

        Raises:
            TokenRequestError: the token endpoint refused or failed (after
                retrying transient failures).
        """
        cached = self._token
        if cached is not None and time.monotonic() < cached.refresh_at:
            return cached.value
        return self._renew(self._generation)

    def get_headers(self) -> dict[str, str]:
        """Return the headers an API call carries, fetching a token if needed.

        For other HTTP clients (httpx, aiohttp, curl): the auth object still
        caches and renews the token.
        """
        request = requests.PreparedRequest()
        request.prepare_headers({})
        self._apply_token(request, self.get_token())
        return {
            name: value if isinstance(value, str) else value.decode("latin-1")
            for name, value in request.headers.items()
        }

    def invalidate(self) -> None:
        """Forget the cached token (in a shared cache too); the next request fetches a new one."""
        with self._lock:
            cached, self._token = self._token, None
            if cached is not None:
                self._discard_shared(cached.value)

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        """Attach the token to ``request`` if its host is one of ``hosts``."""
        # The hot path of every API call: kept to a dict lookup, a clock read
        # and two writes (see bench/).
        url = request.url or ""
        if not url.startswith(self._allowed_prefixes) and not self._allowed(url):
            return request
        cached = self._token
        if cached is not None and _monotonic() < cached.refresh_at:
            token, bearer = cached.value, cached.bearer
        else:
            token = self.get_token()
            bearer = "Bearer " + token
        if self._plain_bearer:
            request.headers["Authorization"] = bearer
        else:
            self._apply_token(request, token)
        request.hooks["response"].append(self._response_hook)
        return request

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # A flow that keeps the default Bearer header skips a method call per request.
        cls._plain_bearer = cls._apply_token is TokenAuth._apply_token

    def __repr__(self) -> str:
        return (
            f"<{type(self).__name__} id={self._short_id()!r} token_url={self.token_url!r} token={self._token_state()}>"
        )

    def _repr_html_(self) -> str:
        """A small table for notebooks: vendor, id prefix, token URL, token state (never a secret)."""
        from html import escape

        rows = [
            ("vendor", self.vendor),
            ("id", self._short_id() or "(hidden)"),
            ("token URL", self.token_url),
            ("token", self._token_state()),
        ]
        cells = "".join(f'<tr><th style="text-align:left">{escape(k)}</th><td>{escape(v)}</td></tr>' for k, v in rows)
        return f"<table><caption>{escape(type(self).__name__)}</caption>{cells}</table>"

    # -- the machinery -----------------------------------------------------------------

    def _init_state(self) -> None:
        # RLock: a vendor method holding the lock (Algonomy's update) may renew.
        self._lock = threading.RLock()
        self._token = None
        self._generation = 0
        self._last_failure = None
        self._cache_warned = False
        self._cache_retry_at = 0.0
        self._response_hook = _ResponseHook(self, retry=True)
        _LIVE.add(self)

    def _after_fork(self) -> None:
        self._lock = threading.RLock()
        self._last_failure = None
        if self._owns_session:
            # Pooled sockets are shared with the parent; never write to them from both.
            self._session = None

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        for name in ("_lock", "_token", "_last_failure", "_generation", "_response_hook"):
            state.pop(name, None)
        if self._owns_session:
            state["_session"] = None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._init_state()

    def _token_state(self) -> str:
        cached = self._token
        if cached is None:
            return "none yet"
        left = cached.expires_at - time.monotonic()
        if left <= 0:
            return "expired"
        if left >= 120:
            return f"valid for {int(left // 60)} min"
        return f"valid for {int(left)} s"

    def _describe(self) -> str:
        shown = self._short_id()
        return f"{self.vendor} ({shown})" if shown else self.vendor

    def _short_id(self) -> str:
        # Four characters tell two credentials apart in a log without spelling one out.
        shown = self._public_id()
        return shown[:4] + "…" if len(shown) > 4 else shown

    @classmethod
    def _check_token_url(cls, url: object) -> str:
        if not isinstance(url, str) or not url:
            raise ConfigurationError("token_url must be a non-empty URL string")
        scheme, host = _host_of(url)
        if scheme not in ("https", "http") or not host:
            # The URL itself is not echoed: it may carry user:password.
            raise ConfigurationError("token_url must be an absolute https:// URL (scheme and host)")
        if scheme == "http" and not is_loopback_host(host):
            raise InsecureTransportError(
                f"refusing to send {cls.vendor} credentials over plain http to {host}: "
                "use an https:// token_url (plain http is allowed for loopback hosts only)"
            )
        return url

    def _check_hosts(self, hosts: Optional[Iterable[str]]) -> frozenset[str]:
        if hosts is None:
            return frozenset({*self.default_api_hosts, _host_of(self.token_url)[1]})
        if isinstance(hosts, (str, bytes)):
            raise ConfigurationError("hosts must be a collection of host names, e.g. ['api.example.com'], not a string")
        checked = set()
        for host in hosts:
            if not isinstance(host, str) or not host or "/" in host or any(c.isspace() for c in host):
                raise ConfigurationError(f"hosts must hold bare host names like 'api.example.com', not {host!r}")
            checked.add(host.strip("[]").lower())
        return frozenset(checked)

    def _allowed(self, url: str) -> bool:
        # The slow path: parse the URL. An allowed origin is remembered as a
        # "scheme://host[:port]/" prefix, so the next request to it skips parsing.
        scheme, host = _host_of(url)
        allowed = host in self.hosts and scheme in ("https", "http")
        if allowed and scheme == "http" and not is_loopback_host(host):
            raise InsecureTransportError(f"refusing to send a {self.vendor} token over plain http to {host}: use https")
        end = url.find("/", 8)
        if allowed and end > 0 and len(self._allowed_prefixes) < 64:
            self._allowed_prefixes = (*self._allowed_prefixes, url[: end + 1])
        return allowed

    def _token_session(self) -> requests.Session:
        session = self._session
        if session is None:
            session = self._session = requests.Session()
        return session

    def _renew(self, seen_generation: int) -> str:
        cached = self._token
        if cached is not None and time.monotonic() < cached.expires_at:
            # Due for renewal but still valid: if another thread is already
            # renewing, keep serving this token rather than queueing behind it.
            if not self._lock.acquire(blocking=False):
                return cached.value
        else:
            self._lock.acquire()
        try:
            return self._renew_locked(seen_generation)
        finally:
            self._lock.release()

    def _renew_locked(self, seen_generation: int) -> str:
        cached = self._token
        now = time.monotonic()
        if cached is not None and now < cached.refresh_at:
            return cached.value
        if self._generation != seen_generation and self._last_failure is not None:
            # The fetch this thread waited on has just failed: one failure for
            # all waiters, not one full retry cycle per waiting thread.
            raise self._last_failure
        try:
            fresh = self._obtain()
        except AuthError as exc:
            self._generation += 1
            if cached is not None and now < cached.expires_at:
                self._token = cached._replace(
                    refresh_at=now + min(RENEWAL_RETRY_INTERVAL, (cached.expires_at - now) / 2)
                )
                self._last_failure = None
                logger.warning(
                    "%s: renewing the token failed (%s); the current one is valid for %.0f s more",
                    self._describe(),
                    exc,
                    cached.expires_at - now,
                )
                return cached.value
            self._last_failure = exc
            raise
        self._generation += 1
        self._last_failure = None
        self._token = fresh
        return fresh.value

    def _obtain(self) -> _CachedToken:
        """A fresh token: from the shared cache if it has one, else fetched (and shared)."""
        cache = self.cache
        if cache is None or _monotonic() < self._cache_retry_at:
            return self._fetch_with_retries()
        key = self._cache_key()
        with contextlib.ExitStack() as held:
            try:
                found = self._adopt(cache.load(key))
                if found is None:
                    # Another process may be fetching: wait for it, then look again.
                    held.enter_context(cache.lock(key))
                    found = self._adopt(cache.load(key))
            except CacheUnavailableError as exc:
                self._cache_down(exc)
                found, cache = None, None
            if found is not None:
                logger.debug("%s: using the token in %r", self._describe(), self.cache)
                return found
            fresh = self._fetch_with_retries()
            if cache is not None:
                self._store_shared(fresh, key)
            return fresh

    def _cache_key(self) -> str:
        return cache_key(type(self).__name__, self.token_url, self._public_id(), *self._secrets(), *self._cache_scope())

    def _adopt(self, stored: Optional[StoredToken]) -> Optional[_CachedToken]:
        # Wall-clock times from the cache become this process's monotonic times.
        if stored is None or not _TOKEN_SYNTAX.fullmatch(stored.value):
            return None
        now_wall, now = time.time(), _monotonic()
        if now_wall >= stored.refresh_at:
            return None
        return _CachedToken.of(stored.value, now + stored.refresh_at - now_wall, now + stored.expires_at - now_wall)

    def _cache_down(self, exc: CacheUnavailableError) -> None:
        # Leave a failing cache alone for a while: each attempt may cost the
        # backend's own timeouts and retries, on the caller's request.
        self._cache_retry_at = _monotonic() + CACHE_RETRY_INTERVAL
        if not self._cache_warned:
            self._cache_warned = True
            logger.warning("%s: %s; fetching tokens directly until it is back", self._describe(), exc)

    def _store_shared(self, token: _CachedToken, key: Optional[str] = None) -> None:
        """Put ``token`` in the shared cache, if there is one (its times as wall clock)."""
        if self.cache is None:
            return
        now_wall, now = time.time(), _monotonic()
        stored = StoredToken(token.value, now_wall + token.refresh_at - now, now_wall + token.expires_at - now)
        try:
            self.cache.store(key or self._cache_key(), stored)
        except CacheUnavailableError as exc:
            self._cache_down(exc)

    def _discard_shared(self, value: str) -> None:
        if self.cache is not None:
            try:
                self.cache.discard(self._cache_key(), value)
            except CacheUnavailableError as exc:
                self._cache_down(exc)

    def _fetch_with_retries(self) -> _CachedToken:
        def attempt() -> tuple[float, IssuedToken]:
            started = time.monotonic()
            return started, self._issued_from(self._post_token_endpoint(self._token_request()))

        started, issued = self._retrying(attempt)
        lifetime = issued.lifetime if issued.lifetime is not None else self.default_lifetime
        leeway = min(self.leeway, lifetime * LEEWAY_FRACTION)
        logger.info(
            "%s: fetched a token, expires in %.0f s, renewal in %.0f s", self._describe(), lifetime, lifetime - leeway
        )
        # Lifetime counts from before the request left: the server's clock
        # started while our request and its answer were in flight.
        return _CachedToken.of(issued.value, started + lifetime - leeway, started + lifetime)

    def _retrying(self, attempt: Callable[[], _T]) -> _T:
        """Run ``attempt``, retrying transient :class:`TokenRequestError` with backoff."""
        retries = 0
        while True:
            try:
                return attempt()
            except TokenRequestError as exc:
                if not exc.transient or retries >= self.max_retries:
                    raise
                delay = self._retry_delay(retries, exc.retry_after)
                retries += 1
                logger.warning(
                    "%s: token request failed (%s); retry %d of %d in %.2f s",
                    self._describe(),
                    exc,
                    retries,
                    self.max_retries,
                    delay,
                )
                time.sleep(delay)

    def _retry_delay(self, attempt: int, retry_after: Optional[float]) -> float:
        if retry_after is not None:
            return min(retry_after, self.max_backoff)
        delay = self.backoff * 2.0**attempt
        return min(delay * random.uniform(0.75, 1.25), self.max_backoff)  # noqa: S311 - jitter, not crypto

    def _post_token_endpoint(self, spec: TokenRequest) -> dict[str, Any]:
        """POST ``spec`` once; return the 2xx JSON-object answer or raise a library error."""
        logger.debug("%s: requesting a token from %s", self._describe(), spec.url)
        session = self._token_session()
        try:
            response = session.post(
                spec.url,
                headers=dict(spec.headers),
                data=spec.data,
                json=spec.json,
                auth=spec.auth or _NO_AUTH,
                timeout=self.timeout,
                allow_redirects=False,
                stream=True,
                # Passed explicitly: otherwise REQUESTS_CA_BUNDLE in the environment
                # silently overrides the CA bundle set on session.verify.
                verify=session.verify,
            )
        except requests.exceptions.SSLError as exc:
            raise TokenRequestError(
                f"{self.vendor} token endpoint {spec.url} failed TLS verification ({type(exc).__name__}); "
                "if it uses a private CA, pass session= with session.verify set to its bundle",
            ) from exc
        except requests.Timeout as exc:
            raise TokenRequestError(
                f"{self.vendor} token endpoint {spec.url} did not answer within {self.timeout:g} s",
                transient=True,
            ) from exc
        except requests.RequestException as exc:
            raise TokenRequestError(
                f"could not reach the {self.vendor} token endpoint {spec.url} ({type(exc).__name__}); "
                "check the URL and the network",
                transient=True,
            ) from exc
        with response:
            try:
                body = _read_limited(response, MAX_TOKEN_ANSWER_BYTES)
            except AuthError:
                raise
            except requests.RequestException as exc:
                raise TokenRequestError(
                    f"the {self.vendor} token endpoint broke off its answer ({type(exc).__name__})",
                    status_code=response.status_code,
                    transient=True,
                ) from exc
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and "Content-Encoding" not in response.headers and len(body) < int(declared):
            # urllib3 1.x returns a short body without complaint when the connection drops.
            raise TokenRequestError(
                f"the {self.vendor} token endpoint broke off its answer ({len(body)} of {declared} bytes)",
                status_code=response.status_code,
                transient=True,
            )
        return self._read_answer(response, body)

    def _read_answer(self, response: requests.Response, body: bytes) -> dict[str, Any]:
        status = response.status_code
        try:
            answer = json.loads(body)
        except (ValueError, RecursionError):  # RecursionError: absurdly nested JSON
            answer = None
        if 300 <= status < 400:
            location = self._redact(response.headers.get("location", "(no location)"))[:300]
            raise TokenRequestError(
                f"the {self.vendor} token endpoint answered HTTP {status}, a redirect to {location!r}, "
                "which is not followed with credentials; check token_url",
                status_code=status,
            )
        if not 200 <= status < 300:
            raise self._error_for(status, answer if isinstance(answer, dict) else None, response)
        if not isinstance(answer, dict):
            what = "empty" if not body.strip() else "not a JSON object"
            raise InvalidTokenResponseError(
                f"the {self.vendor} token endpoint answered HTTP {status} but its body is {what}; check token_url",
                status_code=status,
            )
        return answer

    def _issued_from(self, answer: dict[str, Any]) -> IssuedToken:
        issued = self._parse_token(answer)
        self._check_token_value(issued.value)
        return issued

    def _check_token_value(self, value: object) -> None:
        """Refuse a token that cannot travel in a header (CR/LF, spaces, non-ASCII)."""
        if not isinstance(value, str) or not _TOKEN_SYNTAX.fullmatch(value):
            raise InvalidTokenResponseError(
                f"the {self.vendor} token endpoint returned a token that is not a printable "
                "ASCII string and cannot be sent in a header",
                status_code=200,
            )

    def _error_for(
        self, status: int, answer: Optional[dict[str, Any]], response: requests.Response
    ) -> TokenRequestError:
        error, description = self._parse_error(status, answer)
        error = self._redact(error)[:200] if error else None
        description = self._redact(description)[:500] if description else None
        transient = status in (408, 429) or status >= 500
        if transient:
            hint = "the vendor is busy or failing; try again later"
        elif error and error in self.error_hints:
            hint = self.error_hints[error]
        elif status in (400, 401, 403):
            hint = self.credentials_hint
        else:
            hint = "check token_url"
        detail = f" {error}" if error else ""
        detail += f" ({description})" if description else ""
        return TokenRequestError(
            f"{self.vendor} token request failed: HTTP {status}{detail}; {hint}",
            status_code=status,
            error=error,
            description=description,
            transient=transient,
            retry_after=_retry_after_seconds(response.headers.get("Retry-After")),
        )

    def _redact(self, text: str) -> str:
        cached = self._token
        for secret in (*self._secrets(), cached.value if cached else ""):
            if secret and len(secret) >= 4:
                text = text.replace(secret, _REDACTED)
        return text

    # -- response hook helpers ---------------------------------------------------------

    def _strip_for_redirect(self, response: requests.Response) -> None:
        request = response.request
        target = urljoin(response.url, response.headers.get("location", ""))
        if _crosses_origin(request.url or "", target):
            # requests drops Authorization by itself but not custom headers; the
            # next hop is built from this request, so this is where they go.
            for name in self.credential_headers:
                request.headers.pop(name, None)

    def _replay_after_401(self, response: requests.Response, send_kwargs: dict[str, Any]) -> requests.Response:
        request = response.request
        if not self._allowed(request.url or ""):
            # A redirect took this request off our hosts: never answer a foreign 401 with a token.
            return response
        if not _rewind_body(request):
            logger.info("%s: got 401 but the request body cannot be replayed; returning it", self._describe())
            return response
        with self._lock:
            cached = self._token
            # Drop the token only if it is the one refused: another thread may
            # already have replaced it, and that one must not be thrown away.
            sent = [request.headers.get(name) for name in self.credential_headers]
            if cached is not None and any(isinstance(v, str) and cached.value in v for v in sent):
                self._token = None
                self._discard_shared(cached.value)
        logger.info(
            "%s: got 401 from %s; replaying once with a fresh token",
            self._describe(),
            (request.url or "").split("?", 1)[0],  # a query string may carry something private
        )
        token = self.get_token()
        response.content  # noqa: B018 - drain so the connection returns to the pool
        response.close()
        retry = request.copy()
        no_replay = _ResponseHook(self, retry=False)
        retry.hooks = {
            event: [no_replay if isinstance(h, _ResponseHook) else h for h in hooks]
            for event, hooks in retry.hooks.items()
        }
        if retry._cookies is not None:
            extract_cookies_to_jar(retry._cookies, request, response.raw)
            retry.prepare_cookies(retry._cookies)
        self._apply_token(retry, token)
        adapter: Callable[..., requests.Response] = response.connection.send
        second = adapter(retry, **send_kwargs)
        second.history.append(response)
        second.request = retry
        if second.is_redirect:
            self._strip_for_redirect(second)
        return second


def _rewind_body(request: requests.PreparedRequest) -> bool:
    body: object = request.body  # typed bytes | str, but a file object at run time
    if body is None or isinstance(body, (bytes, str)):
        return True
    position = getattr(request, "_body_position", None)
    seek = getattr(body, "seek", None)
    if seek is None or not isinstance(position, int):
        return False
    try:
        seek(position)
    except OSError:
        return False
    return True
