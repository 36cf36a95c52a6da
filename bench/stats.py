"""Medians, their intervals and the verdicts the bench's targets are decided by."""

from __future__ import annotations

import math
import statistics
from typing import NamedTuple


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
    """Median (Q1..Q3)."""
    s = summarize(values)
    return f"{format(s.median, fmt)} ({format(s.q1, fmt)}..{format(s.q3, fmt)})"


def spread(values: list[float], fmt: str) -> str:
    """Median (min..max), for a few rounds; empty for none."""
    if not values:
        return ""
    return f"{format(statistics.median(values), fmt)} ({format(min(values), fmt)}..{format(max(values), fmt)})"


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
    """Round by round: each value over the one measured in the same round."""
    return [v / b for v, b in zip(values, against)]
