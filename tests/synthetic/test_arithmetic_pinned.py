"""Regression pins for :mod:`bipe.synthetic.arithmetic`: the records of fixed seeds, hashed.

The hashes were computed from the single-file module before it became a package; the split
(and any later refactor) must leave every byte of every record unchanged.
"""

import hashlib
import importlib
import json

import numpy as np
import pytest

from bipe.synthetic import arithmetic
from bipe.synthetic.arithmetic import generate_arithmetic

# (seed, n, operators, modulus, fmt, extra keywords) -> sha256 of the records as sorted JSON.
PINNED = [
    (
        (0, 50, "uniform:1:6", 11, "feng", {}),
        "e3f64529066bde9c7b358a42efed52cdcf4120d22be79fb0e1283eb3cf881620",
    ),
    (
        (1, 50, "uniform:1:6", 11, "steps", {}),
        "11a33c67aab9e9d5dadfe37cbb5909a6fcbad839d4f9b35b52fc5dfeb2aeae13",
    ),
    (
        (2, 50, "uniform:1:6", 11, "direct", {}),
        "50ff603ed801287988844604a667d3b3da1876013369d72e07ce0d3874416ece",
    ),
    (
        (3, 40, "linear:1:5", 7, "feng", {}),
        "f31bbd4af11672b0e83171265afac109daa9017c5ceef0fdd10859a6e2dbf80d",
    ),
    (
        (4, 60, 3, 11, "feng", {"under": True, "dedup": True}),
        "4be01d6da8ccb27700a11b967dc69b27f945985b230568834a804614df77a91c",
    ),
    (
        (5, 2100, "uniform:1:2", 5, "steps", {"dedup": True}),  # more than one 2048-chain chunk
        "a54a87f9f03a6766b7bddff997cbcc585eeb1232ad27dba5abc05b1f0e298814",
    ),
    (
        (6, 30, 2, 13, "direct", {"exclude": ["1 + 2", "3 * 4"]}),
        "9859364a5b516fdd40d5e43cbe59e8866c6d95f66a8869380a4923f4e993c163",
    ),
]

# Every public name the single-file module had (``from bipe.synthetic.arithmetic import X``).
PUBLIC = (
    "PAD",
    "CLS",
    "EOS",
    "PLUS",
    "MINUS",
    "TIMES",
    "DIVIDE",
    "OPEN",
    "CLOSE",
    "EQUALS",
    "NUM0",
    "OPERATORS",
    "LOW",
    "SEPARATORS",
    "FORMATS",
    "is_prime",
    "check_modulus",
    "vocab",
    "ARITH_VOCAB",
    "words_to_ids",
    "ids_to_text",
    "apply",
    "parse",
    "evaluate",
    "canonical_steps",
    "needs_brackets",
    "bracket_problem",
    "expansion_table",
    "expand",
    "format_ids",
    "steps_ids",
    "make_record",
    "operator_dist",
    "under_quotas",
    "n_distinct_chains",
    "question_of",
    "iter_arithmetic",
    "generate_arithmetic",
    "is_reduction",
    "chain_problem",
    "verify_text",
    "meta_problem",
    "verify_record",
)


@pytest.mark.parametrize(("case", "digest"), PINNED, ids=[str(c[0][0]) for c in PINNED])
def test_same_seed_gives_the_pinned_records(case, digest):
    seed, n, operators, modulus, fmt, extra = case
    records = generate_arithmetic(
        np.random.default_rng(seed), n, operators=operators, modulus=modulus, fmt=fmt, **extra
    )
    blob = json.dumps(records, sort_keys=True).encode()
    assert hashlib.sha256(blob).hexdigest() == digest


def test_every_public_name_is_still_importable():
    missing = [name for name in PUBLIC if not hasattr(arithmetic, name)]
    assert not missing
    assert set(PUBLIC) <= set(getattr(arithmetic, "__all__", PUBLIC))


def test_module_docstring_examples_run():
    import doctest

    names = [arithmetic.__name__]
    names += [f"{arithmetic.__name__}.{m}" for m in getattr(arithmetic, "SUBMODULES", ())]
    for name in names:
        result = doctest.testmod(importlib.import_module(name))
        assert result.failed == 0, name
    assert doctest.testmod(arithmetic).attempted > 0
