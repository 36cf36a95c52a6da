"""6. Objects per call: many auth objects, one or many credentials; each case in a fresh interpreter.

bench/run.py runs this file as a child: ``python bench/objects.py NAME SCENARIO N``,
with the sandbox's info on stdin; it prints its figures as JSON.
"""

from __future__ import annotations

import gc
import json
import os
import random
import statistics
import subprocess
import sys
import tracemalloc
from pathlib import Path
from typing import Any

import requests
import requests_auth
from authlib.integrations.requests_client import OAuth2Session as AuthlibSession
from contenders import CONTENDERS, US  # also lets the peers fetch tokens over the sandbox's plain http
from oauthlib.oauth2 import BackendApplicationClient
from remote_sandbox import ROKT_API_PATH, RemoteSandbox
from report import Report
from requests_oauthlib import OAuth2Session
from stats import cell

from requests_adtech_auth import RoktAuth

SCENARIOS = ("one", "distinct", "traced")
#: Descriptors over the start at most, with distinct credentials: while held, and after the drop.
FDS_HELD_TARGET, FDS_AFTER_TARGET = 10, 4


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


def child(name: str, scenario: str, objects: int) -> dict[str, float]:
    """Runs in a fresh interpreter (see ``measure``): the sandbox's info comes on stdin."""
    info = json.loads(sys.stdin.read())
    rokt = info["rokt"]
    api = rokt["api_url"] + ROKT_API_PATH
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


Results = dict[tuple[str, str], list[dict[str, float]]]


def measure(box: RemoteSandbox, rounds: int, objects: int, traced: int) -> Results:
    """Each (contender, scenario) in a fresh interpreter, interleaved and shuffled over rounds.

    ``traced`` objects (fewer: tracemalloc slows every allocation) for the memory figure.
    """
    box.reset()  # documented lifetimes again, whatever the rows before left
    results: Results = {(n, s): [] for n in CONTENDERS for s in SCENARIOS}
    payload = json.dumps(box.info)
    for _ in range(rounds):
        for name, scenario in random.sample(list(results), len(results)):
            out = subprocess.run(
                [
                    sys.executable,
                    str(Path(__file__).resolve()),
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


def add_to(report: Report, objects: Results, n_objects: int, n_traced: int) -> None:
    def figures(name: str, scenario: str, key: str) -> list[float]:
        return [r[key] for r in objects[(name, scenario)]]

    def medians(scenario: str, key: str, unit: int, fmt: str) -> dict[str, str]:
        return {n: format(statistics.median(figures(n, scenario, key)) / unit, fmt) for n in CONTENDERS}

    report.row(
        f"{n_objects} objects, one credential, each used once: token calls",
        {n: cell(figures(n, "one", "token_calls"), ".0f") for n in CONTENDERS},
    )
    report.row(
        f"{n_objects} objects, distinct credentials, used once and held: open fds over start",
        {n: cell(figures(n, "distinct", "fds_held"), ".0f") for n in CONTENDERS},
    )
    report.row(
        "the same objects after del + gc.collect(): open fds over start",
        {n: cell(figures(n, "distinct", "fds_after"), ".0f") for n in CONTENDERS},
    )
    held, after = medians("distinct", "rss_held", 2**20, ".1f"), medians("distinct", "rss_after", 2**20, ".1f")
    report.row(
        "the same: RSS over start, held / after del + gc, MiB", {n: f"{held[n]} / {after[n]}" for n in CONTENDERS}
    )
    per_object, left = medians("traced", "bytes_per_object", 1024, ".1f"), medians("traced", "bytes_left", 1024, ".0f")
    report.row(
        f"{n_traced} such objects, tracemalloc: KiB per object held / KiB in all left after del + gc",
        {n: f"{per_object[n]} / {left[n]}" for n in CONTENDERS},
    )
    one = max(figures(US, "one", "token_calls"))
    report.verdict(
        f"{n_objects} objects, one credential: at most {one:.0f} token call(s)", "1", "met" if one == 1 else "MISSED"
    )
    most_held, most_after = max(figures(US, "distinct", "fds_held")), max(figures(US, "distinct", "fds_after"))
    report.verdict(
        f"{n_objects} objects, distinct credentials: at most {most_held:.0f} fds over start held, "
        f"{most_after:.0f} after drop",
        f"<= {FDS_HELD_TARGET} held, <= {FDS_AFTER_TARGET} after drop",
        "met" if most_held <= FDS_HELD_TARGET and most_after <= FDS_AFTER_TARGET else "MISSED",
    )


if __name__ == "__main__":
    print(json.dumps(child(sys.argv[1], sys.argv[2], int(sys.argv[3]))))
