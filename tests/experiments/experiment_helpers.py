"""Shared test settings of the experiments tests (on pytest's ``pythonpath``)."""

# The tiny preset's automaton sizes and length laws, spelled as flags bipe gen and bipe train take
TINY_AUTOMATON_FLAGS = [
    "--data.n_symbols",
    "3",
    "--data.n_types",
    "2",
    "--data.inner_states",
    "2",
    "--data.outer_states",
    "2",
    "--data.segments",
    "uniform:1:3",
    "--data.segment_length",
    "uniform:1:3",
]
