"""The credential every vendor flow shares, free of any HTTP client: options, the cached token, decisions.

:class:`Credential` owns what is the same for all vendors and all HTTP clients,
retrying transient token-endpoint failures through
:class:`~requests_adtech_auth.token_endpoint.TokenEndpointClient`. The adapters
(:class:`~requests_adtech_auth.TokenAuth` for ``requests``, ``HttpxAuth``,
``AiohttpAuth``) only attach, strip and replay.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple, Optional, Union

import requests

from .boundary import CredentialBoundary, check_token_url, origin_of, url_for_display
from .cache import TokenCache, cache_key
from .environment import EnvVar, from_environ
from .exception_copies import scrubbed_constructor, strips_frames, without_trace
from .exceptions import ConfigurationError
from .options import (
    DEFAULT_BACKOFF,
    DEFAULT_LEEWAY,
    DEFAULT_MAX_BACKOFF,
    DEFAULT_MAX_RETRIES,
    DEFAULT_TIMEOUT,
    LEEWAY_FRACTION,
    REFUSAL_RENEWAL_FLOOR,
    check_objects,
    seconds,
)
from .redaction import Redactor
from .token_answers import MAX_LIFETIME, IssuedToken
from .token_endpoint import TokenEndpointClient
from .token_exchange import DEFAULT_SESSION
from .token_state import BINDING, UNBOUND, CachedToken, TokenState, Unbound, presented_token, shared_state

if TYPE_CHECKING:
    from typing_extensions import Self, Unpack

    from .options import CommonOptions

__all__ = ["Credential", "TokenStatus"]

logger = logging.getLogger("requests_adtech_auth")

_monotonic = time.monotonic  # bound once: read on every request


def shortened(public_id: str) -> str:
    """The first four characters of a non-secret id: they tell two credentials apart in a log."""
    return public_id[:4] + "…" if len(public_id) > 4 else public_id


class TokenStatus(NamedTuple):
    """The cached token's timing, in seconds from now (negative once past)."""

    expires_in: float
    renews_in: float


class Credential(TokenEndpointClient):
    """A vendor credential and its cached, self-renewing access token, free of any HTTP client.

    Everything about a token that is not about sending a request: the options
    and their checks, the lazy single-flight token shared per credential,
    renewal, the shared cache, ``from_env``, ``repr``, and the decisions an HTTP
    adapter asks for. Adapters (:class:`~requests_adtech_auth.TokenAuth` for
    ``requests``, :class:`~requests_adtech_auth.httpx.HttpxAuth`,
    :class:`~requests_adtech_auth.aiohttp.AiohttpAuth`) use only this protected interface:

    * ``_bound_state()``: the token state (its ``served`` token is what the per-request path reads);
    * ``get_token()`` / ``_credential_headers(token, present)``: the headers a call carries;
    * ``_boundary``: whether a URL may carry them (a ``CredentialBoundary``, see :doc:`boundary`);
    * ``_origin_bound_headers()``: what a redirect hop to another origin loses;
    * ``_refusal_verdict(url, status, sent)``: whether a refused request is replayed, and the
      refused token to drop (``_replay_decision`` makes both steps at once, for the sync clients);
    * ``_describe()``: how the adapters' log lines name the credential.

    A vendor class sets the class attributes below and overrides ``_token_request``
    and ``_parse_token`` (rarely ``_apply_token``). Its options are :class:`~requests_adtech_auth.TokenAuth`'s.
    """

    #: Vendor name used in messages and logs.
    vendor: ClassVar[str] = "token"
    #: API hosts that receive credentials by default (besides the token URL's host).
    default_api_hosts: ClassVar[tuple[str, ...]] = ()
    #: Lifetime in seconds when the answer does not say (the vendor's documented one).
    default_lifetime: ClassVar[float] = 3600.0
    #: The header that carries the token, and what goes before the token in it ("" for nothing).
    token_header: ClassVar[str] = "Authorization"
    authorization_scheme: ClassVar[str] = "Bearer"
    #: A header of the account the object acts for, sent beside the token (Algonomy's
    #: ``tenant_hash``), with the value the object keeps in ``_account_header_value``;
    #: with ``account_header_caller_wins`` a value the caller set stays.
    account_header: ClassVar[Optional[str]] = None
    account_header_caller_wins: ClassVar[bool] = False
    _account_header_value = ""
    #: Headers that carry credentials on API calls, removed on cross-origin redirects: the
    #: two above always, and what a class lists (one with its own ``_apply_token`` lists what it sets).
    credential_headers: ClassVar[tuple[str, ...]] = ("Authorization",)
    _listed_credential_headers: ClassVar[tuple[str, ...]] = ()
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
    credentials_hint: ClassVar[str] = "check the credentials the auth object was given"
    #: Whether a shared token cache (``cache=``) applies: False for a flow whose calls carry a key.
    token_cache_applies: ClassVar[bool] = True
    #: The environment variables :meth:`from_env` reads (names without prefix).
    env_variables: ClassVar[tuple[EnvVar, ...]] = ()

    #: The name that keys this flow's tokens: a class that only renames a flow
    #: (RoktEventAuth) names the flow it renames, so one credential keeps one token.
    _token_flow: ClassVar[str] = "TokenAuth"
    _state: Union[TokenState, Unbound]
    _unpicklable: ClassVar[tuple[str, ...]] = ("_state", "_redactor")  # rebuilt by _init_state

    @scrubbed_constructor
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
        self.token_url = check_token_url(token_url, self.vendor)
        self.timeout = seconds("timeout", timeout)
        self.backoff = seconds("backoff", backoff)
        self.max_backoff = seconds("max_backoff", max_backoff)
        self.leeway = seconds("leeway", leeway, zero_ok=True, most=MAX_LIFETIME)
        check_objects(max_retries=max_retries, session=session, cache=cache, share_token=share_token)
        self.cache = cache
        self.share_token = share_token
        self.max_retries = max_retries
        token_origin = origin_of(self.token_url)
        assert token_origin is not None  # check_token_url refused anything else
        self._boundary = CredentialBoundary(
            (*self.default_api_hosts, token_origin.host) if hosts is None else hosts, self.vendor
        )
        self._session = session
        self._init_state()

    def _apply_token(self, request: requests.PreparedRequest, token: str) -> None:
        """Attach the token to an API request: :attr:`token_header` and :attr:`account_header` by default."""
        headers = request.headers
        headers[self.token_header] = presented_token(self.authorization_scheme, token)
        name = self.account_header
        if name is not None and not (self.account_header_caller_wins and name in headers):
            headers[name] = self._account_header_value

    def _cache_scope(self) -> tuple[str, ...]:
        """What, beyond URL, id and secrets, tells two tokens apart (Algonomy: resources)."""
        return ()

    def _public_id(self) -> str:
        """The credential's non-secret id (a client or app id): part of its token's key, shown shortened."""
        return ""

    def _shown_identity(self) -> tuple[tuple[str, str], ...]:
        """``(label, text)`` pairs telling it apart in repr, notebooks and logs (default: its public id); no secret."""
        shown = shortened(self._public_id())
        return (("id", repr(shown)),) if shown else ()

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
        """Build an auth object from the class's :attr:`env_variables`, each read as ``prefix + name``.

        Two accounts can live side by side: ``prefix="ACME_"`` reads ``ACME_ROKT_APP_ID``.

        Args:
            prefix: put before every variable name.
            environ: the mapping to read (default: ``os.environ``).
            **options: the options every auth class takes.

        Raises:
            ConfigurationError: one message naming every variable that is
                missing or malformed (never a value).
        """
        try:
            return from_environ(cls, prefix, os.environ if environ is None else environ, options)
        except ConfigurationError as exc:
            del environ, options  # os.environ's repr is every secret of the process
            raise without_trace(exc)  # noqa: B904 - the frames below hold the values read

    @strips_frames
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

    def invalidate(self) -> None:
        """Forget the cached token (in a shared cache too); the next request fetches a new one."""
        self._bound_state().drop(None, self._cache_key)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if (
            cls._token_request is not TokenEndpointClient._token_request
            and cls._secrets is TokenEndpointClient._secrets
        ):
            # The secrets key the shared token: without them two credentials would share one (and show in messages).
            raise TypeError(f"{cls.__name__} builds token requests: define _secrets() too (and _public_id())")
        if "_token_flow" not in cls.__dict__:
            cls._token_flow = cls.__name__
        if "credential_headers" in cls.__dict__:
            cls._listed_credential_headers = cls.__dict__["credential_headers"]
        # Declared headers are always in: a subclass that changes them must not keep a stale list.
        declared = (cls.token_header, cls.account_header)
        cls.credential_headers = tuple(dict.fromkeys(h for h in (*declared, *cls._listed_credential_headers) if h))
        if "__init__" in cls.__dict__:
            cls.__init__ = scrubbed_constructor(cls.__dict__["__init__"])  # type: ignore[method-assign]

    def __repr__(self) -> str:
        try:
            shown = "".join(f"{label}={text} " for label, text in self._shown_identity())
            hosts = sorted(self.hosts)
        except AttributeError:  # half built: a constructor raised, and a traceback shows its locals
            return f"<{type(self).__name__} (not fully built)>"
        return (
            f"<{type(self).__name__} {shown}hosts={hosts!r} "
            f"token_url={url_for_display(self.token_url)!r} token={self._token_summary()}>"
        )

    def _repr_html_(self) -> str:
        """A small table for notebooks: vendor, identity, hosts, token URL, token state (never a secret)."""
        from html import escape

        rows = [
            ("vendor", self.vendor),
            *((label, text.strip("'")) for label, text in self._shown_identity()),
            ("hosts", ", ".join(sorted(self.hosts))),
            ("token URL", url_for_display(self.token_url)),
            ("token", self._token_summary()),
        ]
        cells = "".join(f'<tr><th style="text-align:left">{escape(k)}</th><td>{escape(v)}</td></tr>' for k, v in rows)
        return f"<table><caption>{escape(type(self).__name__)}</caption>{cells}</table>"

    def _init_state(self) -> None:
        # The token state itself is bound on first use (see _bound_state): the
        # credential that keys it is complete only once the vendor's __init__ ends.
        # Not through __getattr__: a class with one makes every attribute read on
        # the per-request path take CPython's slow lookup (see bench/README.md).
        self._state = UNBOUND
        self._redactor: Optional[Redactor] = None

    def _bound_state(self) -> TokenState:
        """The object's token state, bound on first use (shared per credential unless ``share_token=False``)."""
        state = self._state
        if isinstance(state, TokenState):
            return state
        with BINDING.lock:
            state = self._state
            if not isinstance(state, TokenState):
                self._state = state = self._new_state()
        return state

    def _new_state(self) -> TokenState:
        """The token state of this object's credential as it is now: the shared one, or its own."""
        arguments = (self.cache, self._describe(), self.authorization_scheme)
        return shared_state(self._cache_key(), *arguments) if self.share_token else TokenState(*arguments)

    def _rebind_state(self, token: Optional[CachedToken]) -> None:
        """Move to the state of this object's current scope (Algonomy's resources), taking ``token`` along.

        Other threads see the old state or the new one with its token, never an unbound one.
        """
        state = self._new_state()
        if token is not None:
            with state.lock:
                state.token = token
        self._state = state

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        for name in self._unpicklable:
            state.pop(name, None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._init_state()

    def _token_summary(self) -> str:
        """How the cached token stands, in words for a repr ("valid for 53 min"); never the token."""
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
        """How log lines and messages name the credential: its vendor and :meth:`_shown_identity`."""
        shown = " ".join(f"{label}={text}" for label, text in self._shown_identity())
        return f"{self.vendor} ({shown})" if shown else self.vendor

    def _token_session(self) -> requests.Session:
        return self._session or DEFAULT_SESSION.get()

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

    @classmethod
    def _origin_bound_headers(cls) -> tuple[str, ...]:
        """The headers a redirect hop to another origin loses: credentials and personal data."""
        return (*cls.credential_headers, *cls.personal_data_headers)

    def _replay_decision(self, url: str, status: int, sent: Mapping[str, Any]) -> bool:
        """Whether a request to ``url`` refused with ``status`` is replayed with a fresh token.

        The verdict (:meth:`_refusal_verdict`, the one a subclass overrides), then the
        drop of the refused token, in the calling thread; the async adapters take the
        two steps apart (the drop may wait on the token state's lock).

        Args:
            url: the refused request's URL, as sent.
            status: the refusal's HTTP status (one of :attr:`refused_token_statuses`).
            sent: the refused request's headers (any case-insensitive mapping).
        """
        replay, refused = self._refusal_verdict(url, status, sent)
        if refused is not None:
            self._bound_state().drop(refused, self._cache_key)
        return replay

    def _refusal_verdict(self, url: str, status: int, sent: Mapping[str, Any]) -> tuple[bool, Optional[str]]:
        """Whether to replay a refused request, and the refused token to drop (None: none), without waiting.

        A refused token is marked at once and is to be dropped only if still the
        cached one: another thread may already have replaced it.
        """
        if not self._boundary.allows_quietly(url):
            # A redirect took this request off our hosts: never answer a foreign refusal with a token.
            return False, None
        carried = [str(sent.get(name) or "") for name in self.credential_headers]
        if not any(carried):
            # Sent bare on purpose: a redirect hop to another origin lost the credentials,
            # and a refusal there must not be answered with a fresh token.
            return False, None
        state = self._bound_state()
        cached = state.token
        if cached is None or not any(cached.value in value for value in carried):
            return True, None  # it carried an older token: replaying costs no token call
        if status != 401 and _monotonic() - cached.issued_at < self.refusal_renewal_floor:
            # A fresh token refused with, say, 403: "not allowed", not "stale".
            logger.debug(
                "%s: HTTP %d on a token in use for less than %.0f s: returned as it is, not renewed",
                self._describe(),
                status,
                self.refusal_renewal_floor,
            )
            return False, None
        state.refuse(cached.value)  # at once: the drop may wait for a renewal in flight
        return True, cached.value
