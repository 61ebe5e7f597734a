"""modelplane tracking on the embedded SQLite backend, timed with the same workload as the peer
harness's MLflow script (tracking/tracking_bench.py there):

  init            first use of a fresh home (schema migration) + experiment creation
  log_metric x N  one run, N (5,000) values of one metric, one ``run.log_metric`` call each
  log_batch       one run, the same N values in one ``run.log_batch`` call
  populate        1,000 runs with 5 params and 5 metrics each (set-up, timed for information)
  search_runs     ``mp.search_runs`` over those 1,000 runs → DataFrame, 3 calls; then filtered

usage: modelplane_tracking.py WORKDIR REP — prints one JSON line.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from pathlib import Path

T0 = time.perf_counter()
import modelplane as mp  # noqa: E402

T_IMPORT = time.perf_counter() - T0

work = Path(sys.argv[1])
rep = int(sys.argv[2]) if len(sys.argv) > 2 else 1
N_VALUES = int(os.environ.get("PEER_TRACKING_VALUES", "5000"))
N_RUNS = int(os.environ.get("PEER_TRACKING_RUNS", "1000"))
home = work / f"modelplane-r{rep}"
if home.exists():
    shutil.rmtree(home)
rec: dict[str, object] = {
    "tool": "modelplane",
    "rep": rep,
    "values": N_VALUES,
    "runs": N_RUNS,
    "import_s": T_IMPORT,
}


def timed(key: str):  # type: ignore[no-untyped-def]
    class _T:
        def __enter__(self) -> None:
            self.t = time.perf_counter()

        def __exit__(self, *a: object) -> None:
            rec[key] = time.perf_counter() - self.t

    return _T()


ws = mp.configure(home=home)
with timed("init_s"):
    ws.tracking.get_or_create_experiment("peer-bench")

with mp.start_run("peer-bench", "log_metric") as run, timed("log_metric_s"):
    for i in range(N_VALUES):
        run.log_metric("loss", 1.0 / (i + 1), step=i)
n1 = len(run.metric_history("loss"))

with mp.start_run("peer-bench", "log_batch") as run:
    ts = int(time.time() * 1000)
    points = [("loss", 1.0 / (i + 1), i, ts) for i in range(N_VALUES)]
    with timed("log_batch_s"):
        run.log_batch(points)
n2 = len(run.metric_history("loss"))
assert n1 == n2 == N_VALUES, (n1, n2)

with timed("populate_s"):
    for r in range(N_RUNS):
        with mp.start_run("peer-search", f"run{r}") as run:
            run.log_params({f"p{k}": f"v{r % (k + 2)}" for k in range(5)})
            run.log_metrics({f"m{k}": (r * (k + 1)) % 97 / 97 for k in range(5)})

# `import mlflow` loads pandas; modelplane loads it lazily on the first DataFrame. Import it
# here, timed separately, so "first call" compares the same work on both sides.
t = time.perf_counter()
import pandas  # noqa: E402, F401

rec["pandas_import_s"] = time.perf_counter() - t
searches = []
for _ in range(3):
    t = time.perf_counter()
    df = mp.search_runs("peer-search")
    searches.append(time.perf_counter() - t)
    assert len(df) == N_RUNS, len(df)
rec.update(search_runs_s=searches, search_columns=len(df.columns))

t = time.perf_counter()
df = mp.search_runs("peer-search", "metrics.m0 > 0.5 and params.p0 = 'v0'")
rec.update(search_filtered_s=time.perf_counter() - t, search_filtered_rows=len(df))
rec["total_in_script_s"] = time.perf_counter() - T0
print(json.dumps(rec))
