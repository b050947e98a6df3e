"""Shared test set-up: Hypothesis profiles.

``CI=true`` selects the ``ci`` profile (fewer examples, derandomised so CI is repeatable);
``HYPOTHESIS_PROFILE=thorough`` runs many more examples locally.
"""

import os

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
