"""`bipe demo --quick`: the whole pipeline in seconds (table, conclusion, report, plot)."""

import re

from bipe.experiments.cli import main
from bipe.experiments.demo import DEMO_SEEDS, conclusions, demo_configs


def test_demo_configs_pair_encodings_over_seeds_beyond_training():
    configs = demo_configs()
    assert {c.model.pe for c in configs} == {"bipe_alibi", "bipe_rope"}
    seeds = sorted(c.init_seed for c in configs if c.model.pe == "bipe_rope")
    assert seeds == list(range(DEMO_SEEDS))
    assert len({c.out for c in configs}) == len(configs)
    assert len({c.data_seed for c in configs}) == 1  # same data: the pairing is by init seed
    for c in configs:  # evaluated to 3x the training range's top
        assert max(c.data.eval_lengths) >= 3 * int(c.data.segments.split(":")[2])


def _result(values):
    return {
        "train_range": [1, 2],
        "per_length": [{"length": x, "n": 5, "m": v} for x, v in zip((1, 4), values, strict=True)],
    }


def test_conclusion_states_a_difference_only_when_the_interval_excludes_zero():
    class C:  # the two fields conclusions() reads
        def __init__(self, pe, seed):
            self.model, self.init_seed, self.out = type("M", (), {"pe": pe}), seed, f"{pe}{seed}"

    cs = [C(pe, s) for pe in ("x", "y") for s in range(4)]
    clear = {
        **{f"x{s}": _result([1, 0.9 + s / 100]) for s in range(4)},
        **{f"y{s}": _result([1, 0.5 - s / 100]) for s in range(4)},
    }
    assert "x higher than y (4 seeds)" in conclusions(cs, clear, ("x", "y"), "m")[0]
    noisy = {
        **{f"x{s}": _result([1, 0.5 + (-1) ** s * 0.2]) for s in range(4)},
        **{f"y{s}": _result([1, 0.5]) for s in range(4)},
    }
    assert "no difference" in conclusions(cs, noisy, ("x", "y"), "m")[0]


def test_quick_demo_prints_table_and_conclusion_and_writes_a_report(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--quick", "--out", str(out), "--jobs", "1", "--seeds", "3"]) == 0
    text = (out / "report.md").read_text()
    assert "binfa_lm" in text and "bipe_alibi" in text
    assert any("continuation_valid" in p.name for p in out.glob("*.png"))
    printed = capsys.readouterr().out
    assert str(out / "report.md") in printed
    assert re.search(r"\| bipe_rope \| 3 \| ", printed)
    assert re.search(r"\| bipe_alibi \| 3 \| ", printed)
    assert "Conclusion: bipe_alibi - bipe_rope" in printed
    assert main(["demo", "--quick", "--out", str(out), "--pe", "rope"]) == 2
    assert main(["demo", "--quick", "--out", str(out), "--seeds", "0"]) == 2
