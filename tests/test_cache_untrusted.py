"""What a shared cache holds is untrusted: planted files, a Redis that stops answering, pickling, bad entries."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import logging
import math
import os
import pickle
import socket
import stat
import threading
import time
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO, Callable, Optional

import pytest
import requests

from requests_adtech_auth import CacheUnavailableError, ConfigurationError, FileTokenCache, RedisTokenCache
from requests_adtech_auth.cache import StoredToken
from requests_adtech_auth.sandbox import Sandbox

from .helpers import cache_key_of
from .redis_server import RedisServer

NOBODY = 65534
as_root = pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="needs root to chown")


def _summary(sandbox: Sandbox) -> str:
    return sandbox.rokt.api_url + "/v1/query/accounts"


def _entry(token: str, refresh_in: float = 600.0, expires_in: float = 900.0) -> str:
    now = time.time()
    return StoredToken(token, now + refresh_in, now + expires_in).dumps()


def _cache_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name.startswith("requests_adtech_auth") and r.levelno == logging.WARNING and "directly" in r.getMessage()
    ]


# -- StoredToken: entries are untrusted ------------------------------------------------------------

FUTURE = time.time() + 3600

UNTRUSTED = {
    "NaN refresh": f'{{"v": 1, "token": "tok", "refresh_at": NaN, "expires_at": {FUTURE}}}',
    "NaN expiry": f'{{"v": 1, "token": "tok", "refresh_at": {FUTURE}, "expires_at": NaN}}',
    "infinite expiry": f'{{"v": 1, "token": "tok", "refresh_at": {FUTURE}, "expires_at": Infinity}}',
    "-infinite refresh": f'{{"v": 1, "token": "tok", "refresh_at": -Infinity, "expires_at": {FUTURE}}}',
    "1e400 (inf)": f'{{"v": 1, "token": "tok", "refresh_at": {FUTURE}, "expires_at": 1e400}}',
    "10**400 (OverflowError)": f'{{"v": 1, "token": "tok", "refresh_at": {FUTURE}, "expires_at": 1{"0" * 400}}}',
    "refresh after expiry": f'{{"v": 1, "token": "tok", "refresh_at": {FUTURE + 1}, "expires_at": {FUTURE}}}',
    "space in token": f'{{"v": 1, "token": "a b", "refresh_at": {FUTURE}, "expires_at": {FUTURE}}}',
    "CR LF in token": f'{{"v": 1, "token": "a\\r\\nX-Evil: 1", "refresh_at": {FUTURE}, "expires_at": {FUTURE}}}',
    "non-ASCII token": f'{{"v": 1, "token": "t\\u00f6k", "refresh_at": {FUTURE}, "expires_at": {FUTURE}}}',
    "empty token": f'{{"v": 1, "token": "", "refresh_at": {FUTURE}, "expires_at": {FUTURE}}}',
    "16385-character token": json.dumps({"v": 1, "token": "t" * 16385, "refresh_at": FUTURE, "expires_at": FUTURE}),
    "times as strings": f'{{"v": 1, "token": "tok", "refresh_at": "{FUTURE}", "expires_at": "{FUTURE}"}}',
    "times as booleans": '{"v": 1, "token": "tok", "refresh_at": true, "expires_at": true}',
    "over 64 KiB": json.dumps({"v": 1, "token": "tok", "refresh_at": FUTURE, "expires_at": FUTURE, "x": "y" * 70000}),
}


@pytest.mark.parametrize("text", list(UNTRUSTED.values()), ids=list(UNTRUSTED))
def test_an_untrusted_entry_is_refused(text: str) -> None:
    assert StoredToken.loads(text) is None
    assert StoredToken.loads(text.encode()) is None  # what Redis returns


def test_a_valid_entry_still_reads_back() -> None:
    token = StoredToken("t" * 16384, FUTURE, FUTURE)  # the longest token, renewed at its expiry
    assert StoredToken.loads(token.dumps()) == token
    assert StoredToken.loads(token.dumps().encode()) == token
    assert StoredToken.loads('{"v": 1, "token": "~!", "refresh_at": 1, "expires_at": 2}') == ("~!", 1.0, 2.0)


def test_a_stored_token_never_shows_its_value() -> None:
    secret = "tok-5ecret-VALUE"
    stored = StoredToken(secret, 1.0, 2.0)
    for text in (repr(stored), str(stored), repr([stored]), f"{stored}", f"{stored!r}"):
        assert secret not in text
        assert "StoredToken(" in text

    def holder(token: StoredToken) -> None:
        raise RuntimeError("boom")

    try:
        holder(stored)
    except RuntimeError as exc:
        frame = traceback.TracebackException.from_exception(exc, capture_locals=True).stack[-1]
    assert frame.name == "holder"
    assert frame.locals == {"token": "StoredToken(value=<hidden>, refresh_at=1.0, expires_at=2.0)"}


def test_a_nan_entry_in_the_file_cache_is_not_adopted(sandbox: Sandbox, tmp_path: Path) -> None:
    cache = FileTokenCache(tmp_path)
    auth = sandbox.rokt_auth(cache=cache)
    (tmp_path / f"{cache_key_of(auth)}.json").write_text(
        '{"v": 1, "token": "planted", "refresh_at": NaN, "expires_at": NaN}'
    )
    os.chmod(tmp_path / f"{cache_key_of(auth)}.json", 0o600)
    assert auth.get_token() != "planted"
    assert sandbox.count("rokt", "token") == 1
    assert StoredToken.loads((tmp_path / f"{cache_key_of(auth)}.json").read_text()) is not None, "rewritten"


# -- FileTokenCache: nothing planted is followed ---------------------------------------------------


def _plant(kind: str, where: Path, victim: Path) -> None:
    """Put something that is not a plain file of ours at ``where``."""
    if kind == "directory":
        where.mkdir()
    elif kind == "dangling symlink":
        where.symlink_to(where.parent / "nowhere")
    elif kind == "symlink loop":
        where.symlink_to(where.name)
    elif kind == "symlink to a file":
        where.symlink_to(victim)
    elif kind == "hard link":
        os.link(victim, where)
    elif kind == "fifo":
        os.mkfifo(where, 0o600)
    else:  # "another user's file"
        where.write_text(victim.read_text())
        os.chown(where, NOBODY, NOBODY)


LOCK_PLANTS = ["directory", "dangling symlink", "symlink loop", "symlink to a file", "hard link", "fifo"]


@pytest.mark.parametrize("kind", LOCK_PLANTS)
def test_a_lock_file_that_is_not_a_plain_file_degrades_to_direct_fetches(
    kind: str, sandbox: Sandbox, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    directory, victim = tmp_path / "tokens", tmp_path / "victim"
    victim.write_text("precious")
    victim.chmod(0o644)
    cache = FileTokenCache(directory)
    auth = sandbox.rokt_auth(cache=cache)
    directory.mkdir(mode=0o700)
    _plant(kind, directory / f"{cache_key_of(auth)}.lock", victim)
    caplog.set_level(logging.WARNING, "requests_adtech_auth")
    for _ in range(2):
        assert requests.get(_summary(sandbox), auth=auth, timeout=10).status_code == 200
        auth.invalidate()
    assert sandbox.count("rokt", "token") == 2, "fetched directly"
    (warning,) = _cache_warnings(caplog)
    assert "lock" in warning
    assert victim.read_text() == "precious" and stat.S_IMODE(victim.stat().st_mode) == 0o644
    with pytest.raises(CacheUnavailableError), cache.lock(cache_key_of(auth)):
        pass


def test_lock_and_token_files_of_ours_still_work(sandbox: Sandbox, tmp_path: Path) -> None:
    cache = FileTokenCache(tmp_path / "tokens")
    with cache.lock("k"), cache.lock("other"):
        cache.store("k", StoredToken("tok", FUTURE, FUTURE))
    with cache.lock("k"):  # released, and taken again
        assert cache.load("k") == ("tok", FUTURE, FUTURE)
    cache.discard("k", "tok")
    assert cache.load("k") is None


def _get_token_in_a_thread(auth: Any) -> str:
    """auth.get_token(), or a failure after 20 s (a FIFO opened without O_NONBLOCK blocks forever)."""
    result: list[Any] = []
    worker = threading.Thread(target=lambda: result.append(auth.get_token()), daemon=True)
    worker.start()
    worker.join(20)
    assert not worker.is_alive(), "reading the token file blocked"
    assert result, "get_token raised"
    return str(result[0])


TOKEN_PLANTS = [
    "symlink to a file",
    "hard link",
    "fifo",
    pytest.param("another user's file", marks=as_root),
]


@pytest.mark.parametrize("kind", TOKEN_PLANTS)
def test_a_token_file_that_is_not_a_plain_file_of_ours_counts_as_empty(
    kind: str, sandbox: Sandbox, tmp_path: Path
) -> None:
    directory, planted = tmp_path / "tokens", tmp_path / "planted.json"
    planted.write_text(_entry("planted-token"))
    planted.chmod(0o600)
    original = planted.read_text()
    cache = FileTokenCache(directory)
    auth = sandbox.rokt_auth(cache=cache)
    directory.mkdir(mode=0o700)
    target = directory / f"{cache_key_of(auth)}.json"
    _plant(kind, target, planted)
    assert _get_token_in_a_thread(auth) != "planted-token"
    assert sandbox.count("rokt", "token") == 1
    assert planted.read_text() == original, "the planted file is untouched"
    # The fetched token replaced what was planted (a rename replaces a link, not its target).
    assert not target.is_symlink() and stat.S_ISREG(target.lstat().st_mode)
    assert sandbox.rokt_auth(cache=cache).get_token() == auth.get_token()
    assert sandbox.count("rokt", "token") == 1


@as_root
def test_a_cache_directory_of_another_user_is_refused_untouched(
    sandbox: Sandbox, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    directory = tmp_path / "theirs"
    directory.mkdir()
    directory.chmod(0o777)
    cache = FileTokenCache(directory)
    auth = sandbox.rokt_auth(cache=cache)
    planted = directory / f"{cache_key_of(auth)}.json"
    planted.write_text(_entry("planted-token"))
    for path in (planted, directory):
        os.chown(path, NOBODY, NOBODY)
    planted.chmod(0o600)
    caplog.set_level(logging.WARNING, "requests_adtech_auth")
    assert requests.get(_summary(sandbox), auth=auth, timeout=10).status_code == 200
    assert auth.get_token() != "planted-token"
    assert sandbox.count("rokt", "token") == 1
    (warning,) = _cache_warnings(caplog)
    assert "another user" in warning
    info = directory.stat()
    assert (info.st_uid, stat.S_IMODE(info.st_mode)) == (NOBODY, 0o777), "not chown-ed, not chmod-ed"
    assert [p.name for p in directory.iterdir()] == [planted.name], "nothing written there"
    for call in (lambda: cache.load("k"), lambda: cache.store("k", StoredToken("t", FUTURE, FUTURE))):
        with pytest.raises(CacheUnavailableError, match="another user"):
            call()


@pytest.mark.parametrize("given", ["argument", "ADTECH_AUTH_CACHE_DIR"])
@pytest.mark.parametrize("kind", ["symlink to our directory", "a file", "open to others"])
def test_a_cache_directory_that_is_a_link_or_a_file_is_refused_and_one_open_to_others_made_private(
    kind: str,
    given: str,
    sandbox: Sandbox,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real, path = tmp_path / "real", tmp_path / "tokens"
    real.mkdir(mode=0o700)
    if kind == "a file":
        path.write_text("")
    elif kind == "symlink to our directory":
        path.symlink_to(real)
    else:
        path.mkdir()
        path.chmod(0o777)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    if given == "argument":
        cache = FileTokenCache(path)
    else:
        monkeypatch.setenv("ADTECH_AUTH_CACHE_DIR", str(path))
        cache = FileTokenCache()
    auth = sandbox.rokt_auth(cache=cache)
    caplog.set_level(logging.WARNING, "requests_adtech_auth")
    assert requests.get(_summary(sandbox), auth=auth, timeout=10).status_code == 200
    assert sandbox.count("rokt", "token") == 1
    assert not (tmp_path / "xdg").exists(), "no fallback to another directory"
    if kind == "open to others":  # ours: made private, then used
        assert stat.S_IMODE(path.stat().st_mode) == 0o700
        assert any(p.suffix == ".json" for p in path.iterdir())
        assert _cache_warnings(caplog) == []
    else:  # refused: the token was fetched directly and written nowhere
        assert len(_cache_warnings(caplog)) == 1
        assert list(real.iterdir()) == [], "nothing written through the link"


def test_the_file_cache_raises_nothing_but_cache_unavailable(tmp_path: Path) -> None:
    directory = tmp_path / "tokens"
    cache = FileTokenCache(directory)
    for key in ("../escape", "a/b", "", "x" * 200):
        with pytest.raises(CacheUnavailableError):
            cache.load(key)
        with pytest.raises(CacheUnavailableError):
            cache.store(key, StoredToken("tok", FUTURE, FUTURE))
        with pytest.raises(CacheUnavailableError):
            cache.discard(key, "tok")
        with pytest.raises(CacheUnavailableError), cache.lock(key):
            pass
    assert not (tmp_path / "escape.json").exists()
    # A token the cache would refuse to read back is not written.
    cache.store("k", StoredToken("tok", math.nan, math.nan))
    cache.store("k", StoredToken("a b", FUTURE, FUTURE))
    assert not (directory / "k.json").exists()
    # A token file that turned into a directory: not a token, and not a crash.
    directory.mkdir(mode=0o700)
    (directory / "d.json").mkdir()
    assert cache.load("d") is None
    with pytest.raises(CacheUnavailableError):
        cache.store("d", StoredToken("tok", FUTURE, FUTURE))


def test_a_file_cache_pickles_and_keeps_its_checks(tmp_path: Path) -> None:
    cache = FileTokenCache(tmp_path / "tokens")
    cache.store("k", StoredToken("tok", FUTURE, FUTURE))
    twin = pickle.loads(pickle.dumps(cache))
    assert twin.load("k") == ("tok", FUTURE, FUTURE)
    (tmp_path / "link").symlink_to(tmp_path / "tokens")
    with pytest.raises(CacheUnavailableError, match="symbolic link"):
        pickle.loads(pickle.dumps(FileTokenCache(tmp_path / "link"))).load("k")


# -- RedisTokenCache: a Redis that stops answering -------------------------------------------------


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A TCP server on 127.0.0.1 that accepts connections and never answers; yields its port."""
    server = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []

    def accept() -> None:
        while True:
            try:
                held.append(server.accept()[0])
            except OSError:
                return

    threading.Thread(target=accept, daemon=True).start()
    yield int(server.getsockname()[1])
    server.close()
    for connection in held:
        connection.close()


@pytest.mark.parametrize("build", ["client", "from_url"])
def test_a_redis_that_never_answers_costs_a_fetch_about_the_cache_timeout(
    build: str, silent_server: int, sandbox: Sandbox, caplog: pytest.LogCaptureFixture
) -> None:
    import redis

    client = redis.Redis(host="127.0.0.1", port=silent_server)  # redis-py's defaults, as a user would
    kwargs_before = dict(client.connection_pool.connection_kwargs)
    if build == "client":
        cache = RedisTokenCache(client)
    else:
        cache = RedisTokenCache.from_url(f"redis://127.0.0.1:{silent_server}/0", socket_timeout=60)
    auth = sandbox.rokt_auth(cache=cache)
    caplog.set_level(logging.WARNING, "requests_adtech_auth")
    started = time.monotonic()
    response = requests.get(_summary(sandbox), auth=auth, timeout=10)
    elapsed = time.monotonic() - started
    assert response.status_code == 200
    assert elapsed < 15, f"the cache cost the request {elapsed:.1f} s"  # 2 s cache timeout; ~59 s before
    assert sandbox.count("rokt", "token") == 1, "fetched directly"
    (warning,) = _cache_warnings(caplog)
    assert "TimeoutError" in warning
    # The caller's client is left as it was; the cache talks through its own copy.
    assert cache.client is not client
    assert client.connection_pool.connection_kwargs == kwargs_before
    assert cache.client.connection_pool.connection_kwargs["socket_timeout"] == 2.0


class ScriptedRedis:
    """Just enough of the Redis protocol on loopback: answers commands until ``stall`` picks one, then goes quiet.

    Only for what a real redis-server cannot be made to do: answer some commands and hang on others.
    """

    def __init__(self, stall: Callable[[list[bytes]], bool], drip: bool = False) -> None:
        self.stall = stall
        self.drip = drip  # answer the stalled command a byte every 0.3 s instead of never
        self.commands: list[list[bytes]] = []
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.server.getsockname()[1])
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                connection = self.server.accept()[0]
            except OSError:
                return
            threading.Thread(target=self._talk, args=(connection,), daemon=True).start()

    def _talk(self, connection: socket.socket) -> None:
        resp3 = False
        with connection, connection.makefile("rb") as reader:
            while True:
                command = self._read(reader)
                if command is None:
                    return
                self.commands.append(command)
                if self.stall(command) and self.drip:
                    answer = b"$60000\r\n" + b"x" * 60000 + b"\r\n"
                    with contextlib.suppress(OSError):
                        for byte in answer[:100]:  # the client gives up long before
                            connection.sendall(bytes([byte]))
                            time.sleep(0.3)
                    return
                if self.stall(command):
                    reader.read()  # hold the connection, never answer, until the client gives up
                    return
                name = command[0].upper()
                if name == b"HELLO":  # newer redis-py speaks RESP3 by default
                    resp3 = True
                    connection.sendall(b"%2\r\n$6\r\nserver\r\n$5\r\nredis\r\n$5\r\nproto\r\n:3\r\n")
                elif name == b"GET":
                    connection.sendall(b"_\r\n" if resp3 else b"$-1\r\n")
                elif name == b"EVALSHA":
                    connection.sendall(b":1\r\n")
                else:
                    connection.sendall(b"+OK\r\n")

    @staticmethod
    def _read(reader: BinaryIO) -> Optional[list[bytes]]:
        header = reader.readline()
        if not header.startswith(b"*"):
            return None
        parts = []
        for _ in range(int(header[1:])):
            size = int(reader.readline()[1:])
            parts.append(reader.read(size + 2)[:-2])
        return parts

    def close(self) -> None:
        self.server.close()


STALLS: dict[str, Callable[[list[bytes]], bool]] = {
    "taking the lock": lambda c: c[0].upper() == b"SET" and b"NX" in (p.upper() for p in c),
    "storing the token": lambda c: c[0].upper() == b"SET" and b"NX" not in (p.upper() for p in c),
    "releasing the lock": lambda c: c[0].upper() in (b"EVALSHA", b"EVAL"),
}


@pytest.mark.parametrize(
    ("stall", "drip"),
    [*((stall, False) for stall in STALLS.values()), (lambda c: c[0].upper() == b"GET", True)],
    ids=[*STALLS, "dripping the token read"],
)
def test_every_redis_operation_is_bounded(stall: Callable[[list[bytes]], bool], drip: bool, sandbox: Sandbox) -> None:
    # Dripping: each read comes within the 0.5 s socket timeout, so only a deadline per
    # operation ends it (30 s and more before).
    import redis

    server = ScriptedRedis(stall, drip=drip)
    try:
        cache = RedisTokenCache(redis.Redis(host="127.0.0.1", port=server.port), timeout=0.5)
        auth = sandbox.rokt_auth(cache=cache)
        started = time.monotonic()
        assert requests.get(_summary(sandbox), auth=auth, timeout=10).status_code == 200
        elapsed = time.monotonic() - started
    finally:
        server.close()
    assert elapsed < 8, f"the cache cost the request {elapsed:.1f} s"  # 0.5 s per operation; 20 s and more before
    assert sandbox.count("rokt", "token") == 1
    assert any(stall(c) for c in server.commands), "the stalling command was reached"


# -- RedisTokenCache: pickling, options, and no other exception ------------------------------------


def test_an_auth_object_with_a_redis_cache_pickles_and_the_copy_works(
    sandbox: Sandbox,
    redis_server: RedisServer,
) -> None:
    sandbox.lifetimes["rokt"] = 60.0
    auth = sandbox.rokt_auth(cache=RedisTokenCache(redis_server.client(), prefix="pickle:", timeout=1.5))
    token = auth.get_token()
    copied = pickle.loads(pickle.dumps(auth))
    assert copied.cache is not auth.cache
    assert (copied.cache.prefix, copied.cache.timeout) == ("pickle:", 1.5)
    assert copied.get_token() == token, "read back from Redis, through a new connection"
    assert sandbox.count("rokt", "token") == 1
    copied.invalidate()  # discards the shared token too
    fresh = copied.get_token()
    assert fresh != token
    assert sandbox.rokt_auth(cache=copy.deepcopy(copied.cache)).get_token() == fresh
    url_cache = RedisTokenCache.from_url(f"redis://127.0.0.1:{redis_server.port}/0", prefix="pickle:")
    assert pickle.loads(pickle.dumps(sandbox.rokt_auth(cache=url_cache))).get_token() == fresh
    assert sandbox.count("rokt", "token") == 2


def test_a_redis_entry_that_is_not_a_token_is_not_adopted(
    sandbox: Sandbox,
    redis_server: RedisServer,
) -> None:
    client = redis_server.client()
    auth = sandbox.rokt_auth(cache=RedisTokenCache(client, prefix="bad:"))
    key = "bad:" + cache_key_of(auth)
    for entry in (UNTRUSTED["NaN refresh"], UNTRUSTED["CR LF in token"], "\udcff".encode(errors="surrogatepass")):
        client.set(key, entry)
        auth.invalidate()
        assert auth.get_token() != "tok"
    assert sandbox.count("rokt", "token") == 3


def test_a_far_expiry_gets_a_bounded_redis_ttl(redis_server: RedisServer) -> None:
    from requests_adtech_auth.redis_cache import MAX_TTL

    client = redis_server.client()
    cache = RedisTokenCache(client, prefix="ttl:")
    cache.store("k", StoredToken("tok", time.time() + 60, 1e308))  # (1e308 - now) * 1000 overflows
    assert 0 < client.pttl("ttl:k") <= MAX_TTL * 1000
    assert cache.load("k") == ("tok", pytest.approx(time.time() + 60, abs=5), 1e308)


def test_a_redis_cache_over_a_client_it_cannot_copy(sandbox: Sandbox) -> None:
    class Unknown:
        """Stands for a client the cache cannot copy (a cluster or sentinel client)."""

    cache = RedisTokenCache(Unknown())
    with pytest.raises(TypeError, match="from_url"):
        pickle.dumps(cache)
    # Used as given, and whatever it raises stays a CacheUnavailableError.
    for call in (
        lambda: cache.load("k"),
        lambda: cache.store("k", StoredToken("tok", time.time() + 60, time.time() + 60)),
        lambda: cache.discard("k", "tok"),
    ):
        with pytest.raises(CacheUnavailableError, match="AttributeError"):
            call()
    with pytest.raises(CacheUnavailableError), cache.lock("k"):
        pass
    assert requests.get(_summary(sandbox), auth=sandbox.rokt_auth(cache=cache), timeout=10).ok


@pytest.mark.parametrize("name", ["timeout", "lock_timeout", "wait_timeout"])
@pytest.mark.parametrize("value", [0, -1, math.inf, math.nan, "2", True])
def test_redis_cache_options_are_checked(name: str, value: Any) -> None:
    import redis

    with pytest.raises(ConfigurationError, match=f"^{name} must be"):
        RedisTokenCache(redis.Redis(), **{name: value})


def test_from_url_never_repeats_the_url() -> None:
    import redis.asyncio

    with pytest.raises(ConfigurationError) as caught:
        RedisTokenCache.from_url("http://user:hunter2-secret@redis.internal:6379/0")
    assert "hunter2" not in str(caught.value) and "redis.internal" not in str(caught.value)

    async def refused() -> None:
        # Built inside a running loop: on Python 3.9 the client's asyncio locks would
        # otherwise create an event loop that nothing closes (a ResourceWarning later).
        client = redis.asyncio.Redis()
        try:
            with pytest.raises(ConfigurationError, match="asyncio"):
                RedisTokenCache(client)
        finally:
            await client.connection_pool.disconnect()

    asyncio.run(refused())


# -- the Redis tests skip without redis-server, unless required ------------------------------------


def test_redis_tests_skip_without_redis_server_and_fail_when_required(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    pytester.makepyfile(
        """
        from tests.redis_server import RedisServer, redis_server

        def test_through_the_fixture(redis_server):
            pass

        def test_starting_redis_directly(tmp_path):
            RedisServer(tmp_path)
        """
    )
    monkeypatch.setenv("PATH", str(tmp_path))  # no redis-server on it
    monkeypatch.delenv("ADTECH_AUTH_REQUIRE_REDIS", raising=False)
    monkeypatch.delenv("CI", raising=False)
    skipped = pytester.runpytest_inprocess("-p", "no:cacheprovider", "-p", "no:hypothesispytest", "-rs")
    skipped.assert_outcomes(skipped=2)
    skipped.stdout.fnmatch_lines(["*redis-server is not installed*ADTECH_AUTH_REQUIRE_REDIS=1*"])
    monkeypatch.setenv("ADTECH_AUTH_REQUIRE_REDIS", "1")
    required = pytester.runpytest_inprocess("-p", "no:cacheprovider", "-p", "no:hypothesispytest")
    required.assert_outcomes(failed=1, errors=1)  # the fixture errors, the direct start fails
    required.stdout.fnmatch_lines(["*redis-server is not installed and ADTECH_AUTH_REQUIRE_REDIS is set*"])
