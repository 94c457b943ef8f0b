"""benchmarks/tiny_cutoff.py: both kernels on the same matrices, and the cutoff it reports."""

import pytest

from benchmarks import tiny_cutoff


@pytest.mark.parametrize("vectors", [False, True])
def test_a_case_times_both_kernels_on_the_same_matrices(vectors):
    row = tiny_cutoff.case(6, 64, "float32", vectors, repeats=1)
    assert (row["n"], row["dtype"], row["vectors"]) == (6, "float32", vectors)
    assert row["jacobi (µs)"] > 0 and row["householder (µs)"] > 0
    assert row["householder / jacobi"] == pytest.approx(
        row["householder (µs)"] / row["jacobi (µs)"], rel=0.05)


def test_the_cutoff_is_the_last_n_of_an_unbroken_run_of_jacobi_wins():
    def rows(*ratios):  # two rows per n from n = 2 on
        return [{"n": n, "householder / jacobi": r} for n, pair in enumerate(ratios, 2)
                for r in pair]

    assert tiny_cutoff.jacobi_cutoff(rows((5, 7), (2, 3), (1.1, 1.4), (0.7, 0.9))) == 4
    assert tiny_cutoff.jacobi_cutoff(rows((5, 7), (0.9, 3), (1.1, 1.4))) == 2
    assert tiny_cutoff.jacobi_cutoff(rows((0.5, 7))) == 1
    assert tiny_cutoff.jacobi_cutoff(rows((5, 7), (2, 3))) == 3
