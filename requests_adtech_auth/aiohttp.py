"""Every flow as an aiohttp client middleware (aiohttp 3.12 or later).

Install with ``pip install 'requests-adtech-auth[aiohttp]'``::

    import asyncio

    import aiohttp
    from requests_adtech_auth import RoktAuth
    from requests_adtech_auth.aiohttp import AiohttpAuth


    async def main() -> None:
        auth = AiohttpAuth(RoktAuth.from_env())
        async with aiohttp.ClientSession(middlewares=(auth,)) as session:
            async with session.get("https://api.rokt.com/v1/query/accounts") as response:
                response.raise_for_status()


    asyncio.run(main())

:class:`AiohttpAuth` is a thin adapter, as
:class:`~requests_adtech_auth.httpx.HttpxAuth` is for httpx: the token, its
renewal, the replay decision and where credentials may go all belong to the
wrapped :class:`~requests_adtech_auth.TokenAuth`. Wrapping the object a requests
session or an httpx client uses shares its token: one token call per renewal for all.

What it guarantees:

* **The event loop never blocks on the token.** A coroutine whose token is due
  awaits a renewal that runs in one of the library's worker threads; the
  coroutines of one event loop wait on an event. A credential has at most one
  renewal running in the process, which every loop awaits; across threads and
  processes the token state's lock (and a shared cache's) makes it one token
  call. A coroutine cancelled while it waits, or while its renewal runs, holds
  no lock: the worker thread finishes the renewal and stores the token for the
  next request, and the renewal stays the credential's one until then, so a hung
  token endpoint holds one thread.
* **One replay** per request after the vendor's "token refused" status, with a
  fresh token, on whichever hop is refused first (aiohttp sending the replay
  again on a new connection is still that replay), when aiohttp can send the body
  again (``data=`` bytes, a string or a dict, ``json=``). A streamed body (an
  async generator, a file, a ``StreamReader``, multipart) cannot be: the refused
  response is returned.
* **No credential header reaches another origin through a redirect.** aiohttp
  calls its middleware for every redirect hop, each hop a new request built from
  the caller's headers: it drops ``Authorization`` on a cross-origin hop (the
  one this middleware sets is never among them anyway) but keeps every other
  header, Algonomy's customer-identifier headers and a Partnerships parent header
  the caller set among them. This middleware applies requests' rule hop by hop,
  on the URL aiohttp sends: a hop carries the credential headers only if the hop
  before it did and it stays on that origin (or goes from http to https on the
  same host) and on an allowed host. A hop that loses them loses the vendor's
  personal-data headers too, whoever set them, and, where the vendor's bodies
  may hold personal data, the body a 307 or 308 would resend; so does the same
  hop when aiohttp sends it again on a new connection (it rebuilds it from the
  caller's headers). A request whose
  first URL is not an allowed host is the caller's own: it is sent as it is, on
  every hop. A request object that carried credentials and is sent again to such
  a host (an outer middleware failing over to a backup host) loses them as on a
  redirect.

  aiohttp tells a redirect hop from a new request only through the request's
  list of tracing hooks, which it hands every hop of one request: a version that
  does not (none of 3.12 to 3.14), or a middleware that replaces the list, gets no
  credential sent, with an error. Each request's hops are tracked on their own,
  by that list, in the adapter, until nothing holds the request any more: a
  request sent between two hops of another (from a trace hook, or a middleware
  around this one), an outer middleware that sends each hop from a task of its
  own (``asyncio.wait_for`` before Python 3.12, ``create_task``, ``shield``), and
  any number of redirects left to their callers change nothing. Put this middleware last in
  ``middlewares``: one placed after it sees the request with its credentials and
  could send it anywhere.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import threading
import time
import weakref
from typing import Any, Callable

from .exceptions import AuthError, ConfigurationError, missing_extra

try:
    import aiohttp
except ImportError as missing:  # pragma: no cover - depends on what is installed
    raise missing_extra(__name__, "aiohttp", f"{missing.name} is missing") from None
try:
    from aiohttp import ClientHandlerType, ClientRequest, ClientResponse, payload
    from yarl import URL
except ImportError:  # an aiohttp older than 3.12, without client middleware
    raise missing_extra(
        __name__, "aiohttp", f"aiohttp 3.12 or later, for client middleware; this is {aiohttp.__version__}"
    ) from None

from .async_tokens import (
    AsyncTokens,
    Flights,
    RenewalEvent,
    announce_replay,
    headers_carrying,
    new_flights,
)
from .boundary import CredentialTrail
from .core import TokenAuth
from .exception_copies import for_another_caller


def _release(version: str) -> tuple[int, ...]:
    numbers = []
    for part in version.split(".")[:2]:
        digits = "".join(c for c in part if c.isdigit())
        numbers.append(int(digits or 0))
    return tuple(numbers)


if _release(aiohttp.__version__) < (3, 12):
    raise missing_extra(
        __name__, "aiohttp", f"aiohttp 3.12 or later, for client middleware; this is {aiohttp.__version__}"
    )

__all__ = ["AiohttpAuth"]

_monotonic = time.monotonic  # bound once: read on every request

logger = logging.getLogger("requests_adtech_auth")

_REDIRECTS = frozenset({301, 302, 303, 307, 308})
#: Bodies aiohttp holds in memory, whole: it can send them again.
_RESENDABLE = (bytes, bytearray, payload.BytesPayload)

# -- the asyncio parts of AsyncTokens ------------------------------------------------------------------

#: The renewals in flight per event loop, per token state.
_LOOP_FLIGHTS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Flights] = weakref.WeakKeyDictionary()


class _AsyncioRuntime:
    """The event-loop parts of :class:`~requests_adtech_auth.async_tokens.AsyncTokens` under asyncio."""

    __slots__ = ()

    def flights(self) -> Flights:
        loop = asyncio.get_running_loop()
        flights = _LOOP_FLIGHTS.get(loop)
        if flights is None:
            flights = _LOOP_FLIGHTS[loop] = new_flights()
        return flights

    def event(self) -> RenewalEvent:
        return asyncio.Event()

    def call_soon_threadsafe(self) -> Callable[[Callable[[], object]], object]:
        return asyncio.get_running_loop().call_soon_threadsafe


_ASYNCIO = _AsyncioRuntime()

# -- one request's hops ------------------------------------------------------------------------------


class _Trail(CredentialTrail):
    """Where one session request's credentials went, once a hop of it was redirected or replayed.

    aiohttp builds every hop as a new request and calls the middleware for each;
    what its hops share, and no other request has, is their list of tracing hooks
    (the marker). A request neither redirected nor replayed never gets a trail.
    """

    __slots__ = ("marker", "replayed", "started_bare")

    def __init__(self, auth: TokenAuth, marker: object, url: str, carried: bool, started_bare: bool) -> None:
        super().__init__(auth._boundary, url)
        #: Held: no other object gets its id while the trail is kept under it.
        self.marker = marker
        self.carried = carried
        #: The request never carried credentials (its first URL is not an allowed host):
        #: the caller's own, never touched.
        self.started_bare = started_bare
        #: A hop was replayed after a refusal: no other hop of the request is (one replay per request).
        self.replayed = False


#: A request's trail goes when its last hop is answered. One whose redirect the caller
#: takes itself (``allow_redirects=False``), or that failed, stays until the adapter
#: holds this many and looks for the trails of requests nothing else holds any more.
_TRAILS_BEFORE_PURGE = 1024


def _holders(trail: _Trail) -> int:
    """The references to the trail's marker, counted the same way for every trail."""
    return sys.getrefcount(trail.marker)


def _held_by_trail_only() -> int:
    probe = _Trail.__new__(_Trail)
    probe.marker = []
    return _holders(probe)


#: What a marker held by its trail alone counts, measured as the purge counts (the
#: count's own temporary references differ between Python versions).
_HELD_BY_TRAIL_ONLY = _held_by_trail_only()


def _unguarded() -> AuthError:
    # Not the aiohttp this was written against, or a middleware before this one replaced
    # the list: send no credential unchecked.
    return AuthError(
        "cannot tell a redirect hop from a new request: the request's _traces is not the list aiohttp "
        f"3.12 to 3.14 hands every hop (aiohttp {aiohttp.__version__}; did a middleware before this one "
        "replace it?); no credential is sent"
    )


#: The library's error types with aiohttp.ClientError mixed in, built on first use.
_CLIENT_ERRORS: dict[type[AuthError], type[AuthError]] = {}


def _passed_through(exc: AuthError) -> AuthError:
    """A copy of ``exc`` that aiohttp lets through as it is.

    aiohttp turns any other ``OSError`` a middleware raises (the library's errors
    are ``requests.RequestException``, an ``OSError``) into a ``ClientOSError``;
    a :class:`aiohttp.ClientError` it raises unchanged. The copy is both.
    """
    kind = type(exc)
    mixed = _CLIENT_ERRORS.get(kind)
    if mixed is None:
        namespace = {"__module__": kind.__module__, "__qualname__": kind.__qualname__, "__doc__": kind.__doc__}
        mixed = _CLIENT_ERRORS[kind] = type(kind.__name__, (kind, aiohttp.ClientError), namespace)
    return for_another_caller(exc, mixed)


def _has_body(request: ClientRequest) -> bool:
    body: Any = request.body
    if isinstance(body, (bytes, bytearray)):
        return bool(body)
    return getattr(body, "size", None) != 0


class AiohttpAuth:
    """A :class:`~requests_adtech_auth.TokenAuth` as an aiohttp client middleware.

    For a session (``ClientSession(middlewares=(AiohttpAuth(auth),))``) or one
    request (``session.get(url, middlewares=(...))``). It shares the wrapped
    object's token, cache and credential boundary with requests and httpx code.

    Args:
        auth: any of the library's auth objects (a :class:`~requests_adtech_auth.TokenAuth`).

    Raises:
        ConfigurationError: ``auth`` is not a TokenAuth.
    """

    __slots__ = ("_last_url", "_purge_at", "_tokens", "_trails", "_trails_lock", "_unusual", "auth")

    def __init__(self, auth: TokenAuth) -> None:
        if not isinstance(auth, TokenAuth):
            raise ConfigurationError("AiohttpAuth wraps a TokenAuth, e.g. AiohttpAuth(RoktAuth.from_env())")
        #: The wrapped auth object.
        self.auth = auth
        self._tokens = AsyncTokens(auth, _ASYNCIO)
        #: The answers that need more than returning them: a refusal, a redirect.
        self._unusual = auth.refused_token_statuses | _REDIRECTS
        #: The last yarl URL sent and its text. yarl hands the same immutable URL object
        #: for the same address, so a client calling one endpoint renders it once.
        self._last_url: tuple[object, str] = (None, "")
        #: The trails of the requests redirected or replayed and not yet answered, by their marker's id.
        self._trails: dict[int, _Trail] = {}
        self._trails_lock = threading.Lock()
        self._purge_at = _TRAILS_BEFORE_PURGE

    def __repr__(self) -> str:
        return f"AiohttpAuth({self.auth!r})"

    async def __call__(self, request: ClientRequest, handler: ClientHandlerType) -> ClientResponse:
        """Attach the token to a hop that may have it; strip a hop that may not; replay once after a refusal.

        Raises:
            TokenRequestError: the token endpoint refused or failed (after retries),
                as a subclass of :class:`aiohttp.ClientError` too.
            InsecureTransportError: plain http to an allowed host that is not loopback.
        """
        try:
            marker = getattr(request, "_traces", None)
            if marker.__class__ is not list:
                raise _unguarded()
            if self._trails:  # requests are being redirected or replayed: is this one of them?
                trail = self._trails.get(id(marker))
                if trail is not None and trail.marker is marker:
                    return await self._next_hop(request, handler, trail)
            # The request's first hop (or aiohttp sending it again on a new connection):
            # the path of nearly every request, in this one coroutine.
            url = self._url_of(request)
            auth = self.auth
            boundary = auth._boundary
            if not url.startswith(boundary.prefixes) and not boundary.allows(url):  # the prefix: an allowed origin
                return await self._sent(request, handler, url, marker, carried=False, first=True)
            served = auth._state.served  # as requests' path reads it: no call while the token is fresh
            if auth._plain_authorization and served is not None and served.refresh_at > _monotonic():
                request.headers["Authorization"] = served.presented
                request._requests_adtech_auth_sent = True  # type: ignore[attr-defined]  # see _attach
            else:
                tokens = self._tokens
                self._attach(request, tokens.fresh() or await tokens.token())
            response = await handler(request)
            if response.status not in self._unusual:
                return response
            return await self._answered(request, handler, response, url, marker, may_replay=True)
        except AuthError as exc:
            failure = _passed_through(exc)
        raise failure  # outside the except block: no context holding this request's frames

    def _url_of(self, request: ClientRequest) -> str:
        """The URL aiohttp sends ``request`` to, as text: what the credential boundary decides on."""
        target = request.url
        last = self._last_url
        if last[0] is target:
            return last[1]
        url = str(target)
        if target.__class__ is URL:  # immutable: its text cannot change under the memo
            self._last_url = (target, url)
        return url

    async def _next_hop(self, request: ClientRequest, handler: ClientHandlerType, trail: _Trail) -> ClientResponse:
        """A hop after a redirect (or one aiohttp sends again on a new connection): the trail decides."""
        url = self._url_of(request)
        # The hop after a redirect, or one aiohttp sends again on a new connection (rebuilt
        # from the caller's headers), or one an outer middleware sends again, maybe elsewhere:
        # each is judged from the hop before it.
        carried = trail.follow(url)
        if not carried:
            if not trail.started_bare:
                await self._strip(request, url)
            return await self._sent(request, handler, url, trail.marker, carried=False, first=False)
        self._attach(request, self._tokens.fresh() or await self._tokens.token())
        response = await handler(request)
        return await self._answered(request, handler, response, url, trail.marker, may_replay=not trail.replayed)

    async def _sent(
        self, request: ClientRequest, handler: ClientHandlerType, url: str, marker: object, carried: bool, first: bool
    ) -> ClientResponse:
        """Send a hop without credentials."""
        sent_before = first and getattr(request, "_requests_adtech_auth_sent", False)
        if sent_before:
            # A request object this adapter sent credentials on, now sent elsewhere (an outer
            # middleware failing over to another host): it leaves the origin as on a redirect,
            # and so do the hops after it.
            await self._strip(request, url)
        response = await handler(request)
        if first and response.status in (401, 403):
            self.auth._boundary.refused_without_credentials(url, response.status)
        self._note_answer(response, url, marker, carried, started_bare=first and not sent_before)
        return response

    async def _answered(
        self,
        request: ClientRequest,
        handler: ClientHandlerType,
        response: ClientResponse,
        url: str,
        marker: object,
        may_replay: bool,
    ) -> ClientResponse:
        """After a hop sent with credentials: replay once after a refusal, note a redirect."""
        status = response.status
        if (
            may_replay
            and status in self.auth.refused_token_statuses
            and await self._tokens.replays(url, status, request.headers)
            and announce_replay(self.auth, url, status, isinstance(request.body, _RESENDABLE))
        ):
            response.release()
            self._attach(request, await self._tokens.token())
            # Noted before it is sent: should its connection drop, aiohttp sends it again
            # through this middleware, and that is no first hop to replay once more.
            self._trail(marker, url, carried=True, started_bare=False).replayed = True
            response = await handler(request)
        self._note_answer(response, url, marker, carried=True, started_bare=False)
        return response

    def _note_answer(
        self, response: ClientResponse, url: str, marker: object, carried: bool, started_bare: bool
    ) -> None:
        """A redirect: aiohttp's next call with this request's marker is its next hop. Else the request is done."""
        if response.status in _REDIRECTS:
            self._trail(marker, url, carried, started_bare)
        elif self._trails:
            with self._trails_lock:
                trail = self._trails.get(id(marker))
                if trail is not None and trail.marker is marker:
                    del self._trails[id(marker)]

    def _trail(self, marker: object, url: str, carried: bool, started_bare: bool) -> _Trail:
        """The trail of the request with ``marker``, begun at ``url`` if new."""
        key = id(marker)
        with self._trails_lock:
            trail = self._trails.get(key)
            if trail is None or trail.marker is not marker:
                trail = self._trails[key] = _Trail(self.auth, marker, url, carried, started_bare)
                if len(self._trails) > self._purge_at:
                    self._purge_dead_trails()
        return trail

    def _purge_dead_trails(self) -> None:
        """Forget the trails of requests that can send no other hop; never a live one's.

        A request's marker is held by aiohttp while it may send another hop, and by
        its response while the caller holds that: a trail whose marker nothing else
        holds is dead. Evicting by age or count instead would let a crawl of redirects
        push out the trail of a request still under way, whose next hop would then
        look like a first one. The table grows only with what is alive (each far
        larger than its trail), and is next purged at twice what stays.
        """
        live = {key: trail for key, trail in self._trails.items() if _holders(trail) > _HELD_BY_TRAIL_ONLY}
        self._trails = live
        self._purge_at = max(_TRAILS_BEFORE_PURGE, 2 * len(live))

    def _attach(self, request: ClientRequest, token: str) -> None:
        request.headers.update(headers_carrying(self.auth, token, request.headers))
        # Marked on the request object: a middleware around this one may send the same
        # object again, to another URL (see _sent).
        request._requests_adtech_auth_sent = True  # type: ignore[attr-defined]

    async def _strip(self, request: ClientRequest, url: str) -> None:
        """Take the credential and personal-data headers (and a body that may hold personal data) off a hop."""
        auth = self.auth
        headers = request.headers
        for name in auth._origin_bound_headers():
            headers.popall(name, None)
        if auth.personal_data_in_body and _has_body(request):
            update_body = getattr(request, "update_body", None)
            if update_body is not None:
                await update_body(None)  # it sets the framing headers for no body
            else:  # aiohttp 3.12.0: the body is a plain attribute
                request.body = b""
                headers["Content-Length"] = "0"
            headers.popall("Content-Type", None)
            auth._boundary.body_withheld(url, auth._describe())
        logger.debug(
            "%s: credential and personal-data headers taken off a request leaving its origin, to %s",
            auth._describe(),
            request.url.host,  # host only: a path or query may carry something private
        )
