#!/usr/bin/env bash
# One command: modelplane vs the peer servers (MLflow, BentoML with batching, KServe, MLServer,
# Ray Serve) and the bare Starlette floor, same models and load, one after the other in one run.
#
#   PEER_BENCH=/path/to/peer/harness PEER_ENVS=/path/to/peer-envs bench/serving/run.sh
#
# PEER_SERVERS limits the servers (default: floor,bentoml-batch,mlflow,custom); any other PEER_*
# setting of the harness applies (PEER_REPS, PEER_DURATION, PEER_MODELS…). modelplane is measured
# twice: native JSON (`records` and `columns` bodies to /v1/endpoints/{model}/predict, label
# `modelplane`) and Open Inference Protocol v2 JSON (to /v2/models/{model}/infer, label
# `modelplane-v2`, the body KServe and MLServer get); MODELPLANE_V2=0 skips the second pass.
# Results: the harness's results.md in $PEER_WORK/results/<run id>/ and, printed at the end,
# bench/serving/summarize.py's tables (every cell with its ratio to the floor of the same rep).
set -euo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
: "${PEER_BENCH:?set PEER_BENCH to the peer benchmark harness}"
: "${PEER_ENVS:?set PEER_ENVS to the folder of the peer virtualenvs}"
[ -x "$repo/.venv/bin/modelplane" ] || make -C "$repo" .venv/.dev-installed
py="$repo/.venv/bin/python"
home_base="${PEER_WORK:-$PEER_ENVS/_work}/modelplane-home"
rm -rf "$home_base"
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1
export PEER_RUN_ID="${PEER_RUN_ID:-$(date -u +%Y%m%dT%H%M%SZ)}"
servers="${PEER_SERVERS:-floor,bentoml-batch,mlflow,custom}"
stages="${PEER_STAGES:-setup models meta serving report}"
export PEER_CUSTOM_SETUP="$py $repo/bench/serving/setup_endpoint.py $home_base/{model} {joblib} {work} {model}"
export PEER_CUSTOM_CMD="$repo/.venv/bin/modelplane --home $home_base/{model} serve --host {host} --port {port} --workers 1"
export PEER_CUSTOM_HEALTH=/v2/health/ready
cd "$PEER_BENCH"

# The harness's report stage fails when a peer venv it describes is missing; the measurements
# are in serving.jsonl by then, so a failing harness run does not stop this script.
harness() { ./run-all.sh || echo "(the harness exited with status $?; continuing)" >&2; }

# pass 1: the peers and modelplane's native JSON (the harness posts every format to one path)
PEER_SERVERS="$servers" PEER_STAGES="$stages" PEER_CUSTOM_NAME=modelplane \
  PEER_CUSTOM_PATH=/v1/endpoints/{model}/predict \
  PEER_CUSTOM_FORMATS="${PEER_CUSTOM_FORMATS:-records,columns}" harness

# pass 2: modelplane over Open Inference Protocol v2, into the same run and report
if [[ ",$servers," == *",custom,"* && "${MODELPLANE_V2:-1}" == 1 ]]; then
  PEER_SERVERS=custom PEER_STAGES="serving report" PEER_CUSTOM_NAME=modelplane-v2 \
    PEER_CUSTOM_PATH=/v2/models/{model}/infer PEER_CUSTOM_FORMATS=v2 harness
fi
"$py" "$repo/bench/serving/summarize.py" "${PEER_WORK:-$PEER_ENVS/_work}/results/$PEER_RUN_ID"
