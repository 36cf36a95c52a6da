"""Sandbox.intercept_vendor_hosts(): routing the vendors' real hosts, and leaving the libraries as they were."""

from __future__ import annotations

import asyncio
import socket
import ssl
import threading
from collections.abc import Iterator

import aiohttp
import httpcore
import httpx
import pytest
import requests
import requests.adapters
import trustme

from requests_adtech_auth.aiohttp import AiohttpAuth
from requests_adtech_auth.httpx import HttpxAuth
from requests_adtech_auth.sandbox import Sandbox

SUMMARY = "https://api.rokt.com/v1/query/accounts"


def _patched_members() -> list[object]:
    """Everything the routing patches, as it is now (to compare before and after)."""
    members: list[object] = [requests.adapters.HTTPAdapter.send]
    for backend in ("SyncBackend", "AnyIOBackend", "TrioBackend"):
        members.append(vars(getattr(httpcore, backend))["connect_tcp"])
    for pool in ("HTTPProxy", "AsyncHTTPProxy", "SOCKSProxy", "AsyncSOCKSProxy"):
        members.append(vars(getattr(httpcore, pool)).get("create_connection"))
    members.append(vars(aiohttp.TCPConnector)["_create_connection"])
    return members


class _Listener:
    """A loopback port that counts the connections made to it (a proxy that must see none)."""

    def __init__(self) -> None:
        self.accepted = 0
        self._socket = socket.socket()
        self._socket.bind(("127.0.0.1", 0))
        self._socket.listen()
        self.url = f"http://127.0.0.1:{self._socket.getsockname()[1]}"
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                connection, _ = self._socket.accept()
            except OSError:  # shut down
                return
            self.accepted += 1
            connection.close()

    def close(self) -> None:
        # shutdown() wakes the blocked accept(); close() alone does not on Linux.
        self._socket.shutdown(socket.SHUT_RDWR)
        self._socket.close()
        self._thread.join(5)


@pytest.fixture
def proxy() -> Iterator[_Listener]:
    listener = _Listener()
    yield listener
    listener.close()


def test_interceptions_ending_out_of_order_leave_nothing_patched() -> None:
    before = _patched_members()
    with Sandbox() as first, Sandbox() as second:
        outer, inner = first.intercept_vendor_hosts(), second.intercept_vendor_hosts()
        outer.__enter__()
        inner.__enter__()
        outer.__exit__(None, None, None)  # the older one ends first, as a notebook's cells may
        assert requests.get(SUMMARY, auth=second.rokt_auth(), timeout=10).ok
        assert (first.count("rokt", "api"), second.count("rokt", "api")) == (0, 1)
        inner.__exit__(None, None, None)
    assert _patched_members() == before


def test_the_newest_interception_takes_a_host_and_the_older_resumes_after_it(sandbox: Sandbox) -> None:
    with sandbox.intercept_vendor_hosts():
        with Sandbox() as newer, newer.intercept_vendor_hosts():
            assert requests.get(SUMMARY, auth=newer.rokt_auth(), timeout=10).ok
        assert requests.get(SUMMARY, auth=sandbox.rokt_auth(), timeout=10).ok
    assert (newer.count("rokt", "api_ok"), sandbox.count("rokt", "api_ok")) == (1, 1)


def test_requests_routed_to_the_sandbox_bypass_the_environment_proxy(
    sandbox: Sandbox, proxy: _Listener, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.setenv(name, proxy.url)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")  # the sandbox's own URLs (token URLs) go direct
    with sandbox.intercept_vendor_hosts():
        assert requests.get(SUMMARY, auth=sandbox.rokt_auth(), timeout=10).ok
    assert sandbox.count("rokt", "token") == 1
    assert proxy.accepted == 0, "the proxy saw the routed token request"


def test_requests_with_explicit_proxies_are_routed_without_them(sandbox: Sandbox, proxy: _Listener) -> None:
    with sandbox.intercept_vendor_hosts(), requests.Session() as session:
        session.proxies = {"http": proxy.url, "https": proxy.url}
        assert session.get(SUMMARY, auth=sandbox.rokt_auth(), timeout=10).ok
    assert proxy.accepted == 0


def test_httpx_routed_to_the_sandbox_bypasses_its_proxy(
    sandbox: Sandbox, proxy: _Listener, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        monkeypatch.setenv(name, proxy.url)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    with sandbox.intercept_vendor_hosts():
        with httpx.Client(auth=HttpxAuth(sandbox.rokt_auth())) as client:  # the environment's proxy
            assert client.get(SUMMARY).status_code == 200
        with httpx.Client(
            auth=HttpxAuth(sandbox.rokt_auth()), mounts={"all://": httpx.HTTPTransport(proxy=proxy.url)}
        ) as client:
            assert client.get(SUMMARY).status_code == 200

        async def call() -> int:
            transport = httpx.AsyncHTTPTransport(proxy=proxy.url)
            async with httpx.AsyncClient(auth=HttpxAuth(sandbox.rokt_auth()), transport=transport) as client:
                return (await client.get(SUMMARY)).status_code

        assert asyncio.run(call()) == 200
    assert sandbox.count("rokt", "api_ok") == 3
    assert proxy.accepted == 0


def test_aiohttp_routed_to_the_sandbox_keeps_the_vendor_url_and_bypasses_its_proxy(
    sandbox: Sandbox, proxy: _Listener, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY"):
        monkeypatch.setenv(name, proxy.url)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    auth = AiohttpAuth(sandbox.rokt_auth())

    async def calls() -> list[tuple[int, str]]:
        got = []
        async with aiohttp.ClientSession(middlewares=(auth,), trust_env=True) as session:  # the environment's proxy
            for proxied in (None, proxy.url):  # and one named for the request
                async with session.get(SUMMARY, proxy=proxied) as response:
                    got.append((response.status, str(response.url)))
            async with session.get(sandbox.url + "/_sandbox/counts") as response:  # another host: not routed
                got.append((response.status, str(response.url)))
        return got

    with sandbox.intercept_vendor_hosts():
        got = asyncio.run(calls())
    assert got == [(200, SUMMARY), (200, SUMMARY), (200, sandbox.url + "/_sandbox/counts")]
    assert sandbox.count("rokt", "api_ok") == 2
    assert proxy.accepted == 0


@pytest.mark.parametrize("client", ["httpx", "aiohttp"])
def test_a_routed_client_to_an_https_sandbox_fails_with_a_message_not_a_reset(client: str) -> None:
    ca = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_context)

    async def aiohttp_get() -> None:
        async with aiohttp.ClientSession() as session:
            await session.get(SUMMARY)

    with Sandbox(ssl_context=server_context) as box, box.intercept_vendor_hosts():
        if client == "httpx":
            with httpx.Client() as http, pytest.raises(httpx.ConnectError, match="plain-HTTP sandbox"):
                http.get(SUMMARY)
        else:
            with pytest.raises(aiohttp.ClientConnectionError, match="plain-HTTP sandbox"):
                asyncio.run(aiohttp_get())
