"""benchmarks/pencil_kernel.py runs (at a tiny size) and checks ours against LAPACK first."""

import numpy as np
import pytest

from benchmarks import pencil_kernel


def test_a_case_reports_both_times_and_their_ratio():
    row = pencil_kernel.case(4, 64, repeats=1)
    assert row["case"] == "n=4 B=64"
    assert row["ours (µs)"] > 0 and row["LAPACK (µs)"] > 0
    assert row["ratio"] == pytest.approx(row["LAPACK (µs)"] / row["ours (µs)"], rel=0.1)


def test_the_lapack_baseline_is_the_kernels_answer():
    import torch

    from optneuron import kernels
    from optneuron.fused import FusedPlan
    from optneuron.pencils import DensePencil

    plan = FusedPlan(DensePencil(3, 5, out_features=2, dtype=torch.float64), 2)
    C = np.random.default_rng(1).standard_normal((40, plan.size))
    values, grads, suspect = kernels.pencil_eigenvalue(C, plan.index, plan.scale, 5, 2)
    ref_values, ref_grads = pencil_kernel._lapack(C, plan)
    assert not suspect.any()
    np.testing.assert_allclose(values, ref_values, atol=1e-12)
    np.testing.assert_allclose(grads, ref_grads, atol=1e-10)
