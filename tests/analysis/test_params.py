"""Parameter formulas equal the parameters of real Transformers (Hypothesis)."""

import dataclasses
import sys

import pytest
import sympy as sp
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from bipe.analysis.params import (
    POSITIONAL,
    D,
    component_formulas,
    fit_width,
    parameter_counts,
    params_table,
    width_step,
)
from bipe.models import ENCODINGS, REGISTRY
from bipe.models.config import BIPE_INTER, BIPE_INTRA, HBIPE_INTER, ModelConfig
from bipe.models.transformer import Transformer
from bipe.testing.strategies import scaled_examples


@st.composite
def configs(draw):
    pe = draw(st.sampled_from(sorted(ENCODINGS)))
    n_heads = draw(st.integers(1, 4))
    inter = draw(st.sampled_from(HBIPE_INTER if pe == "hbipe" else BIPE_INTER))
    vocab = draw(st.integers(4, 40))
    if pe == "hbipe":
        n_heads = max(n_heads, 2)
        separators = ((vocab - 1,), (vocab - 2,))
    else:
        separators = (vocab - 1,) if pe.startswith("bipe") else ()
    trunk = dict(
        vocab_size=vocab,
        d_model=n_heads * 2 * draw(st.integers(1, 4)),
        n_layers=draw(st.integers(1, 3)),
        n_heads=n_heads,
        d_ff=draw(st.one_of(st.none(), st.integers(1, 40))),
        pe=pe,
        separators=separators,
        tie_embeddings=draw(st.booleans()),
    )
    options = dict(
        max_len=draw(st.integers(1, 64)),
        max_intra=draw(st.integers(1, 64)),
        bipe_intra=draw(st.sampled_from(BIPE_INTRA)),
        bipe_inter=inter,
        t5_n_buckets=draw(st.integers(2, 16)),
        t5_max_distance=64,
        fire_d_hidden=draw(st.integers(1, 16)),
        cope_max_pos=draw(st.integers(1, 16)),
    )
    # only the options the encoding reads (an unread one is refused)
    choice = {k: v for k, v in options.items() if k in ("bipe_intra", "bipe_inter")}
    entry = REGISTRY[pe]
    if not set(choice) <= set(entry.option_names()):
        choice = {}
    read = entry.options_read(ModelConfig(**trunk, **choice))
    return ModelConfig(**trunk, **{k: v for k, v in options.items() if k in read})


def counted(config):
    """Slow, obviously correct reference: build the model and count."""
    model = Transformer(config)
    by_part = {
        "token_embedding": model.embed.weight.numel(),
        "positional": sum(p.numel() for p in model.encoding.parameters()),
        "total": sum(p.numel() for p in model.parameters()),
    }
    return by_part


def test_every_registry_encoding_has_a_formula():
    assert set(POSITIONAL) == set(ENCODINGS)


@settings(deadline=None, max_examples=scaled_examples(40))
@given(configs())
def test_formulas_equal_counted_parameters(config):
    torch.manual_seed(0)
    counts = parameter_counts(config)
    ref = counted(config)
    for key, value in ref.items():
        assert counts[key] == value, key
    assert counts["total"] == sum(v for k, v in counts.items() if k != "total")


@settings(deadline=None, max_examples=scaled_examples(25))
@given(configs(), st.integers(2_000, 400_000))
def test_fit_width_is_the_largest_width_within_budget(config, budget):
    step = width_step(config)
    try:
        fitted = fit_width(config, budget)
    except ValueError:
        assert parameter_counts(dataclasses.replace(config, d_model=step))["total"] > budget
    else:
        assert parameter_counts(fitted)["total"] <= budget
        assert fitted.d_model % step == 0
        bigger = dataclasses.replace(config, d_model=fitted.d_model + step)
        assert parameter_counts(bigger)["total"] > budget


def test_formula_is_symbolic_and_table_lists_components():
    cfg = ModelConfig(32, 64, 2, 4, pe="t5", tie_embeddings=True)
    f = component_formulas(cfg)
    assert f["head"] == 0 and D in f["total"].free_symbols
    assert sp.diff(f["attention"], D) != 0
    table = params_table(cfg)
    for part in ("token_embedding", "positional", "attention", "mlp", "norms", "head", "total"):
        assert part in table
    assert f"{parameter_counts(cfg)['total']:,}" in table


def test_cli_params_prints_table_and_rejects_bad_keys(bipe_cli):
    cmd = [
        sys.executable,
        "-m",
        "bipe",
        "params",
        "--pe",
        "bipe_rope",
        "--model.d_model",
        "48",
        "--model.n_heads",
        "4",
    ]
    proc = bipe_cli(cmd, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "positional" in proc.stdout and "D*R_intra" in proc.stdout
    bad = bipe_cli(cmd + ["--model.frobnicate", "3"], capture_output=True, text=True)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "frobnicate" in bad.stderr
    budget = bipe_cli(cmd + ["--budget", "100000"], capture_output=True, text=True)
    assert budget.returncode == 0 and "d_model" in budget.stdout


def test_budget_too_small_is_a_value_error():
    with pytest.raises(ValueError, match="budget"):
        fit_width(ModelConfig(1000, 8, 1, 1), 10)


@pytest.mark.parametrize("budget", ["-5", "0", "10"])
def test_cli_bad_budget_fails_before_any_output(capsys, budget):
    from bipe.experiments.cli import main

    code = main(["params", "--preset", "tiny", "--budget", budget])
    out, err = capsys.readouterr()
    assert code == 2 and out == "" and err.count("\n") == 1 and "budget" in err


def _options(command):
    from bipe.experiments.cli import command_parser

    parser, _ = command_parser(command)
    return {option for action in parser._actions for option in action.option_strings}


def test_cli_params_options_are_trains_config_options():
    """Derived by the same code as ``bipe train``: every config option, plus --budget."""
    params, train = _options("params"), _options("train")
    assert params - train == {"--budget"}
    assert train - params == {"--out", "--resume", "--no-progress", "--force"}
    old = {"--preset", "--task", "--pe", "--budget"} | {
        f"--model.{f.name}"
        for f in dataclasses.fields(ModelConfig)
        if f.name not in ("vocab_size", "separators", "max_intra", "opt")
    }  # max_intra: always refused
    assert old <= params


def _params_output(capsys, *argv):
    from bipe.experiments.cli import main

    assert main(["params", *argv]) == 0
    return capsys.readouterr().out


def test_cli_params_spellings_agree(capsys):
    """--pe and --model.pe (and the order of options) give the same table; data options reach
    the vocabulary exactly as in ``bipe train``."""
    short = _params_output(capsys, "--pe", "t5", "--model.d_model", "24", "--budget", "50000")
    dotted = _params_output(
        capsys, "--budget", "50000", "--model.d_model", "24", "--model.pe", "t5"
    )
    assert short == dotted and "pe t5" in short and "D=24" in short
    from bipe.experiments.cli import command_parser
    from bipe.experiments.commands.train import config_from_args

    argv = ["--task", "arith", "--data.modulus", "13", "--model.n_layers", "3"]
    parsed = [command_parser(c)[0].parse_args(argv) for c in ("params", "train")]
    trained = config_from_args(parsed[1]).model
    assert config_from_args(parsed[0]).model == trained and trained.vocab_size == 23
    assert f"V=23 D={trained.d_model} L=3" in _params_output(capsys, *argv)


def test_cli_params_refuses_max_intra_like_train(capsys):
    from bipe.experiments.cli import main

    for command in ("params", "train"):
        assert main([command, "--model.max_intra", "8"]) == 2
        out, err = capsys.readouterr()
        assert out == "" and err.count("\n") == 1 and "model.max_intra" in err
