"""The Problem protocol: every problem declares its data, validates it, and is dispatched by
class; a new problem is one class plus one registered solve per backend (docs/problems.md)."""

from dataclasses import dataclass

import pytest
import torch

import optneuron
from optneuron import OptLayer, Solution
from optneuron.backends.dispatch import EIGEN, SDP
from optneuron.problems import (
    GeneralizedSphereQP,
    KyFan,
    Problem,
    SphereQP,
    TrustRegion,
)
from optneuron.problems.base import check_size

ALL = [SphereQP(0), KyFan(2), TrustRegion(), TrustRegion(ball=True), GeneralizedSphereQP(1)]


@pytest.mark.parametrize("problem", ALL, ids=repr)
def test_every_problem_is_a_problem_with_named_data_and_a_solve_in_both_backends(problem):
    assert isinstance(problem, Problem)
    assert problem.data_names[0] == "A"
    for name in ("eigen", "sdp"):  # a backend module, loaded on first use, fills its table
        optneuron.get_backend(name)
    assert EIGEN.lookup(problem) is not None and SDP.lookup(problem) is not None
    assert problem.check_size(3) == 3


def test_problem_cannot_be_instantiated_without_check_size():
    with pytest.raises(TypeError):
        Problem()


def test_a_problem_without_a_solve_is_refused_naming_it_and_the_backend():
    @dataclass(frozen=True)
    class Trace(Problem):
        def check_size(self, n):
            return check_size(n)

    with pytest.raises(TypeError, match="the eigen backend has no solve for problem Trace"):
        OptLayer(Trace())(torch.eye(2))


def test_a_new_problem_is_one_class_and_one_registered_solve():
    @dataclass(frozen=True)
    class Trace(Problem):
        """tr A = Σ λ_i: linear, gradient I (a toy problem for the recipe only)."""

        def check_size(self, n):
            return check_size(n)

    @EIGEN.solves(Trace)
    def solve_trace(backend, problem, A):
        return Solution(torch.diagonal(A, dim1=-2, dim2=-1).sum(-1))

    try:
        A = torch.randn(3, 4, 4, dtype=torch.float64)
        value = OptLayer(Trace())(A).value
        torch.testing.assert_close(value, torch.linalg.eigvalsh((A + A.mT) / 2).sum(-1))
    finally:
        EIGEN._solvers.pop(Trace)


def test_subclass_inherits_its_parents_solve():
    @dataclass(frozen=True)
    class Bottom(SphereQP):
        pass

    A = torch.randn(2, 3, 3, dtype=torch.float64)
    torch.testing.assert_close(OptLayer(Bottom(0))(A).value, OptLayer(SphereQP(0))(A).value)


def test_solves_needs_classes():
    with pytest.raises(TypeError, match="solves"):
        EIGEN.solves("SphereQP")


def test_the_layer_refuses_what_is_not_a_problem():
    with pytest.raises(TypeError, match="problem must be an optneuron.problems.Problem"):
        OptLayer(object())


def test_public_names():
    for name in ("TrustRegion", "GeneralizedSphereQP", "Problem"):
        assert name in optneuron.__all__


@pytest.mark.parametrize("backend", ["eigen", "sdp"])
@pytest.mark.parametrize("tridiagonal", [False, True])
def test_non_finite_a_is_refused_for_the_new_problems(backend, tridiagonal):
    from optneuron import SymTridiagonal

    d = torch.tensor([1.0, float("nan"), 2.0], dtype=torch.float64)
    A = SymTridiagonal(d, torch.zeros(2, dtype=torch.float64)) if tridiagonal else torch.diag(d)
    one = torch.ones(3, dtype=torch.float64)
    for problem, datum in ((TrustRegion(), one), (GeneralizedSphereQP(), torch.diag(one))):
        with pytest.raises(ValueError, match="non-finite"):
            OptLayer(problem, backend)(A, datum)
