"""3. Cold start and 4. token lifetimes: threads calling the sandbox's Rokt API."""

from __future__ import annotations

import logging
import math
import random
import threading
import time
from typing import NamedTuple, Optional

from contenders import CONTENDERS, MANUAL_FETCH, US, Contender
from remote_sandbox import RemoteSandbox
from report import Report
from stats import cell

# A shared Session used by 32 threads outgrows urllib3's pool of 10 and says so at
# WARNING for every extra connection; the same for every contender, and not news.
logging.getLogger("urllib3.connectionpool").setLevel(logging.ERROR)

#: The cold-start arrangements: (a session and auth object per thread?, how the rows name it).
ARRANGEMENTS = ((False, "one shared session"), (True, "a session and auth object per thread"))


class ThreadRun(NamedTuple):
    seconds: float
    requests: int
    failures: int
    token_calls: int
    api_401: int


def run_threads(
    name: str,
    box: RemoteSandbox,
    threads: int,
    seconds: Optional[float],
    *,
    per_thread: bool,
    lifetime: float = 3600.0,
    leeway_scale: float = 1.0,
) -> ThreadRun:
    """``threads`` threads call the API, once each or for ``seconds``.

    ``per_thread``: every thread builds its own session and auth object (and makes
    the manual fetch if the library needs one) after the start line; otherwise one
    object, built and manually fetched for before the threads, is shared by all.
    The clock starts before the manual fetch, so that it is counted either way.
    """
    box.reset(lifetime)
    token_url = box.fresh_token_url()
    shared = None if per_thread else Contender(name, box, token_url, leeway_scale)
    barrier = threading.Barrier(threads + 1, timeout=120)  # a thread that fails to start breaks it
    lock = threading.Lock()
    done = {"requests": 0, "failures": 0}
    stop = threading.Event()

    def worker() -> None:
        mine = shared or Contender(name, box, token_url, leeway_scale)
        barrier.wait()
        if shared is None:
            mine.manual_fetch()
        deadline = time.monotonic() + (seconds or 0) + 60  # bounded even if stop is never set
        while True:
            try:
                ok = mine.get(box.api).status_code == 200
            except Exception:
                ok = False
            with lock:
                done["requests"] += 1
                done["failures"] += not ok
            if seconds is None or stop.is_set() or time.monotonic() > deadline:
                return

    pool = [threading.Thread(target=worker, daemon=True) for _ in range(threads)]
    for t in pool:
        t.start()
    started = time.perf_counter()
    if shared is not None:
        shared.manual_fetch()
    barrier.wait()
    if seconds is not None:
        time.sleep(seconds)
        stop.set()
    for t in pool:
        t.join(120)
    elapsed = time.perf_counter() - started
    counts = box.counts()
    return ThreadRun(elapsed, done["requests"], done["failures"], counts.get("token", 0), counts.get("api_401", 0))


def cold_start(box: RemoteSandbox, rounds: int, per_thread: bool) -> dict[str, list[ThreadRun]]:
    """32 threads make their first request at once."""
    results: dict[str, list[ThreadRun]] = {name: [] for name in CONTENDERS}
    for _ in range(rounds):
        for name in random.sample(CONTENDERS, len(CONTENDERS)):
            run = run_threads(name, box, 32, None, per_thread=per_thread)
            if run.failures:
                raise RuntimeError(f"cold start: {name} had {run.failures} failed requests")
            results[name].append(run)
    return results


def add_cold_start(report: Report, what: str, cold: dict[str, list[ThreadRun]]) -> None:
    calls = {
        n: cell([float(r.token_calls) for r in v], ".0f") + (" *" if n in MANUAL_FETCH else "") for n, v in cold.items()
    }
    report.row(f"cold start, 32 threads, {what}: token calls", calls)
    report.row(
        f"cold start, 32 threads, {what}: ms until all answered",
        {n: cell([r.seconds * 1000 for r in v], ".0f") for n, v in cold.items()},
    )
    most = max(r.token_calls for r in cold[US])
    report.verdict(f"cold start, {what}: at most {most} token call(s)", "exactly 1", "met" if most == 1 else "MISSED")


class Lifetime(NamedTuple):
    label: str
    lifetime: float  # seconds the sandbox's tokens live (after scaling)
    scale: float  # how many real seconds one bench second stands for
    seconds: float  # how long 8 threads call, per run


def lifetimes(quick: bool) -> list[Lifetime]:
    """The 2 s row runs in real time; the documented lifetimes run on a clock sped up ``scale`` times."""
    scaled = 4.0 if quick else 10.0  # the documented lifetimes shrink to this many seconds
    return [
        Lifetime("2 s tokens, defaults", 2.0, 1.0, 4.0 if quick else 8.0),
        Lifetime(f"3600 s tokens, 60 s leeway, clock x{3600 / scaled:.0f}", scaled, 3600 / scaled, 1.5 * scaled),
        Lifetime(f"300 s tokens, clock x{300 / scaled:.0f}", scaled, 300 / scaled, 1.5 * scaled),
    ]


def token_lifetimes(box: RemoteSandbox, rows: list[Lifetime], rounds: int) -> dict[tuple[str, str], list[ThreadRun]]:
    """8 threads through one shared session for a while; interleaved over rows and contenders."""
    results: dict[tuple[str, str], list[ThreadRun]] = {(row.label, n): [] for row in rows for n in CONTENDERS}
    by_label = {row.label: row for row in rows}
    for _ in range(rounds):
        for label, name in random.sample(list(results), len(results)):
            row = by_label[label]
            results[(label, name)].append(
                run_threads(name, box, 8, row.seconds, per_thread=False, lifetime=row.lifetime, leeway_scale=row.scale)
            )
    return results


def ideal_token_calls(run: ThreadRun, lifetime: float) -> int:
    """The fewest tokens that cover the run: each used for its whole lifetime, back to back."""
    return math.ceil(run.seconds / lifetime)


def add_lifetimes(report: Report, rows: list[Lifetime], life: dict[tuple[str, str], list[ThreadRun]]) -> None:
    for row in rows:
        runs = {n: life[(row.label, n)] for n in CONTENDERS}
        ideal = {n: sum(ideal_token_calls(r, row.lifetime) for r in v) for n, v in runs.items()}
        calls_total = {n: sum(r.token_calls for r in v) for n, v in runs.items()}
        unauthorized = {n: sum(r.api_401 for r in v) for n, v in runs.items()}
        report.row(f"{row.label}, 8 threads: token calls (ideal)", {n: f"{calls_total[n]} ({ideal[n]})" for n in runs})
        report.row(f"{row.label}: 401s seen by the server", {n: str(unauthorized[n]) for n in runs})
        report.row(
            f"{row.label}: requests (failed)",
            {n: f"{sum(r.requests for r in v)} ({sum(r.failures for r in v)})" for n, v in runs.items()},
        )
        ok = calls_total[US] <= 2 * ideal[US] and unauthorized[US] == 0
        report.verdict(
            f"{row.label}: {calls_total[US]} token calls vs ideal {ideal[US]}, {unauthorized[US]} 401s",
            "<= 2 x ideal, 0 401s",
            "met" if ok else "MISSED",
        )
