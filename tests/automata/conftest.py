"""Make the test-only strategy module ``automata_strategies`` importable from this folder
(pytest runs with ``--import-mode=importlib``, which does not touch ``sys.path``)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
