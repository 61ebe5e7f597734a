#!/usr/bin/env bash
# One command: what the durable prediction log costs on the predict path, over HTTP, in one run.
#
#   bench/serving/log.sh            # REPS [3], DURATION [8] s, WARMUP [3] s
#
# The same logistic regression (20 features) is served by one uvicorn worker of this tree twice:
# MODELPLANE_PREDICTION_LOG=off and the default log (segments under the home, group commit,
# an answer sent only once its record is written). wrk (-t1, keep-alive) loads each in turn at
# c32 with one row per request and at c8 with 32 rows per request, interleaved per repetition
# and alternating which goes first; the server is pinned to CPU 0 and wrk to CPU 1 when the
# machine has two. Prints requests/s per repetition and the ratio log on / log off.
set -euo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
reps="${REPS:-3}" duration="${DURATION:-8}" warmup="${WARMUP:-3}"
[ -x "$repo/.venv/bin/modelplane" ] || make -C "$repo" .venv/.dev-installed
command -v wrk >/dev/null || { sudo -n true 2>/dev/null && s=sudo || s=; $s apt-get install -y -qq wrk >/dev/null; }
py="$repo/.venv/bin/python"
work="$(mktemp -d)"
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1 MODELPLANE_AUTH=off
pin_server="" pin_load=""
if [ "$(nproc)" -ge 2 ]; then pin_server="taskset -c 0"; pin_load="taskset -c 1"; fi

"$py" - "$work" <<'PY'
import json, sys
import numpy as np, pandas as pd
from sklearn.linear_model import LogisticRegression
import modelplane as mp
work = sys.argv[1]
rng = np.random.default_rng(0)
X = pd.DataFrame(rng.normal(size=(2000, 20)), columns=[f"f{i}" for i in range(20)])
ws = mp.configure(home=f"{work}/home")
mp.register_model("lr", LogisticRegression().fit(X, (X.f0 + X.f1 > 0).astype(int)), X[:100])
ws.endpoints.deploy("lr", {"model": "models:/lr/1"})
for rows in (1, 32):
    body = json.dumps({"inputs": X[:rows].to_dict(orient="records")})
    open(f"{work}/body{rows}.json", "w").write(body)
    open(f"{work}/body{rows}.lua", "w").write(
        'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
        f'local f = io.open("{work}/body{rows}.json"); wrk.body = f:read("*a"); f:close()\n'
    )
PY

run() {  # run LOGMODE CONNS ROWS -> requests/s
  local mode="$1" conns="$2" rows="$3" port
  port="$("$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
  MODELPLANE_PREDICTION_LOG="$mode" $pin_server "$repo/.venv/bin/modelplane" --home "$work/home" \
    serve --port "$port" --workers 1 >/dev/null 2>&1 &
  local pid=$!
  for _ in $(seq 1 100); do
    curl -sf "http://127.0.0.1:$port/v2/health/ready" >/dev/null 2>&1 && break; sleep 0.2
  done
  local url="http://127.0.0.1:$port/v1/endpoints/lr/predict"
  $pin_load wrk -t1 -c"$conns" -d"${warmup}s" -s "$work/body$rows.lua" "$url" >/dev/null
  $pin_load wrk -t1 -c"$conns" -d"${duration}s" -s "$work/body$rows.lua" "$url" \
    | awk '/Requests\/sec/ {print $2}'
  kill "$pid"; wait "$pid" 2>/dev/null || true
}

printf "%-10s %-4s %12s %12s %8s\n" load rep "log off" "log on" ratio
for load in "32 1" "8 32"; do
  set -- $load
  for rep in $(seq 1 "$reps"); do
    if [ $((rep % 2)) -eq 1 ]; then off="$(run off "$1" "$2")"; on="$(run auto "$1" "$2")";
    else on="$(run auto "$1" "$2")"; off="$(run off "$1" "$2")"; fi
    printf "%-10s %-4s %12s %12s %8s\n" "c$1x$2" "$rep" "$off" "$on" \
      "$("$py" -c "print(f'{$on/$off:.3f}')")"
  done
done
du -sh "$work/home/predictions" 2>/dev/null | awk '{print "log on disk after the run: " $1}'
