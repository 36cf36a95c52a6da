"""The token core shared by every vendor flow.

:class:`TokenAuth` owns everything that is the same for all vendors: the lazy,
cached, single-flight token; renewal before expiry on a monotonic clock; bounded
retries of transient token-endpoint failures; one replay of a request that the
vendor refused with a "token refused" status; keeping credentials to their hosts
(decided by :mod:`~requests_adtech_auth.boundary`, also across redirects and
replays); clear, redacted errors; pickling and forking. A vendor module
subclasses it and overrides only :meth:`TokenAuth._token_request`,
:meth:`TokenAuth._parse_token` and, where the vendor does not use
``Authorization: Bearer``, :meth:`TokenAuth._apply_token`.
"""

from __future__ import annotations

import functools
import logging
import os
import re
import threading
import time
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, Callable, ClassVar, NamedTuple, Optional, TypeVar, Union

import requests
from requests.auth import AuthBase
from requests.cookies import extract_cookies_to_jar

from .boundary import CredentialBoundary, check_token_url, is_loopback_host, next_hop_url, origin_of, url_for_display
from .cache import TokenCache, cache_key
from .exception_copies import without_trace
from .exceptions import (
    AuthError,
    ConfigurationError,
)
from .redaction import Redactor
from .token_answers import MAX_LIFETIME, MAX_TOKEN_ANSWER_BYTES, IssuedToken, TokenRequest, parse_lifetime
from .token_endpoint import TokenEndpointClient, cutoff_session
from .token_state import CACHE_RETRY_INTERVAL, RENEWAL_RETRY_INTERVAL, CachedToken, TokenState, shared_state

if TYPE_CHECKING:
    from typing_extensions import Self, Unpack

    from .options import CommonOptions

__all__ = [
    "EnvVar",
    "IssuedToken",
    "TokenAuth",
    "TokenRequest",
    "TokenStatus",
    "is_loopback_host",
    "parse_lifetime",
    "require_text",
]

logger = logging.getLogger("requests_adtech_auth")

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
_MAX_WAIT = 3600.0

_monotonic = time.monotonic  # bound once: read on every request
_F = TypeVar("_F", bound=Callable[..., Any])

__all__ += ["CACHE_RETRY_INTERVAL", "MAX_LIFETIME", "MAX_TOKEN_ANSWER_BYTES", "RENEWAL_RETRY_INTERVAL"]


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


class TokenStatus(NamedTuple):
    """The cached token's timing, in seconds from now (negative once past)."""

    expires_in: float
    renews_in: float


class _DefaultTokenSession:
    """The token session of every auth object not given one.

    One connection pool for the process, however many auth objects come and go.
    Its cookie jar takes nothing: a cookie one credential's token answer sets is
    not sent with another's.
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.session: Optional[requests.Session] = None

    def get(self) -> requests.Session:
        with self.lock:
            if self.session is None:
                from http.cookiejar import DefaultCookiePolicy

                session = cutoff_session()
                session.cookies.set_policy(DefaultCookiePolicy(allowed_domains=[]))
                self.session = session
            return self.session

    def after_fork(self) -> None:
        # Pooled sockets are shared with the parent; never write to them from both.
        self.lock = threading.Lock()
        self.session = None


_DEFAULT_SESSION = _DefaultTokenSession()

if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_DEFAULT_SESSION.after_fork)


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


def _seconds(name: str, value: object, *, zero_ok: bool = False, most: float = _MAX_WAIT) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigurationError(f"{name} must be a number of seconds, not {type(value).__name__}")
    number = float(value)
    if not (number >= 0 if zero_ok else number > 0) or number > most:
        lowest = ">= 0" if zero_ok else "> 0"
        raise ConfigurationError(f"{name} must be a number of seconds {lowest} and at most {most:g}, not {value!r}")
    return number


def _near_miss(name: str, environ: Mapping[str, str], expected: set[str]) -> Optional[str]:
    """A variable set in ``environ`` whose name looks like a typo of ``name`` (names only, never values)."""
    import difflib

    head = name.split("_", 1)[0] + "_"
    candidates = [key for key in environ if key.startswith(head) and key not in expected]
    found = difflib.get_close_matches(name, candidates, n=1, cutoff=0.85)
    return found[0] if found else None


def _public(method: _F) -> _F:
    """Library errors leave a public method without the frames (and chained errors) that hold secrets."""

    @functools.wraps(method)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return method(*args, **kwargs)
        except AuthError as exc:
            raise without_trace(exc)  # noqa: B904 - the chain is what must go

    return wrapper  # type: ignore[return-value]


def _constructor(init: _F) -> _F:
    """A constructor whose errors carry no frame holding the credentials it was given."""
    if getattr(init, "_scrubbed", False):
        return init

    @functools.wraps(init)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> None:
        try:
            init(self, *args, **kwargs)
        except AuthError as exc:
            # Error trackers and --showlocals print the locals of every frame an error
            # carries: the vendor constructors' frames (dropped here) and this one
            # (emptied here) hold the secrets they were given.
            del self, args, kwargs
            raise without_trace(exc)  # noqa: B904 - the chain is what must go
        except TypeError as exc:  # a misspelt option: the message says which
            # Raised binding the call itself (no frame below this one): a bad keyword.
            at_call = exc.__traceback__ is not None and exc.__traceback__.tb_next is None
            renamed = _unexpected_keyword(type(self), exc) if at_call else None
            del self, args, kwargs
            if renamed is not None:
                raise renamed from None  # the base's wording of the same error adds nothing
            raise exc.with_traceback(None)  # noqa: B904
        except BaseException:
            del self, args, kwargs
            raise

    wrapper._scrubbed = True  # type: ignore[attr-defined]
    return wrapper  # type: ignore[return-value]


_UNEXPECTED_KEYWORD = re.compile(r"(?:[\w.]+\.)?__init__\(\) got an unexpected keyword argument '(\w+)'")


def _unexpected_keyword(cls: type, exc: TypeError) -> Optional[TypeError]:
    """``exc`` reworded to name the class the caller wrote, not the base whose ``__init__`` refused it."""
    match = _UNEXPECTED_KEYWORD.match(str(exc))
    if match is None:
        return None
    import difflib
    import inspect

    name = match.group(1)
    # The class's own parameters, and the options its **common hands to TokenAuth.
    accepted: list[str] = []
    for owner in (cls, TokenAuth):
        for parameter in inspect.signature(owner).parameters.values():
            named = parameter.kind in (parameter.POSITIONAL_OR_KEYWORD, parameter.KEYWORD_ONLY)
            if named and parameter.name not in accepted:
                accepted.append(parameter.name)
    close = difflib.get_close_matches(name, accepted, n=1)
    hint = f"did you mean {close[0]!r}?" if close else f"it takes {', '.join(accepted)}"
    return TypeError(f"{cls.__name__}() got an unexpected keyword argument {name!r}; {hint}")


class _Unbound:
    """What an auth object holds before its token state is bound: no token to serve."""

    __slots__ = ()
    hot: None = None

    def __getattr__(self, name: str) -> Any:
        # Only this placeholder's lookups come here, never the auth object's.
        raise AttributeError(f"the token state is bound on first use: read _bound_state().{name}")


_UNBOUND = _Unbound()


class _BindingLock:
    """Serializes first bindings: objects used by many threads at once bind one state."""

    def __init__(self) -> None:
        self.lock = threading.Lock()

    def after_fork(self) -> None:
        self.lock = threading.Lock()  # another thread may have held it at the fork


_BINDING = _BindingLock()

if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_BINDING.after_fork)


class _ResponseHook:
    """Response hook: one replay after a "token refused" status, credential stripping on redirects."""

    __slots__ = ("auth", "retry")

    def __init__(self, auth: TokenAuth, retry: bool) -> None:
        self.auth = auth
        self.retry = retry

    def __call__(self, response: requests.Response, **kwargs: Any) -> requests.Response:
        if response.is_redirect:
            self.auth._guard_redirect(response, response.request)
            return response
        if self.retry and response.status_code in self.auth.refused_token_statuses:
            return self.auth._replay_refused(response, kwargs)
        return response


class TokenAuth(TokenEndpointClient, AuthBase):
    """Base class of every auth flow: a cached, self-renewing access token.

    Subclasses set the class attributes below and override ``_token_request``,
    ``_parse_token`` and, if needed, ``_apply_token``.

    Args:
        token_url: the vendor's token endpoint. ``https://``, or ``http://``
            on a loopback host only; no ``user:password@``.
        session: a :class:`requests.Session` for token calls (proxies, CA
            bundle, adapters). Default: a private session, never the caller's.
        timeout: seconds allowed for each token-endpoint attempt in all:
            connecting, sending, and reading the headers and the whole body.
        leeway: seconds before expiry at which this object renews the token,
            also one it shares; capped at a quarter of the token's lifetime.
        hosts: host names that receive credentials (bare names: no port,
            wildcard or path). Default: the vendor's documented API hosts plus
            the token URL's host.
        max_retries: retries of transient token-endpoint failures (timeouts,
            connection errors, 429, 5xx) after the first attempt.
        backoff: first retry delay in seconds, doubled on each retry.
        max_backoff: cap in seconds on any single retry delay, including one
            asked for by ``Retry-After``.
        cache: a shared :class:`~requests_adtech_auth.cache.TokenCache`
            (file, Redis) so that processes using the same credential share
            one token. Default: this process's memory only.
        share_token: share the in-memory token with every other auth object of
            this process that has the same credential (same class, token URL,
            id, secrets and scope) and cache. Default True; False keeps this
            object's token to itself.

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
    #: Headers of the vendor's API that carry personal data the caller sets (customer
    #: identifiers): removed on a redirect hop wherever :attr:`credential_headers` are,
    #: in any letter case. The library never sets them.
    personal_data_headers: ClassVar[tuple[str, ...]] = ()
    #: Whether the vendor's API request bodies may hold personal data: a body is then
    #: not resent (307, 308) on a redirect hop that loses the credential headers.
    personal_data_in_body: ClassVar[bool] = False
    #: API statuses that may mean "this token is refused": the request is replayed
    #: once with a fresh token. Any but 401 renews only a token older than
    #: :attr:`refusal_renewal_floor` seconds.
    refused_token_statuses: ClassVar[frozenset[int]] = frozenset({401})
    #: Seconds a token must have been in use before a refusal other than 401 renews it.
    refusal_renewal_floor: ClassVar[float] = REFUSAL_RENEWAL_FLOOR
    #: What to tell the user for a vendor error code.
    error_hints: ClassVar[Mapping[str, str]] = {}
    #: Vendor error codes that mean "try again later" whatever the HTTP status.
    transient_errors: ClassVar[frozenset[str]] = frozenset()
    #: What to tell the user for a credential error without a known code.
    credentials_hint: ClassVar[str] = "check the client id and secret"
    #: The environment variables :meth:`from_env` reads (names without prefix).
    env_variables: ClassVar[tuple[EnvVar, ...]] = ()

    _plain_bearer: ClassVar[bool] = True
    #: The name that keys this flow's tokens: a class that only renames a flow
    #: (RoktEventAuth) names the flow it renames, so one credential keeps one token.
    _token_flow: ClassVar[str] = "TokenAuth"
    _state: Union[TokenState, _Unbound]

    @_constructor
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
        share_token: bool = True,
    ) -> None:
        self.token_url = self._check_token_url(token_url)
        self.timeout = _seconds("timeout", timeout)
        self.backoff = _seconds("backoff", backoff)
        self.max_backoff = _seconds("max_backoff", max_backoff)
        self.leeway = _seconds("leeway", leeway, zero_ok=True, most=MAX_LIFETIME)
        if isinstance(max_retries, bool) or not isinstance(max_retries, int) or not 0 <= max_retries <= 100:
            raise ConfigurationError(f"max_retries must be an integer from 0 to 100, not {max_retries!r}")
        if session is not None and not isinstance(session, requests.Session):
            raise ConfigurationError("session must be a requests.Session")
        if cache is not None and not isinstance(cache, TokenCache):
            raise ConfigurationError("cache must be a TokenCache, e.g. FileTokenCache() or RedisTokenCache(client)")
        if not isinstance(share_token, bool):
            raise ConfigurationError("share_token must be True or False")
        self.cache = cache
        self.share_token = share_token
        self.max_retries = max_retries
        token_origin = origin_of(self.token_url)
        assert token_origin is not None  # _check_token_url refused anything else
        self._boundary = CredentialBoundary(
            (*self.default_api_hosts, token_origin.host) if hosts is None else hosts, self.vendor
        )
        self._session = session
        self._init_state()

    # -- what a vendor module overrides -------------------------------------------------

    def _apply_token(self, request: requests.PreparedRequest, token: str) -> None:
        """Attach the token to an API request (default: ``Authorization: Bearer``)."""
        request.headers["Authorization"] = "Bearer " + token

    def _cache_scope(self) -> tuple[str, ...]:
        """What, beyond URL, id and secrets, tells two tokens apart (Algonomy: resources)."""
        return ()

    def _public_id(self) -> str:
        """The non-secret identity shown (shortened) in repr and logs."""
        return ""

    def _identity(self) -> tuple[tuple[str, str], ...]:
        """``(label, text)`` pairs that tell this object apart in repr (never a secret)."""
        return (("id", repr(self._short_id())),)

    # -- public API --------------------------------------------------------------------

    @property
    def hosts(self) -> frozenset[str]:
        """The host names whose URLs receive credentials."""
        return self._boundary.hosts

    @property
    def token_status(self) -> Optional[TokenStatus]:
        """Seconds until the cached token expires and until this object renews it; None before the first token.

        Read-only and never the token itself: for dashboards, health checks and notebooks.
        """
        cached = self._bound_state().token
        if cached is None:
            return None
        now = _monotonic()
        return TokenStatus(expires_in=cached.expires_at - now, renews_in=cached.renews_at(self.leeway) - now)

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
        try:
            return cls._from_environ(prefix, os.environ if environ is None else environ, options)
        except ConfigurationError as exc:
            del environ, options  # os.environ's repr is every secret of the process
            raise without_trace(exc)  # noqa: B904 - the frames below hold the values read

    @classmethod
    def _from_environ(cls, prefix: str, environ: Mapping[str, str], options: Mapping[str, Any]) -> Self:
        arguments: dict[str, Any] = {}
        problems = []
        expected = {prefix + var.name for var in cls.env_variables}
        for var in cls.env_variables:
            if var.argument in options:  # an argument given to from_env() wins over its variable
                continue
            name = prefix + var.name
            raw = (environ.get(name) or "").strip()
            if not raw:
                near = _near_miss(name, environ, expected)
                if var.required:
                    what = "is empty" if name in environ else "is not set"
                    problems.append(f"{name} {what}" + (f" ({near} is: a typo?)" if near else ""))
                elif near:
                    logger.warning("%s is not set but %s is: a typo? %s does not read %s", name, near, cls.vendor, near)
                continue
            parse, description = _ENV_KINDS[var.kind]
            try:
                arguments[var.argument] = parse(raw)
            except ValueError:
                problems.append(f"{name} is not {description}")
        # from_env("ACME") for ACME_ROKT_APP_ID: say so rather than list every variable as unset.
        if (
            problems
            and prefix[-1:] not in ("", "_")
            and any(prefix + "_" + v.name in environ for v in cls.env_variables)
        ):
            problems.append(
                f"{prefix}_... variables are set: the prefix goes before the names as it is; pass {prefix}_"
            )
        if problems:
            raise ConfigurationError(f"cannot configure {cls.vendor} from the environment: {'; '.join(problems)}")
        try:
            return cls(**arguments, **options)
        except ConfigurationError as exc:
            read = [var for var in cls.env_variables if var.argument in arguments]
            # The variable whose argument the message names, where it names one.
            named = [var for var in read if re.search(rf"\b{var.argument}\b", str(exc))] or read
            raise type(exc)(f"{exc} (read from {', '.join(prefix + var.name for var in named)})") from None

    @_public
    def get_token(self) -> str:
        """Return a valid access token, fetching or renewing it if needed.

        Raises:
            TokenRequestError: the token endpoint refused or failed (after
                retrying transient failures).
        """
        return self._bound_state().get(self._fetch_with_retries, self._cache_key, self.leeway)

    def get_headers(self) -> dict[str, str]:
        """Return the headers an API call carries, fetching a token if needed.

        For other HTTP clients (aiohttp, curl): the auth object still caches and
        renews the token. It does not check the URL the headers go to: that is
        the caller's to do.
        """
        return self._credential_headers(self.get_token())

    def _credential_headers(self, token: str, present: Optional[Mapping[str, str]] = None) -> dict[str, str]:
        """The headers that carry ``token`` (and the vendor's other credential headers).

        Args:
            token: the access token.
            present: credential headers the request already has; :meth:`_apply_token`
                decides, as on a requests request, which of them stay (Partnerships
                keeps a parent header the caller set).
        """
        request = requests.PreparedRequest()
        request.prepare_headers({})
        if present:
            request.headers.update(present)
        self._apply_token(request, token)
        return {
            name: value if isinstance(value, str) else value.decode("latin-1")
            for name, value in request.headers.items()
        }

    def _bare_response_hook(self, response: requests.Response, **kwargs: Any) -> requests.Response:
        # A refusal of a request the boundary kept credentials from usually means hosts= is too narrow.
        if response.status_code in (401, 403):
            self._boundary.refused_without_credentials(response.request.url or "", response.status_code)
        return response

    def invalidate(self) -> None:
        """Forget the cached token (in a shared cache too); the next request fetches a new one."""
        self._bound_state().drop(None, self._cache_key)

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        """Attach the token to ``request`` if the credential boundary allows its URL."""
        # The hot path of every API call (see bench/): a prefix test, a clock read,
        # one tuple unpacked, a header and a hook. Flows with their own headers use
        # _call_with_vendor_headers instead, chosen once per class. Before the shared
        # token's earliest renewal point (three quarters of its life) one comparison
        # decides; after it, this object's own leeway does (CachedToken.renews_at).
        url = request.url or ""
        boundary = self._boundary
        if not url.startswith(boundary.prefixes) and not boundary.allows(url):
            request.hooks["response"].append(self._bare_response_hook)
            return request
        hot = self._state.hot
        if hot is not None and ((now := _monotonic()) < hot[0] or now < hot[1] - self.leeway):
            request.headers["Authorization"] = hot[2]
        else:
            hot = None  # no old token in this frame's locals if the renewal raises
            request.headers["Authorization"] = "Bearer " + self.get_token()
        request.hooks["response"].append(self._response_hook)
        return request

    def _call_with_vendor_headers(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        url = request.url or ""
        boundary = self._boundary
        if not url.startswith(boundary.prefixes) and not boundary.allows(url):
            request.hooks["response"].append(self._bare_response_hook)
            return request
        hot = self._state.hot
        if hot is not None and ((now := _monotonic()) < hot[0] or now < hot[1] - self.leeway):
            token = hot[3]
        else:
            hot = None  # no old token in this frame's locals if the renewal raises
            token = self.get_token()
        self._apply_token(request, token)
        request.hooks["response"].append(self._response_hook)
        return request

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # Decided once per class: a flow that keeps the default Bearer header
        # skips a method call per request.
        cls._plain_bearer = cls._apply_token is TokenAuth._apply_token
        if "_token_flow" not in cls.__dict__:
            cls._token_flow = cls.__name__
        if "__init__" in cls.__dict__:
            cls.__init__ = _constructor(cls.__dict__["__init__"])  # type: ignore[method-assign]
        if not cls._plain_bearer and "__call__" not in cls.__dict__:
            cls.__call__ = TokenAuth._call_with_vendor_headers  # type: ignore[method-assign]

    def __repr__(self) -> str:
        try:
            shown = " ".join(f"{label}={text}" for label, text in self._identity())
            hosts = sorted(self.hosts)
        except AttributeError:  # half built: a constructor raised, and a traceback shows its locals
            return f"<{type(self).__name__} (not fully built)>"
        return (
            f"<{type(self).__name__} {shown} hosts={hosts!r} "
            f"token_url={url_for_display(self.token_url)!r} token={self._token_state()}>"
        )

    def _repr_html_(self) -> str:
        """A small table for notebooks: vendor, identity, hosts, token URL, token state (never a secret)."""
        from html import escape

        rows = [
            ("vendor", self.vendor),
            *((label, text.strip("'")) for label, text in self._identity()),
            ("hosts", ", ".join(sorted(self.hosts))),
            ("token URL", url_for_display(self.token_url)),
            ("token", self._token_state()),
        ]
        cells = "".join(f'<tr><th style="text-align:left">{escape(k)}</th><td>{escape(v)}</td></tr>' for k, v in rows)
        return f"<table><caption>{escape(type(self).__name__)}</caption>{cells}</table>"

    # -- the machinery -----------------------------------------------------------------

    def _init_state(self) -> None:
        # The token state itself is bound on first use (see _bound_state): the
        # credential that keys it is complete only once the vendor's __init__ ends.
        # Not through __getattr__: a class with one makes every attribute read on
        # the per-request path take CPython's slow lookup (~40 ns each, see bench/).
        self._state = _UNBOUND
        self._redactor: Optional[Redactor] = None
        self._response_hook = _ResponseHook(self, retry=True)

    def _bound_state(self) -> TokenState:
        """The object's token state, bound on first use (shared per credential unless ``share_token=False``)."""
        state = self._state
        if isinstance(state, TokenState):
            return state
        with _BINDING.lock:
            state = self._state
            if not isinstance(state, TokenState):
                self._state = state = self._new_state()
        return state

    def _new_state(self) -> TokenState:
        """The token state of this object's credential as it is now: the shared one, or its own."""
        shared = shared_state(self._cache_key(), self.cache, self._describe()) if self.share_token else None
        return shared or TokenState(self.cache, self._describe())

    def _rebind_state(self, token: Optional[CachedToken]) -> None:
        """Move to the token state of this object's current credential scope, taking ``token`` along.

        For a vendor whose scope changes on a live object (Algonomy's resources):
        objects still on the old scope keep their state. Other threads see the old
        state or the new one with its token, never an unbound object that would
        fetch a token of its own.
        """
        state = self._new_state()
        if token is not None:
            with state.lock:
                state.token = token
        self._state = state

    # The token state's parts under the names vendor modules and tests use.
    @property
    def _lock(self) -> threading.RLock:
        return self._bound_state().lock

    @property
    def _token(self) -> Optional[CachedToken]:
        return self._bound_state().token

    @_token.setter
    def _token(self, token: Optional[CachedToken]) -> None:
        self._bound_state().token = token

    @property
    def _cache_retry_at(self) -> float:
        return self._bound_state().cache_retry_at

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        for name in ("_state", "_response_hook", "_redactor"):
            state.pop(name, None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._init_state()

    def _token_state(self) -> str:
        cached = self._bound_state().token
        if cached is None:
            return "none yet"
        left = cached.expires_at - _monotonic()
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
    def _check_token_url(cls, url: object, argument: str = "token_url") -> str:
        return check_token_url(url, cls.vendor, argument)

    def _token_session(self) -> requests.Session:
        return self._session or _DEFAULT_SESSION.get()

    def _cache_key(self) -> str:
        return cache_key(self._token_flow, self.token_url, self._public_id(), *self._secrets(), *self._cache_scope())

    def _store_shared(self, token: CachedToken, key: Optional[str] = None) -> None:
        """Put ``token`` in the shared cache, if there is one."""
        self._bound_state().store_shared(token, key or self._cache_key())

    def _fetch_with_retries(self) -> CachedToken:
        def attempt() -> tuple[float, IssuedToken]:
            started = _monotonic()
            return started, self._issued_from(self._post_token_endpoint(self._token_request()))

        started, issued = self._retrying(attempt)
        lifetime = issued.lifetime if issued.lifetime is not None else self.default_lifetime
        # Lifetime counts from before the request left: the server's clock
        # started while our request and its answer were in flight. Not this
        # object's leeway: every object sharing the token renews on its own.
        fresh = CachedToken.of(
            issued.value, started + lifetime * (1 - LEEWAY_FRACTION), started + lifetime, issued_at=started
        )
        logger.info(
            "%s: fetched a token, expires in %.0f s, renewal in %.0f s",
            self._describe(),
            lifetime,
            fresh.renews_at(self.leeway) - started,
        )
        return fresh

    def _live(self) -> tuple[str, ...]:
        cached = self._bound_state().token
        return (cached.value,) if cached is not None else ()

    # -- response hook helpers ---------------------------------------------------------

    @classmethod
    def _origin_bound_headers(cls) -> tuple[str, ...]:
        """The headers a redirect hop to another origin loses: credentials and personal data."""
        return (*cls.credential_headers, *cls.personal_data_headers)

    def _guard_redirect(self, response: requests.Response, request: requests.PreparedRequest) -> None:
        """Take the credential and personal-data headers off ``request`` unless its next hop may have them.

        ``request`` is the one requests copies to build the next hop; the hop's
        URL comes from requests' own redirect resolution. A body that may hold
        personal data goes too when requests would resend it (307, 308).
        """
        target = next_hop_url(response, request)
        if self._boundary.keeps_credentials(request.url or "", target):
            return
        for name in self._origin_bound_headers():
            request.headers.pop(name, None)  # requests' headers ignore letter case
        if self.personal_data_in_body and request.body and response.status_code in _BODY_RESENDING_REDIRECTS:
            request.body = None
            # As requests purges them where it drops a body itself (a 302 or 303 turned into a GET).
            for name in ("Content-Length", "Content-Type", "Transfer-Encoding"):
                request.headers.pop(name, None)
            self._log_body_withheld(target)

    def _log_body_withheld(self, target: Optional[str]) -> None:
        """Say that a redirect hop to another origin goes without the request body."""
        origin = origin_of(target) if target else None
        # Also with allow_redirects=False (response hooks cannot tell): the redirect's request shows what a hop gets.
        logger.warning(
            "%s: a redirect to another origin (%s) gets neither the request body, which may hold personal data, "
            "nor the credentials; if that URL serves the API, call it directly",
            self._describe(),
            origin.host if origin is not None else "a URL whose host is ambiguous",  # host only, never the path
        )

    def _replay_decision(self, url: str, status: int, sent: Mapping[str, Any]) -> bool:
        """Whether a request to ``url`` refused with ``status`` is replayed with a fresh token.

        The one place both HTTP adapters ask. A refused token is dropped here (only
        if still the cached one: another thread may already have replaced it).

        Args:
            url: the refused request's URL, as sent.
            status: the refusal's HTTP status (one of :attr:`refused_token_statuses`).
            sent: the refused request's headers (any case-insensitive mapping).
        """
        if not self._boundary.allows_quietly(url):
            # A redirect took this request off our hosts: never answer a foreign refusal with a token.
            return False
        state = self._bound_state()
        cached = state.token
        if cached is None or not any(cached.value in str(sent.get(name) or "") for name in self.credential_headers):
            return True  # it carried no token, or an older one: replaying costs no token call
        if status != 401 and _monotonic() - cached.issued_at < self.refusal_renewal_floor:
            # A fresh token refused with, say, 403: "not allowed", not "stale".
            logger.debug(
                "%s: HTTP %d on a token in use for less than %.0f s: returned as it is, not renewed",
                self._describe(),
                status,
                self.refusal_renewal_floor,
            )
            return False
        state.refuse(cached.value)  # at once: the drop may wait for a renewal in flight
        state.drop(cached.value, self._cache_key)
        return True

    def _replay_refused(self, response: requests.Response, send_kwargs: dict[str, Any]) -> requests.Response:
        request = response.request
        status = response.status_code
        if not self._replay_decision(request.url or "", status, request.headers):
            return response
        if not _rewind_body(request):
            logger.info(
                "%s: got HTTP %d but the request body cannot be replayed; returning it", self._describe(), status
            )
            return response
        logger.info(
            "%s: got HTTP %d from %s; replaying once with a fresh token",
            self._describe(),
            status,
            url_for_display((request.url or "").split("?", 1)[0]),  # a query string may carry something private
        )
        token = self.get_token()
        _drain(response)
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
        # requests follows the replay's redirects by copying the *original*
        # request: make it carry what the replay carried (the fresh token, no
        # further replays), then guard its next hop like any other.
        for name in self.credential_headers:
            if name in retry.headers:
                request.headers[name] = retry.headers[name]
            else:
                request.headers.pop(name, None)
        request.hooks = {event: list(hooks) for event, hooks in retry.hooks.items()}
        if second.is_redirect:
            self._guard_redirect(second, request)
        return second


#: Redirect statuses on which requests and httpx resend the request body to the next hop.
_BODY_RESENDING_REDIRECTS = frozenset({307, 308})
#: Most of a refused answer's body read before replaying; a larger one closes its connection.
_DRAIN_BYTES = 64 * 1024


def _drain(response: requests.Response) -> None:
    """Read a little of a refused answer so its connection can be reused, then close it.

    Never the whole body: a hostile API could answer 401 with gigabytes.
    """
    read = 0
    try:
        for chunk in response.iter_content(8192):
            read += len(chunk)
            if read > _DRAIN_BYTES:
                break
    except (requests.RequestException, ValueError, OSError):
        pass
    response.close()


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
