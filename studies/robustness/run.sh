#!/usr/bin/env bash
# Study 3: robustness to wrong boundaries. Needs study 1 (studies/segment_count) finished.
# (a) the clean-trained BiPE models of study 1 evaluated with dropped, inserted and shifted
#     boundaries (bipe eval --set ... --out: the runs' own eval.json are kept);
# (b) BiPE trained with noisy boundaries (grid.toml), evaluated clean and perturbed.
# Finished evaluations are skipped, so the script can be re-run after an interruption.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
bipe sweep --file "$here/grid.toml" --out "$here/trained_noisy" --jobs "${JOBS:-1}"
perturb() {  # RUN OUT KEY=VALUE...
  local run="$1" out="$2"; shift 2
  [ -f "$out/eval.json" ] && return 0
  local args=(); for kv in "$@"; do args+=(--set "$kv"); done
  bipe eval "$run" "${args[@]}" --out "$out" --no-progress > /dev/null
}
for run in "$here"/../segment_count/pe-bipe_rope__* "$here"/../segment_count/pe-bipe_alibi__* \
           "$here"/trained_noisy/pe-*; do
  src="$(basename "$(dirname "$run")")"; name="$(basename "$run")"
  for rate in 0.1 0.2 0.4; do
    perturb "$run" "$here/eval/$src/$name/drop-$rate" "segment_eval.drop=$rate"
    perturb "$run" "$here/eval/$src/$name/insert-$rate" "segment_eval.insert=$rate"
  done
  for k in 1 2; do
    perturb "$run" "$here/eval/$src/$name/shift-$k" "segment_eval.shift=$k"
  done
done
