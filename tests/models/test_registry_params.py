"""Every registry entry's parameter formula equals the parameters of the module it builds."""

import itertools

import pytest
import sympy as sp

from bipe.models.config import BIPE_INTER, BIPE_INTRA, HBIPE_INTER, ModelConfig
from bipe.models.registry import ENCODINGS, REGISTRY, parameter_count

SIZES = (
    dict(vocab_size=20, d_model=16, n_layers=1, n_heads=2),
    dict(
        vocab_size=33,
        d_model=48,
        n_layers=3,
        n_heads=4,
        max_len=37,
        max_intra=11,
        t5_n_buckets=7,
        fire_d_hidden=5,
        cope_max_pos=9,
    ),
)


def _variants(pe: str) -> list[dict]:
    """The BiPE options of ``pe`` worth covering (every intra x inter pair where it has them)."""
    if pe == "bipe":
        return [
            dict(bipe_intra=a, bipe_inter=b) for a, b in itertools.product(BIPE_INTRA, BIPE_INTER)
        ]
    if pe == "hbipe":
        return [
            dict(bipe_intra=a, bipe_inter=b) for a, b in itertools.product(BIPE_INTRA, HBIPE_INTER)
        ]
    return [{}]


def _config(pe: str, sizes: dict, options: dict) -> ModelConfig:
    v = sizes["vocab_size"]
    separators = (
        ((v - 1,), (v - 2,)) if pe == "hbipe" else (v - 1,) if pe.startswith("bipe") else ()
    )
    trunk = ("vocab_size", "d_model", "n_layers", "n_heads")
    base = ModelConfig(**{k: sizes[k] for k in trunk}, pe=pe, separators=separators, **options)
    read = REGISTRY[pe].options_read(base)  # an option the entry does not read is refused
    sizes = {k: v for k, v in sizes.items() if k in trunk or k in read}
    return ModelConfig(**sizes, pe=pe, separators=separators, **options)


CASES = [(pe, sizes, options) for pe in REGISTRY for sizes in SIZES for options in _variants(pe)]


@pytest.mark.parametrize(
    ("pe", "sizes", "options"), CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)]
)
def test_formula_equals_the_built_modules_parameters(pe, sizes, options):
    config = _config(pe, sizes, options)
    module = REGISTRY[pe].build(config)
    assert parameter_count(config) == sum(p.numel() for p in module.parameters())


def test_constructors_are_the_registry_entries():
    assert {name: entry.build for name, entry in REGISTRY.items()} == ENCODINGS


def test_formulas_run_on_symbols():
    """The formulas are plain arithmetic, so sympy symbols go through (bipe.analysis.params)."""
    n_rows, d_model = sp.symbols("R D")
    count = REGISTRY["learned"].n_params(
        type("Sizes", (), {"max_len": n_rows, "d_model": d_model})()
    )
    assert count == n_rows * d_model


def test_unknown_pe_is_a_value_error_listing_the_known():
    with pytest.raises(ValueError, match="unknown pe 'nonesuch'.*bipe_rope"):
        parameter_count(type("Cfg", (), {"pe": "nonesuch"})())
