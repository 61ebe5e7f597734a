#!/usr/bin/env bash
# One command: the serving path of this working tree against an earlier commit, side by side
# with the bare Starlette floor, interleaved per repetition, in one run.
#
#   PEER_BENCH=/path/to/peer/harness PEER_ENVS=/path/to/peer-envs bench/serving/compare.sh REF
#
# REF (a commit, tag or branch) is checked out into a temporary worktree and run from its own
# source with this tree's virtualenv (PYTHONPATH), so only modelplane's code differs. Each
# repetition runs the floor, then `before` (REF) and `after` (the working tree) — their order
# alternates between repetitions — each with a fresh home per model. PEER_REPS [3],
# PEER_DURATION [8], PEER_WARMUP [3], PEER_MODELS [lr,rf], PEER_CUSTOM_FORMATS [records] apply.
# Prints bench/serving/summarize.py's tables (ratios to the floor of the same repetition).
set -euo pipefail
ref="${1:?give the commit to compare against, e.g. HEAD~3}"
repo="$(cd "$(dirname "$0")/../.." && pwd)"
: "${PEER_BENCH:?set PEER_BENCH to the peer benchmark harness}"
: "${PEER_ENVS:?set PEER_ENVS to the folder of the peer virtualenvs}"
[ -x "$repo/.venv/bin/modelplane" ] || make -C "$repo" .venv/.dev-installed
py="$repo/.venv/bin/python"
work="${PEER_WORK:-$PEER_ENVS/_work}"
run_id="${PEER_RUN_ID:-compare-$(date -u +%Y%m%dT%H%M%SZ)}"
run_dir="$work/results/$run_id"
reps="${PEER_REPS:-3}"
mkdir -p "$run_dir"
before="$(mktemp -d)/before"
git -C "$repo" worktree add --detach -q "$before" "$ref"
trap 'git -C "$repo" worktree remove --force "$before" >/dev/null 2>&1 || true' EXIT
echo "before = $ref ($(git -C "$repo" rev-parse --short "$ref")), after = working tree; run $run_dir"

export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1
export PEER_DURATION="${PEER_DURATION:-8}" PEER_WARMUP="${PEER_WARMUP:-3}" PEER_REPS=1
export PEER_MODELS="${PEER_MODELS:-lr,rf}" PEER_SERVER_CPUS="${PEER_SERVER_CPUS-0}"
export PEER_LOADGEN_CPUS="${PEER_LOADGEN_CPUS-1}" PEER_WORK="$work"
[ -f "$work/models/lr/model.joblib" ] || (cd "$PEER_BENCH" && PEER_ENVS="$PEER_ENVS" \
  "$PEER_ENVS/floor/bin/python" train_models.py train)

one() {  # one REP LABEL SERVERS [SRC]: one harness pass into $run_dir/serving.jsonl as rep REP
  local rep="$1" label="$2" servers="$3" src="${4:-}" part="$run_dir/part-r$1-$2"
  local home="$work/compare-home/$label-r$rep"
  rm -rf "$home"
  local env_py="$py"
  [ -n "$src" ] && env_py="env PYTHONPATH=$src $py"
  (cd "$PEER_BENCH" && PEER_RUN_DIR="$part" PEER_SERVERS="$servers" PEER_CUSTOM_NAME="$label" \
    PEER_CUSTOM_SETUP="$env_py $repo/bench/serving/setup_endpoint.py $home/{model} {joblib} {work} {model}" \
    PEER_CUSTOM_CMD="$env_py -m modelplane --home $home/{model} serve --host {host} --port {port} --workers 1" \
    PEER_CUSTOM_HEALTH=/v2/health/ready PEER_CUSTOM_PATH=/v1/endpoints/{model}/predict \
    PEER_CUSTOM_FORMATS="${PEER_CUSTOM_FORMATS:-records}" \
    "$PEER_ENVS/floor/bin/python" bench_serving.py)
  "$py" - "$part/serving.jsonl" "$run_dir/serving.jsonl" "$rep" <<'PY'
import json, sys
src, dst, rep = sys.argv[1], sys.argv[2], int(sys.argv[3])
with open(src) as f, open(dst, "a") as out:
    for line in f:
        if line.strip():
            rec = json.loads(line)
            rec["rep"] = rep
            out.write(json.dumps(rec) + "\n")
PY
}

for rep in $(seq 1 "$reps"); do
  one "$rep" floor floor
  if (( rep % 2 )); then
    one "$rep" before custom "$before/src"; one "$rep" after custom
  else
    one "$rep" after custom; one "$rep" before custom "$before/src"
  fi
done
"$py" "$repo/bench/serving/summarize.py" "$run_dir"
