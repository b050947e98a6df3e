#!/usr/bin/env bash
# Studies 7 and 11c: evaluate every finished text run (code, prose and the 2025 encodings) at 1x-16x its 128-byte training
# context. The grids' own evaluation stops at 8x (the cpu_text preset's 128-1024); this adds
# 2048 and rewrites each run's eval.json (evaluation sets are fixed per length, so the rows at
# 128-1024 come out identical). Runs already evaluated at 2048 are skipped; rerun after more
# runs finish.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
for run in "$here"/text/pe-* "$here"/text_prose/pe-* "$here"/text_2025/pe-*; do
    [ -f "$run/eval.json" ] || continue  # not finished
    if python3 -c 'import json,sys; rows = json.load(open(sys.argv[1]))["per_length"]
sys.exit(0 if any(r["length"] == 2048 for r in rows) else 1)' "$run/eval.json"; then
        continue
    fi
    bipe eval "$run" --lengths 128,256,512,1024,2048 --no-progress
done
