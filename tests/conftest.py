"""Shared test settings: a bounded hypothesis profile so the suite stays within minutes."""

import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci",
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile("thorough", max_examples=400, deadline=None)
settings.load_profile(os.environ.get("CNNMATH_HYPOTHESIS_PROFILE", "ci"))
