"""Plug-in encodings through the command line: train, eval, resume, options, listings, sweeps;
and every committed study's config.json still loads under the declared options."""

import json
import shutil
import zlib
from pathlib import Path

import pytest
import torch

from bipe.experiments.cli import main
from bipe.experiments.ensemble import ensemble_groups, group_key, resume_ensemble
from bipe.experiments.presets import build_config
from bipe.experiments.rundir import read_metrics, read_run_config
from bipe.experiments.sweep import GridSpec, expand_grid
from bipe.models import ModelConfig

torch.set_num_threads(1)

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "tests" / "fixtures" / "plugins" / "seg_decay.py"
FAST = [
    "--data.n_train",
    "64",
    "--data.n_eval",
    "8",
    "--data.eval_lengths",
    "1,4",
    "--train.steps",
    "20",
    "--train.checkpoint_every",
    "10",
    "--train.lr",
    "0.01",
    "--no-progress",
]


@pytest.fixture
def plugin(tmp_path) -> Path:
    path = tmp_path / "elsewhere" / "my_encodings.py"
    path.parent.mkdir()
    shutil.copy(FIXTURE, path)
    return path


def one_line_error(capsys, argv, *needles) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    for needle in needles:
        assert needle in err, err
    return err


def test_a_plugin_trains_evaluates_resumes_and_reports_its_source(tmp_path, plugin, capsys):
    spec = f"{plugin}:SEG_DECAY"
    run = tmp_path / "run"
    argv = ["train", "--pe", spec, "--task", "binfa_lm", "--preset", "tiny", "--out", str(run)]
    assert main([*argv, "--model.opt.decay_init", "1.5", *FAST]) == 0
    losses = [row["loss"] for row in read_metrics(run)]
    assert all(map(torch.isfinite, torch.tensor(losses))) and losses[-1] < losses[0]
    raw = json.loads((run / "config.json").read_text())
    assert raw["model"]["pe"] == spec and raw["model"]["opt"] == {"decay_init": 1.5}
    assert raw["encoding"]["file"] == str(plugin) and len(raw["encoding"]["sha256"]) == 64
    assert main(["eval", str(run)]) == 0
    assert json.loads((run / "eval.json").read_text())["pe"] == spec
    capsys.readouterr()

    plugin.write_text(plugin.read_text() + "\n# edited\n")
    assert main(["eval", str(run)]) == 0
    assert "warning" in capsys.readouterr().err
    resume = ["train", "--resume", str(run), "--train.steps", "30", "--no-progress"]
    one_line_error(capsys, resume, "changed", spec, "--force")
    assert main([*resume, "--force"]) == 0
    assert read_metrics(run)[-1]["step"] == 30
    assert "warning" in capsys.readouterr().err  # forced, but still said
    updated = json.loads((run / "config.json").read_text())["encoding"]["sha256"]
    assert updated != raw["encoding"]["sha256"]  # a forced resume records the new source

    plugin.unlink()
    one_line_error(capsys, ["eval", str(run)], spec, "cannot be used here")
    one_line_error(capsys, resume, spec)


def test_options_are_set_with_one_spelling_and_unread_ones_refused(tmp_path, plugin, capsys):
    out = str(tmp_path / "x")
    one_line_error(
        capsys,
        ["train", "--pe", "alibi", "--model.rope_base", "5", "--out", out],
        "alibi",
        "rope_base",
        "alibi_slope_scale",
    )
    one_line_error(
        capsys, ["train", "--pe", "alibi", "--model.opt.rope_base", "5", "--out", out], "rope_base"
    )
    one_line_error(
        capsys,
        ["train", "--pe", f"{plugin}:SEG_DECAY", "--model.opt.decay", "5", "--out", out],
        "no option 'decay'",
        "decay_init",
    )
    one_line_error(
        capsys,
        ["train", "--pe", f"{plugin}:SEG_DECAY", "--model.opt.decay_init", "x", "--out", out],
        "expects float",
    )
    assert not Path(out).exists()
    flat = build_config("tiny", pe="rope", overrides={"model.opt.rope_base": "500"})
    assert flat.model.rope_base == 500.0 and flat.model.opt == {}
    assert build_config("tiny", pe="rope", overrides={"model.rope_base": "500"}) == flat


def test_listing_help_and_params_show_plugins(tmp_path, plugin, capsys, monkeypatch):
    monkeypatch.syspath_prepend(str(plugin.parent))
    info = plugin.parent / "my_encodings-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: my-encodings\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[bipe.encodings]\nseg_decay = my_encodings:SEG_DECAY\n")
    assert main(["encodings"]) == 0
    listing = capsys.readouterr().out
    assert "bipe_rope  [built-in]" in listing and "--model.opt.rope_base (float" in listing
    assert "seg_decay  [entry point my_encodings:SEG_DECAY]" in listing
    assert "--model.opt.decay_init (float, default 0.5)" in listing
    assert main(["encodings", "--pe", f"{plugin}:INDEX_ROTATION"]) == 0
    assert f"file {plugin}" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    assert "plug-in" in capsys.readouterr().out
    assert main(["params", "--pe", f"{plugin}:NO_FORMULA"]) == 0
    assert "unknown" in capsys.readouterr().out
    assert main(["params", "--pe", "seg_decay", "--task", "binfa_lm"]) == 0  # the entry point
    assert "positional       H" in capsys.readouterr().out


def test_grids_and_ensembles_take_plugins(tmp_path, plugin, capsys):
    spec = f"{plugin}:SEG_DECAY"
    grid = GridSpec(
        preset="tiny",
        task="binfa_lm",
        grid=(("model.pe", (spec,)), ("model.opt.decay_init", ("0.5", "2"))),
    )
    points = expand_grid(grid)
    assert [c.model.opt for _, c, _ in points] == [{"decay_init": 0.5}, {"decay_init": 2.0}]
    assert group_key(points[0][1]) is not None  # may stack with others as an ensemble
    rope = build_config("tiny", task="binfa_lm", pe="rope")
    assert ensemble_groups([points[0][1], rope, points[1][1]], 8) == [[0, 1, 2]]
    content = build_config("tiny", task="binfa_lm", pe=f"{plugin}:FORGETTING")
    assert group_key(content) is None  # a content hook: never stacked, trained alone
    out = tmp_path / "sweep"
    argv = ["sweep", "--preset", "tiny", "--task", "binfa_lm", "--out", str(out)]
    argv += ["--grid", f"model.pe={spec},rope", "--set", "train.steps=10", "--set", "data.n_eval=8"]
    argv += ["--set", "data.n_train=64", "--set", "data.eval_lengths=1"]
    assert main(argv) == 0
    runs = sorted(p.name for p in out.iterdir() if p.is_dir())
    assert len(runs) == 2 and all((out / r / "eval.json").exists() for r in runs)
    # the two ran as one ensemble (same trunk, seeds and data): the sweep's grouping
    configs = [read_run_config(out / r)[0] for r in runs]
    assert ensemble_groups(configs, 8) == [[0, 1]]
    plugin.write_text(plugin.read_text() + "\n# edited\n")
    with pytest.raises(ValueError, match="changed.*--force"):
        resume_ensemble([out / r for r in runs], progress=False)


def test_every_committed_study_config_still_loads():
    """Every committed config.json's model loads under the declared-options checks; a
    deterministic fifth of the run configs (by path checksum) loads as a whole run config
    (folders of evaluation overrides, marked ``evaluated_from``, are not runs)."""
    paths = sorted((ROOT / "studies").rglob("config.json"))
    assert len(paths) > 100
    for path in paths:
        raw = json.loads(path.read_text())
        model = ModelConfig.from_dict(raw["model"])
        written = model.to_dict()
        assert model.opt == {} and {k: written[k] for k in raw["model"]} == raw["model"]
    runs = [p for p in paths if "evaluated_from" not in json.loads(p.read_text())]
    sample = [p for p in runs if zlib.crc32(str(p.relative_to(ROOT)).encode()) % 5 == 0]
    assert len(sample) > 20
    for path in sample:
        config, raw = read_run_config(path.parent)
        assert config.model.pe == raw["model"]["pe"]
