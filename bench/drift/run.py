"""One command: speed and memory of the drift engine on 100,000 × 20 float64 columns.

    .venv/bin/python bench/drift/run.py [--rows 100000] [--reps 3]

The scenario (seed 0): column j ~ Normal(j, 1 + j/10) in both samples; in the current sample
f0..f4 move by 0.2, 0.3, 0.5, 0.75 and 1.0 standard deviations. It times
``modelplane.monitoring.drift.compare`` end to end (best of ``--reps``; DataFrames in, report
out), with its default tests and with KS forced on every column, next to a plain numpy/scipy
baseline computing KS, PSI and normed Wasserstein per column. Memory, all above the input
arrays already in memory: tracemalloc's peak during one call (numpy reports its buffers to
tracemalloc); the process's resident size sampled every millisecond during the timed calls
(``/proc/self/statm``), peak minus the size before; and the growth of the peak RSS high-water
mark (``resource.getrusage``), which only moves when a run goes above the earlier peak reached
while building the inputs, so 0 there means "stayed below it".
"""

from __future__ import annotations

import argparse
import gc
import resource
import sys
import threading
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from modelplane.monitoring.drift import compare

SHIFTS = (0.2, 0.3, 0.5, 0.75, 1.0)
COLUMNS = 20


def scenario(rows: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(0)
    mean = np.arange(COLUMNS, dtype=float)
    sd = 1 + np.arange(COLUMNS) / 10
    reference = rng.normal(mean, sd, size=(rows, COLUMNS))
    current = rng.normal(mean, sd, size=(rows, COLUMNS))
    current[:, : len(SHIFTS)] += np.array(SHIFTS) * sd[: len(SHIFTS)]
    names = [f"f{j}" for j in range(COLUMNS)]
    return pd.DataFrame(reference, columns=names), pd.DataFrame(current, columns=names)


def baseline(reference: pd.DataFrame, current: pd.DataFrame) -> list[str]:
    """KS + PSI (reference deciles) + normed Wasserstein per column, flagged on Wasserstein."""
    flagged = []
    for name in reference.columns:
        ref = reference[name].to_numpy()
        cur = current[name].to_numpy()
        stats.ks_2samp(ref, cur)
        cuts = np.quantile(ref, np.linspace(0, 1, 11)[1:-1])
        r = np.clip(np.bincount(np.digitize(ref, cuts), minlength=10) / len(ref), 1e-4, None)
        c = np.clip(np.bincount(np.digitize(cur, cuts), minlength=10) / len(cur), 1e-4, None)
        float(np.sum((c - r) * np.log(c / r)))
        if stats.wasserstein_distance(ref, cur) / np.std(ref) >= 0.1:
            flagged.append(str(name))
    return flagged


def rss_peak_mb() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1024 / 1024 if sys.platform == "darwin" else peak / 1024


def rss_now_mb() -> float:
    try:
        with open("/proc/self/statm", encoding="ascii") as statm:
            pages = int(statm.read().split()[1])
    except OSError:
        return float("nan")
    return pages * resource.getpagesize() / 1024 / 1024


class RssSampler:
    """The largest resident size seen while running, polled from a background thread."""

    def __init__(self) -> None:
        self.peak = rss_now_mb()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def _poll(self) -> None:
        while not self._stop.wait(0.001):
            self.peak = max(self.peak, rss_now_mb())

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_now_mb())


def measure(run: Callable[[], Any], reps: int) -> tuple[float, float, float, float, Any]:
    """Best wall time (s), tracemalloc peak, sampled RSS peak growth, high-water growth (MB)."""
    run()  # warm-up: imports, first-call caches
    gc.collect()
    rss_start = rss_now_mb()
    high_water = rss_peak_mb()
    best = float("inf")
    result = None
    with RssSampler() as sampler:
        for _ in range(reps):
            start = time.perf_counter()
            result = run()
            best = min(best, time.perf_counter() - start)
    sampled = sampler.peak - rss_start
    high_water_growth = rss_peak_mb() - high_water
    gc.collect()
    tracemalloc.start()
    run()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return best, peak / 1e6, sampled, high_water_growth, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args()

    reference, current = scenario(args.rows)
    input_mb = (reference.memory_usage().sum() + current.memory_usage().sum()) / 1e6
    ks_everywhere = {name: "ks" for name in reference.columns}
    runs: list[tuple[str, Callable[[], Any]]] = [
        ("compare, default tests", lambda: compare(reference, current)),
        ("compare, KS on every column", lambda: compare(reference, current, tests=ks_everywhere)),
        ("numpy/scipy baseline (KS+PSI+W)", lambda: baseline(reference, current)),
    ]
    print(f"{args.rows:,} rows × {COLUMNS} float64 columns per sample; inputs {input_mb:.0f} MB")
    print()
    print(
        f"| {'run':<34} | best of {args.reps} (s) | tracemalloc peak (MB) "
        "| RSS peak, sampled (MB) | ru_maxrss growth (MB) |"
    )
    print(
        f"|{'-' * 36}|--------------:|----------------------:"
        "|-----------------------:|---------------------:|"
    )
    results: dict[str, Any] = {}
    for label, run in runs:
        best, traced, sampled, high_water, result = measure(run, args.reps)
        results[label] = result
        print(
            f"| {label:<34} | {best:>13.3f} | {traced:>21.1f} | {sampled:>22.1f} "
            f"| {high_water:>20.1f} |"
        )
    print()
    default = results["compare, default tests"]
    print("flagged (compare, default):", ", ".join(default.drifted_columns))
    print(
        "flagged (compare, KS + BH):",
        ", ".join(results["compare, KS on every column"].drifted_columns),
    )
    print("flagged (baseline, W ≥ 0.1):", ", ".join(results["numpy/scipy baseline (KS+PSI+W)"]))
    stats_line = ", ".join(
        f"{name}={col.statistic:.3f}" for name, col in list(default.columns.items())[:6]
    )
    print("normed Wasserstein:", stats_line, "...")


if __name__ == "__main__":
    main()
