#!/usr/bin/env bash
# Study 6: parameter efficiency (the paper's theory). For each Bi-NFA size (inner states per
# segment type x outer states: 4 x 3 sizes), the smallest width at which a model reaches
# continuation_valid 0.9 in distribution (widths that are multiples of 8: 2 x the demo's 4 heads,
# for rotary pairs), for bipe_rope and rope, three seeds; the study fits
# the width's growth exponent in each size and reports it with intervals (bipe study width).
# Resumable: finished searches are skipped (see studies/README.md for what has run).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
bipe study width --preset demo --task binfa_lm \
    --pes bipe_rope,rope --seeds 0,1,2 \
    --sizes 2,4,6,8 --size-key data.inner_states \
    --sizes2 2,3,4 --size-key2 data.outer_states \
    --widths 8,16,24,32,48,64 --target 0.9 --metric continuation_valid \
    --setting in_distribution --jobs "${JOBS:-1}" --no-ensemble --out "$here/runs" \
    --train.n_threads 1 --model.compute_dtype float32 "$@"
