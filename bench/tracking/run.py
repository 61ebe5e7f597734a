"""One command: tracking speed of modelplane vs MLflow, side by side in one run.

    PEER_BENCH=/path/to/peer/harness PEER_ENVS=/path/to/peer-envs python bench/tracking/run.py [--reps 2]

For each repetition it runs the peer harness's MLflow script (``tracking/tracking_bench.py``, in the
harness's ``mlflow`` virtualenv, SQLite backend) and then ``modelplane_tracking.py`` (this repo's
.venv, embedded SQLite), alternating, each pinned to CPU 0 when ``taskset`` exists. Prints a
markdown table of both and the speed-up, and appends the raw JSON lines to
``bench/results/tracking.jsonl``. The MLflow venv is created with the harness's ``setup-envs.sh``
when missing.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent

ROWS = [
    ("log_metric × 5,000 (one call each)", "log_metric_s"),
    ("log_batch of 5,000 values", "log_batch_s"),
    ("search_runs over 1,000 runs → DataFrame (best of 3)", "search_best_s"),
    ("search_runs, first call", "search_first_s"),
    ("search with filter `metrics.m0 > 0.5 and params.p0 = 'v0'`", "search_filtered_s"),
    ("populate 1,000 runs × (start, 5 params, 5 metrics, end) — set-up", "populate_s"),
]


def pinned(cmd: list[str]) -> list[str]:
    return ["taskset", "-c", "0", *cmd] if shutil.which("taskset") else cmd


def run_json(cmd: list[str], env: dict[str, str]) -> dict[str, object]:
    out = subprocess.run(
        pinned(cmd), env=env, capture_output=True, text=True, timeout=1800, check=False
    )
    if out.returncode != 0:
        raise SystemExit(f"{cmd[1]} failed:\n{out.stderr[-3000:]}")
    line = [ln for ln in out.stdout.splitlines() if ln.startswith("{")][-1]
    rec = json.loads(line)
    rec["search_best_s"] = min(rec["search_runs_s"])
    rec["search_first_s"] = rec["search_runs_s"][0]
    return rec


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=2)
    args = parser.parse_args()
    harness = Path(os.environ.get("PEER_BENCH", "")).resolve()
    envs = Path(os.environ.get("PEER_ENVS", "")).resolve()
    if not (harness / "tracking" / "tracking_bench.py").is_file() or not os.environ.get(
        "PEER_ENVS"
    ):
        raise SystemExit(
            "set PEER_BENCH to the peer benchmark harness and PEER_ENVS to its venv folder"
        )
    mlflow_py = envs / "mlflow" / "bin" / "python"
    if not mlflow_py.exists():
        subprocess.run(
            [str(harness / "setup-envs.sh")],
            env={**os.environ, "PEER_SETUP_ENVS": "mlflow"},
            check=True,
        )
    ours_py = REPO / ".venv" / "bin" / "python"
    env = {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "DO_NOT_TRACK": "1",
    }
    results: dict[str, list[dict[str, object]]] = {"mlflow": [], "modelplane": []}
    with tempfile.TemporaryDirectory(prefix="mp-bench-tracking-") as tmp:
        work = Path(tmp)
        for rep in range(1, args.reps + 1):
            menv = {**env, "PEER_WORK": str(work), "PEER_RUN_DIR": str(work / "mlflow-results")}
            print(f"rep {rep}: mlflow …", file=sys.stderr, flush=True)
            results["mlflow"].append(
                run_json(
                    [str(mlflow_py), str(harness / "tracking" / "tracking_bench.py"), str(rep)],
                    menv,
                )
            )
            print(f"rep {rep}: modelplane …", file=sys.stderr, flush=True)
            results["modelplane"].append(
                run_json(
                    [str(ours_py), str(HERE / "modelplane_tracking.py"), str(work), str(rep)], env
                )
            )
    out_dir = REPO / "bench" / "results"
    out_dir.mkdir(parents=True, exist_ok=True)
    with open(out_dir / "tracking.jsonl", "a") as fh:
        for tool, recs in results.items():
            for rec in recs:
                fh.write(json.dumps({"tool": tool, **rec}) + "\n")

    mlflow_version = results["mlflow"][0].get("mlflow", "?")
    print(
        f"\nMLflow {mlflow_version} vs modelplane, SQLite on both, {args.reps} repetitions (r1 / r2 …)\n"
    )
    print("| measure | MLflow s | modelplane s | speed-up (mean) |")
    print("|---|---|---|---|")
    for label, key in ROWS:
        m = [float(r[key]) for r in results["mlflow"]]  # type: ignore[arg-type]
        o = [float(r[key]) for r in results["modelplane"]]  # type: ignore[arg-type]
        ratio = statistics.mean(m) / statistics.mean(o)
        fmt = lambda xs: " / ".join(f"{x:.4f}" if x < 1 else f"{x:.2f}" for x in xs)  # noqa: E731
        print(f"| {label} | {fmt(m)} | {fmt(o)} | {ratio:.1f}× |")
    per_call = [float(r["log_metric_s"]) / float(r["values"]) * 1000 for r in results["modelplane"]]  # type: ignore[arg-type]
    pandas_s = [float(r["pandas_import_s"]) for r in results["modelplane"]]  # type: ignore[arg-type]
    imports = [float(r["import_s"]) for r in results["mlflow"]]  # type: ignore[arg-type]
    ours = [float(r["import_s"]) for r in results["modelplane"]]  # type: ignore[arg-type]
    print(
        f"\nimport: mlflow {' / '.join(f'{x:.2f}' for x in imports)} s (includes pandas); "
        f"modelplane {' / '.join(f'{x:.3f}' for x in ours)} s "
        f"+ pandas on first use {' / '.join(f'{x:.2f}' for x in pandas_s)} s (excluded from its first search)"
    )
    print(f"\nmodelplane log_metric per call: {' / '.join(f'{x:.3f}' for x in per_call)} ms")


if __name__ == "__main__":
    main()
