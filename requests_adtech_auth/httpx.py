"""Every flow as an :class:`httpx.Auth`, for ``httpx.Client`` and ``httpx.AsyncClient``.

Install with ``pip install 'requests-adtech-auth[httpx]'``::

    import asyncio

    import httpx
    from requests_adtech_auth import RoktAuth
    from requests_adtech_auth.httpx import HttpxAuth

    auth = RoktAuth.from_env()
    with httpx.Client(auth=HttpxAuth(auth)) as client:
        client.get("https://api.rokt.com/v1/query/accounts")


    async def main() -> None:
        async with httpx.AsyncClient(auth=HttpxAuth(auth)) as client:
            await client.get("https://api.rokt.com/v1/query/accounts")


    asyncio.run(main())

:class:`HttpxAuth` is a thin adapter: the token, its renewal, the replay decision
and where credentials may go all belong to the wrapped
:class:`~requests_adtech_auth.TokenAuth` (its
:class:`~requests_adtech_auth.token_state.TokenState` and
:class:`~requests_adtech_auth.boundary.CredentialBoundary`). Wrapping the object
a requests session uses shares its token: one token call per renewal for both.

What it guarantees:

* **The event loop never blocks on the token.** A coroutine whose token is due
  awaits a renewal that runs in one of the library's worker threads (asyncio and
  trio alike); the coroutines of one event loop wait on an event, without
  spinning. A credential has at most one renewal running in the process, which
  every loop awaits; across threads and processes the token state's lock (and a
  shared cache's) makes it one token call. A coroutine cancelled while it waits,
  or while its renewal runs, holds no lock: the worker thread finishes the
  renewal and stores the token for the next request, and the renewal stays the
  credential's one until then, so a hung token endpoint holds one thread.
* **One replay** after the vendor's "token refused" status, with a fresh token,
  when httpx can send the body again (``content=`` bytes, ``data=`` a dict,
  ``json=``). A streamed body (a generator, a file, multipart) cannot be: the
  refused response is returned.
* **No credential header reaches another origin through a redirect.** httpx
  (``follow_redirects=True``) drops ``Authorization`` on a cross-origin hop (the
  hops requests drops it on: another origin, except http to https on one host),
  but keeps every other header, Algonomy's ``access_token`` and ``tenant_hash``
  and Partnerships' parent header among them. So a request of a flow with such
  headers carries an httpcore ``trace`` callback (httpx copies it onto every
  redirect hop); httpcore calls it with the request it is about to write, and it
  takes the credential headers off any hop to which requests would not carry
  ``Authorization`` (another origin, or a host the credential boundary does not
  allow), and off every hop after that. The vendor's personal-data headers
  (Algonomy's customer identifiers) go with them, and so does a 307 or 308 hop's
  body where it may hold personal data. A ``trace`` callback the caller set still
  gets every event. Bearer-only flows (Rokt, Digital Turbine) rely on httpx's own
  rule, which is the same, and carry no callback.

  The callback covers every transport built on httpcore: httpx's default
  ``HTTPTransport`` and ``AsyncHTTPTransport``, HTTP/1.1 and HTTP/2, direct or
  through a proxy. A transport that does not use httpcore (``MockTransport``,
  ``ASGITransport``, ``WSGITransport``, one of your own) never calls it: with one
  of those, leave ``follow_redirects`` off for Algonomy and Partnerships requests.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, Awaitable, Generator, Mapping
from typing import Any, Callable, Optional

from .exceptions import AuthError, ConfigurationError, missing_extra

try:
    import anyio
    import httpcore
    import httpx
    from anyio.lowlevel import RunVar
except ImportError as missing:  # pragma: no cover - depends on what is installed
    raise missing_extra(__name__, "httpx", f"{missing.name} is missing") from None

from .async_tokens import AsyncTokens, Flights, RenewalEvent, announce_replay, headers_carrying, new_flights
from .boundary import BODY_HEADERS, CredentialTrail
from .core import TokenAuth

__all__ = ["HttpxAuth"]

logger = logging.getLogger("requests_adtech_auth")

#: The httpcore trace events at which a request's headers are about to be written.
_HEADER_EVENTS = frozenset({"http11.send_request_headers.started", "http2.send_request_headers.started"})

#: An httpcore ``trace`` callback: a function for httpx.Client, a coroutine function for AsyncClient.
Trace = Callable[[str, dict[str, Any]], Optional[Awaitable[None]]]


#: The renewals in flight in the running event loop, per token state.
_FLIGHTS: RunVar[Flights] = RunVar("requests_adtech_auth.flights")


class _AnyioRuntime:
    """The event-loop parts of :class:`~requests_adtech_auth.async_tokens.AsyncTokens` under anyio (asyncio, trio)."""

    __slots__ = ()

    def flights(self) -> Flights:
        flights = _FLIGHTS.get(None)
        if flights is None:
            flights = new_flights()
            _FLIGHTS.set(flights)
        return flights

    def event(self) -> RenewalEvent:
        return anyio.Event()

    def call_soon_threadsafe(self) -> Callable[[Callable[[], object]], object]:
        try:
            return asyncio.get_running_loop().call_soon_threadsafe
        except RuntimeError:  # not asyncio: anyio's other backend
            import trio

            return trio.lowlevel.current_trio_token().run_sync_soon


_ANYIO = _AnyioRuntime()


def _wire_url(url: httpcore.URL) -> str:
    """The URL httpcore is about to send a request to (the target's, through a forward proxy)."""
    target = url.target.decode("latin-1")
    if not target.startswith("/"):
        return target  # absolute form: the request goes to a proxy, which forwards it there
    host = url.host.decode("latin-1")
    if ":" in host:
        host = f"[{host}]"
    port = "" if url.port is None else f":{url.port}"
    return f"{url.scheme.decode('latin-1')}://{host}{port}{target}"


#: Headers that frame a request body; a hop sent without its body goes without them.
_BODY_HEADERS = frozenset(name.lower().encode("latin-1") for name in BODY_HEADERS)
_NO_BODY = httpx.ByteStream(b"")  # iterable sync and async, as httpcore reads a request's stream
#: Marks a redirect's next request that lost its credentials: sent by hand, it stays bare.
_BARE_HOP = "requests_adtech_auth.bare_hop"


def _has_body(headers: list[tuple[bytes, bytes]]) -> bool:
    for name, value in headers:
        lower = name.lower()
        if lower == b"transfer-encoding" or (lower == b"content-length" and value.strip() != b"0"):
            return True
    return False


class _WireGuard:
    """The check behind the trace callbacks: credential headers stay with their origin, hop by hop.

    Requests' rule: a hop keeps them only if requests would keep ``Authorization``
    (same origin, or the http to https upgrade) and the credential boundary allows
    its URL; once a hop has lost them, so do the hops after it. The personal-data
    headers go with them, and the body too if it may hold personal data: a hop
    that still has a body at this point is a 307 or 308 resending it.
    """

    __slots__ = ("_auth", "_names", "_origin", "called", "chained", "trail")

    def __init__(self, adapter: HttpxAuth, url: httpx.URL, chained: Optional[Trace]) -> None:
        self._auth = adapter.auth
        self._names = adapter._header_names
        # httpx hands httpcore exactly these parts: a hop to the same ones needs no parsing.
        self._origin: Optional[tuple[bytes, bytes, Optional[int]]] = (url.raw_scheme, url.raw_host, url.port)
        #: Whether the hops so far carried the credential headers, and where the last one went.
        self.trail = CredentialTrail(adapter.auth._boundary, str(url))
        #: Whether the transport reported any hop (httpcore's do; others never call it).
        self.called = False
        #: The caller's own trace callback, called after this one.
        self.chained = chained

    def check(self, info: Mapping[str, Any]) -> None:
        request = info.get("request")
        if not isinstance(request, httpcore.Request):
            # Not the httpcore this was written against: send no credential unchecked.
            raise AuthError("cannot check where httpcore sends this request; no credential is sent")
        self.called = True
        url = request.url
        if request.method == b"CONNECT" and not url.target.startswith(b"/"):
            return  # a proxy tunnel's own request (authority form): the request itself comes next
        origin = (url.scheme, url.host, url.port) if url.target.startswith(b"/") else None
        if self.trail.carried and origin is not None and origin == self._origin:
            return
        sent_to = _wire_url(url)
        self._origin = origin
        if self.trail.follow(sent_to):
            return
        names = self._names
        withhold_body = self._auth.personal_data_in_body and _has_body(request.headers)
        if withhold_body:
            names = names | _BODY_HEADERS
            request.stream = _NO_BODY  # read after the headers are written: this hop sends nothing
            self._auth._boundary.body_withheld(sent_to, self._auth._describe())
        kept = [(name, value) for name, value in request.headers if name.lower() not in names]
        if len(kept) < len(request.headers):
            request.headers[:] = kept  # the list httpcore is about to write
            logger.debug(
                "%s: credential and personal-data headers taken off a redirect to %s",
                self._auth._describe(),
                url.host.decode("latin-1"),  # host only: a path or query may carry something private
            )


class _SyncWireGuard(_WireGuard):
    __slots__ = ()

    def __call__(self, event: str, info: dict[str, Any]) -> None:
        if event in _HEADER_EVENTS:
            self.check(info)
        if self.chained is not None:
            self.chained(event, info)


class _AsyncWireGuard(_WireGuard):
    __slots__ = ()

    async def __call__(self, event: str, info: dict[str, Any]) -> None:
        if event in _HEADER_EVENTS:
            self.check(info)
        if self.chained is not None:
            await self.chained(event, info)  # type: ignore[misc]  # the async client's callbacks are async


class HttpxAuth(httpx.Auth):
    """A :class:`~requests_adtech_auth.TokenAuth` as an :class:`httpx.Auth`, sync and async.

    It shares the wrapped object's token, cache and credential boundary: requests
    and httpx clients using the same auth object hold one token.

    Args:
        auth: any of the library's auth objects (a :class:`~requests_adtech_auth.TokenAuth`).

    Raises:
        ConfigurationError: ``auth`` is not a TokenAuth.
    """

    def __init__(self, auth: TokenAuth) -> None:
        if not isinstance(auth, TokenAuth):
            raise ConfigurationError("HttpxAuth wraps a TokenAuth, e.g. HttpxAuth(RoktAuth.from_env())")
        #: The wrapped auth object.
        self.auth = auth
        self._tokens = AsyncTokens(auth, _ANYIO)
        #: What a hop to another origin loses (lower case, as compared on the wire).
        self._header_names = frozenset(name.lower().encode("latin-1") for name in auth._origin_bound_headers())
        # httpx itself drops Authorization on exactly the hops requests drops it on
        # (another origin, except http to https on the same host): a flow with no
        # other header to guard, nor a body, needs no guard, and its requests no trace callbacks.
        self._guarded = self._header_names != {b"authorization"} or auth.personal_data_in_body
        self._warned_transport = False

    def __repr__(self) -> str:
        return f"HttpxAuth({self.auth!r})"

    # -- public API --------------------------------------------------------------------

    async def aget_token(self) -> str:
        """The async twin of :meth:`TokenAuth.get_token`: a valid token, renewed off the event loop.

        Raises:
            TokenRequestError: the token endpoint refused or failed (after retries).
        """
        return await self._tokens.token()

    async def aget_headers(self) -> dict[str, str]:
        """The async twin of :meth:`TokenAuth.get_headers`: the headers an API call carries.

        For async clients other than httpx and aiohttp (websockets). Like
        ``get_headers()``, it does not check the URL the headers go to.

        Raises:
            TokenRequestError: the token endpoint refused or failed (after retries).
        """
        return self.auth._credential_headers(await self.aget_token())

    # -- httpx.Auth --------------------------------------------------------------------

    def sync_auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        """Attach the token if the URL may have it; replay once after a refusal."""
        if not self._allows(request):
            self._check_bare((yield request))
            return
        guard = self._attach(request, self.auth.get_token(), _SyncWireGuard)
        response = yield request
        self._check_transport(response, guard)
        # A bool, not the refused request's headers: no credential in this frame's locals if the renewal raises.
        if self._replays(request, response, guard):
            self._attach(request, self.auth.get_token(), _SyncWireGuard)
            response = yield request
        self._disown_next(response)

    async def async_auth_flow(self, request: httpx.Request) -> AsyncGenerator[httpx.Request, httpx.Response]:
        """Attach the token if the URL may have it; replay once after a refusal. Never blocks the loop."""
        if not self._allows(request):
            self._check_bare((yield request))
            return
        guard = self._attach(request, await self.aget_token(), _AsyncWireGuard)
        response = yield request
        self._check_transport(response, guard)
        if await self._areplays(request, response, guard):
            self._attach(request, await self.aget_token(), _AsyncWireGuard)
            response = yield request
        self._disown_next(response)

    # -- the machinery -----------------------------------------------------------------

    def _check_bare(self, response: httpx.Response) -> None:
        if response.status_code in (401, 403):
            self.auth._boundary.refused_without_credentials(str(response.request.url), response.status_code)

    def _allows(self, request: httpx.Request) -> bool:
        return not request.extensions.get(_BARE_HOP) and self.auth._boundary.allows(str(request.url))

    def _disown_next(self, response: httpx.Response) -> None:
        """A redirect left to the caller (``follow_redirects=False``): its ``next_request`` loses what a hop would.

        httpx copies every header (all but ``Authorization``) and the body into it; a
        hop to another origin goes without the credential and personal-data headers,
        without a body that may hold personal data, and stays bare when sent.
        """
        hop = response.next_request
        if hop is None or self.auth._boundary.keeps_credentials(str(response.request.url), str(hop.url)):
            return
        for name in self.auth._origin_bound_headers():
            hop.headers.pop(name, None)
        if self.auth.personal_data_in_body and _has_body(hop.headers.raw):
            for body_header in _BODY_HEADERS:
                hop.headers.pop(body_header.decode("latin-1"), None)
            hop.stream = _NO_BODY
            self.auth._boundary.body_withheld(str(hop.url), self.auth._describe())
        hop.extensions = {**hop.extensions, _BARE_HOP: True}

    def _attach(self, request: httpx.Request, token: str, guard_type: type[_WireGuard]) -> Optional[_WireGuard]:
        """Put the credential headers on ``request`` and, if the flow needs one, the wire guard in its trace."""
        request.headers.update(headers_carrying(self.auth, token, request.headers))
        if not self._guarded:
            return None
        previous = request.extensions.get("trace")
        guard = guard_type(self, request.url, previous.chained if isinstance(previous, _WireGuard) else previous)
        # A new dict: the caller's extensions may be shared with other requests.
        request.extensions = {**request.extensions, "trace": guard}
        return guard

    def _refusal(
        self, response: httpx.Response, guard: Optional[_WireGuard]
    ) -> Optional[tuple[str, int, Mapping[str, str]]]:
        """The replay decision's arguments for a "token refused" answer, else None."""
        status = response.status_code
        if status not in self.auth.refused_token_statuses:
            return None
        refused = response.request  # after redirects: the last hop
        return str(refused.url), status, (refused.headers if guard is None or guard.trail.carried else {})

    def _replays(self, request: httpx.Request, response: httpx.Response, guard: Optional[_WireGuard]) -> bool:
        refusal = self._refusal(response, guard)
        return refusal is not None and self.auth._replay_decision(*refusal) and self._replayable(request, refusal)

    async def _areplays(self, request: httpx.Request, response: httpx.Response, guard: Optional[_WireGuard]) -> bool:
        refusal = self._refusal(response, guard)
        return refusal is not None and await self._tokens.replays(*refusal) and self._replayable(request, refusal)

    def _check_transport(self, response: httpx.Response, guard: Optional[_WireGuard]) -> None:
        """Warn once if redirects were followed through a transport the wire guard cannot see."""
        if guard is None or guard.called or not response.history or self._warned_transport:
            return
        first = response.history[0].request.url
        origin = (first.scheme, first.host, first.port)
        if any((hop.url.scheme, hop.url.host, hop.url.port) != origin for hop in (*response.history[1:], response)):
            self._warned_transport = True
            logger.warning(
                "%s: this client's transport does not report its requests to httpcore's trace, so the "
                "credential headers may have followed a redirect to another origin; with such a "
                "transport, leave follow_redirects off for requests that carry credentials",
                self.auth._describe(),
            )

    def _replayable(self, request: httpx.Request, refusal: tuple[str, int, Mapping[str, str]]) -> bool:
        url, status, _ = refusal
        return announce_replay(self.auth, url, status, isinstance(request.stream, httpx.ByteStream))
