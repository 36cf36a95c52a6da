"""What an independent review of the httpx adapter found, each now a test."""

from __future__ import annotations

import contextlib
import logging
import socket
import subprocess
import sys

import anyio
import anyio.from_thread
import anyio.to_thread
import httpx
import pytest

from requests_adtech_auth import TokenRequestError
from requests_adtech_auth.httpx import HttpxAuth
from requests_adtech_auth.sandbox import Fault, Sandbox

from .flows import library_locals
from .test_hostile import _RawServer
from .test_httpx import MODES, call


@pytest.mark.parametrize("mode", MODES)
def test_a_failed_renewal_for_a_replay_leaves_no_credential_in_locals(sandbox: Sandbox, mode: str) -> None:
    auth = sandbox.algonomy_auth()
    url = sandbox.algonomy.api_url + "/api/v1/profile/b2b/basic"
    assert call(mode, HttpxAuth(auth), "POST", url, headers={"gcrId": "c1"}).status_code == 200
    refused = auth.get_token()
    sandbox.add_fault("algonomy", "api", Fault.status(401, {"message": "token expired"}))
    sandbox.add_fault("algonomy", "token", Fault.status(400, {"message": "bad"}))
    with pytest.raises(TokenRequestError) as caught:
        call(mode, HttpxAuth(auth), "POST", url, headers={"gcrId": "c1"})
    shown = library_locals(caught.value)
    assert refused not in shown and sandbox.algonomy.tenant_hash not in shown


def test_renewal_does_not_wait_on_a_thread_pool_the_application_filled(sandbox: Sandbox) -> None:
    api = sandbox.rokt.api_url + "/v1/query/accounts"
    statuses: list[int] = []

    async def main() -> bool:
        async with httpx.AsyncClient(auth=HttpxAuth(sandbox.rokt_auth(share_token=False))) as client:

            def sync_endpoint() -> None:  # e.g. a sync FastAPI dependency calling back into the loop
                statuses.append(anyio.from_thread.run(client.get, api).status_code)

            with anyio.move_on_after(20) as scope:
                async with anyio.create_task_group() as group:
                    for _ in range(45):  # more than anyio's 40 default worker slots
                        group.start_soon(anyio.to_thread.run_sync, sync_endpoint)
            return not scope.cancelled_caught

    assert anyio.run(main), "the token renewal waited on a worker slot that never came free"
    assert statuses == [200] * 45
    assert sandbox.count("rokt", "token") == 1


@pytest.mark.parametrize("mode", MODES)
def test_a_callers_connect_request_is_guarded_like_any_other(sandbox: Sandbox, mode: str) -> None:
    auth = sandbox.algonomy_auth()  # allowed on 127.0.0.1, where the redirecting server listens
    auth.get_token()
    received: list[bytes] = []

    def record(server: _RawServer, index: int, conn: socket.socket) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")

    foreign = _RawServer(record, host="127.0.0.2", received=received)
    location = foreign.url.encode() + b"/x"
    redirect = b"HTTP/1.1 307 Temporary Redirect\r\nLocation: " + location + b"\r\nContent-Length: 0\r\n\r\n"
    server = _RawServer(lambda server, index, conn: conn.sendall(redirect))
    try:
        if mode == "sync":
            with (
                httpx.Client(auth=HttpxAuth(auth), follow_redirects=True) as client,
                contextlib.suppress(httpx.HTTPError),
            ):
                client.request("CONNECT", server.url + "/r", timeout=10)
        else:

            async def run() -> None:
                async with httpx.AsyncClient(auth=HttpxAuth(auth), follow_redirects=True) as client:
                    with contextlib.suppress(httpx.HTTPError):
                        await client.request("CONNECT", server.url + "/r", timeout=10)

            anyio.run(run)
    finally:
        server.close()
        foreign.close()
    assert received, "the redirect was followed"
    seen = b"".join(received).lower()
    assert b"access_token" not in seen and b"tenant_hash" not in seen


def test_a_transport_the_guard_cannot_see_is_warned_about(sandbox: Sandbox, caplog: pytest.LogCaptureFixture) -> None:
    auth = sandbox.algonomy_auth()
    auth.get_token()
    allowed = sandbox.algonomy.api_url + "/api/v1/profile/b2b/basic"

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.host == "127.0.0.1":
            return httpx.Response(302, headers={"Location": "http://127.0.0.2:9/x"})
        return httpx.Response(200)

    with httpx.Client(auth=HttpxAuth(auth), follow_redirects=True, transport=httpx.MockTransport(handler)) as client:
        for _ in range(2):
            assert client.get(allowed).status_code == 200
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len([w for w in warnings if "does not report its requests" in w]) == 1


def test_importing_the_adapter_without_the_extra_names_the_extra() -> None:
    blocker = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in ('anyio', 'httpx', 'httpcore'):\n"
        "            raise ModuleNotFoundError(f'No module named {name!r}', name=name)\n"
        "sys.meta_path.insert(0, Block())\n"
        "import requests_adtech_auth.httpx\n"
    )
    done = subprocess.run([sys.executable, "-c", blocker], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode != 0
    assert "pip install 'requests-adtech-auth[httpx]'" in done.stderr
