"""bipe battery: the task list is the committed studies' setups; the smoke battery measures a
file plug-in, resumes and writes its scorecard; a committed baseline is reused only when its
config and numerics match and a run trained here reproduces it."""

import json
import shutil
from pathlib import Path

import pytest
import torch

from bipe.experiments import battery
from bipe.experiments.battery import TASKS, BatteryTask, run_battery
from bipe.experiments.cli import main
from bipe.experiments.presets import build_config
from bipe.experiments.sweep import load_grid_file
from bipe.experiments.train import train

torch.set_num_threads(1)

PLUGIN = Path(__file__).resolve().parents[1] / "fixtures" / "plugins" / "seg_decay.py"


@pytest.mark.parametrize("task", TASKS, ids=lambda t: t.name)
def test_every_task_has_exactly_its_committed_studys_settings(task):
    spec = load_grid_file(battery.STUDIES / task.grid)
    grid_tasks = dict(spec.grid).get("task", [spec.task])
    assert spec.preset == task.preset and task.task in grid_tasks
    assert dict(spec.fixed) == dict(task.settings)
    assert task.overrides("cpu") == task.overrides("full") == dict(spec.fixed)
    assert (battery.STUDIES / task.study).is_dir()


def test_smoke_battery_measures_a_file_plugin_resumes_and_writes_its_scorecard(tmp_path, capsys):
    plugin = tmp_path / "elsewhere" / "my_encodings.py"  # a plug-in outside the repository
    plugin.parent.mkdir()
    shutil.copy(PLUGIN, plugin)
    spec = f"{plugin}:SEG_DECAY"
    out = tmp_path / "b"
    argv = ["battery", "--pe", spec, "--baselines", "rope", "--tasks", "segment_count"]
    argv += ["--budget", "smoke", "--no-progress", "--out", str(out)]
    assert main(argv) == 0
    said = capsys.readouterr().out
    assert "2 of 2 runs done (0 reused from committed studies)" in said
    plan = json.loads((out / "battery.json").read_text())
    assert (plan["budget"], plan["battery_version"], plan["pes"]) == ("smoke", 4, [spec])
    assert {r["source"].split(" (")[0] for r in plan["runs"]} == {"trained here"}
    assert "reuse off" in plan["runs"][-1]["source"]  # the smoke budget never reuses
    mine = out / plan["runs"][0]["dir"]
    assert json.loads((mine / "config.json").read_text())["model"]["pe"] == spec
    card = (out / "scorecard.md").read_text()
    assert "budget `smoke`" in card and "battery version 4" in card and plan["machine"] in card
    assert f"| segment_count | continuation_valid | {spec} - rope | 1 |" in card
    assert f"too few seeds to compare {spec} and rope" in card
    assert "| 2 (train) | 6 (train) | 10 |" in card
    assert (out / "segment_count_continuation_valid.png").stat().st_size > 0
    data = json.loads((out / "scorecard.json").read_text())
    assert data["tasks"]["segment_count"]["metrics"]["accuracy"]["pairs"][0]["seeds"] == 1
    assert "<table>" in (out / "scorecard.html").read_text()
    run = out / "segment_count" / "pe-rope__init_seed-0" / "metrics.jsonl"
    before = run.stat().st_mtime_ns
    assert main(argv) == 0  # everything done: nothing retrained, the scorecard rewritten
    assert run.stat().st_mtime_ns == before
    assert (out / "scorecard.md").read_text() == card


def test_tasks_name_tasks_or_suites_and_the_default_is_the_core_suite():
    names = lambda tasks: [t.name for t in battery.select_tasks(tasks)]  # noqa: E731
    core = ["segment_count", "hierarchy", "passkey", "text"]
    assert names(None) == names(["core"]) == core
    assert names(["chomsky"]) == [f"chomsky_{t}" for t in CHOMSKY_STUDY_TASKS]
    assert names(["ruler"]) == [f"ruler_{s}" for s in RULER_STUDIES]
    assert names(["ruler_vt_2hops", "segment_count"]) == ["segment_count", "ruler_vt_2hops"]
    assert len(names(["all"])) == len(TASKS) == 4 + 7 + 4
    with pytest.raises(ValueError, match="suites: chomsky, core, ruler, all"):
        battery.select_tasks(["chomsky_arith"])


# Study 9's seven tasks and study 10's four folders, as their grid files name them.
CHOMSKY_STUDY_TASKS = [
    *(
        t.split(":")[1]
        for t in dict(load_grid_file(battery.STUDIES / "chomsky/cpu.toml").grid)["task"]
    ),
    "binary_addition",
]
RULER_STUDIES = ["niah_multikey", "niah_multivalue", "vt_2hops", "vt_4hops"]


def test_smoke_battery_runs_a_chomsky_and_a_ruler_task(tmp_path, capsys):
    out = tmp_path / "b"
    argv = ["battery", "--pe", "nope", "--baselines", "bipe_rope", "--budget", "smoke"]
    argv += ["--tasks", "chomsky_binary_addition,ruler_vt_2hops", "--no-progress"]
    assert main([*argv, "--out", str(out)]) == 0
    assert "4 of 4 runs done" in capsys.readouterr().out
    data = json.loads((out / "scorecard.json").read_text())
    chomsky, ruler = data["tasks"]["chomsky_binary_addition"], data["tasks"]["ruler_vt_2hops"]
    assert chomsky["train_range"] == [1, 40] and ruler["train_range"][1] == 256
    for task, metric in ((chomsky, "sequence_accuracy"), (ruler, "all_found")):
        per_length = task["metrics"][metric]["per_length"]
        assert set(per_length) == {"nope", "bipe_rope"}
        assert all(0 <= v <= 1 for by in per_length.values() for v in by.values())
        assert task["metrics"][metric]["pairs"][0]["seeds"] == 1


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--pe", "rope"], "both measured (--pe) and a baseline"),
        (["--pe", "nope", "--pe", "nope"], "names an encoding twice"),
        (["--pe", "nope", "--seeds", "0"], "--seeds must be >= 1"),
        (["--pe", "nope", "--baselines", ","], "--baselines must name at least one"),
        (["--pe", "nope", "--tasks", "arith"], "unknown battery task"),
        (["--pe", "no_such_encoding"], "no_such_encoding"),
    ],
)
def test_bad_battery_command_lines_are_one_line_errors(tmp_path, capsys, argv, message):
    assert main(["battery", *argv, "--out", str(tmp_path / "b")]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
    assert not (tmp_path / "b" / "battery.json").exists()


# Reuse: a tiny task stands in for a committed study, so its "committed" runs train in seconds.
TINY = BatteryTask(
    name="tiny",
    title="Tiny",
    study="tiny",
    grid="",
    preset="tiny",
    task="binfa_lm",
    settings=(
        ("data.n_train", "64"),
        ("data.n_eval", "8"),
        ("data.eval_lengths", "2,4"),
        ("train.steps", "10"),
        ("train.n_threads", "1"),
        ("model.compute_dtype", "float32"),
    ),
    metrics=("accuracy",),
    smoke=(),
)


@pytest.fixture(scope="module")
def committed(tmp_path_factory):
    """A committed study folder with rope seeds 0 and 1, trained by today's code."""
    studies = tmp_path_factory.mktemp("studies")
    for seed in (0, 1):
        overrides = {**dict(TINY.settings), "init_seed": str(seed)}
        out = studies / "tiny" / f"committed-rope-{seed}"
        train(
            build_config("tiny", task="binfa_lm", pe="rope", overrides=overrides, out=str(out)),
            progress=False,
        )
    return studies


def _battery(monkeypatch, tmp_path, studies):
    monkeypatch.setattr(battery, "TASKS", (TINY,))
    return run_battery(
        ["nope"],
        tmp_path / "b",
        baselines=["rope"],
        seeds=2,
        budget="cpu",
        studies=studies,
        progress=False,
        log=lambda *_: None,
    )


def _sources(plan):
    return {r["dir"]: r["source"] for r in plan["runs"] if r["role"] == "baseline"}


def test_committed_baseline_reused_after_this_machine_reproduces_one(
    monkeypatch, tmp_path, committed
):
    plan = _battery(monkeypatch, tmp_path, committed)
    sources = _sources(plan)
    assert "reproduced it" in sources["tiny/pe-rope__init_seed-0"]
    assert sources["tiny/pe-rope__init_seed-1"].startswith("committed ")
    assert "committed-rope-1" in sources["tiny/pe-rope__init_seed-1"]
    copied = tmp_path / "b" / "tiny" / "pe-rope__init_seed-1"
    assert (copied / "eval.json").read_text() == (
        committed / "tiny" / "committed-rope-1" / "eval.json"
    ).read_text()
    assert not (copied / "checkpoint.pt").exists()  # copied, not trained here
    reuse = json.loads((tmp_path / "b" / "tiny" / "reuse.json").read_text())
    assert reuse["reproduced"] and reuse["tolerance"] == battery.TOLERANCE
    assert {r["status"] for r in plan["runs"]} == {"done"}


def _copy_committed(committed, tmp_path, edit):
    studies = tmp_path / "studies"
    shutil.copytree(committed, studies)
    for run in sorted((studies / "tiny").iterdir()):
        edit(run)
    return studies


def _set_numerics(run, numerics):
    raw = json.loads((run / "config.json").read_text())
    raw["code"]["numerics"] = numerics
    (run / "config.json").write_text(json.dumps(raw))


def test_no_reuse_when_the_numerics_differ_or_are_unrecorded(monkeypatch, tmp_path, committed):
    def edit(run):
        if run.name.endswith("0"):
            _set_numerics(run, 1)
        else:
            raw = json.loads((run / "config.json").read_text())
            del raw["code"]
            (run / "config.json").write_text(json.dumps(raw))

    plan = _battery(monkeypatch, tmp_path, _copy_committed(committed, tmp_path, edit))
    assert all(
        "no committed run with this config and today's numerics" in s
        for s in _sources(plan).values()
    )
    assert not (tmp_path / "b" / "tiny" / "reuse.json").exists()


def test_no_reuse_when_the_config_differs(monkeypatch, tmp_path, committed):
    def edit(run):
        raw = json.loads((run / "config.json").read_text())
        raw["train"]["lr"] = 0.001
        (run / "config.json").write_text(json.dumps(raw))

    plan = _battery(monkeypatch, tmp_path, _copy_committed(committed, tmp_path, edit))
    assert all("no committed run" in s for s in _sources(plan).values())


def test_no_reuse_when_this_machine_does_not_reproduce_it(monkeypatch, tmp_path, committed):
    def edit(run):  # as if the committed runs came from a machine that rounds differently
        ev = json.loads((run / "eval.json").read_text())
        ev["per_length"][-1]["accuracy"] += 1e-3
        (run / "eval.json").write_text(json.dumps(ev))

    plan = _battery(monkeypatch, tmp_path, _copy_committed(committed, tmp_path, edit))
    sources = _sources(plan)
    assert "did not (accuracy at length 4:" in sources["tiny/pe-rope__init_seed-0"]
    assert "did not reproduce" in sources["tiny/pe-rope__init_seed-1"]
    assert (tmp_path / "b" / "tiny" / "pe-rope__init_seed-1" / "checkpoint.pt").exists()
    assert not json.loads((tmp_path / "b" / "tiny" / "reuse.json").read_text())["reused"]


def test_reproduces_compares_losses_and_every_metric_within_the_tolerance(tmp_path, committed):
    a = committed / "tiny" / "committed-rope-0"
    b = tmp_path / "b"
    shutil.copytree(a, b)
    assert battery.reproduces(b, a) == (True, "")
    longer = tmp_path / "longer"  # evaluated at one more length afterwards: still the same run
    shutil.copytree(a, longer)
    ev = json.loads((longer / "eval.json").read_text())
    ev["per_length"].append({**ev["per_length"][-1], "length": 99})
    (longer / "eval.json").write_text(json.dumps(ev))
    assert battery.reproduces(b, longer) == (True, "")
    assert not battery.reproduces(longer, b)[0]
    rows = [json.loads(x) for x in (b / "metrics.jsonl").read_text().splitlines()]
    rows[0]["loss"] += battery.TOLERANCE / 2
    (b / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert battery.reproduces(b, a)[0]
    rows[0]["loss"] += battery.TOLERANCE
    (b / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    ok, why = battery.reproduces(b, a)
    assert not ok and why.startswith("training loss at step")


def test_the_battery_refuses_a_folder_of_another_budget(monkeypatch, tmp_path):
    monkeypatch.setattr(battery, "TASKS", (TINY,))
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "battery.json").write_text(
        json.dumps({"budget": "smoke", "battery_version": 1})
    )
    with pytest.raises(ValueError, match="holds a battery of budget smoke"):
        run_battery(["nope"], tmp_path / "b", baselines=["rope"], budget="cpu", studies=None)


def test_dry_run_lists_the_runs_and_the_committed_matches_without_training(
    monkeypatch, tmp_path, committed, capsys
):
    monkeypatch.setattr(battery, "TASKS", (TINY,))
    argv = ["battery", "--pe", "nope", "--baselines", "rope", "--seeds", "3", "--budget", "cpu"]
    argv += ["--committed", str(committed), "--dry-run", "--out", str(tmp_path / "b")]
    assert main(argv) == 0
    assert "tiny: 6 runs; 2 baseline runs have a committed run" in capsys.readouterr().out
    assert not (tmp_path / "b").exists()
