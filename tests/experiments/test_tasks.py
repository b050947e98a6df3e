"""The task registry: names, examples (inputs, targets, masks, oracle positions), errors."""

import numpy as np
import pytest

from bipe.experiments.presets import build_config
from bipe.experiments.tasks import IGNORE, TASKS, get_task
from bipe.experiments.train import WORLD, stream
from bipe.synthetic.arithmetic import EOS, EQUALS
from bipe.synthetic.segment import separator_positions


def test_registry_names_are_exact():
    assert list(TASKS) == [
        "arith",
        "arith_direct",
        "binfa_lm",
        "binfa_state",
        "nfa_lm",
        "binfa3_lm",
        "text_lm",
        "passkey",
        "ruler:niah_single",
        "ruler:niah_multikey",
        "ruler:niah_multivalue",
        "ruler:niah_multiquery",
        "ruler:variable_tracking",
        "ruler:common_words",
    ]
    with pytest.raises(ValueError, match="known tasks: arith, arith_direct"):
        get_task("copy")


def _examples(task_name, setting=None, n=20, **overrides):
    config = build_config("tiny", task=task_name, overrides=overrides)
    task = get_task(task_name)
    world = task.setup(stream(0, WORLD), config.data)
    return (
        config,
        task,
        world,
        task.generate(np.random.default_rng(1), config.data, world, n, setting),
    )


def test_arith_targets_are_masked_through_the_first_equals():
    config, _, _, ex = _examples("arith", setting=3)
    for tokens, x, y, p in zip(
        ex.extra["tokens"], ex.inputs, ex.targets, ex.extra["prompt_len"], strict=True
    ):
        assert tokens[p - 1] == EQUALS and EQUALS not in tokens[: p - 1].tolist()
        assert np.array_equal(x, tokens[:-1])
        assert np.all(y[: p - 1] == IGNORE) and np.array_equal(y[p - 1 :], tokens[p:])
        assert tokens[-1] == EOS
    assert set(ex.setting.tolist()) == {3}


def test_arith_worked_example_of_the_docstring():
    """``( 2 + 7 ) * 6 = 9 * 6 = 10 <eos>``: targets start at ``9`` (after the first ``=``)."""
    from bipe.synthetic.arithmetic import ArithBatch

    ids = [7, 12, 3, 17, 8, 5, 16, 9, 19, 5, 16, 9, 20, 2]
    ex = get_task("arith")._examples(ArithBatch.of_rows([ids], 11))
    assert ex.targets[0].tolist() == [IGNORE] * 7 + ids[8:]


def test_oracle_positions_are_the_separator_positions():
    for name in ("arith", "binfa_lm", "nfa_lm"):
        config, _, _, ex = _examples(name, setting=2)
        for x, (seg, intra) in zip(ex.inputs, ex.oracle, strict=True):
            want = separator_positions(x, config.model.separators)
            assert seg.tolist() == want[0].tolist() and intra.tolist() == want[1].tolist()


def test_arith_direct_has_no_chain():
    _, _, _, ex = _examples("arith_direct", setting=2)
    for tokens in ex.extra["tokens"]:
        assert (
            tokens.tolist().count(EQUALS) == 1 and len(tokens) - tokens.tolist().index(EQUALS) == 3
        )  # '=' answer <eos>


@pytest.mark.parametrize("name", ["binfa_lm", "nfa_lm"])
def test_lm_sequences_are_in_the_language_and_targets_shift(name):
    config, _, world, ex = _examples(name, setting=3)
    for tokens, x, y in zip(ex.extra["tokens"], ex.inputs, ex.targets, strict=True):
        assert world.flat.accepts(tokens[None, :])[0]
        assert np.array_equal(x, tokens[:-1]) and np.array_equal(y, tokens[1:])
    if name == "binfa_lm":  # Bi-NFA sequences have exactly the requested segment count
        assert set(ex.setting.tolist()) == {3}


def test_state_targets_are_logit_indices_in_their_slices():
    config, task, _, ex = _examples("binfa_state", setting=2)
    d = config.data
    a = d.n_symbols + 1
    for x, y in zip(ex.inputs, ex.targets, strict=True):
        assert y.shape == (len(x), 2)
        inner, outer = y[:, 0], y[:, 1]
        assert np.all((inner >= a) & (inner < a + d.n_types * d.inner_states))
        assert np.all((outer >= a + d.n_types * d.inner_states) & (outer < config.model.vocab_size))


def test_generation_is_deterministic():
    a = _examples("binfa_lm", setting=2)[3]
    b = _examples("binfa_lm", setting=2)[3]
    assert all(np.array_equal(x, y) for x, y in zip(a.inputs, b.inputs, strict=True))


@pytest.mark.parametrize("name", ["binfa_lm", "binfa_state", "nfa_lm"])
def test_examples_from_arrays_equal_examples_from_saved_records(name):
    """generate builds examples from the sampler's arrays; load reads records: one batch gives
    the same examples either way."""
    from bipe.experiments.tasks.automaton import Ragged
    from bipe.synthetic.distributions import parse_length_spec
    from bipe.synthetic.sequences import batch_records, sample_binfa_sequences, sample_nfa_sequences

    config = build_config("tiny", task=name)
    task = get_task(name)
    world = task.setup(stream(0, WORLD), config.data)
    rng = np.random.default_rng(3)
    if name == "nfa_lm":
        batch = sample_nfa_sequences(
            rng, world.flat, 9, parse_length_spec("uniform:1:8"), world.binfa.separators
        )
    else:
        batch = sample_binfa_sequences(
            rng,
            world.binfa,
            9,
            [parse_length_spec("uniform:1:3"), parse_length_spec("uniform:1:3")],
            state_labels=name == "binfa_state",
        )
    kind = "nfa" if name == "nfa_lm" else "binfa"
    direct = task._examples(Ragged.of_batch(batch), config.data)
    saved = task._examples(
        Ragged.of_records(batch_records(batch, kind), name == "binfa_state"), config.data
    )
    assert np.array_equal(direct.setting, saved.setting)
    for a, b in [
        (direct.inputs, saved.inputs),
        (direct.targets, saved.targets),
        (direct.extra["tokens"], saved.extra["tokens"]),
        ([o[0] for o in direct.oracle], [o[0] for o in saved.oracle]),
        ([o[1] for o in direct.oracle], [o[1] for o in saved.oracle]),
    ]:
        assert len(a) == 9 and all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
