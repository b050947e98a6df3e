#!/usr/bin/env bash
# Study 10 on one GPU (studies/ruler/NOTES.md). On the CPU, 4,000 steps at width 64 teach
# niah_multivalue (study 10b, run there) and 8,000 teach 2-hop variable tracking (study 10c, run
# there) and 16,000 teach 4-hop tracking to bipe_rope, not to rope (study 10d, run there), but
# neither 8,000 steps nor width 128 nor 4 layers teach niah_multikey, and a run costs 20-130
# minutes of a CPU core, so the budget of the study left is found, and it is run, where a step
# costs milliseconds:
#
#   studies/ruler/gpu.sh calibrate DIR        rope and bipe_rope at seed 0 on every study in
#                                             STUDIES, for every budget in STEPS x WIDTHS x
#                                             LAYERS, side by side; prints each run's score at
#                                             the training context
#   studies/ruler/gpu.sh run DIR STEPS WIDTH [LAYERS]
#                                             the grids of STUDIES (15 runs each) at that budget
#                                             (LAYERS: default the grid's own depth)
#   studies/ruler/gpu.sh summaries DIR DEST   copies what a study commits (config.json,
#                                             metrics.jsonl, eval.json, index.json) to DEST
#
# Environment: STUDIES (default "niah_multikey": the study without a calibrated
# budget), DEVICE (default cuda), JOBS (runs side by side, default 8), STEPS (default
# "4000 8000 16000"), WIDTHS (default "64 128") and LAYERS (default "2 4") for `calibrate`;
# TINY=1 shrinks every run to a few steps and one evaluation length, to check the script on a
# CPU:
#   TINY=1 DEVICE=cpu JOBS=2 STEPS=10 WIDTHS=64 LAYERS=2 studies/ruler/gpu.sh calibrate /tmp/ruler
# PY selects the Python (default: python3). The repository root is the package `bipe`; the
# script makes it importable whatever the checkout's folder is called.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
PY="${PY:-python3}"
SHIM="$(mktemp -d)"
trap 'rm -rf "$SHIM"' EXIT
ln -s "$ROOT" "$SHIM/bipe"
export PYTHONPATH="$SHIM${PYTHONPATH:+:$PYTHONPATH}"
DEVICE="${DEVICE:-cuda}"
JOBS="${JOBS:-8}"
read -r -a STUDIES <<< "${STUDIES:-niah_multikey}"
for study in "${STUDIES[@]}"; do
  [[ -f "$ROOT/studies/ruler/$study/grid.toml" ]] || { echo "gpu.sh: no study studies/ruler/$study" >&2; exit 2; }
done

usage() {
  echo "usage: $0 calibrate DIR | run DIR STEPS WIDTH [LAYERS] | summaries DIR DEST" >&2
  exit 2
}

# sweep STUDY OUT STEPS WIDTH LAYERS [bipe sweep arguments...]: one grid at one budget (an
# empty LAYERS keeps the grid's depth)
sweep() {
  local study="$1" out="$2" steps="$3" width="$4" layers="$5"
  shift 5
  local extra=()
  [[ -z "$layers" ]] || extra+=(--set "model.n_layers=$layers")
  if [[ "${TINY:-0}" == "1" ]]; then
    local context
    context="$(sed -n 's/^"data.context" = "\([0-9]*\)"$/\1/p' "$ROOT/studies/ruler/$study/grid.toml")"
    extra+=(--set data.n_eval=5 --set "data.eval_lengths=$context" --set train.log_every=5)
  fi
  "$PY" -m bipe sweep --file "$ROOT/studies/ruler/$study/grid.toml" --out "$out" \
    --set "train.steps=$steps" --set "model.d_model=$width" --set "train.device=$DEVICE" \
    --set "train.checkpoint_every=$steps" "${extra[@]}" --no-ensemble --jobs "$JOBS" "$@"
}

# score DIR...: the RULER score at the training context of every finished run under DIR
score() {
  "$PY" - "$@" <<'EOF'
import json, pathlib, sys
for root in sys.argv[1:]:
    for path in sorted(pathlib.Path(root).glob("*/eval.json")):
        rows = json.loads(path.read_text())["per_length"]
        losses = [json.loads(line) for line in (path.parent / "metrics.jsonl").open()]
        loss = [r["loss"] for r in losses if "loss" in r][-1]
        print(f"{path.parent}: score {rows[0]['accuracy']:.2f} at {rows[0]['length']}, "
              f"final training loss {loss:.3f}")
EOF
}

case "${1:-}" in
  calibrate)
    [[ $# -eq 2 ]] || usage
    mkdir -p "$2"
    dirs=() pids=()
    for study in "${STUDIES[@]}"; do
      for steps in ${STEPS:-4000 8000 16000}; do
        for width in ${WIDTHS:-64 128}; do
          for layers in ${LAYERS:-2 4}; do
            dir="$2/$study-steps$steps-width$width-layers$layers"
            dirs+=("$dir")
            sweep "$study" "$dir" "$steps" "$width" "$layers" --grid model.pe=rope,bipe_rope \
              --grid init_seed=0 > "$dir.log" 2>&1 &
            pids+=($!)
          done
        done
      done
    done
    for pid in "${pids[@]}"; do wait "$pid"; done  # a failed sweep stops the script here
    score "${dirs[@]}"
    ;;
  run)
    [[ $# -eq 4 || $# -eq 5 ]] || usage
    for study in "${STUDIES[@]}"; do
      sweep "$study" "$2/$study" "$3" "$4" "${5:-}"
    done
    score "${STUDIES[@]/#/$2/}"
    ;;
  summaries)
    [[ $# -eq 3 ]] || usage
    (cd "$2" && find . \( -name config.json -o -name metrics.jsonl -o -name eval.json \
      -o -name index.json \) -print0 | xargs -0 -I{} cp --parents {} "$3")
    ;;
  *) usage ;;
esac
