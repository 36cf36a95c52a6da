"""Routing the vendors' real hosts to a running sandbox, inside this process, for requests and httpx.

requests is routed at its transport adapter: the request keeps its URL for the
auth object (which decides on it) and for the response, and only the copy that is
sent goes to the sandbox's path for that vendor. httpx is routed one level lower,
at httpcore's network backends: the connection to a vendor's host is opened to the
sandbox instead, and TLS is skipped on it, so httpx, httpcore and the
``HttpxAuth`` wire guard all still see the vendor's URL; the sandbox tells the
vendor from the ``Host`` header.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from typing import Any, Optional
from urllib.parse import urlsplit

__all__ = ["VendorHosts", "httpx_routed", "requests_routed"]


class VendorHosts:
    """Which vendor a host name belongs to (``*.algonomy.com`` style entries match any subdomain)."""

    def __init__(self, hosts: Mapping[str, tuple[str, ...]]) -> None:
        self._exact = {host: vendor for vendor, names in hosts.items() for host in names if not host.startswith("*.")}
        self._suffixes = [(host[1:], vendor) for vendor, names in hosts.items() for host in names if host[:2] == "*."]

    def vendor(self, host: str) -> Optional[str]:
        """The vendor serving ``host`` (a bare host name, any letter case), or None."""
        host = host.lower().rstrip(".")
        found = self._exact.get(host)
        if found is None:
            found = next((vendor for suffix, vendor in self._suffixes if host.endswith(suffix)), None)
        return found


@contextlib.contextmanager
def requests_routed(hosts: VendorHosts, bases: Mapping[str, str]) -> Iterator[None]:
    """While active, every ``requests`` transport sends a vendor host's requests to that vendor's base URL."""
    import requests.adapters

    adapter_class = requests.adapters.HTTPAdapter
    original_send = adapter_class.send

    def send(adapter: Any, request: Any, *args: Any, **kwargs: Any) -> Any:
        parts = urlsplit(request.url)
        vendor = hosts.vendor(parts.hostname or "")
        if vendor is None:
            return original_send(adapter, request, *args, **kwargs)
        routed = request.copy()
        routed.url = bases[vendor] + parts.path + (f"?{parts.query}" if parts.query else "")
        response = original_send(adapter, routed, *args, **kwargs)
        response.request, response.url = request, request.url
        return response

    adapter_class.send = send  # type: ignore[method-assign,assignment]
    try:
        yield
    finally:
        adapter_class.send = original_send  # type: ignore[method-assign]


@contextlib.contextmanager
def httpx_routed(hosts: VendorHosts, address: tuple[str, int]) -> Iterator[None]:
    """While active, httpcore's own network backends connect a vendor host's requests to ``address``.

    Without httpcore installed there is nothing to route. A transport that does not
    use httpcore's backends (``MockTransport``, your own) is not routed.
    """
    try:
        import httpcore
    except ImportError:
        yield
        return
    patched: list[tuple[type[Any], Any]] = []

    def sync_connect(original: Any) -> Any:
        def connect_tcp(backend: Any, host: str, port: int, *args: Any, **kwargs: Any) -> Any:
            if hosts.vendor(host) is None:
                return original(backend, host, port, *args, **kwargs)
            return _PlainStream(original(backend, address[0], address[1], *args, **kwargs))

        return connect_tcp

    def async_connect(original: Any) -> Any:
        async def connect_tcp(backend: Any, host: str, port: int, *args: Any, **kwargs: Any) -> Any:
            if hosts.vendor(host) is None:
                return await original(backend, host, port, *args, **kwargs)
            return _AsyncPlainStream(await original(backend, address[0], address[1], *args, **kwargs))

        return connect_tcp

    backends: list[tuple[Any, Any]] = [(httpcore.SyncBackend, sync_connect)]
    # AnyIOBackend and TrioBackend are stand-ins that raise when their library is missing.
    with contextlib.suppress(ImportError):
        import anyio  # noqa: F401

        backends.append((httpcore.AnyIOBackend, async_connect))
    with contextlib.suppress(ImportError):
        import trio  # noqa: F401

        backends.append((httpcore.TrioBackend, async_connect))
    for backend, wrap in backends:
        patched.append((backend, backend.connect_tcp))
        backend.connect_tcp = wrap(backend.connect_tcp)
    try:
        yield
    finally:
        for backend, original in patched:
            backend.connect_tcp = original


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
