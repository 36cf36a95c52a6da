"""5. Import time: each probe in a fresh interpreter, milliseconds beyond ``import requests``."""

from __future__ import annotations

import os
import random
import statistics
import subprocess
import sys
from typing import NamedTuple

from contenders import PEER_FLOW, US
from flows import Flow
from report import Report
from stats import cell, decide, summarize

#: Import and one auth object under this many CPU ms, for every flow (median, decided on its interval).
TARGET_MS = 25.0

_PROBE = """\
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
#: The peers' probes, for Rokt's flow: (import statement, build one auth object).
PEER_PROBES = {
    "requests-auth": (
        "import requests_auth",
        f"requests_auth.OAuth2ClientCredentials({ROKT_TOKEN_URL!r}, 'app-id', 'app-secret')",
    ),
    "authlib": (
        "from authlib.integrations.requests_client import OAuth2Session",
        f"OAuth2Session('app-id', 'app-secret', token_endpoint={ROKT_TOKEN_URL!r}, grant_type='client_credentials')",
    ),
    "requests-oauthlib": (
        "from requests_oauthlib import OAuth2Session",
        "from oauthlib.oauth2 import BackendApplicationClient\n"
        "OAuth2Session(client=BackendApplicationClient(client_id='app-id'))",
    ),
}


def probes(flows: list[Flow]) -> dict[tuple[str, str], tuple[str, str]]:
    """(vendor, contender) -> (import statement, build one auth object). Constructors only: no network.

    Each flow's object is built with the arguments the sandbox gave (its loopback token URL).
    """
    found: dict[tuple[str, str], tuple[str, str]] = {}
    for flow in flows:
        cls = flow.vendor.auth
        found[(cls.vendor, US)] = (
            f"from {cls.__module__} import {cls.__name__}",
            f"{cls.__name__}(**{flow.arguments!r})",
        )
        if flow.vendor.name == PEER_FLOW:
            found.update(((cls.vendor, peer), probe) for peer, probe in PEER_PROBES.items())
    return found


class ImportTimes(NamedTuple):
    import_wall: float
    total_wall: float
    import_cpu: float
    total_cpu: float


def measure(flows: list[Flow], rounds: int) -> dict[tuple[str, str], list[ImportTimes]]:
    """Milliseconds beyond ``import requests``, each probe in a fresh interpreter."""
    # Bytecode as users have it: cached. (Some shells set PYTHONDONTWRITEBYTECODE,
    # which would charge a compile to whichever package has no __pycache__ yet.)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    codes = {key: _PROBE.format(imports=i, build=b) for key, (i, b) in probes(flows).items()}
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


def add_to(report: Report, flows: list[Flow], imports: dict[tuple[str, str], list[ImportTimes]]) -> None:
    peers_vendor = next(flow.vendor.auth.vendor for flow in flows if flow.vendor.name == PEER_FLOW)
    report.row(
        "import beyond `import requests`, CPU ms",
        {n: cell([t.import_cpu for t in v], ".1f") for (vendor, n), v in imports.items() if vendor == peers_vendor},
    )
    for vendor in dict.fromkeys(v for v, _ in imports):
        report.row(
            f"import + one {vendor} auth object, CPU ms",
            {n: cell([t.total_cpu for t in v], ".1f") for (f, n), v in imports.items() if f == vendor},
        )
        ours = imports[(vendor, US)]
        s = summarize([t.total_cpu for t in ours])
        wall = statistics.median(t.total_wall for t in ours)
        report.verdict(
            f"import + one {vendor} object: {s.median:.1f} ms CPU ({wall:.1f} ms wall), "
            f"95% interval {s.ci_low:.1f}..{s.ci_high:.1f}",
            f"< {TARGET_MS:.0f} ms",
            decide(s, TARGET_MS),
        )
