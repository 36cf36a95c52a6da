"""Routing the vendors' real hosts to a running sandbox, inside this process, for requests, httpx and aiohttp.

requests is routed at its transport adapter: the request keeps its URL for the
auth object (which decides on it) and for the response, and only the copy that is
sent goes to the sandbox's path for that vendor. httpx is routed one level lower,
at httpcore's network backends: the connection to a vendor's host is opened to the
sandbox instead, and TLS is skipped on it, so httpx, httpcore and the
``HttpxAuth`` wire guard all still see the vendor's URL; the sandbox tells the
vendor from the ``Host`` header. aiohttp is routed the same way, at its TCP
connector: the connection to a vendor's host is a plain one to the sandbox, and
the request, its middlewares and ``AiohttpAuth`` see the vendor's URL.
"""

from __future__ import annotations

import contextlib
import functools
import threading
from collections.abc import Callable, Iterator, Mapping
from typing import Any, NamedTuple, Optional
from urllib.parse import urlsplit

__all__ = ["Route", "VendorHosts", "routed"]


class VendorHosts:
    """Which vendors serve a host name (``*.algonomy.com`` style entries match any subdomain)."""

    def __init__(self, hosts: Mapping[str, tuple[str, ...]]) -> None:
        self._exact: dict[str, tuple[str, ...]] = {}
        self._suffixes: list[tuple[str, str]] = []
        for vendor, names in hosts.items():
            for host in names:
                if host.startswith("*."):
                    self._suffixes.append((host[1:], vendor))
                else:  # several vendors' APIs may share a host (Rokt's Event API v1 and v2)
                    self._exact[host] = (*self._exact.get(host, ()), vendor)

    def vendors(self, host: str) -> tuple[str, ...]:
        """The vendors serving ``host`` (a bare host name, any letter case), in registration order."""
        host = host.lower().rstrip(".")
        found = self._exact.get(host)
        if found is None:
            found = tuple(vendor for suffix, vendor in self._suffixes if host.endswith(suffix))
        return found


class Route(NamedTuple):
    """One active interception: which hosts, where requests sends them, where httpx connects."""

    hosts: VendorHosts
    #: The sandbox's URL: a routed request goes there with the vendor's host in ``Host``.
    url: str
    address: tuple[str, int]
    #: The sandbox serves HTTPS: httpx's routed connections cannot skip TLS to it.
    tls: bool


class _Routing:
    """The process-wide patches, installed while any route is active.

    One set of patches however many interceptions are active, and the newest
    active route that knows a host decides where it goes: interceptions may end
    in any order (a notebook's cells, an ExitStack) and the last one to end
    restores the libraries as they were.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._routes: list[Route] = []
        self._undo: list[Callable[[], None]] = []

    def find(self, host: str) -> Optional[Route]:
        """The route for ``host``, or None when no active route knows it."""
        for route in reversed(self._routes):  # a snapshot-free read: list reads are atomic
            if route.hosts.vendors(host):
                return route
        return None

    @contextlib.contextmanager
    def active(self, route: Route) -> Iterator[None]:
        with self._lock:
            if not self._routes:
                self._undo = [_patch_requests(self), *_patch_httpx(self), *_patch_aiohttp(self)]
            self._routes = [*self._routes, route]
        try:
            yield
        finally:
            with self._lock:
                routes = list(self._routes)
                routes.remove(route)
                self._routes = routes
                if not routes:
                    for undo in reversed(self._undo):
                        undo()
                    self._undo = []


ROUTING = _Routing()


def _patch_requests(routing: _Routing) -> Callable[[], None]:
    """Every ``requests`` transport sends a routed host's requests to its vendor's base URL."""
    import requests.adapters

    adapter_class = requests.adapters.HTTPAdapter
    original_send = adapter_class.send

    def send(adapter: Any, request: Any, *args: Any, **kwargs: Any) -> Any:
        parts = urlsplit(request.url)
        route = routing.find(parts.hostname or "")
        if route is None:
            return original_send(adapter, request, *args, **kwargs)
        routed = request.copy()
        routed.url = route.url + parts.path + (f"?{parts.query}" if parts.query else "")
        # The sandbox tells the vendor by this, as for httpx (whose connection alone is routed).
        routed.headers["Host"] = parts.netloc.rpartition("@")[2]
        # The proxies were chosen for the vendor's URL; the sandbox is on loopback,
        # and a proxy must not receive the routed request (its credentials included).
        if len(args) >= 5:
            args = (*args[:4], None, *args[5:])
        kwargs.pop("proxies", None)
        response = original_send(adapter, routed, *args, **kwargs)
        response.request, response.url = request, request.url
        return response

    adapter_class.send = send  # type: ignore[method-assign,assignment]

    def undo() -> None:
        adapter_class.send = original_send  # type: ignore[method-assign]

    return undo


def _patch_httpx(routing: _Routing) -> list[Callable[[], None]]:
    """Patch httpx's transport: its network backends connect a routed host to the sandbox, its proxies step aside.

    Without httpcore installed there is nothing to route. A transport that does not
    use httpcore's backends (``MockTransport``, your own) is not routed.
    """
    try:
        import httpcore
    except ImportError:
        return []

    def target(host: str) -> Optional[tuple[str, int]]:
        route = routing.find(host)
        if route is None:
            return None
        if route.tls:
            raise httpcore.ConnectError(
                "the sandbox serves HTTPS (ssl_context=): httpx's routed connections need a plain-HTTP sandbox"
            )
        return route.address

    def sync_connect(original: Any) -> Any:
        def connect_tcp(backend: Any, host: str, port: int, *args: Any, **kwargs: Any) -> Any:
            address = target(host)
            if address is None:
                return original(backend, host, port, *args, **kwargs)
            return _PlainStream(original(backend, address[0], address[1], *args, **kwargs))

        return connect_tcp

    def async_connect(original: Any) -> Any:
        async def connect_tcp(backend: Any, host: str, port: int, *args: Any, **kwargs: Any) -> Any:
            address = target(host)
            if address is None:
                return await original(backend, host, port, *args, **kwargs)
            return _AsyncPlainStream(await original(backend, address[0], address[1], *args, **kwargs))

        return connect_tcp

    def direct(pool: type[Any]) -> Any:
        # A proxy pool's connection to a routed host: the plain pool's, which the
        # patched backend then sends to the sandbox instead of through the proxy.
        original = pool.create_connection
        plain = httpcore.AsyncConnectionPool if pool.__name__.startswith("Async") else httpcore.ConnectionPool

        def create_connection(self: Any, origin: Any) -> Any:
            if routing.find(origin.host.decode("ascii", "replace")) is None:
                return original(self, origin)
            return plain.create_connection(self, origin)

        return create_connection

    patches: list[tuple[Any, str, Any]] = [(httpcore.SyncBackend, "connect_tcp", sync_connect)]
    # AnyIOBackend and TrioBackend are stand-ins that raise when their library is missing.
    with contextlib.suppress(ImportError):
        import anyio  # noqa: F401

        patches.append((httpcore.AnyIOBackend, "connect_tcp", async_connect))
    with contextlib.suppress(ImportError):
        import trio  # noqa: F401

        patches.append((httpcore.TrioBackend, "connect_tcp", async_connect))
    for name in ("HTTPProxy", "AsyncHTTPProxy", "SOCKSProxy", "AsyncSOCKSProxy"):
        pool = getattr(httpcore, name, None)
        if isinstance(pool, type) and "create_connection" in vars(pool):  # SOCKS needs socksio
            patches.append((pool, "create_connection", lambda original, pool=pool: direct(pool)))
    undo: list[Callable[[], None]] = []
    for owner, name, wrap in patches:
        original = vars(owner)[name]
        setattr(owner, name, wrap(original))
        undo.append(functools.partial(setattr, owner, name, original))
    return undo


def _patch_aiohttp(routing: _Routing) -> list[Callable[[], None]]:
    """Patch aiohttp's TCP connector: a routed host's connection is a plain one to the sandbox, with no proxy.

    Without aiohttp installed there is nothing to route. A connector of another
    kind (a Unix socket's, your own) is not routed.
    """
    try:
        import aiohttp
    except ImportError:
        return []
    import asyncio

    connector_class = aiohttp.TCPConnector
    original = vars(connector_class)["_create_connection"]

    async def create_connection(connector: Any, request: Any, traces: Any, timeout: Any) -> Any:
        route = routing.find(request.host or "")
        if route is None:
            return await original(connector, request, traces, timeout)
        if route.tls:
            raise aiohttp.ClientConnectionError(
                "the sandbox serves HTTPS (ssl_context=): aiohttp's routed connections need a plain-HTTP sandbox"
            )
        # Straight to the sandbox, whatever proxy was asked for: it must not see the routed request.
        try:
            _, protocol = await asyncio.get_running_loop().create_connection(connector._factory, *route.address)
        except OSError as exc:
            raise aiohttp.ClientConnectorError(request.connection_key, exc) from exc
        return protocol

    connector_class._create_connection = create_connection  # type: ignore[method-assign,assignment]

    def undo() -> None:
        connector_class._create_connection = original  # type: ignore[method-assign]

    return [undo]


@contextlib.contextmanager
def routed(route: Route) -> Iterator[None]:
    """While active, requests, httpx and aiohttp send ``route``'s hosts to its sandbox (see :class:`_Routing`)."""
    with ROUTING.active(route):
        yield


class _PlainStream:
    """A connection to the sandbox that stays plain text when httpcore asks it for TLS."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def read(self, max_bytes: int, timeout: Optional[float] = None) -> bytes:
        return self._stream.read(max_bytes, timeout)  # type: ignore[no-any-return]

    def write(self, buffer: bytes, timeout: Optional[float] = None) -> None:
        self._stream.write(buffer, timeout)

    def close(self) -> None:
        self._stream.close()

    def start_tls(self, *args: Any, **kwargs: Any) -> _PlainStream:
        return self

    def get_extra_info(self, info: str) -> Any:
        return self._stream.get_extra_info(info)


class _AsyncPlainStream:
    """The async twin of :class:`_PlainStream`."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    async def read(self, max_bytes: int, timeout: Optional[float] = None) -> bytes:
        return await self._stream.read(max_bytes, timeout)  # type: ignore[no-any-return]

    async def write(self, buffer: bytes, timeout: Optional[float] = None) -> None:
        await self._stream.write(buffer, timeout)

    async def aclose(self) -> None:
        await self._stream.aclose()

    async def start_tls(self, *args: Any, **kwargs: Any) -> _AsyncPlainStream:
        return self

    def get_extra_info(self, info: str) -> Any:
        return self._stream.get_extra_info(info)
