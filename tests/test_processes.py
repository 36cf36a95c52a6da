"""Fork and pickle: auth objects in child processes and multiprocessing pools."""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
import warnings

import pytest
import requests

from requests_adtech_auth import TokenAuth
from requests_adtech_auth.sandbox import Sandbox

needs_fork = pytest.mark.skipif(not hasattr(os, "fork"), reason="os.fork is POSIX only")


def _wait(pid: int, seconds: float) -> int:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.02)
    os.kill(pid, 9)
    os.waitpid(pid, 0)
    pytest.fail("the forked child did not finish: deadlock")


def _fork(child: object) -> int:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # Python 3.12+: fork with threads
        pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        try:
            code = child()  # type: ignore[operator]
        except BaseException:
            code = 3
        os._exit(code)
    return pid


@needs_fork
def test_fork_while_another_thread_holds_the_lock(sandbox: Sandbox) -> None:
    sandbox.token_delay = 0.5
    auth = sandbox.rokt_auth()
    holder = threading.Thread(target=auth.get_token)
    holder.start()
    time.sleep(0.15)  # the holder is now inside the token fetch, holding the lock
    url = sandbox.rokt.api_url + "/v1/query/accounts"
    pid = _fork(lambda: 0 if requests.get(url, auth=auth, timeout=10).status_code == 200 else 1)
    assert _wait(pid, 20) == 0
    holder.join(10)
    assert sandbox.count("rokt", "token") == 2  # the parent's fetch and the child's own


@needs_fork
def test_token_cached_before_fork_is_reused_by_the_child(sandbox: Sandbox) -> None:
    auth = sandbox.rokt_auth()
    token = auth.get_token()
    url = sandbox.rokt.api_url + "/v1/query/accounts"

    def child() -> int:
        ok = requests.get(url, auth=auth, timeout=10).ok and auth.get_token() == token
        return 0 if ok else 1

    assert _wait(_fork(child), 20) == 0
    assert sandbox.count("rokt", "token") == 1
    assert sandbox.count("rokt", "api_ok") == 1


def call_in_worker(job: tuple[TokenAuth, str]) -> tuple[int, str]:
    """Run in a pool worker: the pickled auth object makes an API call."""
    auth, url = job
    response = requests.get(url, auth=auth, timeout=10)
    return response.status_code, auth.get_token() + "@" + str(os.getpid())


def test_pickled_auth_objects_in_a_spawned_pool(sandbox: Sandbox) -> None:
    auth = sandbox.rokt_auth()
    parent_token = auth.get_token()
    url = sandbox.rokt.api_url + "/v1/query/accounts"
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        results = pool.map(call_in_worker, [(auth, url)] * 4, chunksize=1)
    assert [status for status, _ in results] == [200] * 4
    tokens = {token.partition("@")[0] for _, token in results}
    workers = {token.partition("@")[2] for _, token in results}
    assert parent_token not in tokens, "the cached token must not travel"
    assert len(tokens) == len(workers), "objects unpickled in one worker share its token"
    assert sandbox.count("rokt", "token") == 1 + len(workers)  # the parent's, and one per worker process
