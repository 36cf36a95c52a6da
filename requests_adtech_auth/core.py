"""``requests``' side of every vendor flow: :class:`TokenAuth`, an :class:`~requests.auth.AuthBase`.

:class:`TokenAuth` attaches the credential's token to the requests whose URL
the credential boundary allows, on the cheapest path the flow allows (see
bench/), strips credentials and personal data off a redirect hop to another
origin, and replays a request once, with a fresh token and its body rewound,
when the vendor refuses the token. Everything about the token itself is the
:class:`~requests_adtech_auth.credential.Credential`'s. A vendor module
subclasses it and overrides only ``_token_request``, ``_parse_token`` and, where
the vendor does not use ``Authorization: <scheme> <token>``, ``_apply_token``.
"""

from __future__ import annotations

import logging
import time
import types
from typing import Any, Callable, ClassVar

import requests
from requests.auth import AuthBase
from requests.cookies import extract_cookies_to_jar

from .boundary import api_url_for_log, is_loopback_host, next_hop_url
from .credential import Credential, TokenStatus
from .environment import EnvVar
from .options import require_text
from .token_answers import MAX_LIFETIME, MAX_TOKEN_ANSWER_BYTES, IssuedToken, TokenRequest, parse_lifetime
from .token_state import CACHE_RETRY_INTERVAL, RENEWAL_RETRY_INTERVAL

# Re-exported: vendor modules and the docs name them from here.
__all__ = [
    "CACHE_RETRY_INTERVAL",
    "MAX_LIFETIME",
    "MAX_TOKEN_ANSWER_BYTES",
    "RENEWAL_RETRY_INTERVAL",
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

_monotonic = time.monotonic  # bound once: read on every request


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


class TokenAuth(Credential, AuthBase):
    """Base class of every auth flow: a cached, self-renewing access token, as a ``requests`` auth.

    Subclasses set the class attributes of :class:`~requests_adtech_auth.credential.Credential`
    and override ``_token_request``, ``_parse_token`` and, if needed, ``_apply_token``.

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

    _plain_authorization: ClassVar[bool] = True
    _unpicklable = (*Credential._unpicklable, "_response_hook")

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # Decided once per class: what its headers are (see _request_hook). A flow that
        # sends Authorization alone is "plain": the adapters set it without a call too.
        cls._plain_authorization = (
            cls._apply_token is Credential._apply_token
            and cls.token_header == "Authorization"
            and cls.account_header is None
        )
        inherited = next(c.__dict__["__call__"] for c in cls.__mro__[1:] if "__call__" in c.__dict__)
        built_for = getattr(inherited, "_request_hook", None)
        if built_for is None:
            return  # a hook a parent wrote itself is kept
        if "__call__" not in cls.__dict__:
            cls.__call__ = _request_hook(cls)  # type: ignore[method-assign,assignment]
        elif built_for != _headers_of(cls):
            # Its super().__call__ would attach the parent's headers, not the ones this class declares.
            raise TypeError(
                f"{cls.__name__} writes __call__ and changes how the token is attached "
                "(token_header, account_header or _apply_token): declare those "
                "without writing __call__, or write a __call__ that does not call TokenAuth's"
            )

    def _init_state(self) -> None:
        super()._init_state()
        self._response_hook = _ResponseHook(self, retry=True)

    def _bare_response_hook(self, response: requests.Response, **kwargs: Any) -> requests.Response:
        # A refusal of a request the boundary kept credentials from usually means hosts= is too narrow.
        if response.status_code in (401, 403):
            self._boundary.refused_without_credentials(response.request.url or "", response.status_code)
        return response

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
            self._boundary.body_withheld(target, self._describe())

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
            api_url_for_log(request.url or ""),
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
            # Both: requests follows by copying the original, a caller who follows by hand
            # (allow_redirects=False, resolve_redirects) copies second.request, the replay.
            self._guard_redirect(second, request)
            self._guard_redirect(second, retry)
        return second


def _authorization_only(self: TokenAuth, request: requests.PreparedRequest) -> requests.PreparedRequest:
    """The per-request path of a flow whose token goes alone in ``Authorization`` (see _request_hook)."""
    url = request.url or ""
    boundary = self._boundary
    if not url.startswith(boundary.prefixes) and not boundary.allows(url):
        request.hooks["response"].append(self._bare_response_hook)
        return request
    served = self._state.served
    if served is not None and ((now := _monotonic()) < served.refresh_at or now < served.expires_at - self.leeway):
        request.headers["Authorization"] = served.presented
    else:
        served = None  # no old token in this frame's locals if the renewal raises
        self._apply_token(request, self.get_token())
    request.hooks["response"].append(self._response_hook)
    return request


def _vendor_headers_path(
    cls: type[TokenAuth],
) -> Callable[[TokenAuth, requests.PreparedRequest], requests.PreparedRequest]:
    """The per-request path of a flow with headers of its own: declared, or set by its own ``_apply_token``."""
    apply_token = None if cls._apply_token is Credential._apply_token else cls._apply_token
    token_header, account_header, caller_wins = cls.token_header, cls.account_header, cls.account_header_caller_wins

    def __call__(self: TokenAuth, request: requests.PreparedRequest) -> requests.PreparedRequest:
        url = request.url or ""
        boundary = self._boundary
        if not url.startswith(boundary.prefixes) and not boundary.allows(url):
            request.hooks["response"].append(self._bare_response_hook)
            return request
        served = self._state.served
        if served is None or ((now := _monotonic()) >= served.refresh_at and now >= served.expires_at - self.leeway):
            served = None  # no old token in this frame's locals if the renewal raises
            self._apply_token(request, self.get_token())
        elif apply_token is not None:
            apply_token(self, request, served.value)
        else:
            headers = request.headers
            headers[token_header] = served.presented
            if account_header is None:
                pass
            elif not caller_wins:
                headers[account_header] = self._account_header_value
            else:
                try:  # requests' headers have no cheaper membership test
                    headers[account_header]
                except KeyError:
                    headers[account_header] = self._account_header_value
        request.hooks["response"].append(self._response_hook)
        return request

    return __call__


def _headers_of(cls: type[TokenAuth]) -> tuple[object, ...]:
    """What a class's per-request hook is built from."""
    return (
        cls._apply_token,
        cls.token_header,
        cls.authorization_scheme,
        cls.account_header,
        cls.account_header_caller_wins,
    )


def _request_hook(cls: type[TokenAuth]) -> Callable[[TokenAuth, requests.PreparedRequest], requests.PreparedRequest]:
    """``cls``'s per-request hook, a copy with a code object of its own of one of the two paths above.

    The hot path of every API call (see bench/): a prefix test, a clock read, the
    served token's fields, the flow's headers and a response hook. Before the
    shared token's earliest renewal point (three quarters of its life) one
    comparison decides; after it, the object's own leeway does
    (CachedToken.renews_at). A flow with ``Authorization`` alone takes
    :func:`_authorization_only`: the header branches of :func:`_vendor_headers_path`
    cost 3-4 % of its hook. Each class gets a code object of its own: CPython
    (3.11 on) specializes a code object for the types it meets, and one shared by
    the classes a process uses in turn ran unspecialized for a while after each
    switch (see bench/README.md).
    """
    path = _authorization_only if cls._plain_authorization else _vendor_headers_path(cls)
    hook = types.FunctionType(path.__code__.replace(), path.__globals__, "__call__", None, path.__closure__)
    hook.__qualname__ = f"{cls.__qualname__}.__call__"
    hook.__doc__ = "Attach the token to ``request`` if the credential boundary allows its URL."
    hook._request_hook = _headers_of(cls)  # type: ignore[attr-defined]
    return hook


TokenAuth.__call__ = _request_hook(TokenAuth)  # type: ignore[method-assign,assignment]


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
