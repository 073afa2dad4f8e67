"""Timing helpers: medians of repeated runs, and A/B pairs measured interleaved.

Machines here are shared and noisy, so we report medians, and when two things are
compared we alternate A, B, A, B ... in one run so that both see the same noise.
"""

from __future__ import annotations

import statistics
import time
import tracemalloc


def median_seconds(fn, repeat: int = 5, warmup: int = 1) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def compare(fn_a, fn_b, repeat: int = 5, warmup: int = 1) -> tuple[float, float]:
    """Medians of ``fn_a`` and ``fn_b`` timed alternately; returns ``(median_a, median_b)``."""
    for _ in range(warmup):
        fn_a()
        fn_b()
    times_a, times_b = [], []
    for _ in range(repeat):
        for fn, times in ((fn_a, times_a), (fn_b, times_b)):
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
    return statistics.median(times_a), statistics.median(times_b)


def peak_memory_bytes(fn) -> int:
    """Peak memory allocated through Python/numpy while ``fn`` runs (tracemalloc)."""
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def row(benchmark: str, case: str, value: float, unit: str = "s", ratio: float | None = None,
        ratio_of: str = "", goal: str = "") -> dict:
    """One line of the results table.

    ratio: this case compared with another measured in the same run (``ratio_of`` says
    which, e.g. "two-loop / no-loop"); goal: the target it is held to, in words.
    """
    return {"benchmark": benchmark, "case": case, "value": value, "unit": unit,
            "ratio": ratio, "ratio_of": ratio_of, "goal": goal}
