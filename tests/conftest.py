"""Shared test set-up: Hypothesis profiles.

``CI=true`` selects the ``ci`` profile (fewer examples, derandomised so CI is repeatable);
``HYPOTHESIS_PROFILE=thorough`` runs many more examples locally.
"""

import os
import sys
from types import SimpleNamespace

import pytest
from hypothesis import HealthCheck, settings

from bipe.testing.strategies import BASE_EXAMPLES

settings.register_profile(
    "ci",
    max_examples=30,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("dev", max_examples=BASE_EXAMPLES, deadline=None)
settings.register_profile("thorough", max_examples=1000, deadline=None)
settings.load_profile(
    os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") == "true" else "dev")
)


@pytest.fixture
def bipe_cli(capsys):
    """Run the ``bipe`` CLI in this process: ``bipe_cli(argv)`` -> an object with
    ``returncode``, ``stdout`` and ``stderr`` (as ``subprocess.run`` gives them). ``argv`` may
    start with ``python -m bipe``, which is dropped. The real entry point, in a subprocess, is
    exercised by a few smoke tests (tests/test_cli.py)."""
    from bipe.experiments.cli import main

    def run(argv, **_ignored) -> SimpleNamespace:
        argv = [str(a) for a in argv]
        if argv[:3] == [sys.executable, "-m", "bipe"]:
            argv = argv[3:]
        capsys.readouterr()
        try:
            code = main(argv)
        except SystemExit as stop:  # argparse's own exits (--help)
            code = stop.code if isinstance(stop.code, int) else 2
        out = capsys.readouterr()
        return SimpleNamespace(returncode=code, stdout=out.out, stderr=out.err)

    return run
