"""1. The per-request hook, per flow: CPU time of the auth object's ``__call__``, token warm."""

from __future__ import annotations

import gc
import random
import statistics
import time
from typing import Any, Callable

import requests
from contenders import PEER_FLOW, PEERS, US, Contender
from floors import CHECKS_FLOOR, FLOOR, check, fresh, pieces, work_of
from flows import Flow
from oauthlib.oauth2 import BackendApplicationClient
from remote_sandbox import RemoteSandbox
from report import Report
from requests_oauthlib import OAuth2
from stats import cell, decide, ratios, summarize

#: Every flow's hook at most this many times its checks floor (median, decided on its interval).
CHECKS_TARGET = 1.1
#: Rokt's hook at most this fraction of each peer's.
PEER_TARGET = 0.5
#: Tokens live this long while the hook is timed, so that none is renewed in a round.
LIFETIME = 86400.0

Hook = Callable[[requests.PreparedRequest], Any]
#: Per flow label, per contender: the hook and the request it is timed on.
Hooks = dict[str, dict[str, tuple[Hook, requests.PreparedRequest]]]
#: CPU nanoseconds per call, per (flow label, contender), one figure per round.
Results = dict[tuple[str, str], list[float]]


def _timer_overhead_ns(samples: int = 2001) -> float:
    """What one timed interval costs with nothing in it (a thread_time_ns pair), median."""
    thread_time_ns = time.thread_time_ns
    empty = []
    for _ in range(samples):
        started = thread_time_ns()
        empty.append(thread_time_ns() - started)
    return float(statistics.median(empty))


def _peer_hooks(box: RemoteSandbox) -> dict[str, Hook]:
    """The object each peer hands to requests for Rokt's flow, token fetched."""
    peers = {name: Contender(name, box, box.fresh_token_url()) for name in PEERS}
    for c in peers.values():
        c.manual_fetch()
        c.get(box.api).raise_for_status()  # warms requests-auth's cache
    fetched = peers["requests-oauthlib"].session.token  # type: ignore[attr-defined]
    return {
        "requests-auth": peers["requests-auth"].session.auth,  # type: ignore[dict-item]
        # Authlib's session passes its token_auth to requests: that object is its hook.
        "authlib": peers["authlib"].session.token_auth,  # type: ignore[attr-defined]
        # requests-oauthlib's OAuth2 auth, built once with the fetched token, as its users do.
        "requests-oauthlib": OAuth2(client=BackendApplicationClient(client_id=box.app_id), token=fetched),
    }


def hooks_per_flow(box: RemoteSandbox, flows: list[Flow]) -> Hooks:
    """Per flow label: its floors, the flow's auth object (token warm) and, for the peers' flow, the peers."""
    hooks: Hooks = {}
    for flow in flows:
        auth = flow.build()
        auth.get_token()  # warm: the token is cached before any timing
        template = flow.prepared()
        work = work_of(auth, template)
        built = pieces(work)
        for piece in built.values():
            check(piece, template, work.headers)
        hooks[flow.label] = {name: (piece, template) for name, piece in built.items()}
        hooks[flow.label][US] = (auth, template)
        if flow.vendor.name == PEER_FLOW:
            hooks[flow.label].update((name, (peer, template)) for name, peer in _peer_hooks(box).items())
    return hooks


def measure(box: RemoteSandbox, flows: list[Flow], rounds: int, passes: int, chunk: int) -> tuple[Results, float]:
    """CPU nanoseconds per auth call, per (flow, contender) and round; and the timer's own cost.

    A round visits the flows in a shuffled order; within a flow it makes ``passes``
    passes over the flow's contenders, each pass in a new shuffled order, each
    contender timing one chunk of ``chunk`` calls (CPU time of this thread, GC off,
    the timer's empty-interval cost subtracted). A contender's figure for the round
    is its total over the passes: floor and contender alternate within milliseconds,
    so what disturbs one disturbs the other.
    """
    documented = box.set_lifetimes({})
    box.set_lifetimes(dict.fromkeys(documented, LIFETIME))
    try:
        hooks = hooks_per_flow(box, flows)
    finally:
        box.set_lifetimes(documented)
    warm = 10
    overhead = _timer_overhead_ns()
    thread_time_ns = time.thread_time_ns
    per_round: Results = {(label, name): [] for label, named in hooks.items() for name in named}
    for named in hooks.values():  # every hook a few times before the first round, outside timing
        for hook, template in named.values():
            for _ in range(warm):
                hook(fresh(template))
    labels = list(hooks)
    for _ in range(rounds):
        random.shuffle(labels)
        for label in labels:
            named = hooks[label]
            totals = dict.fromkeys(named, 0.0)
            for _ in range(passes):
                for name in random.sample(list(named), len(named)):
                    hook, template = named[name]
                    batch = [fresh(template) for _ in range(warm + chunk)]
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


def add_to(report: Report, flows: list[Flow], hook: Results) -> None:
    """The hook rows, the table of what each check costs, and the verdicts."""
    breakdown = [
        "What the per-request checks cost (x floor, median (Q1..Q3), measured in the hook rounds):",
        "",
        "| flow | contender | x floor |",
        "|---|---|---|",
    ]
    for flow in flows:
        label = flow.label
        names = [n for f, n in hook if f == label]
        floor, checks = hook[(label, FLOOR)], hook[(label, CHECKS_FLOOR)]
        shown = [n for n in names if n in report.columns]
        report.row(
            f"hook, {label}: CPU µs per call", {n: cell([v / 1000 for v in hook[(label, n)]], ".3f") for n in shown}
        )
        report.row(f"hook, {label}: x floor", {n: cell(ratios(hook[(label, n)], floor), ".2f") for n in shown})
        report.row(
            f"hook, {label}: x checks floor",
            {n: cell(ratios(hook[(label, n)], checks), ".2f") for n in shown if n != FLOOR},
        )
        breakdown += [
            f"| {label} | {n} | {cell(ratios(hook[(label, n)], floor), '.2f')} |" for n in names if n not in PEERS
        ]
        s = summarize(ratios(hook[(label, US)], checks))
        report.verdict(
            f"hook, {label}: {s.median:.2f}x checks floor, 95% interval of the median {s.ci_low:.2f}..{s.ci_high:.2f}",
            f"<= {CHECKS_TARGET}x",
            decide(s, CHECKS_TARGET),
        )
    report.notes += [*breakdown, ""]
    peers_flow = next(flow for flow in flows if flow.vendor.name == PEER_FLOW)
    ours = hook[(peers_flow.label, US)]
    for peer in PEERS:
        s = summarize(ratios(ours, hook[(peers_flow.label, peer)]))
        report.verdict(
            f"hook, {peers_flow.vendor.auth.vendor}: {s.median:.2f} of {peer}'s "
            f"(95% interval {s.ci_low:.2f}..{s.ci_high:.2f})",
            f"<= {PEER_TARGET}",
            decide(s, PEER_TARGET),
        )
