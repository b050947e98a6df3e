"""bipe: a workbench for bilevel positional encoding (BiPE) research.

Sub-packages, in import order: ``automata`` (automata values, generators, batched
simulation), ``synthetic`` (tasks, distributions, segmenters, datasets), ``models``
(Transformer and positional encodings), ``experiments`` (configs, runs, CLI) and
``analysis`` (accounting, studies, reports).
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("bipe-workbench")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
