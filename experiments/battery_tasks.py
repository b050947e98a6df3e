"""The battery's task list: each task a committed study's setup, exactly, at three budgets.

``bipe battery`` (``experiments/battery.py``, docs/battery.md) runs these. Each task's
``settings`` are its study grid file's ``[set]`` (``tests/experiments/test_battery.py`` checks
them against the files); ``smoke`` shrinks a task to seconds for CI. The tasks come in suites:
``core`` (studies 1, 5 and 7; what ``bipe battery`` runs by default), ``chomsky`` (study 9's
seven tasks of the Chomsky-hierarchy suite) and ``ruler`` (study 10's four RULER tasks). Any
change to a task, to the list or to a budget's settings bumps ``BATTERY_VERSION``.

Versions: 1, the core suite; 2, the chomsky and ruler suites added (core unchanged); 3,
``ruler_vt_2hops`` trains 8000 steps (its study's calibrated budget) instead of 4000; 4,
``ruler_vt_4hops`` 16000 (its study's).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "BATTERY_VERSION",
    "BUDGETS",
    "DEFAULT_BASELINES",
    "DEFAULT_SEEDS",
    "DEFAULT_SUITE",
    "SUITES",
    "TASKS",
    "BatteryTask",
]

BATTERY_VERSION = 4
BUDGETS = ("smoke", "cpu", "full")
DEFAULT_SEEDS = {"smoke": 1, "cpu": 3, "full": 10}
DEFAULT_BASELINES = ("rope", "bipe_rope", "alibi", "bipe_alibi")
SUITES = ("core", "chomsky", "ruler")
DEFAULT_SUITE = "core"

AUTOMATON_SMOKE = (
    ("data.n_train", "256"),
    ("data.n_eval", "8"),
    ("train.steps", "20"),
    ("train.log_every", "10"),
    ("train.checkpoint_every", "20"),
)
TEXT_SMOKE = (
    ("data.n_eval", "4"),
    ("data.eval_tokens", "1024"),
    ("data.train_tokens", "65536"),
    ("data.eval_lengths", "128,256"),
    ("model.d_model", "32"),
    ("model.n_layers", "1"),
    ("train.steps", "10"),
    ("train.warmup", "2"),
    ("train.log_every", "5"),
    ("train.checkpoint_every", "10"),
)


@dataclass(frozen=True, kw_only=True)
class BatteryTask:
    """One task of the battery: a committed study's setup and what the scorecard reads.

    ``settings`` are the study grid's ``[set]`` (every run of the task gets them); ``smoke``
    overrides them for the smoke budget; ``study`` is the folder (under ``studies/``) whose
    runs may be reused; ``metrics`` the ``eval.json`` metrics compared (the first leads);
    ``suite`` the group ``--tasks`` can name at once.
    """

    name: str
    title: str
    study: str
    grid: str
    preset: str
    task: str
    settings: tuple[tuple[str, str], ...]
    metrics: tuple[str, ...]
    smoke: tuple[tuple[str, str], ...]
    suite: str = "core"

    def overrides(self, budget: str) -> dict[str, str]:
        """The run overrides of this task at ``budget`` (smoke shrinks, cpu/full keep)."""
        out = dict(self.settings)
        if budget == "smoke":
            out.update(self.smoke)
        return out


_BINFA = (
    ("data.segments", "uniform:2:6"),
    ("data.segment_length", "uniform:1:4"),
    ("data.eval_lengths", "2,4,6,8,10,12,15,18"),
    ("data.n_train", "20000"),
    ("data.n_eval", "200"),
    ("train.steps", "1000"),
    ("train.n_threads", "1"),
    ("model.compute_dtype", "float32"),
)
# Study 7's passkey model and budget; study 10 (RULER) trains the same model.
_PASSKEY_MODEL = (
    ("model.d_model", "64"),
    ("model.n_layers", "2"),
    ("train.steps", "4000"),
    ("train.lr", "3e-3"),
    ("train.warmup", "100"),
    ("train.checkpoint_every", "1000"),
    ("train.n_threads", "1"),
    ("model.compute_dtype", "float32"),
)
CORE_TASKS: tuple[BatteryTask, ...] = (
    BatteryTask(
        name="segment_count",
        title="Segment-count extrapolation (Bi-NFA LM, study 1)",
        study="segment_count",
        grid="segment_count/grid.toml",
        preset="demo",
        task="binfa_lm",
        settings=_BINFA,
        metrics=("continuation_valid", "accuracy"),
        smoke=(*AUTOMATON_SMOKE, ("data.eval_lengths", "2,6,10")),
    ),
    BatteryTask(
        name="hierarchy",
        title="Hierarchy (three-level Bi-NFA LM, study 5)",
        study="hierarchy",
        grid="hierarchy/grid.toml",
        preset="demo",
        task="binfa3_lm",
        settings=(
            ("data.segments", "uniform:2:4"),
            ("data.sub_segments", "uniform:2:4"),
            ("data.segment_length", "uniform:1:4"),
            ("data.eval_lengths", "2,3,4,6,8,10,12"),
            ("data.n_train", "20000"),
            ("data.n_eval", "200"),
            ("train.steps", "1000"),
            ("train.n_threads", "1"),
            ("model.compute_dtype", "float32"),
        ),
        metrics=("continuation_valid", "accuracy"),
        smoke=(*AUTOMATON_SMOKE, ("data.eval_lengths", "2,4,6")),
    ),
    BatteryTask(
        name="passkey",
        title="Passkey retrieval (study 7)",
        study="passkey",
        grid="passkey/grid.toml",
        preset="cpu_text",
        task="passkey",
        settings=(("data.eval_lengths", "128,256,512,1024,2048"), *_PASSKEY_MODEL),
        metrics=("accuracy",),
        smoke=TEXT_SMOKE,
    ),
    BatteryTask(
        name="text",
        title="Text bits per byte on code (study 7)",
        study="text",
        grid="text/grid.toml",
        preset="cpu_text",
        task="text_lm",
        settings=(("train.n_threads", "1"), ("model.compute_dtype", "float32")),
        metrics=("bits_per_byte", "loss"),
        smoke=TEXT_SMOKE,
    ),
)


# Study 9 (studies/chomsky/): the reference protocol at CPU budget. The six tasks without a
# separator-like symbol segment by fixed windows (cpu.toml); binary_addition segments at its
# operand separator (cpu_separators.toml, the same settings without the window).
_CHOMSKY = (
    ("data.protocol", "reference"),
    ("data.lengths", "uniform:1:40"),
    ("data.n_train", "20000"),
    ("data.n_eval", "128"),
    ("data.eval_lengths", "41,60,100,200"),
    ("model.n_layers", "2"),
    ("model.d_model", "64"),
    ("model.n_heads", "4"),
    ("model.compute_dtype", "float32"),
    ("train.steps", "2000"),
    ("train.batch_size", "32"),
    ("train.lr", "1e-3"),
    ("train.warmup", "100"),
    ("train.log_every", "100"),
    ("train.checkpoint_every", "500"),
    ("train.n_threads", "1"),
)
_WINDOWS = (("segment_train.method", "fixed:8"), ("segment_eval.method", "fixed:8"))
CHOMSKY_SMOKE = (
    ("data.n_train", "256"),
    ("data.n_eval", "8"),
    ("data.eval_lengths", "41,60"),
    ("train.steps", "20"),
    ("train.warmup", "2"),
    ("train.log_every", "10"),
    ("train.checkpoint_every", "20"),
)
_CHOMSKY_TASKS = (
    ("parity_check", "regular"),
    ("cycle_navigation", "regular"),
    ("reverse_string", "deterministic context-free"),
    ("stack_manipulation", "deterministic context-free"),
    ("duplicate_string", "context-sensitive"),
    ("bucket_sort", "context-sensitive"),
    ("binary_addition", "context-sensitive"),
)
CHOMSKY_TASKS = tuple(
    BatteryTask(
        name=f"chomsky_{name}",
        title=f"Chomsky suite: {name} ({level}, reference protocol, study 9)",
        study="chomsky",
        grid="chomsky/cpu_separators.toml" if name == "binary_addition" else "chomsky/cpu.toml",
        preset="demo",
        task=f"chomsky:{name}",
        settings=_CHOMSKY if name == "binary_addition" else _CHOMSKY + _WINDOWS,
        metrics=("accuracy", "sequence_accuracy"),
        smoke=CHOMSKY_SMOKE,
        suite="chomsky",
    )
    for name, level in _CHOMSKY_TASKS
)

# Study 10 (studies/ruler/): the passkey study's model at a longer context, one grid per task;
# a task's own parameters (its calibrated budget among them) override the shared ones.
_RULER_MODEL = (("data.n_eval", "50"), *_PASSKEY_MODEL)
_RULER_TASKS = (
    ("niah_multikey", "niah_multikey", "four needles, one key asked", (("data.needles", "4"),)),
    ("niah_multivalue", "niah_multivalue", "one key, four values", (("data.values", "4"),)),
    (
        "vt_2hops",
        "variable_tracking",
        "variable tracking, 2 hops",
        (("data.hops", "2"), ("data.chains", "2"), ("train.steps", "8000")),
    ),
    (
        "vt_4hops",
        "variable_tracking",
        "variable tracking, 4 hops",
        (("data.hops", "4"), ("data.chains", "2"), ("train.steps", "16000")),
    ),
)
RULER_SMOKE = (
    ("data.n_eval", "4"),
    ("data.train_tokens", "65536"),
    ("model.d_model", "32"),
    ("model.n_layers", "1"),
    ("train.steps", "10"),
    ("train.warmup", "2"),
    ("train.log_every", "5"),
    ("train.checkpoint_every", "10"),
)


def _ruler_context(study: str) -> tuple[tuple[str, str], ...]:
    """The training context and evaluation lengths (1x-16x) of a RULER study."""
    context = 384 if study == "vt_4hops" else 256  # four hops of two chains need more room
    lengths = ",".join(str(context * k) for k in (1, 2, 4, 8, 16))
    return (("data.context", str(context)), ("data.eval_lengths", lengths))


def _ruler_smoke(study: str) -> tuple[tuple[str, str], ...]:
    context = dict(_ruler_context(study))["data.context"]
    return (*RULER_SMOKE, ("data.eval_lengths", f"{context},{2 * int(context)}"))


RULER_TASKS = tuple(
    BatteryTask(
        name=f"ruler_{study}",
        title=f"RULER {study}: {words} (study 10)",
        study=f"ruler/{study}",
        grid=f"ruler/{study}/grid.toml",
        preset="cpu_text",
        task=f"ruler:{task}",
        settings=tuple(dict(_RULER_MODEL + _ruler_context(study) + params).items()),
        metrics=("accuracy", "all_found"),
        smoke=_ruler_smoke(study),
        suite="ruler",
    )
    for study, task, words, params in _RULER_TASKS
)
TASKS: tuple[BatteryTask, ...] = CORE_TASKS + CHOMSKY_TASKS + RULER_TASKS
