"""The battery's task list: each task a committed study's setup, exactly, at three budgets.

``bipe battery`` (``experiments/battery.py``, docs/battery.md) runs these. Each task's
``settings`` are its study grid file's ``[set]`` (``tests/experiments/test_battery.py`` checks
them against the files); ``smoke`` shrinks a task to seconds for CI. Any change to a task or to
a budget's settings bumps ``BATTERY_VERSION``.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "BATTERY_VERSION",
    "BUDGETS",
    "DEFAULT_BASELINES",
    "DEFAULT_SEEDS",
    "TASKS",
    "BatteryTask",
]

BATTERY_VERSION = 1
BUDGETS = ("smoke", "cpu", "full")
DEFAULT_SEEDS = {"smoke": 1, "cpu": 3, "full": 10}
DEFAULT_BASELINES = ("rope", "bipe_rope", "alibi", "bipe_alibi")

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
    runs may be reused; ``metrics`` the ``eval.json`` metrics compared (the first leads).
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
TASKS: tuple[BatteryTask, ...] = (
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
        settings=(
            ("data.eval_lengths", "128,256,512,1024,2048"),
            ("model.d_model", "64"),
            ("model.n_layers", "2"),
            ("train.steps", "4000"),
            ("train.lr", "3e-3"),
            ("train.warmup", "100"),
            ("train.checkpoint_every", "1000"),
            ("train.n_threads", "1"),
            ("model.compute_dtype", "float32"),
        ),
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
