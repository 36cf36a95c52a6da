"""2. End to end: requests per second through one session to the sandbox's Rokt API, token warm."""

from __future__ import annotations

import random
import time

from contenders import COLUMNS, US, Contender
from floors import FLOOR
from remote_sandbox import RemoteSandbox
from report import Report
from stats import cell, decide, ratios, summarize

#: Our requests per second at least this fraction of the floor's (median, decided on its interval).
TARGET = 0.97


def measure(box: RemoteSandbox, rounds: int, n: int) -> dict[str, list[float]]:
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


def add_to(report: Report, e2e: dict[str, list[float]]) -> None:
    e2e_ratio = {n: ratios(e2e[n], e2e[FLOOR]) for n in e2e}
    report.row("end to end, Rokt: requests/s", {n: cell(e2e[n], ".0f") for n in e2e})
    report.row("end to end, Rokt: x floor", {n: cell(e2e_ratio[n], ".3f") for n in e2e})
    s = summarize(e2e_ratio[US])
    report.verdict(
        f"end to end {s.median:.3f}x floor (95% interval {s.ci_low:.3f}..{s.ci_high:.3f})",
        f">= {TARGET}",
        decide(s, TARGET, at_most=False),
    )
