"""Where a binfa_lm model puts probability on illegal next tokens (study 6b's diagnosis).

Usage: python studies/width/where_illegal.py RUN [RUN ...]

For each run folder (with model.pt), over its evaluation sets at 2, 5 and 8 segments, prints
the mean illegal mass (1 - mass on the legal next tokens) per context, where the context is
the token read (a separator, or a symbol at intra position k) and the segment it sits in
(0, 1, 2, 3 or later), with each context's share of the total.
"""

import sys
from collections import defaultdict

import numpy as np
import torch

from bipe.experiments import rundir
from bipe.experiments.evaluate import _forward_fn, eval_set
from bipe.experiments.prepare import WORLD, stream
from bipe.experiments.tasks import get_task
from bipe.models.checkpoint import load as load_model
from bipe.synthetic.arrays import pad_rows


def illegal_by_context(run: str) -> dict[tuple[str, str], tuple[float, int]]:
    config, _ = rundir.read_run_config(run)
    task = get_task(config.task)
    world = task.setup(stream(config.data_seed, WORLD), config.data)
    model = load_model(f"{run}/model.pt", map_location="cpu").eval()
    seps = set(task.separators(config.data, world))
    sums: dict[tuple[str, str], list[float]] = defaultdict(lambda: [0.0, 0])
    for length in (2, 5, 8):
        examples = eval_set(config, task, world, length)
        forward = _forward_fn(model, config, examples, length, torch.device("cpu"))
        rows = np.arange(len(examples))
        with torch.no_grad():
            probs = forward(rows).float().softmax(-1).numpy()  # (B, T, V)
        full, lengths = pad_rows([examples.extra["tokens"][i] for i in rows])  # (B, T+1)
        legal = world.flat.legal_next_mask(full, lengths)[:, 1:]  # (B, T, A)
        for b in rows:
            intra = seg = 0
            for t in range(lengths[b] - 1):
                mass = probs[b, t, : legal.shape[2]][legal[b, t]].sum()
                token = "separator" if full[b, t] in seps else f"intra {intra}"
                cell = sums[(token, f"segment {min(seg, 3)}")]
                cell[0] += 1.0 - mass
                cell[1] += 1
                intra, seg = (0, seg + 1) if full[b, t] in seps else (intra + 1, seg)
    return {k: (v[0], v[1]) for k, v in sums.items()}


if __name__ == "__main__":
    for run in sys.argv[1:]:
        found = illegal_by_context(run)
        total = sum(m for m, _ in found.values())
        count = sum(n for _, n in found.values())
        print(f"{run}: mean illegal mass {total / count:.4f} over {count} positions")
        for key, (m, n) in sorted(found.items()):
            print(
                f"  {key[0]:>10} in {key[1]}: {n:6d} positions, mean {m / n:.4f}, "
                f"share {m / total:.2f}"
            )
