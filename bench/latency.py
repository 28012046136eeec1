"""Latency summaries shared by the load benchmarks (bench_answers.py, bench_serving.py)."""

from __future__ import annotations


def percentile(values: list[float], q: float) -> float:
    """The ``q`` quantile (0–1) of ``values``, linear between the closest ranks (R's type 7)."""
    ordered = sorted(values)
    k = (len(ordered) - 1) * q
    low, high = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (k - low)


def cpu_reference_ms(repeats: int = 5) -> float:
    """Milliseconds one core takes for a fixed pure-Python loop (2 million additions), best of
    ``repeats``: the speed of this machine's cores, printed beside the figures so that runs on
    different (or differently loaded) machines can be compared. A rough gauge: the loop lives in
    the core's first-level cache, so it does not see slowdowns from cache or memory contention
    (which a server's requests do feel)."""
    import time

    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        total = 0
        for i in range(2_000_000):
            total += i
        best = min(best, time.perf_counter() - started)
    return best * 1000
