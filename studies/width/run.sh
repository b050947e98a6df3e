#!/usr/bin/env bash
# Study 6: parameter efficiency (the paper's theory). For each Bi-NFA size (inner states per
# segment type x outer states: 4 x 3 sizes), the smallest width at which a model puts at least
# 0.995 of its next-token probability on legal tokens in distribution (legal_mass), for
# bipe_rope and rope, three seeds; widths are multiples of 4 with 2 heads (even rotary heads),
# so the grid starts at 4. bipe results fits the width's growth exponents per axis with
# intervals and sets them beside the additive and product hypotheses (studies/width/study.toml).
# Resumable: finished searches are skipped (studies/width/NOTES.md has the lab notes).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
bipe study width --preset demo --task binfa_lm \
    --pes bipe_rope,rope --seeds 0,1,2 \
    --sizes 2,4,8,16 --size-key data.inner_states \
    --sizes2 2,4,8 --size-key2 data.outer_states \
    --widths 4,8,12,16,24,32,48,64 --target 0.995 --metric legal_mass \
    --setting in_distribution --jobs "${JOBS:-1}" --no-ensemble --out "$here/runs" \
    --model.n_heads 2 --train.n_threads 1 --model.compute_dtype float32 "$@"
