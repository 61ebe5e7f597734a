#!/usr/bin/env bash
# One command: what token authentication costs on the predict path, over HTTP, in one run.
#
#   bench/serving/auth.sh            # REPS [3], DURATION [8] s, WARMUP [3] s, CONNS [32]
#
# The same logistic regression (20 features, one row per request) is served by one uvicorn
# worker of this tree twice: MODELPLANE_AUTH=off, and MODELPLANE_AUTH=required with every request
# carrying a predictor token. wrk (-t1, keep-alive, CONNS connections) loads each in turn,
# interleaved per repetition and alternating which goes first; the server is pinned to CPU 0 and
# wrk to CPU 1 when the machine has two. Prints requests/s per repetition and the ratio.
set -euo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
reps="${REPS:-3}" duration="${DURATION:-8}" warmup="${WARMUP:-3}" conns="${CONNS:-32}"
[ -x "$repo/.venv/bin/modelplane" ] || make -C "$repo" .venv/.dev-installed
command -v wrk >/dev/null || { sudo -n true 2>/dev/null && s=sudo || s=; $s apt-get install -y -qq wrk >/dev/null; }
py="$repo/.venv/bin/python"
work="$(mktemp -d)"
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1
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
_, token = ws.tokens.create("bench", "predictor")
open(f"{work}/token", "w").write(token)
body = json.dumps({"inputs": X[:1].to_dict(orient="records")})
open(f"{work}/body.json", "w").write(body)
PY
token="$(cat "$work/token")"
for mode in off required; do
  hdr=""
  [ "$mode" = required ] && hdr="wrk.headers['Authorization'] = 'Bearer $token'"
  cat > "$work/$mode.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
$hdr
local f = io.open("$work/body.json"); wrk.body = f:read("*a"); f:close()
LUA
done

run() {  # run MODE -> requests/s
  local mode="$1" port
  port="$("$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
  MODELPLANE_AUTH="$mode" $pin_server "$repo/.venv/bin/modelplane" --home "$work/home" serve \
    --port "$port" --workers 1 >/dev/null 2>&1 &
  local pid=$!
  for _ in $(seq 1 100); do
    curl -sf "http://127.0.0.1:$port/v2/health/ready" >/dev/null 2>&1 && break; sleep 0.2
  done
  local url="http://127.0.0.1:$port/v1/endpoints/lr/predict"
  $pin_load wrk -t1 -c"$conns" -d"${warmup}s" -s "$work/$mode.lua" "$url" >/dev/null
  $pin_load wrk -t1 -c"$conns" -d"${duration}s" -s "$work/$mode.lua" "$url" \
    | awk '/Requests\/sec/ {print $2}'
  kill "$pid"; wait "$pid" 2>/dev/null || true
}

printf "%-4s %14s %14s %8s\n" rep "auth off" "auth required" ratio
for rep in $(seq 1 "$reps"); do
  if [ $((rep % 2)) -eq 1 ]; then off="$(run off)"; req="$(run required)";
  else req="$(run required)"; off="$(run off)"; fi
  printf "%-4s %14s %14s %8s\n" "$rep" "$off" "$req" "$("$py" -c "print(f'{$req/$off:.3f}')")"
done
