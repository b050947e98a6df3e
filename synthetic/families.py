"""The data-family registry: the one place that maps a family name to its config and datasets.

======================  ==========================================  =======================
family                  config (``data`` section of a run)          ``meta.json`` generator
======================  ==========================================  =======================
``arithmetic``          :class:`~bipe.synthetic.arith_data.ArithmeticData`   ``arith``
``automaton``           :class:`~bipe.synthetic.sequence_data.AutomatonData`  ``binfa``, ``nfa``,
                                                                    ``binfa3``
``text``                :class:`~bipe.synthetic.text.data.TextDataConfig`  ``ruler:TASK`` (RULER
                                                                    evaluation sets; corpora
                                                                    are read at run time)
``chomsky``             :class:`~bipe.synthetic.chomsky_data.ChomskyData`  ``chomsky:TASK`` (15)
======================  ==========================================  =======================

Tasks name their family (``Task.family``); the config class of a run's ``data`` section is
``FAMILIES[task.family].config``. A family with saved datasets also registers its
``generate_dataset(config, seed, **options)`` (``bipe gen``), its ``verify_record`` (``bipe
verify``) and the config fields that shape a dataset (``bipe gen``'s ``--data.*`` options);
:func:`generator_family` finds the family of a ``meta.json`` generator name. Adding a family: a
config dataclass derived from :class:`~bipe.synthetic.family.DataConfig` next to the generator,
and one entry in :data:`FAMILIES`.

Run folders written before the data families existed hold one flat ``data`` section with the
keys of every family; :func:`upgrade_data` drops the keys of other families (whatever their
value: the old presets set arithmetic keys for every task, and no task ever read another
family's keys, so dropping them cannot change what the run was).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from bipe.synthetic import arith_data, arithmetic, chomsky_data, sequences
from bipe.synthetic.arith_data import ArithmeticData
from bipe.synthetic.chomsky_data import ChomskyData
from bipe.synthetic.dataset import load_meta
from bipe.synthetic.family import DataConfig, DataFamily
from bipe.synthetic.sequence_data import KINDS, AutomatonData
from bipe.synthetic.text import ruler_data, ruler_reader
from bipe.synthetic.text.data import TextDataConfig

__all__ = [
    "FAMILIES",
    "LEGACY_DEFAULTS",
    "data_keys",
    "dataset_meta",
    "generator_family",
    "get_family",
    "upgrade_data",
]

FAMILIES: dict[str, DataFamily] = {
    "arithmetic": DataFamily(
        name="arithmetic",
        config=ArithmeticData,
        generators=("arith",),
        generate_dataset=arith_data.generate_dataset,
        verify_record=arithmetic.verify_record,  # type: ignore[arg-type]
        dataset_keys=("n_train", "operators", "fmt", "modulus"),
    ),
    "automaton": DataFamily(
        name="automaton",
        config=AutomatonData,
        generators=KINDS,
        generate_dataset=sequences.family_dataset,
        verify_record=sequences.verify_record,
        dataset_keys=(
            "n_train",
            "n_symbols",
            "n_types",
            "inner_states",
            "outer_states",
            "out_degree",
            "segments",
            "segment_length",
            "eval_lengths",
            "eval_segment_length",
        ),
    ),
    "text": DataFamily(
        name="text",
        config=TextDataConfig,
        generators=ruler_data.GENERATORS,
        generate_dataset=ruler_data.generate_dataset,
        verify_record=ruler_reader.verify_record,
        dataset_keys=ruler_data.DATASET_KEYS,
    ),
    "chomsky": DataFamily(
        name="chomsky",
        config=ChomskyData,
        generators=chomsky_data.GENERATORS,
        generate_dataset=chomsky_data.generate_dataset,
        verify_record=chomsky_data.verify_record,  # type: ignore[arg-type]
        dataset_keys=("n_train", "lengths"),
    ),
}

# The family keys and defaults of the single flat DataConfig of earlier versions (frozen here:
# later changes of a family's defaults must not change how old run folders are read).
LEGACY_DEFAULTS: dict[str, Any] = {
    "operators": "uniform:1:4",
    "fmt": "feng",
    "modulus": 11,
    "n_symbols": 4,
    "n_types": 2,
    "inner_states": 3,
    "outer_states": 3,
    "out_degree": 2,
    "segments": "uniform:2:8",
    "segment_length": "uniform:1:4",
    "eval_segment_length": "",
    "continuation_prefix": 0.5,
}


def get_family(name: str) -> DataFamily:
    """The registered family ``name``; unknown -> ``ValueError`` listing the known ones."""
    if name not in FAMILIES:
        raise ValueError(f"unknown data family {name!r}; known: {', '.join(FAMILIES)}")
    return FAMILIES[name]


def generator_family(generator: Any) -> DataFamily | None:
    """The family whose datasets carry ``generator`` in ``meta.json`` (None if no family)."""
    return next((f for f in FAMILIES.values() if generator in f.generators), None)


def data_keys(config: type[DataConfig]) -> list[str]:
    """The field names of a family's config class, shared fields first."""
    return [f.name for f in dataclasses.fields(config)]


def owner(key: str) -> str | None:
    """The family (``a or b`` when several) whose config, and no shared base, has the field
    ``key``, if any."""
    shared = set(data_keys(DataConfig))
    names = [
        name for name, fam in FAMILIES.items() if key in data_keys(fam.config) and key not in shared
    ]
    return " or ".join(names) or None


def upgrade_data(family: DataFamily, data: dict[str, Any]) -> dict[str, Any]:
    """``data`` without the keys that earlier versions stored for other families.

    Those keys never reached the task's data (each task read only its own family's keys), so
    dropping them keeps the run's meaning; keys unknown to every family are kept, so that
    parsing still names them as errors.
    """
    own = set(data_keys(family.config))
    return {key: value for key, value in data.items() if key in own or key not in LEGACY_DEFAULTS}


def dataset_meta(path: str, generators: tuple[str, ...], who: str) -> dict[str, Any]:
    """``meta.json`` of the dataset at ``path`` if its generator is one of ``generators``;
    otherwise a one-line ``ValueError`` naming what it holds (and that kind's family)."""
    meta = load_meta(path)
    kind = meta.get("generator")
    if kind not in generators:
        family = generator_family(kind)
        held = f"a {kind!r} dataset" + (f" ({family.name} family)" if family else "")
        raise ValueError(
            f"data.path {path} holds {held}; {who} trains on "
            f"{' or '.join(repr(g) for g in generators)} datasets"
        )
    return meta
