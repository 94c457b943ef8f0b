"""benchmarks/householder_lanes.py runs (at a small batch) and checks both reductions agree."""

import pytest

from benchmarks import householder_lanes


@pytest.mark.parametrize("n", [4, 28])  # in the lanes' range and above it
def test_a_case_times_both_reductions(n):
    row = householder_lanes.case(n, 70, repeats=1)
    assert row["n"] == n and row["one at a time (µs)"] > 0 and row["lanes (µs)"] > 0
    assert row["ratio"] == pytest.approx(row["one at a time (µs)"] / row["lanes (µs)"], rel=0.05)
