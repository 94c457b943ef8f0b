"""Shared pytest configuration: hypothesis profiles.

* ``ci`` (default): a fixed, reproducible example budget — ``derandomize=True`` so every
  run draws the same examples, no example database, no deadline (the first call of a size
  compiles kernels or SDPs, which would trip a per-example deadline).
* ``long``: a much larger randomized search, for hunting by hand::

      HYPOTHESIS_PROFILE=long pytest tests/test_fuzz.py

Expensive tests (the SDP backend) take a fraction of the profile's budget,
``settings(max_examples=max(k, settings.default.max_examples // d))``, so ``long`` scales
them too.
"""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci",
    max_examples=40,
    deadline=None,
    derandomize=True,
    database=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile(
    "long",
    max_examples=2000,
    deadline=None,
    derandomize=False,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture(scope="session", autouse=True)
def _kernels_compiled():
    """Compile (or load) the kernels before any test runs: until they are ready the eigen
    backend serves LAPACK instead, and tests that compare two runs bit for bit need one path."""
    from optneuron.kernels import warm_up

    warm_up()
