"""Benchmark requests-adtech-auth against the libraries users would pick instead.

Run:  python bench/run.py            (about 10 minutes; --quick for a short pass)

Everything talks to the project's sandbox on loopback, run in a separate process so
that its serving does not share this process's GIL. Contenders are interleaved and
shuffled in every round, so machine noise hits all of them alike; ratios are taken
per round, against the floor measured in the same round. bench/README.md says how
each figure is computed. Each section is a module of its own (hook.py, end_to_end.py,
threads.py, objects.py, imports.py); this one plans the rounds and writes the report.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, NamedTuple

import end_to_end
import hook
import imports
import objects
import threads
from contenders import COLUMNS
from flows import flows
from remote_sandbox import RemoteSandbox
from report import Report, code_measured, load_average, machine, update_readme

HERE = Path(__file__).resolve().parent


class Plan(NamedTuple):
    """How many rounds each section makes, and how big they are."""

    hook_rounds: int
    hook_passes: int
    hook_chunk: int
    e2e_rounds: int
    e2e_requests: int
    cold_rounds: int
    life_rounds: int
    import_rounds: int
    object_rounds: int
    objects: int
    traced_objects: int

    @classmethod
    def of(cls, quick: bool) -> Plan:
        if quick:
            return cls(100, 3, 100, 10, 30, 2, 1, 5, 1, 200, 100)
        return cls(400, 3, 100, 80, 60, 8, 2, 30, 2, 1000, 300)

    def describe(self, timer_ns: float) -> str:
        return (
            f"Rounds, each interleaving the contenders in a shuffled order: hook {self.hook_rounds} rounds, "
            f"each of {self.hook_passes} passes of {self.hook_chunk} calls per contender and flow "
            f"(the timer's own {timer_ns / 1000:.1f} µs per interval subtracted); "
            f"end to end {self.e2e_rounds} rounds of {self.e2e_requests} alternating requests per contender; "
            f"cold start {self.cold_rounds} rounds per arrangement; "
            f"token lifetimes {self.life_rounds} round(s) per row; imports {self.import_rounds} rounds; "
            f"objects {self.object_rounds} round(s) of {self.objects} objects "
            f"({self.traced_objects} under tracemalloc). "
            "Cells: median (Q1..Q3) over rounds; token-lifetime cells are totals over rounds."
        )


def measure(plan: Plan, quick: bool, report: Report, progress: Callable[[str], None]) -> float:
    """Every section, its rows and verdicts into ``report``; returns the timer's own cost in ns."""
    with RemoteSandbox() as box:
        progress("hook")
        measured = flows(box)
        per_call, timer_ns = hook.measure(box, measured, plan.hook_rounds, plan.hook_passes, plan.hook_chunk)
        hook.add_to(report, measured, per_call)
        progress("end to end")
        end_to_end.add_to(report, end_to_end.measure(box, plan.e2e_rounds, plan.e2e_requests))
        progress("cold start")
        for per_thread, what in threads.ARRANGEMENTS:
            threads.add_cold_start(report, what, threads.cold_start(box, plan.cold_rounds, per_thread))
        progress("token lifetimes")
        rows = threads.lifetimes(quick)
        threads.add_lifetimes(report, rows, threads.token_lifetimes(box, rows, plan.life_rounds))
        progress("objects per call")
        held = objects.measure(box, plan.object_rounds, plan.objects, plan.traced_objects)
    # No sandbox needed: run last, when the sandbox's process is gone.
    progress("imports")
    imports.add_to(report, measured, imports.measure(measured, plan.import_rounds))
    objects.add_to(report, held, plan.objects, plan.traced_objects)
    return timer_ns


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds and shorter runs (writes no file)")
    parser.add_argument("--out", default=None, help="where to write the table (default: bench/latest.md)")
    parser.add_argument("--code-label", help="what code is measured, for the header (default: asked of git)")
    parser.add_argument("--no-readme", action="store_true", help="leave bench/README.md's results alone")
    args = parser.parse_args()
    plan = Plan.of(args.quick)
    started, load_before = time.perf_counter(), load_average()
    code = args.code_label or code_measured()
    report = Report(COLUMNS)

    def progress(stage: str) -> None:
        print(f"[{time.perf_counter() - started:6.0f} s] {stage}", file=sys.stderr, flush=True)

    timer_ns = measure(plan, args.quick, report, progress)
    minutes = (time.perf_counter() - started) / 60
    text = "\n".join(
        [
            f"Measured {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC on {machine()}; "
            f"load average (1, 5, 15 min) {load_before} at the start, {load_average()} at the end; "
            f"the run took {minutes:.1f} min; {code}.",
            "",
            plan.describe(timer_ns),
            "",
            *report.table(),
            "",
            "\\* after the manual `fetch_token()` that library needs before its first call (counted).",
            "",
            *report.notes,
            "Targets (decided on the median's 95% interval where there is one):",
            "",
            *(f"- {v}" for v in report.verdicts),
            "",
        ]
    )
    progress("done")
    print(text)
    if args.out or not args.quick:
        Path(args.out or HERE / "latest.md").write_text(text, encoding="utf-8")
    if not args.quick and not args.no_readme and args.out is None and not update_readme(text, HERE / "README.md"):
        print("bench/README.md has no results markers; left alone", file=sys.stderr)
    return 0


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        raise SystemExit(main())
