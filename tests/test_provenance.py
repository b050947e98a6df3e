"""Run folders record the code that produced them; the golden run pins the training numerics."""

import json
import subprocess

import pytest
import torch

import bipe
from bipe import provenance
from bipe.experiments.presets import build_config
from bipe.experiments.rundir import read_json, read_metrics, read_run_config
from bipe.experiments.sweep_run import run_status
from bipe.experiments.train import train

# A tiny run in float32 on one thread: Bi-NFA language modelling with BiPE-RoPE, 20 steps.
GOLDEN_RUN = {
    "data.n_train": "128",
    "data.n_eval": "16",
    "data.eval_lengths": "2,4",
    "train.steps": "20",
    "train.log_every": "5",
    "train.checkpoint_every": "20",
    "train.lr": "0.01",
    "train.n_threads": "1",
    "model.compute_dtype": "float32",
}
# Its logged training losses and evaluation under numerics 2, bit for bit (repr of the floats),
# per kernel set (torch's build, the CPU instruction set its kernels dispatch to): the same
# arithmetic rounds differently with AVX512 and AVX2 vectors, in the 8th digit here.
XEON_LOSSES = [1.3264923334121703, 1.101253581047058, 1.0647504329681396, 0.9240253448486329]
XEON_EVAL = [
    {
        "length": 2,
        "n": 16,
        "accuracy": 1.0,
        "continuation_valid": 1.0,
        "legal_mass": 0.9206922650337219,
        "legal_logprob": -0.0876832902431488,
        "legal_mass_after_first": 0.9341709613800049,
    },
    {
        "length": 4,
        "n": 16,
        "accuracy": 0.9939024390243902,
        "continuation_valid": 1.0,
        "legal_mass": 0.9369240999221802,
        "legal_logprob": -0.07019656151533127,
        "legal_mass_after_first": 0.9372708797454834,
    },
]
EPYC_LOSSES = [1.3264923334121703, 1.101253604888916, 1.06475031375885, 0.9240253806114197]
EPYC_EVAL = [
    {**XEON_EVAL[0], "legal_mass": 0.9206923246383667, "legal_logprob": -0.08768326789140701},
    {**XEON_EVAL[1], "legal_logprob": -0.07019653171300888},
]
GOLDEN = {
    # Intel Xeon with AVX512 and AMX, 2026-12-06 (pinned before runs recorded their kernels)
    ("2.13.0+cpu", "AVX512"): (XEON_LOSSES, XEON_EVAL),
    # AMD EPYC, AVX2 only, 2026-12-07
    ("2.13.0+cpu", "AVX2"): (EPYC_LOSSES, EPYC_EVAL),
}
GOLDEN_NUMERICS = 2
BUMP = (
    "the training arithmetic changed: bump NUMERICS in bipe/provenance.py (with a line in "
    "NUMERICS_HISTORY), then re-pin GOLDEN_LOSSES, GOLDEN_EVAL and GOLDEN_NUMERICS here; "
    "committed runs of the old numerics are then no longer reproducible by this code"
)


@pytest.fixture(scope="module")
def golden_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("golden") / "run"
    threads = torch.get_num_threads()
    try:
        config = build_config(
            "tiny", task="binfa_lm", pe="bipe_rope", overrides=GOLDEN_RUN, out=str(out)
        )
        train(config, progress=False)
    finally:
        torch.set_num_threads(threads)
    return out


def _losses_and_eval(run):
    losses = [row["loss"] for row in read_metrics(run)]
    return losses, read_json(run / "eval.json")["per_length"]


def test_golden_run_pins_the_training_numerics(golden_run):
    assert provenance.NUMERICS == GOLDEN_NUMERICS, BUMP.replace("changed", "version changed")
    kernels = provenance.kernels()
    key = (kernels["torch"], kernels["cpu_capability"])
    if key not in GOLDEN:
        pytest.skip(f"no bit-for-bit pin for torch {key[0]} with {key[1]} kernels")
    losses, per_length = _losses_and_eval(golden_run)
    assert losses == GOLDEN[key][0], f"{BUMP} (losses {losses})"
    assert per_length == GOLDEN[key][1], f"{BUMP} (evaluation {per_length})"


def test_golden_run_agrees_with_every_kernel_sets_pin_to_five_digits(golden_run):
    """On any machine, pinned kernels or not: a change of the run itself (a schedule, a default,
    the data) moves these numbers by far more than rounding does. Rounding moved them by at
    most 6e-7 of their value: 2.5e-7 between the two pins, 6e-7 under torch's scalar kernels
    (ATEN_CPU_CAPABILITY=default on the EPYC)."""
    losses, per_length = _losses_and_eval(golden_run)
    for pinned_losses, pinned_eval in GOLDEN.values():
        assert losses == pytest.approx(pinned_losses, rel=1e-5, abs=0)
        for got, pinned in zip(per_length, pinned_eval, strict=True):
            assert got == pytest.approx(pinned, rel=1e-5, abs=0)


def test_run_folder_records_its_code(golden_run):
    raw = read_json(golden_run / "config.json")
    code = raw["code"]
    assert code["version"] == bipe.__version__ == raw["version"]
    assert code["numerics"] == provenance.NUMERICS == provenance.run_numerics(raw)
    assert code["torch"] == torch.__version__
    assert code["cpu_capability"] == torch.backends.cpu.get_cpu_capability()
    commit, dirty = provenance.git_state()
    assert (code["commit"], code["dirty"]) == (commit, dirty)
    if commit != "unknown":
        assert len(commit) == 40 and isinstance(dirty, bool)


def test_code_record_outside_a_checkout_is_unknown_and_never_fails(tmp_path):
    assert provenance.git_state(tmp_path) == ("unknown", "unknown")
    subprocess.run(["git", "init", "-q", str(tmp_path / "repo")], check=True)
    (tmp_path / "repo" / "inner").mkdir()
    # bipe inside another repository is not bipe's checkout: its commit is not ours
    assert provenance.git_state(tmp_path / "repo" / "inner") == ("unknown", "unknown")


def test_old_run_folders_without_a_record_keep_loading(golden_run, tmp_path):
    raw = read_json(golden_run / "config.json")
    old = tmp_path / "old"
    old.mkdir()
    (old / "config.json").write_text(json.dumps({k: v for k, v in raw.items() if k != "code"}))
    config, old_raw = read_run_config(old)
    assert config == read_run_config(golden_run)[0]
    assert provenance.run_numerics(old_raw) is None
    (old / "eval.json").write_text("{}")
    assert run_status(old, config) == "done"  # the record is bookkeeping, not config


def test_stamp_record_says_it_was_added_after_the_fact():
    stamp = provenance.stamp_record(1, "reproduced by commit 09df573")
    assert stamp == {"numerics": 1, "stamped": True, "evidence": "reproduced by commit 09df573"}
    assert provenance.run_numerics({"code": stamp}) == 1
    assert provenance.run_numerics({"code": {"numerics": True}}) is None
    with pytest.raises(ValueError, match="unknown numerics"):
        provenance.stamp_record(99, "x")
    with pytest.raises(ValueError, match="evidence"):
        provenance.stamp_record(1, " ")


def test_stamp_run_is_idempotent_and_never_overwrites_a_recorded_run(golden_run, tmp_path):
    raw = read_json(golden_run / "config.json")
    old = tmp_path / "old"
    old.mkdir()
    text = json.dumps({k: v for k, v in raw.items() if k != "code"}, indent=1) + "\n"
    (old / "config.json").write_text(text)
    first = provenance.stamp_record(1, "trained before the change")
    assert provenance.stamp_run(old, first) == "stamped"
    stamped = (old / "config.json").read_text()
    assert provenance.stamp_run(old, first) == "unchanged"
    assert (old / "config.json").read_text() == stamped
    assert json.loads(stamped) == {**json.loads(text), "code": first}  # nothing else changed
    second = provenance.stamp_record(2, "re-run")
    assert provenance.stamp_run(old, second) == "restamped"
    assert read_run_config(old)[1]["code"] == second
    before = (golden_run / "config.json").read_text()
    assert provenance.stamp_run(golden_run, second) == "recorded"
    assert (golden_run / "config.json").read_text() == before


def test_stamp_table_names_committed_study_folders():
    import importlib.util

    root = provenance.ROOT / "studies"
    spec = importlib.util.spec_from_file_location("stamp_code", root / "stamp_code.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert all((root / name).is_dir() for name in module.STAMPS)
    assert {n for n, (v, _) in module.STAMPS.items() if v < provenance.NUMERICS} <= set(
        module.RERUN_STUDIES
    )


def test_ensemble_members_say_so_in_their_code_record(tmp_path):
    from bipe.experiments.ensemble import train_ensemble

    short = {**GOLDEN_RUN, "train.steps": "2", "train.evaluate_at_end": "false"}
    configs = [
        build_config("tiny", task="binfa_lm", pe="rope", overrides={**short, "init_seed": s})
        for s in ("0", "1")
    ]
    dirs = train_ensemble(configs, [tmp_path / "a", tmp_path / "b"], progress=False)
    for run in dirs:
        code = read_json(run / "config.json")["code"]
        assert code["ensemble"] is True and code["numerics"] == provenance.NUMERICS
