"""What every HTTP-client adapter (HttpxAuth, AiohttpAuth) promises as a wrapper, whatever the client.

It wraps only the library's auth objects, shows no secret, logs a replay (as
requests does) without the URL's query or fragment, is never imported by the
package itself, and without its extra says which one to install. Each adapter's
behaviour on the wire is in test_httpx.py and test_aiohttp.py.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import subprocess
import sys
from typing import NamedTuple

import aiohttp
import httpx
import pytest
import requests

from requests_adtech_auth import ConfigurationError, RoktAuth, TokenAuth
from requests_adtech_auth.sandbox import Sandbox


class Adapter(NamedTuple):
    """One adapter module: its class and the top-level packages its extra brings."""

    module: str
    name: str
    packages: tuple[str, ...]


ADAPTERS = [
    Adapter("requests_adtech_auth.httpx", "HttpxAuth", ("httpx", "httpcore", "anyio")),
    Adapter("requests_adtech_auth.aiohttp", "AiohttpAuth", ("aiohttp",)),
]
BY_NAME = pytest.mark.parametrize("adapter", ADAPTERS, ids=[a.name for a in ADAPTERS])


def adapter_class(adapter: Adapter) -> type:
    return getattr(importlib.import_module(adapter.module), adapter.name)  # type: ignore[no-any-return]


@BY_NAME
def test_wraps_only_token_auth_objects(adapter: Adapter) -> None:
    with pytest.raises(ConfigurationError, match=f"{adapter.name} wraps"):
        adapter_class(adapter)(requests.auth.HTTPBasicAuth("user", "pass"))


@BY_NAME
def test_repr_names_the_wrapped_object_and_no_secret(sandbox: Sandbox, adapter: Adapter) -> None:
    auth = sandbox.rokt_auth()
    wrapped = adapter_class(adapter)(auth)
    auth.get_token()
    assert repr(wrapped) == f"{adapter.name}({auth!r})"
    assert not any(secret in repr(wrapped) for secret in sandbox.secrets())


def test_importing_the_package_imports_no_adapter_client() -> None:
    clients = sorted({package for adapter in ADAPTERS for package in adapter.packages})
    code = f"import sys, requests_adtech_auth; sys.exit(any(name in sys.modules for name in {clients!r}))"
    assert subprocess.run([sys.executable, "-c", code], check=False, timeout=60).returncode == 0


@BY_NAME
def test_importing_the_adapter_without_the_extra_names_the_extra(adapter: Adapter) -> None:
    blocker = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        f"        if name.split('.')[0] in {adapter.packages!r}:\n"
        "            raise ModuleNotFoundError(f'No module named {name!r}', name=name)\n"
        "sys.meta_path.insert(0, Block())\n"
        f"import {adapter.module}\n"
    )
    done = subprocess.run([sys.executable, "-c", blocker], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode != 0
    extra = adapter.module.rsplit(".", 1)[1]
    assert f"pip install 'requests-adtech-auth[{extra}]'" in done.stderr


def _get(client: str, auth: TokenAuth, url: str) -> int:
    """One GET with ``auth`` through ``client``: requests, or an adapter's async client."""
    if client == "requests":
        return requests.get(url, auth=auth, timeout=10).status_code

    async def run() -> int:
        if client == "httpx":
            from requests_adtech_auth.httpx import HttpxAuth

            async with httpx.AsyncClient(auth=HttpxAuth(auth), timeout=10) as session:
                return (await session.get(url)).status_code
        from requests_adtech_auth.aiohttp import AiohttpAuth

        async with aiohttp.ClientSession(middlewares=(AiohttpAuth(auth),)) as session, session.get(url) as response:
            return response.status

    return asyncio.run(run())


@pytest.mark.parametrize("client", ["requests", "httpx", "aiohttp"])
def test_the_replay_log_line_names_the_call_without_its_query_or_fragment(
    sandbox: Sandbox, client: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "requests_adtech_auth")
    auth = sandbox.rokt_auth()
    auth.get_token()
    sandbox.revoke_tokens()
    for private in ("#private-fragment", "?customer=private-query"):
        assert _get(client, auth, sandbox.rokt.api_url + "/v1/query/accounts" + private) == 200
        sandbox.revoke_tokens()
    lines = [r.getMessage() for r in caplog.records if "replaying once" in r.getMessage()]
    expected = f"from {sandbox.rokt.api_url}/v1/query/accounts; replaying once with a fresh token"
    assert len(lines) == 2 and all(line.endswith(expected) for line in lines), lines


class _RawTokenRokt(RoktAuth):
    """A flow that sends its token alone in Authorization, with no scheme before it."""

    authorization_scheme = ""


@pytest.mark.parametrize("client", ["requests", "httpx", "aiohttp"])
def test_a_token_with_no_scheme_goes_alone_in_authorization(sandbox: Sandbox, client: str) -> None:
    auth = sandbox.emulation("rokt").auth(_RawTokenRokt)
    _get(client, auth, sandbox.rokt.api_url + "/v1/query/accounts")  # the sandbox wants Bearer: a 401
    first = sandbox.calls_to("main", "/rokt/v1/query")[0]
    assert first.header("Authorization") in sandbox.secrets(), "the token itself, nothing before it"
