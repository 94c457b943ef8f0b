"""verify on TrustRegion and GeneralizedSphereQP: random and hard cases, both backends."""

import pytest
import torch

import optneuron
from optneuron import GeneralizedSphereQP, Solution, TrustRegion, verify
from optneuron.verify import sweep_cases


@pytest.mark.parametrize("n", [1, 3])
def test_every_sweep_case_passes_on_both_backends(n):
    cases = sweep_cases(n, 2, torch.Generator().manual_seed(n))
    labels = {(type(p).__name__, label) for label, p, _ in cases}
    assert ("TrustRegion", "hard case") in labels and ("GeneralizedSphereQP", "repeated") in labels
    for label, problem, data in cases:
        report = verify(problem, data)
        assert report.ok, f"{label}: {report}"
        assert [c.backend for c in report.checks] == ["eigen", "sdp"]


def test_hard_case_rows_are_counted_as_non_unique():
    label, problem, data = sweep_cases(4, 3, torch.Generator().manual_seed(0))[1]
    assert label == "hard case"
    report = verify(problem, data)
    assert report.ok and report.clustered == 3
    assert "non-unique" in str(report)


class _MidpointTrustRegion:
    """Right value, but the gradient of a non-optimal feasible point (x rotated)."""

    name = "midpoint"

    def solve(self, problem, A, b):
        sol = optneuron.OptLayer(problem)(A.detach(), b.detach())
        x = torch.roll(sol.x, 1, dims=-1)
        X = x[..., :, None] * x[..., None, :]
        linear = (A * X).sum((-2, -1)) + 2 * (b * x).sum(-1)
        value = sol.value + linear - linear.detach()  # the value is right, its gradient not
        return Solution(value, x[..., :, None] * x[..., None, :], x)


@pytest.mark.parametrize("case", [0, 1])
def test_a_wrong_trust_region_gradient_is_caught_generic_and_hard(case):
    optneuron.register_backend("midpoint", _MidpointTrustRegion)
    try:
        _, problem, data = sweep_cases(4, 2, torch.Generator().manual_seed(1))[case]
        report = verify(problem, data, ("eigen", "midpoint"))
    finally:
        optneuron.backends._REGISTRY.pop("midpoint")
    assert not report.ok
    assert any("midpoint gradient error" in f for f in report.failures)


def test_a_wrong_generalized_b_gradient_is_caught():
    class ForgetsB:
        name = "forgets-b"

        def solve(self, problem, A, B):
            sol = optneuron.OptLayer(problem)(A, B.detach())  # no gradient reaches B
            return Solution(sol.value, sol.X, sol.x)

    optneuron.register_backend("forgets-b", ForgetsB)
    try:
        _, problem, data = next(c for c in sweep_cases(3, 2, torch.Generator().manual_seed(2))
                                if isinstance(c[1], GeneralizedSphereQP))
        report = verify(problem, data, ("eigen", "forgets-b"))
    finally:
        optneuron.backends._REGISTRY.pop("forgets-b")
    assert any("forgets-b gradient error" in f for f in report.failures)


def test_verify_takes_the_data_as_a_tuple_and_float32():
    A = torch.randn(2, 3, 3)
    b = torch.randn(2, 3)
    report = verify(TrustRegion(), (A, b), ("eigen",))
    assert report.ok and report.dtype == "float32"


@pytest.mark.parametrize("case", [0, 3, 6])  # sphere generic, ball generic, generalized index 0
def test_solution_derivatives_are_checked_against_the_numpy_formulas(case):
    _, problem, data = sweep_cases(4, 2, torch.Generator().manual_seed(5))[case]
    report = verify(problem, data)
    d = report.solution_derivative
    assert report.ok and d is not None and d.rows == 2 and d.reference == "numpy KKT formula"
    assert d.errors["eigen"] < 1e-9 and d.errors["sdp"] < 1e-4
    assert d.finite_difference_error < 1e-6
    assert "numpy KKT formula" in str(report)


def test_hard_case_rows_have_no_solution_derivative_to_check():
    _, problem, data = sweep_cases(4, 2, torch.Generator().manual_seed(5))[1]
    d = verify(problem, data).solution_derivative
    assert d.rows == 0 and d.errors == {}


def test_a_wrong_solution_derivative_is_caught():
    class FrozenInB:
        """Right value and gradients; ``X`` built from ``x`` with ``b`` detached."""

        name = "frozen-in-b"

        def solve(self, problem, A, b):
            sol = optneuron.OptLayer(problem)(A, b)
            x = optneuron.OptLayer(problem)(A, b.detach()).x
            return Solution(sol.value, x[..., :, None] * x[..., None, :], x)

    optneuron.register_backend("frozen-in-b", FrozenInB)
    try:
        _, problem, data = sweep_cases(4, 2, torch.Generator().manual_seed(5))[0]
        report = verify(problem, data, ("eigen", "frozen-in-b"))
    finally:
        optneuron.backends._REGISTRY.pop("frozen-in-b")
    assert any("frozen-in-b solution derivative error" in f for f in report.failures)
