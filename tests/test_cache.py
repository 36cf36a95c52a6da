"""Shared token caches: files and Redis, across real processes."""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import requests

from requests_adtech_auth import FileTokenCache, RedisTokenCache, RoktAuth, TokenAuth
from requests_adtech_auth.cache import StoredToken
from requests_adtech_auth.sandbox import Sandbox

from .helpers import cache_key_of, token_state_of
from .redis_server import RedisServer
from .run_reports import CACHE_REPORT

# -- the file cache ---------------------------------------------------------------------------


def test_file_cache_shares_a_token_between_auth_objects(sandbox: Sandbox, tmp_path: Path) -> None:
    cache = FileTokenCache(tmp_path / "tokens")
    first = sandbox.rokt_auth(cache=cache)
    second = sandbox.rokt_auth(cache=cache)
    assert first.get_token() == second.get_token()
    assert sandbox.count("rokt", "token") == 1


@pytest.mark.parametrize("fetcher", ["leeway 0", "leeway 1"])
def test_a_token_from_the_cache_is_renewed_on_each_objects_own_leeway(
    sandbox: Sandbox, tmp_path: Path, fetcher: str
) -> None:
    sandbox.lifetimes["rokt"] = 4.0  # a leeway is capped at a quarter of the lifetime: 1 s here
    cache = FileTokenCache(tmp_path / "tokens")
    # Each with a token state of its own, as in two processes: the cache is all they share.
    objects = {
        "leeway 0": sandbox.rokt_auth(cache=cache, leeway=0, share_token=False),
        "leeway 1": sandbox.rokt_auth(cache=cache, leeway=1, share_token=False),
    }
    token = objects[fetcher].get_token()
    assert all(auth.get_token() == token for auth in objects.values())
    assert sandbox.count("rokt", "token") == 1
    for name, leeway in (("leeway 0", 0.0), ("leeway 1", 1.0)):
        status = objects[name].token_status
        assert status is not None
        # One reading of the clock: the gap is the object's own leeway, whichever object stored the token.
        assert status.expires_in - status.renews_in == pytest.approx(leeway, abs=1e-3), name


def test_cache_dir_variable_wins_over_xdg_cache_home(
    sandbox: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("ADTECH_AUTH_CACHE_DIR", str(tmp_path / "chosen"))
    first, second = sandbox.rokt_auth(cache=FileTokenCache()), sandbox.rokt_auth(cache=FileTokenCache())
    assert first.get_token() == second.get_token()
    assert sandbox.count("rokt", "token") == 1
    assert FileTokenCache().path == tmp_path / "chosen"
    assert any(p.suffix == ".json" for p in (tmp_path / "chosen").iterdir())
    assert stat.S_IMODE((tmp_path / "chosen").stat().st_mode) == 0o700
    assert not (tmp_path / "xdg").exists()


def test_cache_dir_variable_relative_or_empty(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ADTECH_AUTH_CACHE_DIR", "tokens")
    cache = FileTokenCache()
    monkeypatch.chdir("/")
    assert cache.path == tmp_path / "tokens", "taken from the directory it was made in"
    monkeypatch.setenv("ADTECH_AUTH_CACHE_DIR", "")
    assert FileTokenCache().path == tmp_path / "xdg" / "requests-adtech-auth", "empty is unset"


def test_file_cache_permissions_and_no_secret_in_it(sandbox: Sandbox, tmp_path: Path) -> None:
    directory = tmp_path / "tokens"
    for auth in (
        sandbox.rokt_auth(cache=FileTokenCache(directory)),
        sandbox.algonomy_auth(cache=FileTokenCache(directory)),
    ):
        auth.get_token()
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    files = list(directory.iterdir())
    assert files
    for path in files:
        if path.suffix == ".json":
            assert stat.S_IMODE(path.stat().st_mode) == 0o600
        text = path.name + (path.read_text() if path.suffix == ".json" else "")
        for secret in (sandbox.rokt.app_secret, sandbox.algonomy.tenant_hash, sandbox.algonomy.oauth_key_secret):
            assert secret not in text
        assert sandbox.rokt.app_id not in path.name


def test_a_shared_cache_keeps_credentials_and_scopes_apart(sandbox: Sandbox, tmp_path: Path) -> None:
    cache = FileTokenCache(tmp_path)
    good = sandbox.rokt_auth(cache=cache)
    good.get_token()
    wrong = RoktAuth(
        sandbox.rokt.app_id, "not-the-secret", token_url=sandbox.rokt.token_url, cache=cache, max_retries=0
    )
    with pytest.raises(requests.RequestException):
        wrong.get_token()
    narrow = sandbox.algonomy_auth(["basic"], cache=cache)
    wide = sandbox.algonomy_auth(["basic", "segments"], cache=cache)
    assert narrow.get_token() != wide.get_token()


def test_corrupt_or_truncated_file_is_treated_as_empty(sandbox: Sandbox, tmp_path: Path) -> None:
    cache = FileTokenCache(tmp_path)
    auth = sandbox.rokt_auth(cache=cache)
    token = auth.get_token()
    (path,) = tmp_path.glob("*.json")
    for damage in (
        b"",
        b'{"v": 1, "token": "ab',
        b"\xff\xfe\x00",
        b"[]",
        b'{"v": 1, "token": "a b", "refresh_at": 9e99, "expires_at": 9e99}',
    ):
        path.write_bytes(damage)
        twin = sandbox.rokt_auth(cache=cache, share_token=False)  # as another process would
        assert twin.get_token() not in (token, "a b")
        assert StoredToken.loads(path.read_text()) is not None, "rewritten"
    assert sandbox.count("rokt", "token") == 6


def test_401_discards_the_shared_token(sandbox: Sandbox, tmp_path: Path) -> None:
    cache = FileTokenCache(tmp_path)
    session = requests.Session()
    session.auth = sandbox.rokt_auth(cache=cache)
    session.get(sandbox.rokt.api_url + "/v1/query/accounts", timeout=10)
    sandbox.revoke_tokens()
    assert session.get(sandbox.rokt.api_url + "/v1/query/accounts", timeout=10).ok
    # A new process (a new auth object) reads the replacement, not the revoked token.
    newcomer = requests.get(
        sandbox.rokt.api_url + "/v1/query/accounts", auth=sandbox.rokt_auth(cache=cache), timeout=10
    )
    assert newcomer.ok
    assert sandbox.count("rokt", "token") == 2


def _write_forever(directory: str, value: str) -> None:
    cache = FileTokenCache(directory)
    n = 0
    while True:
        cache.store("k", StoredToken(value + str(n) * 5000, time.time() + 60, time.time() + 120))
        n += 1


def _context() -> Any:
    # forkserver with the library preloaded: real separate processes, without
    # paying a fresh interpreter's imports for each of them.
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["requests", "requests_adtech_auth", "tests.test_cache"])
    return ctx


def test_a_writer_killed_mid_write_never_leaves_half_a_file(tmp_path: Path) -> None:
    ctx = _context()
    target = tmp_path / "k.json"
    seen = 0
    for _ in range(5):
        writer = ctx.Process(target=_write_forever, args=(str(tmp_path), "tok"))
        writer.start()
        deadline = time.monotonic() + 30
        while not target.exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.1)
        os.kill(writer.pid, signal.SIGKILL)  # type: ignore[arg-type]
        writer.join(10)
        for _ in range(20):
            assert StoredToken.loads(target.read_text()) is not None
            seen += 1
    assert seen == 100


# -- many processes on one cache -------------------------------------------------------------


def _process_worker(job: tuple[str, str, str, str, float, Any, Any]) -> int:
    kind, token_url, app_id, app_secret, seconds, barrier, where = job
    cache: Any = None
    if kind == "file":
        cache = FileTokenCache(where)
    elif kind == "redis":
        import redis

        cache = RedisTokenCache(redis.Redis(host="127.0.0.1", port=where, socket_timeout=2))
    auth = RoktAuth(app_id, app_secret, token_url=token_url, cache=cache)
    api = token_url.replace("/auth/oauth2/token", "/v1/query/accounts")
    session = requests.Session()
    session.auth = auth
    barrier.wait()
    deadline = time.monotonic() + seconds
    failures = 0
    while time.monotonic() < deadline:
        failures += session.get(api, timeout=10).status_code != 200
        time.sleep(0.02)
    return failures


@pytest.mark.parametrize("kind", ["none", "file", "redis"])
def test_eight_processes_share_one_token_per_renewal(
    kind: str, sandbox: Sandbox, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    where: Any = str(tmp_path)
    if kind == "redis":
        where = request.getfixturevalue("redis_server").port
    processes, seconds, lifetime = 8, 3.5, 2.0
    sandbox.lifetimes["rokt"] = lifetime
    sandbox.record = False
    ctx = _context()
    barrier = ctx.Manager().Barrier(processes)
    job = (kind, sandbox.rokt.token_url, sandbox.rokt.app_id, sandbox.rokt.app_secret, seconds, barrier, where)
    with ctx.Pool(processes) as pool:
        failures = pool.map(_process_worker, [job] * processes, chunksize=1)
    issued = sandbox.count("rokt", "token_issued")
    ideal = 1 + int(seconds / (lifetime * 0.75))
    CACHE_REPORT.append(
        f"{processes} processes, cache={kind}: {issued} token calls in {seconds} s of 2 s tokens (ideal {ideal})"
    )
    assert failures == [0] * processes
    assert sandbox.count("rokt", "api_401") == 0
    if kind == "none":
        assert issued >= processes * (ideal - 1)
    else:
        assert ideal - 1 <= issued <= ideal + 1


# -- Redis -----------------------------------------------------------------------------------


def test_redis_keys_hold_no_secret_and_expire_with_the_token(sandbox: Sandbox, redis_server: RedisServer) -> None:
    client = redis_server.client()
    sandbox.lifetimes["rokt"] = 30.0
    auth = sandbox.rokt_auth(cache=RedisTokenCache(client, prefix="t1:"))
    auth.get_token()
    keys = [k.decode() for k in client.keys("t1:*")]
    assert len(keys) == 1
    assert sandbox.rokt.app_secret not in keys[0] and sandbox.rokt.app_id not in keys[0]
    assert sandbox.rokt.app_secret.encode() not in client.get(keys[0])
    assert 28_000 < client.pttl(keys[0]) <= 30_000


def test_redis_outage_falls_back_to_direct_fetches(
    sandbox: Sandbox, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    server = RedisServer(tmp_path)
    auth = sandbox.rokt_auth(cache=RedisTokenCache(server.client()))
    session = requests.Session()
    session.auth = auth
    url = sandbox.rokt.api_url + "/v1/query/accounts"
    assert session.get(url, timeout=10).ok
    server.stop()  # Redis goes away mid-run
    caplog.set_level(logging.WARNING, "requests_adtech_auth")
    for _ in range(3):
        auth.invalidate()
        assert session.get(url, timeout=10).ok
    warnings = [r for r in caplog.records if "Redis token cache failed" in r.getMessage()]
    assert len(warnings) == 1, "logged once"
    assert sandbox.count("rokt", "token") == 4
    assert token_state_of(auth).cache_retry_at > time.monotonic(), "the cache is left alone for a while"


def test_redis_lock_of_a_crashed_holder_expires(sandbox: Sandbox, redis_server: RedisServer) -> None:
    client = redis_server.client()
    cache = RedisTokenCache(client, prefix="t2:", lock_timeout=0.5, wait_timeout=5)
    auth = sandbox.rokt_auth(cache=cache)
    # A holder that died holding the lock: taken, never released.
    client.lock("t2:" + cache_key_of(auth) + ":lock", timeout=0.5).acquire()
    started = time.monotonic()
    assert auth.get_token()
    assert time.monotonic() - started < 4


# -- the CLI ---------------------------------------------------------------------------------


def test_cli_reuses_one_token_through_the_file_cache(sandbox: Sandbox, tmp_path: Path) -> None:
    env = {**os.environ, **sandbox.environ(), "ADTECH_AUTH_CACHE_DIR": str(tmp_path / "requests-adtech-auth")}
    command = [sys.executable, "-m", "requests_adtech_auth", "token", "dt"]
    tokens = {subprocess.run(command, env=env, capture_output=True, text=True, check=True).stdout for _ in range(3)}
    assert len(tokens) == 1
    assert sandbox.count("digital_turbine", "token") == 1
    for _ in range(2):
        subprocess.run([*command, "--no-cache"], env=env, capture_output=True, text=True, check=True)
    assert sandbox.count("digital_turbine", "token") == 3
    assert (tmp_path / "requests-adtech-auth").is_dir()


def test_a_cache_must_be_a_token_cache() -> None:
    from requests_adtech_auth import ConfigurationError

    with pytest.raises(ConfigurationError, match="TokenCache"):
        RoktAuth("id", "secret", cache={})  # type: ignore[arg-type]


def test_auth_with_a_file_cache_pickles(sandbox: Sandbox, tmp_path: Path) -> None:
    import pickle

    auth: TokenAuth = sandbox.rokt_auth(cache=FileTokenCache(tmp_path))
    token = auth.get_token()
    assert pickle.loads(pickle.dumps(auth)).get_token() == token  # read back from the file
    assert sandbox.count("rokt", "token") == 1


def test_algonomy_update_is_shared_under_the_wider_resources(sandbox: Sandbox, tmp_path: Path) -> None:
    cache = FileTokenCache(tmp_path)
    first = sandbox.algonomy_auth(["basic"], cache=cache)
    token = first.get_token()
    first.add_resources("segments")
    second = sandbox.algonomy_auth(["basic", "segments"], cache=cache)
    assert second.get_token() == token  # read from the cache, not fetched
    assert sandbox.count("algonomy", "token") == 1
    assert sandbox.count("algonomy", "update") == 1
