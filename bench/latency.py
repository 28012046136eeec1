"""Latency summaries shared by the load benchmarks (bench_answers.py, bench_serving.py)."""

from __future__ import annotations


def percentile(values: list[float], q: float) -> float:
    """The ``q`` quantile (0–1) of ``values``, linear between the closest ranks (R's type 7)."""
    ordered = sorted(values)
    k = (len(ordered) - 1) * q
    low, high = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (k - low)
