"""The worked examples in the analysis modules' docstrings run and hold."""

import doctest
import importlib

import pytest

MODULES = ["stats", "efficiency", "params", "theory", "segstats", "segmethods"]


@pytest.mark.parametrize("name", MODULES)
def test_module_docstring_examples(name):
    module = importlib.import_module(f"bipe.analysis.{name}")
    result = doctest.testmod(module)
    assert result.attempted > 0 and result.failed == 0
