"""Rokt's Event API v2: the key pair on every call, no token (the contract suite runs it too)."""

from __future__ import annotations

import asyncio
import base64
import os

import aiohttp
import httpx
import pytest
import requests

from requests_adtech_auth import ConfigurationError, FileTokenCache, RoktEventKeyAuth
from requests_adtech_auth.sandbox import Fault, Sandbox

from .helpers import rokt_event_headers, rokt_events, run_cli


def _auth(box: Sandbox, **options: object) -> RoktEventKeyAuth:
    return box.auth("rokt-event-v2", **options)  # type: ignore[no-any-return]


def test_every_call_carries_the_key_pair_in_basic_and_no_token_is_fetched(sandbox: Sandbox) -> None:
    e = sandbox.rokt_event_v2
    session = requests.Session()
    session.auth = _auth(sandbox)
    for _ in range(3):
        assert session.post(e.api_url + "/v2/events", json=rokt_events(2), timeout=10).ok
    pair = base64.b64encode(f"{e.public_key}:{e.secret_key}".encode()).decode()
    sent = sandbox.calls_to(path_prefix="/rokt-v2/v2/events")
    assert [c.header("Authorization") for c in sent] == ["Basic " + pair] * 3
    assert sandbox.count("rokt_event_v2", "token") == 0


def test_a_refused_key_is_returned_once_not_replayed(sandbox: Sandbox) -> None:
    sandbox.add_fault("rokt_event_v2", "api", Fault.status(401, {"code": "Unauthorized"}), times=5)
    url = sandbox.rokt_event_v2.api_url + "/v2/events"
    response = requests.post(url, json=rokt_events(1), auth=_auth(sandbox), timeout=10)
    assert response.status_code == 401 and not response.history
    assert sandbox.count("rokt_event_v2", "api") == 1


def test_a_wrong_secret_key_is_a_401(sandbox: Sandbox) -> None:
    auth = _auth(sandbox, secret_key="rsec-wrong")
    response = requests.post(sandbox.rokt_event_v2.api_url + "/v2/events", json=rokt_events(1), auth=auth, timeout=10)
    assert response.status_code == 401


def test_v1_and_v2_share_the_real_host_under_interception(adtech_sandbox: Sandbox) -> None:
    from requests_adtech_auth import RoktEventAuth

    v2 = requests.post(
        "https://api.rokt.com/v2/events", json=rokt_events(1), auth=RoktEventKeyAuth.from_env(), timeout=10
    )
    v1 = requests.post(
        "https://api.rokt.com/v1/events",
        json=rokt_events(1),
        headers=rokt_event_headers(),
        auth=RoktEventAuth.from_env(),
        timeout=10,
    )
    assert v2.ok and v1.ok
    assert adtech_sandbox.count("rokt_event_v2", "api_ok") == adtech_sandbox.count("rokt", "api_ok") == 1


def test_repr_and_messages_show_no_secret(sandbox: Sandbox) -> None:
    auth = _auth(sandbox)
    shown = repr(auth)
    assert sandbox.rokt_event_v2.public_key[:4] in shown and "key pair" in shown
    assert not any(secret in shown for secret in sandbox.secrets())


@pytest.mark.parametrize(
    ("arguments", "problem"),
    [
        ({"public_key": "rpub:x"}, "must not contain ':'"),
        ({"cache": "file"}, "no token to share"),
        ({"secret_key": ""}, "secret_key"),
    ],
)
def test_unusable_arguments_are_refused(arguments: dict[str, object], problem: str, tmp_path: object) -> None:
    if arguments.get("cache") == "file":
        arguments = {"cache": FileTokenCache(str(tmp_path))}
    values: dict[str, object] = {"public_key": "rpub-1", "secret_key": "rsec-1", **arguments}
    with pytest.raises(ConfigurationError, match=problem):
        RoktEventKeyAuth(**values)  # type: ignore[arg-type]


def test_the_cli_prints_the_basic_header(sandbox: Sandbox) -> None:
    # Without --no-cache: the file cache (installed here) does not apply to a key pair.
    done = run_cli("token", "rokt-event-v2", "--header", env={**os.environ, **sandbox.environ()})
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    name, value = done.stdout.strip().split(": ", 1)
    assert name == "Authorization" and value.startswith("Basic ")
    assert requests.post(
        sandbox.rokt_event_v2.api_url + "/v2/events", json=rokt_events(1), headers={name: value}, timeout=10
    ).ok


@pytest.mark.parametrize("client", ["httpx", "aiohttp"])
def test_the_async_adapters_send_the_key_pair_and_do_not_replay_a_refusal(sandbox: Sandbox, client: str) -> None:
    e = sandbox.rokt_event_v2
    url = e.api_url + "/v2/events"
    sandbox.add_fault("rokt_event_v2", "api", Fault.status(401, {"code": "Unauthorized"}), times=1)

    async def post_twice() -> list[int]:
        if client == "httpx":
            from requests_adtech_auth.httpx import HttpxAuth

            async with httpx.AsyncClient(auth=HttpxAuth(_auth(sandbox)), timeout=10) as session:
                return [(await session.post(url, json=rokt_events(1))).status_code for _ in range(2)]
        from requests_adtech_auth.aiohttp import AiohttpAuth

        async with aiohttp.ClientSession(middlewares=(AiohttpAuth(_auth(sandbox)),)) as aio:
            statuses = []
            for _ in range(2):
                async with aio.post(url, json=rokt_events(1)) as response:
                    statuses.append(response.status)
            return statuses

    assert asyncio.run(post_twice()) == [401, 200], "the refusal came back as it was; the next call went through"
    pair = base64.b64encode(f"{e.public_key}:{e.secret_key}".encode()).decode()
    sent = sandbox.calls_to(path_prefix="/rokt-v2/v2/events")
    assert [c.header("Authorization") for c in sent] == ["Basic " + pair] * 2
    assert sandbox.count("rokt_event_v2", "token") == 0
