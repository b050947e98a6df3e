"""The battery's scorecard from a battery folder: paired t intervals beyond the training range,
the project's verdicts, the training range marked, where the baselines came from."""

import json

import pytest

from bipe.analysis.scorecard import write_scorecard


def _run(folder, pe, seed, values, lengths=(2, 4, 8, 12)):
    folder.mkdir(parents=True)
    config = {"task": "binfa_lm", "model": {"pe": pe}, "init_seed": seed, "data_seed": 0}
    config["data"] = {"eval_lengths": [2, 4, 8, 12]}
    (folder / "config.json").write_text(json.dumps(config))
    rows = [{"length": x, "n": 10, "acc": v} for x, v in zip(lengths, values, strict=True)]
    (folder / "eval.json").write_text(
        json.dumps({"task": "binfa_lm", "pe": pe, "train_range": [2, 4], "per_length": rows})
    )


@pytest.fixture
def folder(tmp_path):
    runs = []
    for seed in range(3):
        for pe, beyond in (("new", 0.8), ("base", 0.5), ("same", 0.5)):
            d = f"t/{pe}-{seed}"
            role = "plugin" if pe != "base" else "baseline"
            noise = 0.01 * seed if pe != "same" else 0.1 * (seed - 1)
            # a row at length 99 that the run's config does not list is left out
            _run(tmp_path / d, pe, seed, [1, 1, beyond + noise, beyond, 0.0], (2, 4, 8, 12, 99))
            source = "trained here" if pe != "base" else f"committed studies/x/{pe}-{seed}"
            runs.append(
                {
                    "task": "t",
                    "pe": pe,
                    "role": role,
                    "seed": seed,
                    "dir": d,
                    "source": source,
                    "status": "done",
                }
            )
    plan = {
        "battery_version": 1,
        "bipe_version": "9.9",
        "code": {"commit": "abc", "numerics": 2},
        "budget": "cpu",
        "seeds": 3,
        "pes": ["new", "same"],
        "baselines": ["base"],
        "tolerance": 1e-6,
        "machine": "Some CPU, 2 cores",
        "tasks": [{"name": "t", "title": "Tiny task", "study": "x", "metrics": ["acc"]}],
        "runs": runs,
    }
    (tmp_path / "battery.json").write_text(json.dumps(plan))
    return tmp_path


def test_scorecard_states_what_the_paired_intervals_support(folder):
    text = write_scorecard(folder).read_text()
    head = text.split("## Tiny task")[0]
    assert "bipe 9.9 (commit abc, numerics 2), battery version 1, budget `cpu`, 3 seeds" in head
    assert "machine: Some CPU, 2 cores" in head
    assert "| t | acc | new - base | 3 | 0.300 [0.300, 0.300] | new higher than base" in head
    assert "new higher than base (3 seeds)" in head
    assert "no difference between same and base detectable at this budget (3 seeds)" in head
    assert "| encoding | seeds | 2 (train) | 4 (train) | 8 | 12 |" in text
    assert "| new | 3 | 1.000 | 1.000 | 0.810 | 0.800 |" in text
    assert "committed studies/x/base-1" in text.split("## Where the baselines came from")[1]
    assert (folder / "t_acc.png").stat().st_size > 0
    data = json.loads((folder / "scorecard.json").read_text())
    pair = data["tasks"]["t"]["metrics"]["acc"]["pairs"][0]
    assert pair["plugin"] == "new" and pair["lo"] > 0 and pair["verdict"].startswith("new higher")
    assert "99" not in data["tasks"]["t"]["metrics"]["acc"]["per_length"]["new"]
    assert "new higher than base" in (folder / "scorecard.html").read_text()
    assert write_scorecard(folder).read_text() == text  # same folder, same scorecard


def test_scorecard_of_a_folder_without_a_battery_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="not a battery folder"):
        write_scorecard(tmp_path)
