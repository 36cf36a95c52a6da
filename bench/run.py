"""Benchmark requests-adtech-auth against the libraries users would pick instead.

Run:  python bench/run.py            (about 2 minutes; --quick for a short pass)

Everything talks to the project's sandbox on loopback, run in a separate process so
that its serving does not share this process's GIL. Contenders are interleaved in
every round, so machine noise hits all of them alike; each figure is the median
over rounds, with the spread (min..max over rounds) beside it.
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing
import os
import platform
import random
import statistics
import subprocess
import sys
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import requests
from requests.auth import AuthBase

# Peers refuse plain-http token URLs unless told otherwise; the sandbox is loopback http.
os.environ["OAUTHLIB_INSECURE_TRANSPORT"] = "1"
os.environ["AUTHLIB_INSECURE_TRANSPORT"] = "1"

import requests_auth
from authlib.integrations.requests_client import OAuth2Session as AuthlibSession
from oauthlib.oauth2 import BackendApplicationClient, TokenExpiredError
from requests_oauthlib import OAuth2, OAuth2Session

from requests_adtech_auth import RoktAuth

HERE = Path(__file__).resolve().parent
CONTENDERS = ["baseline", "requests-adtech-auth", "requests-auth", "authlib", "requests-oauthlib"]
MANUAL_FETCH = {"authlib", "requests-oauthlib"}
API_URL_FOR_HOOK = "https://api.rokt.com/reporting/accounts/123/summary"


# -- the sandbox in its own process ------------------------------------------------------


def _serve(queue: Any, stop: Any) -> None:
    from requests_adtech_auth.sandbox import Sandbox

    with Sandbox(record=False) as box:
        queue.put(box.info())
        stop.wait()


class RemoteSandbox:
    """The sandbox in a child process, steered through its /_sandbox control paths."""

    def __enter__(self) -> RemoteSandbox:
        ctx = multiprocessing.get_context("spawn")
        queue, self._stop = ctx.Queue(), ctx.Event()
        self._process = ctx.Process(target=_serve, args=(queue, self._stop), daemon=True)
        self._process.start()
        self.info = queue.get(timeout=60)
        self.url = self.info["url"]
        rokt = self.info["rokt"]
        self.token_url, self.app_id, self.app_secret = rokt["token_url"], rokt["app_id"], rokt["app_secret"]
        self.api = rokt["api_url"] + "/reporting/accounts/123/summary"
        self._control = requests.Session()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._process.join(10)

    def reset(self, lifetime: float = 3600.0) -> None:
        self._control.post(self.url + "/_sandbox/reset", timeout=10).raise_for_status()
        self._control.post(self.url + "/_sandbox/lifetimes", json={"rokt": lifetime}, timeout=10).raise_for_status()

    def counts(self) -> dict[str, int]:
        return self._control.get(self.url + "/_sandbox/counts", timeout=10).json().get("rokt", {})  # type: ignore[no-any-return]


# -- the contenders, each configured for Rokt's flow as its documentation says -----------------


class ConstantHeader(AuthBase):
    """The physical floor: an auth that sets one constant header."""

    def __init__(self, value: str) -> None:
        self.value = value

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        r.headers["Authorization"] = self.value
        return r


class Contender:
    """One library, configured for the Rokt flow: how to build it and use it."""

    def __init__(self, name: str, box: RemoteSandbox) -> None:
        self.name = name
        self.box = box
        self.session: requests.Session
        self.hook: Callable[[requests.PreparedRequest], Any]
        if name == "baseline":
            token = RoktAuth(box.app_id, box.app_secret, token_url=box.token_url).get_token()
            self.session = requests.Session()
            self.session.auth = self.hook = ConstantHeader("Bearer " + token)
        elif name == "requests-adtech-auth":
            self.session = requests.Session()
            self.session.auth = self.hook = RoktAuth(box.app_id, box.app_secret, token_url=box.token_url)
        elif name == "requests-auth":
            requests_auth.OAuth2.token_cache.clear()
            self.session = requests.Session()
            self.session.auth = self.hook = requests_auth.OAuth2ClientCredentials(
                box.token_url, box.app_id, box.app_secret
            )
        elif name == "authlib":
            self.session = AuthlibSession(
                box.app_id, box.app_secret, token_endpoint=box.token_url, grant_type="client_credentials"
            )
            self.hook = lambda r: self.session.token_auth(r)  # type: ignore[attr-defined]  # noqa: PLW0108
        elif name == "requests-oauthlib":
            self.session = OAuth2Session(client=BackendApplicationClient(client_id=box.app_id))
            # Built per call: the session's token only exists after the manual fetch.
            self.hook = lambda r: OAuth2(client=self.session._client, token=self.session.token)(r)  # type: ignore[attr-defined]  # noqa: PLW0108

    def manual_fetch(self) -> None:
        """What a user of Authlib or requests-oauthlib must do before the first call."""
        if self.name == "authlib":
            self.session.fetch_token(self.box.token_url, grant_type="client_credentials")  # type: ignore[attr-defined]
        elif self.name == "requests-oauthlib":
            self.session.fetch_token(  # type: ignore[attr-defined]
                self.box.token_url, client_id=self.box.app_id, client_secret=self.box.app_secret
            )

    def get(self, url: str) -> requests.Response:
        """One API call, as a user of this library writes it."""
        if self.name == "requests-oauthlib":
            # requests-oauthlib cannot renew client-credentials tokens: users catch and refetch.
            try:
                return self.session.get(url, timeout=10)
            except TokenExpiredError:
                self.manual_fetch()
                return self.session.get(url, timeout=10)
        return self.session.get(url, timeout=10)


# -- measurements -----------------------------------------------------------------------------


def hook_overhead(contenders: dict[str, Contender], rounds: int, n: int) -> dict[str, list[float]]:
    """Microseconds per auth-hook call on a prepared request, warm token."""
    for c in contenders.values():
        c.manual_fetch()
        c.get(c.box.api)  # warms requests-auth's cache and ours
    per_round: dict[str, list[float]] = {name: [] for name in contenders}
    template = requests.Request("GET", API_URL_FOR_HOOK)
    for _ in range(rounds):
        order = list(contenders)
        random.shuffle(order)
        for name in order:
            prepared = [template.prepare() for _ in range(n)]
            hook = contenders[name].hook
            for r in prepared[:50]:
                hook(r)  # warm-up
            started = time.perf_counter()
            for r in prepared:
                hook(r)
            per_round[name].append((time.perf_counter() - started) / n * 1e6)
    return per_round


def end_to_end(contenders: dict[str, Contender], rounds: int, n: int) -> dict[str, list[float]]:
    """Requests per second through one session over loopback, warm token."""
    per_round: dict[str, list[float]] = {name: [] for name in contenders}
    for c in contenders.values():
        for _ in range(20):
            c.get(c.box.api)
    for _ in range(rounds):
        order = list(contenders)
        random.shuffle(order)
        for name in order:
            c = contenders[name]
            started = time.perf_counter()
            for _ in range(n):
                c.get(c.box.api)
            per_round[name].append(n / (time.perf_counter() - started))
    return per_round


def run_threads(c: Contender, threads: int, seconds: float | None) -> tuple[float, int, int]:
    """``threads`` threads call the API (once each, or for ``seconds``); return time, requests, failures."""
    barrier = threading.Barrier(threads + 1)
    lock = threading.Lock()
    done = {"requests": 0, "failures": 0}
    stop = threading.Event()
    # Libraries whose state is an auth object get a session per thread; the session-based
    # peers hold their token in the session, so their threads share it, as their users do.
    shared = c.name in MANUAL_FETCH

    def worker() -> None:
        mine = c if shared else _with_own_session(c)
        barrier.wait()
        while True:
            try:
                ok = mine.get(c.box.api).status_code == 200
            except Exception:
                ok = False
            with lock:
                done["requests"] += 1
                done["failures"] += not ok
            if seconds is None or stop.is_set():
                return

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for t in pool:
        t.start()
    barrier.wait()
    started = time.perf_counter()
    if seconds is not None:
        time.sleep(seconds)
        stop.set()
    for t in pool:
        t.join()
    return time.perf_counter() - started, done["requests"], done["failures"]


def _with_own_session(c: Contender) -> Contender:
    twin = Contender.__new__(Contender)
    twin.__dict__.update(c.__dict__)
    twin.session = requests.Session()
    twin.session.auth = c.session.auth
    return twin


def cold_start(box: RemoteSandbox, rounds: int) -> dict[str, list[tuple[int, float]]]:
    """32 threads make their first request at once: token calls and time until all answered."""
    results: dict[str, list[tuple[int, float]]] = {name: [] for name in CONTENDERS if name != "baseline"}
    for _ in range(rounds):
        order = list(results)
        random.shuffle(order)
        for name in order:
            box.reset()
            c = Contender(name, box)
            started = time.perf_counter()
            c.manual_fetch()
            elapsed, _, failures = run_threads(c, 32, None)
            elapsed += time.perf_counter() - started - elapsed
            assert failures == 0, (name, failures)
            results[name].append((box.counts().get("token", 0), elapsed))
    return results


def short_lived(box: RemoteSandbox, seconds: float) -> dict[str, dict[str, float]]:
    """2 s tokens, 8 threads for ``seconds``: token calls against the ideal, 401s seen by the server."""
    results = {}
    for name in CONTENDERS[1:]:
        box.reset(lifetime=2.0)
        c = Contender(name, box)
        c.manual_fetch()
        elapsed, total, failures = run_threads(c, 8, seconds)
        counts = box.counts()
        results[name] = {
            "token_calls": counts.get("token", 0),
            "ideal": 1 + int(elapsed / 1.5),
            "api_401": counts.get("api_401", 0),
            "requests": total,
            "failures": failures,
        }
    return results


def import_time(runs: int) -> dict[str, list[float]]:
    """Milliseconds to import each library in a fresh interpreter, beyond ``import requests``."""
    modules = {
        "requests-adtech-auth": "requests_adtech_auth",
        "requests-auth": "requests_auth",
        "authlib": "authlib.integrations.requests_client",
        "requests-oauthlib": "requests_oauthlib",
    }
    code = (
        "import time; t0 = time.perf_counter(); import requests; t1 = time.perf_counter(); "
        "import {m}; t2 = time.perf_counter(); print((t2 - t1) * 1000)"
    )
    results: dict[str, list[float]] = {name: [] for name in modules}
    # Bytecode as users have it: cached. (Some shells set PYTHONDONTWRITEBYTECODE,
    # which would charge a compile to whichever package has no __pycache__ yet.)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    for module in modules.values():
        subprocess.run([sys.executable, "-c", f"import {module}"], env=env, check=True)
    for _ in range(runs):
        for name, module in random.sample(list(modules.items()), len(modules)):
            out = subprocess.run(
                [sys.executable, "-c", code.format(m=module)], capture_output=True, text=True, check=True, env=env
            )
            results[name].append(float(out.stdout))
    return results


# -- the report -------------------------------------------------------------------------------


def spread(values: list[float], fmt: str) -> str:
    return f"{format(statistics.median(values), fmt)} ({format(min(values), fmt)}..{format(max(values), fmt)})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds and a 3 s short-lived test")
    parser.add_argument("--out", default=str(HERE / "latest.md"), help="where to write the table")
    args = parser.parse_args()
    rounds = 5 if args.quick else 15
    rows: list[tuple[str, dict[str, str]]] = []

    with RemoteSandbox() as box:
        contenders = {name: Contender(name, box) for name in CONTENDERS}
        hook = hook_overhead(contenders, rounds * 2, 20000)
        ratios = {n: [v / b for v, b in zip(hook[n], hook["baseline"])] for n in hook}
        rows.append(("hook overhead, µs per call", {n: spread(hook[n], ".2f") for n in hook}))
        rows.append(("hook overhead, x baseline", {n: spread(ratios[n], ".2f") for n in hook}))

        e2e = end_to_end(contenders, rounds * 2, 200)
        e2e_ratio = {n: [v / b for v, b in zip(e2e[n], e2e["baseline"])] for n in e2e}
        rows.append(("end to end, requests/s", {n: spread(e2e[n], ".0f") for n in e2e}))
        rows.append(("end to end, x baseline", {n: spread(e2e_ratio[n], ".3f") for n in e2e}))

        cold = cold_start(box, 3 if args.quick else 5)
        calls = {
            n: spread([float(t) for t, _ in v], ".0f") + (" *" if n in MANUAL_FETCH else "") for n, v in cold.items()
        }
        rows.append(("cold start, 32 threads: token calls", calls))
        waits = {n: spread([s * 1000 for _, s in v], ".0f") for n, v in cold.items()}
        rows.append(("cold start, 32 threads: ms until all answered", waits))

        short = short_lived(box, 3.0 if args.quick else 10.0)
        rows.append(
            (
                "2 s tokens, 8 threads: token calls (ideal)",
                {n: f"{r['token_calls']:.0f} ({r['ideal']:.0f})" for n, r in short.items()},
            )
        )
        rows.append(
            ("2 s tokens, 8 threads: 401s seen by the server", {n: f"{r['api_401']:.0f}" for n, r in short.items()})
        )
        done = {n: f"{r['requests']:.0f} ({r['failures']:.0f})" for n, r in short.items()}
        rows.append(("2 s tokens, 8 threads: requests (failed)", done))

    imports = import_time(5 if args.quick else 9)
    rows.append(("import time beyond requests, ms", {n: spread(v, ".1f") for n, v in imports.items()}))

    us, med = "requests-adtech-auth", statistics.median
    peers_hook = min(med(hook["requests-auth"]), med(hook["requests-oauthlib"]))
    s_us = short[us]

    def verdict(figure: str, target: str, ok: bool) -> str:
        return f"{figure} (target {target}): {'met' if ok else 'MISSED'}"

    verdicts = [
        verdict(f"hook overhead {med(ratios[us]):.2f}x floor", "<= 2x", med(ratios[us]) <= 2),
        verdict(
            f"hook overhead {med(hook[us]) / med(hook['requests-auth']):.2f} of requests-auth's, "
            f"{med(hook[us]) / med(hook['requests-oauthlib']):.2f} of requests-oauthlib's",
            "<= 0.5",
            med(hook[us]) <= 0.5 * peers_hook,
        ),
        verdict(f"end to end {med(e2e_ratio[us]):.3f}x baseline", ">= 0.97", med(e2e_ratio[us]) >= 0.97),
        verdict(f"cold start token calls {max(t for t, _ in cold[us])}", "exactly 1", all(t == 1 for t, _ in cold[us])),
        verdict(
            f"2 s tokens: {s_us['token_calls']:.0f} token calls vs ideal {s_us['ideal']:.0f}, "
            f"{s_us['api_401']:.0f} 401s",
            "<= ideal + 2, 0 401s",
            s_us["token_calls"] <= s_us["ideal"] + 2 and s_us["api_401"] == 0,
        ),
        verdict(f"import {med(imports[us]):.1f} ms over requests", "<= 25", med(imports[us]) <= 25),
    ]

    header = ["measurement", *CONTENDERS]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for label, cells in rows:
        lines.append("| " + " | ".join([label, *(cells.get(n, "") for n in CONTENDERS)]) + " |")
    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, {platform.system()}"
    report = "\n".join(
        [
            f"Measured {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC on {machine}; "
            f"{rounds} interleaved rounds; median (min..max).",
            "",
            *lines,
            "",
            "\\* after the manual `fetch_token()` that library needs before its first call (counted).",
            "",
            "Targets:",
            "",
            *(f"- {v}" for v in verdicts),
            "",
        ]
    )
    print(report)
    Path(args.out).write_text(report)
    return 0


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        raise SystemExit(main())
