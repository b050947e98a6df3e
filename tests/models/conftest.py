"""Make the test-only helper module ``model_helpers`` importable from this folder
(pytest runs with ``--import-mode=importlib``, which does not touch ``sys.path``)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
