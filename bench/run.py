"""Benchmark requests-adtech-auth against the libraries users would pick instead.

Run:  python bench/run.py            (about 10 minutes; --quick for a short pass)

Everything talks to the project's sandbox on loopback, run in a separate process so
that its serving does not share this process's GIL. Contenders are interleaved and
shuffled in every round, so machine noise hits all of them alike; ratios are taken
per round, against the floor measured in the same round. bench/README.md says how
each figure is computed.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import itertools
import json
import logging
import math
import multiprocessing
import os
import platform
import random
import re
import statistics
import subprocess
import sys
import threading
import time
import tracemalloc
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, NamedTuple, Optional

import requests
from requests.auth import AuthBase

# Peers refuse plain-http token URLs unless told otherwise; the sandbox is loopback http.
os.environ["OAUTHLIB_INSECURE_TRANSPORT"] = "1"
os.environ["AUTHLIB_INSECURE_TRANSPORT"] = "1"

import requests_auth
from authlib.integrations.requests_client import OAuth2Session as AuthlibSession
from oauthlib.oauth2 import BackendApplicationClient, TokenExpiredError
from requests_oauthlib import OAuth2, OAuth2Session

from requests_adtech_auth import AlgonomyAuth, DigitalTurbineAuth, RoktAuth, RoktPartnershipsAuth, TokenAuth
from requests_adtech_auth.core import DEFAULT_LEEWAY

HERE = Path(__file__).resolve().parent
US = "requests-adtech-auth"
PEERS = ["requests-auth", "authlib", "requests-oauthlib"]
CONTENDERS = [US, *PEERS]
COLUMNS = ["floor", *CONTENDERS]
MANUAL_FETCH = {"authlib", "requests-oauthlib"}
#: The peers' documented defaults for renewing before expiry (requests-oauthlib has none).
PEER_LEEWAY = {"requests-auth": 30.0, "authlib": 60.0}
HOOK_TARGET = 1.7
IMPORT_TARGET_MS = 25.0
# A shared Session used by 32 threads outgrows urllib3's pool of 10 and says so at
# WARNING for every extra connection; the same for every contender, and not news.
logging.getLogger("urllib3.connectionpool").setLevel(logging.ERROR)


# -- the sandbox in its own process ------------------------------------------------------


def _serve(queue: Any, stop: Any) -> None:
    from requests_adtech_auth.sandbox import Sandbox

    with Sandbox(record=False) as box:
        queue.put(box.info())
        stop.wait()


class RemoteSandbox:
    """The sandbox in a child process, steered through its /_sandbox control paths."""

    def __init__(self) -> None:
        self._runs = itertools.count(1)

    def __enter__(self) -> RemoteSandbox:
        ctx = multiprocessing.get_context("spawn")
        queue, self._stop = ctx.Queue(), ctx.Event()
        self._process = ctx.Process(target=_serve, args=(queue, self._stop), daemon=True)
        self._process.start()
        self.info: dict[str, Any] = queue.get(timeout=60)
        self.url = self.info["url"]
        rokt = self.info["rokt"]
        self.token_url, self.app_id, self.app_secret = rokt["token_url"], rokt["app_id"], rokt["app_secret"]
        self.api = rokt["api_url"] + "/reporting/accounts/123/summary"
        self._control = requests.Session()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._process.join(10)
        if self._process.is_alive():
            self._process.terminate()

    def reset(self, lifetime: float = 3600.0) -> None:
        """Zero the counters and set the Rokt token lifetime."""
        self._control.post(self.url + "/_sandbox/reset", timeout=10).raise_for_status()
        self._control.post(self.url + "/_sandbox/lifetimes", json={"rokt": lifetime}, timeout=10).raise_for_status()

    def counts(self, vendor: str = "rokt") -> dict[str, int]:
        answer = self._control.get(self.url + "/_sandbox/counts", timeout=10).json()
        return answer.get(vendor, {})  # type: ignore[no-any-return]

    def fresh_token_url(self) -> str:
        """Rokt's token URL with a query string no earlier run used.

        The sandbox ignores the query; every library's token cache keys on the token
        URL, so a run never inherits a token that an earlier run left in the process.
        """
        return f"{self.token_url}?run={next(self._runs)}"


# -- the floors: constant headers, nothing else -------------------------------------------------


def floor_for(headers: dict[str, str]) -> AuthBase:
    """An ``AuthBase`` that sets exactly ``headers`` (one or two), constant, and appends nothing.

    Names and values are closure cells, the cheapest loads Python has, so the floor is
    as low as a real auth object could go.
    """
    items = list(headers.items())
    if len(items) == 1:
        ((name, value),) = items

        class OneHeader(AuthBase):
            def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
                r.headers[name] = value
                return r

        return OneHeader()
    if len(items) == 2:
        (name1, value1), (name2, value2) = items

        class TwoHeaders(AuthBase):
            def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
                headers = r.headers
                headers[name1] = value1
                headers[name2] = value2
                return r

        return TwoHeaders()
    raise ValueError(f"no floor for {len(items)} headers")


#: The hook rows' pseudo-flows that price the per-request checks one at a time.
ANATOMY = "Rokt: the floor plus one of RoktAuth's per-request checks"
ANATOMY_PARTNERSHIPS = "Rokt Partnerships: the floor plus keeping a parent header the caller set"
ANATOMIES = (ANATOMY, ANATOMY_PARTNERSHIPS)


def safety_pieces(auth: TokenAuth, template: requests.PreparedRequest) -> dict[str, AuthBase]:
    """The Rokt floor plus each per-request check RoktAuth makes, one at a time, then all three.

    Each is written as RoktAuth's hot path writes it (closure cells, as in the
    floor): what one check costs on this machine, against the same floor.
    """
    ((name, value),) = auth.get_headers().items()
    auth(_fresh(template))  # the boundary now holds the template's origin among its allowed prefixes
    prefixes = auth._boundary.prefixes  # as the hot path tests them
    status = auth.token_status
    assert status is not None  # warmed before
    refresh_at = time.monotonic() + status.renews_in
    monotonic = time.monotonic

    def response_hook(r: requests.Response, **kwargs: Any) -> requests.Response:
        return r

    class HostCheck(AuthBase):
        def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
            if (r.url or "").startswith(prefixes):
                r.headers[name] = value
            return r

    class ClockCheck(AuthBase):
        def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
            if monotonic() < refresh_at:
                r.headers[name] = value
            return r

    class ResponseHook(AuthBase):
        def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
            r.headers[name] = value
            r.hooks["response"].append(response_hook)
            return r

    class AllThree(AuthBase):
        def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
            if (r.url or "").startswith(prefixes) and monotonic() < refresh_at:
                r.headers[name] = value
            r.hooks["response"].append(response_hook)
            return r

    pieces: dict[str, AuthBase] = {
        "+ host check on the URL": HostCheck(),
        "+ monotonic expiry check": ClockCheck(),
        "+ response hook appended": ResponseHook(),
        "all three, nothing else": AllThree(),
    }
    for piece in pieces.values():  # each does the floor's work too, or its figure means nothing
        assert piece(_fresh(template)).headers.get(name) == value
    return pieces


def parent_header_kept(auth: RoktPartnershipsAuth, template: requests.PreparedRequest) -> AuthBase:
    """The Partnerships floor plus the one lookup that keeps a parent header the caller set.

    requests' headers have no membership test that does not raise and catch a
    KeyError when the header is absent (the usual case).
    """
    (auth_name, auth_value), (parent_name, parent_value) = auth.get_headers().items()

    class ParentHeaderKept(AuthBase):
        def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
            headers = r.headers
            headers[auth_name] = auth_value
            try:
                headers[parent_name]
            except KeyError:
                headers[parent_name] = parent_value
            return r

    kept = ParentHeaderKept()
    assert kept(_fresh(template)).headers.get(parent_name) == parent_value
    return kept


# -- the contenders, each configured for Rokt's flow as its documentation says -----------------


class Contender:
    """One library, configured for the Rokt flow: how to build it and use it.

    ``leeway_scale`` divides every contender's renew-before-expiry default (the
    scaled-clock lifetime rows); ``token_url`` lets a run start with no cached token.
    """

    def __init__(self, name: str, box: RemoteSandbox, token_url: str, leeway_scale: float = 1.0) -> None:
        self.name = name
        self.box = box
        self.token_url = token_url
        self.session: requests.Session
        if name == "floor":
            token = RoktAuth(box.app_id, box.app_secret, token_url=box.fresh_token_url()).get_token()
            self.session = requests.Session()
            self.session.auth = floor_for({"Authorization": "Bearer " + token})
        elif name == US:
            self.session = requests.Session()
            self.session.auth = RoktAuth(
                box.app_id, box.app_secret, token_url=token_url, leeway=DEFAULT_LEEWAY / leeway_scale
            )
        elif name == "requests-auth":
            self.session = requests.Session()
            self.session.auth = requests_auth.OAuth2ClientCredentials(
                token_url, box.app_id, box.app_secret, early_expiry=PEER_LEEWAY[name] / leeway_scale
            )
        elif name == "authlib":
            self.session = AuthlibSession(
                box.app_id,
                box.app_secret,
                token_endpoint=token_url,
                grant_type="client_credentials",
                leeway=PEER_LEEWAY[name] / leeway_scale,
            )
        elif name == "requests-oauthlib":
            self.session = OAuth2Session(client=BackendApplicationClient(client_id=box.app_id))
        else:
            raise ValueError(name)

    def manual_fetch(self) -> None:
        """What a user of Authlib or requests-oauthlib must do before the first call."""
        if self.name == "authlib":
            self.session.fetch_token(self.token_url, grant_type="client_credentials")  # type: ignore[attr-defined]
        elif self.name == "requests-oauthlib":
            self.session.fetch_token(  # type: ignore[attr-defined]
                self.token_url, client_id=self.box.app_id, client_secret=self.box.app_secret
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


# -- statistics ---------------------------------------------------------------------------------


class Summary(NamedTuple):
    median: float
    q1: float
    q3: float
    ci_low: float
    ci_high: float
    n: int


def summarize(values: list[float]) -> Summary:
    """Median, interquartile range, and a distribution-free 95% interval for the median.

    The interval is the pair of order statistics at ranks n/2 -+ 1.96 sqrt(n)/2 (the
    binomial sign-test interval): no assumption about the shape of the noise.
    """
    ordered = sorted(values)
    n = len(ordered)
    if n == 1:
        v = ordered[0]
        return Summary(v, v, v, v, v, 1)
    q1, _, q3 = statistics.quantiles(ordered, n=4, method="inclusive")
    half = 1.96 * math.sqrt(n) / 2
    low = max(1, math.floor(n / 2 - half))
    high = min(n, math.ceil(n / 2 + half + 1))
    return Summary(statistics.median(ordered), q1, q3, ordered[low - 1], ordered[high - 1], n)


def cell(values: list[float], fmt: str) -> str:
    s = summarize(values)
    return f"{format(s.median, fmt)} ({format(s.q1, fmt)}..{format(s.q3, fmt)})"


def decide(s: Summary, target: float, at_most: bool = True) -> str:
    """met / MISSED when the median's 95% interval is on one side of the target, else too close to call."""
    if at_most:
        if s.ci_high <= target:
            return "met"
        if s.ci_low > target:
            return "MISSED"
    else:
        if s.ci_low >= target:
            return "met"
        if s.ci_high < target:
            return "MISSED"
    return "too close to call"


def ratios(values: list[float], against: list[float]) -> list[float]:
    return [v / b for v, b in zip(values, against)]


# -- 1. the per-request hook, per flow ------------------------------------------------------------


class Flow(NamedTuple):
    label: str
    url: str  # a URL the auth object's default hosts allow (prepared, never sent)
    build: Callable[[RemoteSandbox], Any]


def _flows(box: RemoteSandbox) -> list[Flow]:
    info = box.info
    p, d, a = info["rokt_partnerships"], info["digital_turbine"], info["algonomy"]
    return [
        Flow(
            "Rokt (= Rokt Event, Reporting)",
            "https://api.rokt.com/reporting/accounts/123/summary",
            lambda b: RoktAuth(b.app_id, b.app_secret, token_url=b.token_url),
        ),
        Flow(
            "Rokt Partnerships",
            "https://accounts.rokt.com/v1/accounts",
            lambda b: RoktPartnershipsAuth(
                p["client_id"], p["client_secret"], p["parent_account_id"], token_url=p["token_url"]
            ),
        ),
        Flow(
            "Digital Turbine",
            "https://reporting.digitalturbine.com/api/v1/report",
            lambda b: DigitalTurbineAuth(d["client_id"], d["client_secret"], token_url=d["token_url"]),
        ),
        Flow(
            "Algonomy",
            a["api_url"] + "/api/v1/profile/b2b/basic",
            lambda b: AlgonomyAuth(a["token_url"], a["tenant_hash"], ["basic"], oauth_key_secret=a["oauth_key_secret"]),
        ),
    ]


def _prepared(url: str) -> requests.PreparedRequest:
    """A request as a Session prepares it (its default headers), with no auth and no .netrc."""
    session = requests.Session()
    session.trust_env = False
    return session.prepare_request(requests.Request("GET", url))


def _fresh(template: requests.PreparedRequest) -> requests.PreparedRequest:
    """A new prepared request like ``template``: its own headers and hooks, as requests makes each one."""
    r = requests.PreparedRequest()
    r.method, r.url, r.body = template.method, template.url, template.body
    r.headers = template.headers.copy()
    return r


def _timer_overhead_ns(samples: int = 2001) -> float:
    """What one timed interval costs with nothing in it (a thread_time_ns pair), median."""
    thread_time_ns = time.thread_time_ns
    empty = []
    for _ in range(samples):
        started = thread_time_ns()
        empty.append(thread_time_ns() - started)
    return float(statistics.median(empty))


def hook_overhead(
    box: RemoteSandbox, rounds: int, passes: int, chunk: int
) -> tuple[dict[tuple[str, str], list[float]], float]:
    """CPU nanoseconds per auth call, per (flow, contender) and round; and the timer's own cost.

    A round visits the flows in a shuffled order; within a flow it makes ``passes``
    passes over the flow's contenders, each pass in a new shuffled order, each
    contender timing one chunk of ``chunk`` calls (CPU time of this thread, GC off,
    the timer's empty-interval cost subtracted). A contender's figure for the round
    is its total over the passes: floor and contender alternate within milliseconds,
    so what disturbs one disturbs the other.
    """
    hooks: dict[str, dict[str, tuple[Callable[[requests.PreparedRequest], Any], requests.PreparedRequest]]] = {}
    for flow in _flows(box):
        auth = flow.build(box)
        auth.get_token()  # warm: the token is cached before any timing
        template = _prepared(flow.url)
        hooks[flow.label] = {"floor": (floor_for(auth.get_headers()), template), US: (auth, template)}
    rokt = _flows(box)[0]
    template = _prepared(rokt.url)
    peers = {name: Contender(name, box, box.fresh_token_url()) for name in PEERS}
    for c in peers.values():
        c.manual_fetch()
        c.get(box.api).raise_for_status()  # warms requests-auth's cache
    hooks[rokt.label]["requests-auth"] = (peers["requests-auth"].session.auth, template)  # type: ignore[assignment]
    # Authlib's session passes its token_auth to requests: that object is its hook.
    hooks[rokt.label]["authlib"] = (peers["authlib"].session.token_auth, template)  # type: ignore[attr-defined]
    # requests-oauthlib's OAuth2 auth, built once with the fetched token, as its users do.
    fetched = peers["requests-oauthlib"].session.token  # type: ignore[attr-defined]
    oauth2 = OAuth2(client=BackendApplicationClient(client_id=box.app_id), token=fetched)
    hooks[rokt.label]["requests-oauthlib"] = (oauth2, template)
    rokt_auth = hooks[rokt.label][US][0]
    assert isinstance(rokt_auth, TokenAuth)
    hooks[ANATOMY] = {
        "floor": hooks[rokt.label]["floor"],
        **{name: (piece, template) for name, piece in safety_pieces(rokt_auth, template).items()},
        US: (rokt_auth, template),
    }
    partnerships = next(flow for flow in _flows(box) if isinstance(hooks[flow.label][US][0], RoktPartnershipsAuth))
    partnerships_auth, partnerships_template = hooks[partnerships.label][US]
    assert isinstance(partnerships_auth, RoktPartnershipsAuth)
    hooks[ANATOMY_PARTNERSHIPS] = {
        "floor": hooks[partnerships.label]["floor"],
        "+ caller's parent header kept": (
            parent_header_kept(partnerships_auth, partnerships_template),
            partnerships_template,
        ),
        US: (partnerships_auth, partnerships_template),
    }

    warm = 10
    overhead = _timer_overhead_ns()
    thread_time_ns = time.thread_time_ns
    per_round = {(label, name): [] for label, contenders in hooks.items() for name in contenders}
    for contenders in hooks.values():  # every hook a few times before the first round, outside timing
        for hook, template in contenders.values():
            for _ in range(warm):
                hook(_fresh(template))
    labels = list(hooks)
    for _ in range(rounds):
        random.shuffle(labels)
        for label in labels:
            contenders = hooks[label]
            totals = dict.fromkeys(contenders, 0.0)
            for _ in range(passes):
                for name in random.sample(list(contenders), len(contenders)):
                    hook, template = contenders[name]
                    batch = [_fresh(template) for _ in range(warm + chunk)]
                    for r in batch[:warm]:  # the code and data this hook touches, back in cache
                        hook(r)
                    timed = batch[warm:]
                    gc_was_on = gc.isenabled()
                    gc.disable()
                    started = thread_time_ns()
                    for r in timed:
                        hook(r)
                    elapsed = thread_time_ns() - started
                    if gc_was_on:
                        gc.enable()
                    totals[name] += elapsed - overhead
            for name, total in totals.items():
                per_round[(label, name)].append(total / (passes * chunk))
    return per_round, overhead


# -- 2. end to end ------------------------------------------------------------------------------


def end_to_end(box: RemoteSandbox, rounds: int, n: int) -> dict[str, list[float]]:
    """Requests per second through one session over loopback, warm token.

    A round makes ``n`` passes over the contenders, each pass in a new shuffled
    order and one timed request per contender: their requests alternate, so a
    burst of load on the machine lands on all of them. A contender's figure for the
    round is ``n`` over the sum of its request times.
    """
    contenders = {name: Contender(name, box, box.fresh_token_url()) for name in COLUMNS}
    for c in contenders.values():
        c.manual_fetch()
        for _ in range(20):
            c.get(box.api).raise_for_status()
    per_round: dict[str, list[float]] = {name: [] for name in contenders}
    names = list(contenders)
    clock = time.perf_counter
    for _ in range(rounds):
        totals = dict.fromkeys(names, 0.0)
        for _ in range(n):
            random.shuffle(names)
            for name in names:
                c = contenders[name]
                started = clock()
                c.get(box.api)
                totals[name] += clock() - started
        for name, total in totals.items():
            per_round[name].append(n / total)
    return per_round


# -- 3. threads: cold start and token lifetimes ---------------------------------------------------


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


# -- 4. import time ----------------------------------------------------------------------------

_IMPORT_PROBE = """\
import time
w0, c0 = time.perf_counter(), time.process_time()
import requests
w1, c1 = time.perf_counter(), time.process_time()
{imports}
w2, c2 = time.perf_counter(), time.process_time()
{build}
w3, c3 = time.perf_counter(), time.process_time()
print((w2 - w1) * 1e3, (w3 - w1) * 1e3, (c2 - c1) * 1e3, (c3 - c1) * 1e3)
"""

ROKT_TOKEN_URL = "https://api.rokt.com/auth/oauth2/token"
#: (row, contender) -> (import statement, build one auth object). Constructors only: no network.
IMPORT_PROBES = {
    ("Rokt", US): ("from requests_adtech_auth import RoktAuth", "RoktAuth('app-id', 'app-secret')"),
    ("Rokt Partnerships", US): (
        "from requests_adtech_auth import RoktPartnershipsAuth",
        "RoktPartnershipsAuth('rspub_id', 'rsec_secret', 'parent-1')",
    ),
    ("Digital Turbine", US): (
        "from requests_adtech_auth import DigitalTurbineAuth",
        "DigitalTurbineAuth('client-id', 'client-secret')",
    ),
    ("Algonomy", US): (
        "from requests_adtech_auth import AlgonomyAuth",
        "AlgonomyAuth('https://t.algonomy.com/secureApi/token/profile/create', 'abc123', ['basic'],"
        " oauth_key_secret='def456')",
    ),
    ("Rokt", "requests-auth"): (
        "import requests_auth",
        f"requests_auth.OAuth2ClientCredentials({ROKT_TOKEN_URL!r}, 'app-id', 'app-secret')",
    ),
    ("Rokt", "authlib"): (
        "from authlib.integrations.requests_client import OAuth2Session",
        f"OAuth2Session('app-id', 'app-secret', token_endpoint={ROKT_TOKEN_URL!r}, grant_type='client_credentials')",
    ),
    ("Rokt", "requests-oauthlib"): (
        "from requests_oauthlib import OAuth2Session",
        "from oauthlib.oauth2 import BackendApplicationClient\n"
        "OAuth2Session(client=BackendApplicationClient(client_id='app-id'))",
    ),
}


class ImportTimes(NamedTuple):
    import_wall: float
    total_wall: float
    import_cpu: float
    total_cpu: float


def import_time(rounds: int) -> dict[tuple[str, str], list[ImportTimes]]:
    """Milliseconds beyond ``import requests``, each probe in a fresh interpreter."""
    # Bytecode as users have it: cached. (Some shells set PYTHONDONTWRITEBYTECODE,
    # which would charge a compile to whichever package has no __pycache__ yet.)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    codes = {key: _IMPORT_PROBE.format(imports=i, build=b) for key, (i, b) in IMPORT_PROBES.items()}
    for code in codes.values():
        subprocess.run([sys.executable, "-c", code], env=env, check=True, capture_output=True, timeout=60)
    results: dict[tuple[str, str], list[ImportTimes]] = {key: [] for key in codes}
    for _ in range(rounds):
        for key in random.sample(list(codes), len(codes)):
            out = subprocess.run(
                [sys.executable, "-c", codes[key]], capture_output=True, text=True, check=True, env=env, timeout=60
            )
            results[key].append(ImportTimes(*map(float, out.stdout.split())))
    return results


# -- 5. objects per call: many auth objects, one or many credentials ------------------------------


def _fd_count() -> int:
    return len(os.listdir("/proc/self/fd"))


def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _use_once(name: str, info: dict[str, Any], token_url: str, api: str) -> object:
    """Build one auth object as the library's users do, make one API call with it, return it."""
    rokt = info["rokt"]
    if name == US:
        auth: Any = RoktAuth(rokt["app_id"], rokt["app_secret"], token_url=token_url)
        requests.get(api, auth=auth, timeout=10).raise_for_status()
        return auth
    if name == "requests-auth":
        auth = requests_auth.OAuth2ClientCredentials(token_url, rokt["app_id"], rokt["app_secret"])
        requests.get(api, auth=auth, timeout=10).raise_for_status()
        return auth
    if name == "authlib":
        session: Any = AuthlibSession(
            rokt["app_id"], rokt["app_secret"], token_endpoint=token_url, grant_type="client_credentials"
        )
        session.fetch_token(token_url, grant_type="client_credentials")
    else:
        session = OAuth2Session(client=BackendApplicationClient(client_id=rokt["app_id"]))
        session.fetch_token(token_url, client_id=rokt["app_id"], client_secret=rokt["app_secret"])
    session.get(api, timeout=10).raise_for_status()
    return session


def objects_child(name: str, scenario: str, objects: int) -> dict[str, float]:
    """Runs in a fresh interpreter (see ``objects_per_call``): the sandbox's info comes on stdin."""
    info = json.loads(sys.stdin.read())
    rokt = info["rokt"]
    api = rokt["api_url"] + "/reporting/accounts/123/summary"
    control = requests.Session()

    def token_calls() -> int:
        answer = control.get(info["url"] + "/_sandbox/counts", timeout=10).json()
        return int(answer.get("rokt", {}).get("token", 0))

    _use_once(name, info, rokt["token_url"] + "?warm=up", api)  # every module and pool in place
    gc.collect()
    calls0, fds0, rss0 = token_calls(), _fd_count(), _rss_bytes()
    result: dict[str, float] = {}
    if scenario == "one":
        for _ in range(objects):
            _use_once(name, info, rokt["token_url"], api)  # dropped at once, as in a loop
        result["token_calls"] = token_calls() - calls0
    elif scenario == "distinct":
        held = [_use_once(name, info, f"{rokt['token_url']}?credential={i}", api) for i in range(objects)]
        gc.collect()
        result["token_calls"] = token_calls() - calls0
        result["fds_held"] = _fd_count() - fds0
        result["rss_held"] = _rss_bytes() - rss0
        del held
        gc.collect()
        result["fds_after"] = _fd_count() - fds0
        result["rss_after"] = _rss_bytes() - rss0
    elif scenario == "traced":
        tracemalloc.start()
        base = tracemalloc.get_traced_memory()[0]
        held = [_use_once(name, info, f"{rokt['token_url']}?credential={i}", api) for i in range(objects)]
        gc.collect()
        result["bytes_per_object"] = (tracemalloc.get_traced_memory()[0] - base) / objects
        del held
        gc.collect()
        result["bytes_left"] = tracemalloc.get_traced_memory()[0] - base
        tracemalloc.stop()
    else:
        raise ValueError(scenario)
    return result


SCENARIOS = ("one", "distinct", "traced")


def objects_per_call(
    box: RemoteSandbox, rounds: int, objects: int, traced: int
) -> dict[tuple[str, str], list[dict[str, float]]]:
    """Each (contender, scenario) in a fresh interpreter, interleaved and shuffled over rounds.

    ``traced`` objects (fewer: tracemalloc slows every allocation) for the memory figure.
    """
    box.reset()  # documented lifetimes again, whatever the rows before left
    script = str(Path(__file__).resolve())
    results: dict[tuple[str, str], list[dict[str, float]]] = {(n, s): [] for n in CONTENDERS for s in SCENARIOS}
    payload = json.dumps(box.info)
    for _ in range(rounds):
        for name, scenario in random.sample(list(results), len(results)):
            out = subprocess.run(
                [
                    sys.executable,
                    script,
                    "--objects-child",
                    name,
                    scenario,
                    str(traced if scenario == "traced" else objects),
                ],
                input=payload,
                capture_output=True,
                text=True,
                timeout=600,
                check=False,
            )
            if out.returncode != 0:
                raise RuntimeError(f"objects child {name} {scenario} failed:\n{out.stderr[-2000:]}")
            results[(name, scenario)].append(json.loads(out.stdout.strip().splitlines()[-1]))
    return results


# -- the report ---------------------------------------------------------------------------------


def _code_measured() -> str:
    """The commit of the imported requests_adtech_auth, and whether its files differ from it."""
    import requests_adtech_auth

    where = Path(requests_adtech_auth.__file__).parent
    git = ["git", "-C", str(where)]
    try:
        commit = subprocess.run(
            [*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=30, check=False
        )
        dirty = subprocess.run(
            [*git, "status", "--porcelain", "--", "."], capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return f"requests_adtech_auth from {where}"
    if commit.returncode != 0:
        return f"requests_adtech_auth from {where}"
    return f"requests_adtech_auth at commit {commit.stdout.strip()}" + (
        " with uncommitted changes" if dirty.stdout.strip() else ""
    )


def _load() -> str:
    return ", ".join(f"{x:.2f}" for x in os.getloadavg())


def _markdown_table(rows: list[tuple[str, dict[str, str]]]) -> list[str]:
    lines = ["| measurement | " + " | ".join(COLUMNS) + " |", "|" + "---|" * (len(COLUMNS) + 1)]
    for label, cells in rows:
        lines.append("| " + " | ".join([label, *(cells.get(n, "") for n in COLUMNS)]) + " |")
    return lines


README_BEGIN = "<!-- latest results: begin (written by bench/run.py) -->"
README_END = "<!-- latest results: end -->"


def update_readme(report: str, path: Path) -> bool:
    """Put ``report`` between the README's markers, leaving every other section as it is."""
    text = path.read_text(encoding="utf-8")
    pattern = re.compile(re.escape(README_BEGIN) + ".*?" + re.escape(README_END), re.DOTALL)
    if not pattern.search(text):
        return False
    path.write_text(pattern.sub(lambda _: f"{README_BEGIN}\n\n{report}\n{README_END}", text, count=1), encoding="utf-8")
    return True


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds and shorter runs (writes no file)")
    parser.add_argument("--out", default=None, help="where to write the table (default: bench/latest.md)")
    parser.add_argument("--code-label", help="what code is measured, for the header (default: asked of git)")
    parser.add_argument("--no-readme", action="store_true", help="leave bench/README.md's results alone")
    parser.add_argument("--objects-child", nargs=3, metavar=("NAME", "SCENARIO", "N"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.objects_child:
        name, scenario, n = args.objects_child
        print(json.dumps(objects_child(name, scenario, int(n))))
        return 0

    quick = args.quick
    plan = {
        "hook_rounds": 100 if quick else 400,
        "hook_passes": 3,
        "hook_chunk": 100,
        "e2e_rounds": 10 if quick else 80,
        "e2e_requests": 30 if quick else 60,
        "cold_rounds": 2 if quick else 8,
        "life_rounds": 1 if quick else 2,
        "import_rounds": 5 if quick else 30,
        "object_rounds": 1 if quick else 2,
        "objects": 200 if quick else 1000,
        "traced_objects": 100 if quick else 300,
    }
    started, load_before = time.perf_counter(), _load()
    code = args.code_label or _code_measured()
    rows: list[tuple[str, dict[str, str]]] = []
    verdicts: list[str] = []

    def verdict(figure: str, target: str, outcome: str) -> None:
        verdicts.append(f"{figure} (target {target}): {outcome}")

    def progress(stage: str) -> None:
        print(f"[{time.perf_counter() - started:6.0f} s] {stage}", file=sys.stderr, flush=True)

    with RemoteSandbox() as box:
        # 1. Hook, per flow.
        progress("hook")
        hook, timer_ns = hook_overhead(box, plan["hook_rounds"], plan["hook_passes"], plan["hook_chunk"])
        for label in dict.fromkeys(flow for flow, _ in hook if flow not in ANATOMIES):
            names = [n for flow, n in hook if flow == label]
            floor = hook[(label, "floor")]
            per_call = {n: cell([v / 1000 for v in hook[(label, n)]], ".3f") for n in names}
            rows.append((f"hook, {label}: CPU µs per call", per_call))
            rows.append((f"hook, {label}: x floor", {n: cell(ratios(hook[(label, n)], floor), ".2f") for n in names}))
            s = summarize(ratios(hook[(label, US)], floor))
            verdict(
                f"hook, {label}: {s.median:.2f}x floor, 95% interval of the median {s.ci_low:.2f}..{s.ci_high:.2f}",
                f"<= {HOOK_TARGET}x",
                decide(s, HOOK_TARGET),
            )
        anatomy = [
            f"| {flow} | {n} | {cell(ratios(hook[(flow, n)], hook[(flow, 'floor')]), '.2f')} |"
            for flow, n in hook
            if flow in ANATOMIES
        ]
        rokt_label = next(iter(dict.fromkeys(flow for flow, _ in hook)))
        for peer in PEERS:
            s = summarize(ratios(hook[(rokt_label, US)], hook[(rokt_label, peer)]))
            verdict(
                f"hook, Rokt: {s.median:.2f} of {peer}'s (95% interval {s.ci_low:.2f}..{s.ci_high:.2f})",
                "<= 0.5",
                decide(s, 0.5),
            )

        # 2. End to end.
        progress("end to end")
        e2e = end_to_end(box, plan["e2e_rounds"], plan["e2e_requests"])
        e2e_ratio = {n: ratios(e2e[n], e2e["floor"]) for n in e2e}
        rows.append(("end to end, Rokt: requests/s", {n: cell(e2e[n], ".0f") for n in e2e}))
        rows.append(("end to end, Rokt: x floor", {n: cell(e2e_ratio[n], ".3f") for n in e2e}))
        s = summarize(e2e_ratio[US])
        verdict(
            f"end to end {s.median:.3f}x floor (95% interval {s.ci_low:.3f}..{s.ci_high:.3f})",
            ">= 0.97",
            decide(s, 0.97, at_most=False),
        )

        # 3. Cold start, both session arrangements.
        progress("cold start")
        for per_thread, what in ((False, "one shared session"), (True, "a session and auth object per thread")):
            cold = cold_start(box, plan["cold_rounds"], per_thread)
            calls = {
                n: cell([float(r.token_calls) for r in v], ".0f") + (" *" if n in MANUAL_FETCH else "")
                for n, v in cold.items()
            }
            rows.append((f"cold start, 32 threads, {what}: token calls", calls))
            rows.append(
                (
                    f"cold start, 32 threads, {what}: ms until all answered",
                    {n: cell([r.seconds * 1000 for r in v], ".0f") for n, v in cold.items()},
                )
            )
            most = max(r.token_calls for r in cold[US])
            verdict(f"cold start, {what}: at most {most} token call(s)", "exactly 1", "met" if most == 1 else "MISSED")

        # 4. Token lifetimes.
        progress("token lifetimes")
        life_rows = lifetimes(quick)
        life = token_lifetimes(box, life_rows, plan["life_rounds"])
        for row in life_rows:
            runs = {n: life[(row.label, n)] for n in CONTENDERS}
            ideal = {n: sum(ideal_token_calls(r, row.lifetime) for r in v) for n, v in runs.items()}
            calls_total = {n: sum(r.token_calls for r in v) for n, v in runs.items()}
            unauthorized = {n: sum(r.api_401 for r in v) for n, v in runs.items()}
            rows.append(
                (f"{row.label}, 8 threads: token calls (ideal)", {n: f"{calls_total[n]} ({ideal[n]})" for n in runs})
            )
            rows.append((f"{row.label}: 401s seen by the server", {n: str(unauthorized[n]) for n in runs}))
            rows.append(
                (
                    f"{row.label}: requests (failed)",
                    {n: f"{sum(r.requests for r in v)} ({sum(r.failures for r in v)})" for n, v in runs.items()},
                )
            )
            ok = calls_total[US] <= 2 * ideal[US] and unauthorized[US] == 0
            verdict(
                f"{row.label}: {calls_total[US]} token calls vs ideal {ideal[US]}, {unauthorized[US]} 401s",
                "<= 2 x ideal, 0 401s",
                "met" if ok else "MISSED",
            )

        # 5. Objects per call.
        progress("objects per call")
        objects = objects_per_call(box, plan["object_rounds"], plan["objects"], plan["traced_objects"])

    # 6. Import time (no sandbox needed; run last, when the sandbox's process is gone).
    progress("imports")
    imports = import_time(plan["import_rounds"])
    rows.append(
        (
            "import beyond `import requests`, CPU ms",
            {n: cell([t.import_cpu for t in v], ".1f") for (flow, n), v in imports.items() if flow == "Rokt"},
        )
    )
    for flow in dict.fromkeys(f for f, _ in imports):
        rows.append(
            (
                f"import + one {flow} auth object, CPU ms",
                {n: cell([t.total_cpu for t in v], ".1f") for (f, n), v in imports.items() if f == flow},
            )
        )
        ours = imports[(flow, US)]
        s = summarize([t.total_cpu for t in ours])
        wall = statistics.median(t.total_wall for t in ours)
        verdict(
            f"import + one {flow} object: {s.median:.1f} ms CPU ({wall:.1f} ms wall), "
            f"95% interval {s.ci_low:.1f}..{s.ci_high:.1f}",
            f"< {IMPORT_TARGET_MS:.0f} ms",
            decide(s, IMPORT_TARGET_MS),
        )

    def obj(name: str, scenario: str, key: str) -> list[float]:
        return [r[key] for r in objects[(name, scenario)]]

    n_obj = plan["objects"]
    rows.append(
        (
            f"{n_obj} objects, one credential, each used once: token calls",
            {n: cell(obj(n, "one", "token_calls"), ".0f") for n in CONTENDERS},
        )
    )
    rows.append(
        (
            f"{n_obj} objects, distinct credentials, used once and held: open fds over start",
            {n: cell(obj(n, "distinct", "fds_held"), ".0f") for n in CONTENDERS},
        )
    )
    rows.append(
        (
            "the same objects after del + gc.collect(): open fds over start",
            {n: cell(obj(n, "distinct", "fds_after"), ".0f") for n in CONTENDERS},
        )
    )
    rows.append(
        (
            "the same: RSS over start, held / after del + gc, MiB",
            {
                n: f"{statistics.median(obj(n, 'distinct', 'rss_held')) / 2**20:.1f} / "
                f"{statistics.median(obj(n, 'distinct', 'rss_after')) / 2**20:.1f}"
                for n in CONTENDERS
            },
        )
    )
    rows.append(
        (
            f"{plan['traced_objects']} such objects, tracemalloc: KiB per object held / KiB in all left after del + gc",
            {
                n: f"{statistics.median(obj(n, 'traced', 'bytes_per_object')) / 1024:.1f} / "
                f"{statistics.median(obj(n, 'traced', 'bytes_left')) / 1024:.0f}"
                for n in CONTENDERS
            },
        )
    )
    one = max(obj(US, "one", "token_calls"))
    verdict(f"{n_obj} objects, one credential: at most {one:.0f} token call(s)", "1", "met" if one == 1 else "MISSED")
    held, after = max(obj(US, "distinct", "fds_held")), max(obj(US, "distinct", "fds_after"))
    verdict(
        f"{n_obj} objects, distinct credentials: at most {held:.0f} fds over start held, {after:.0f} after drop",
        "<= 10 held, <= 4 after drop",
        "met" if held <= 10 and after <= 4 else "MISSED",
    )

    minutes = (time.perf_counter() - started) / 60
    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, {platform.system()}"
    report = "\n".join(
        [
            f"Measured {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC on {machine}; "
            f"load average (1, 5, 15 min) {load_before} at the start, {_load()} at the end; "
            f"the run took {minutes:.1f} min; {code}.",
            "",
            f"Rounds, each interleaving the contenders in a shuffled order: hook {plan['hook_rounds']} rounds, "
            f"each of {plan['hook_passes']} passes of {plan['hook_chunk']} calls per contender and flow "
            f"(the timer's own {timer_ns / 1000:.1f} µs per interval subtracted); "
            f"end to end {plan['e2e_rounds']} rounds of "
            f"{plan['e2e_requests']} alternating requests per contender; "
            f"cold start {plan['cold_rounds']} rounds per arrangement; "
            f"token lifetimes {plan['life_rounds']} round(s) per row; imports {plan['import_rounds']} rounds; "
            f"objects {plan['object_rounds']} round(s) of {n_obj} objects "
            f"({plan['traced_objects']} under tracemalloc). "
            "Cells: median (Q1..Q3) over rounds; token-lifetime cells are totals over rounds.",
            "",
            *_markdown_table(rows),
            "",
            "\\* after the manual `fetch_token()` that library needs before its first call (counted).",
            "",
            "What the per-request checks cost (x floor, median (Q1..Q3), measured in the hook rounds):",
            "",
            "| pseudo-flow | contender | x floor |",
            "|---|---|---|",
            *anatomy,
            "",
            "Targets (decided on the median's 95% interval where there is one):",
            "",
            *(f"- {v}" for v in verdicts),
            "",
        ]
    )
    progress("done")
    print(report)
    if args.out or not quick:
        Path(args.out or HERE / "latest.md").write_text(report, encoding="utf-8")
    if not quick and not args.no_readme and args.out is None and not update_readme(report, HERE / "README.md"):
        print("bench/README.md has no results markers; left alone", file=sys.stderr)
    return 0


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        raise SystemExit(main())
