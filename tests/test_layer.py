import pytest
import torch

import optneuron
from optneuron import KyFan, OptLayer, Solution, SphereQP, SymTridiagonal

from spectra_helpers import random_symmetric


def test_repr_names_problem_and_backend():
    text = repr(OptLayer(SphereQP(-1), "eigen"))
    assert "SphereQP(index=-1" in text and "EigenBackend" in text


@pytest.mark.parametrize(
    "call, error, match",
    [
        (lambda: OptLayer(SphereQP(0), "magic"), ValueError, "unknown backend 'magic'"),
        (lambda: OptLayer("min"), TypeError, "problem must be"),
        (lambda: OptLayer(SphereQP(3))(torch.eye(3)), ValueError, "index 3 is out of range"),
        (lambda: OptLayer(SphereQP(-4))(torch.eye(3)), ValueError, "index -4 is out of range"),
        (lambda: OptLayer(KyFan(4))(torch.eye(3)), ValueError, "count 4"),
        (lambda: OptLayer(SphereQP(0))(torch.ones(2, 3)), ValueError, "square"),
        (lambda: OptLayer(SphereQP(0))(torch.ones(3)), ValueError, "shape"),
        (lambda: OptLayer(SphereQP(0))(torch.ones(0, 0)), ValueError, "empty"),
        (lambda: OptLayer(SphereQP(0))(torch.full((2, 2), float("nan"))), ValueError, "non-finite"),
        (lambda: OptLayer(SphereQP(0))(torch.eye(2, dtype=torch.int64)), TypeError, "float32"),
    ],
)
def test_bad_input_raises_the_documented_error(call, error, match):
    with pytest.raises(error, match=match):
        call()


@pytest.mark.parametrize("backend", ["eigen", "sdp"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_dtype_batch_shape_and_device_preserved(backend, dtype):
    A = random_symmetric(2, 1, 3, 3, seed=31, dtype=dtype)
    sol = OptLayer(SphereQP(0), backend)(A)
    assert isinstance(sol, Solution)
    assert sol.value.shape == (2, 1) and sol.value.dtype == dtype
    assert sol.value.device == A.device
    assert sol.X.shape == (2, 1, 3, 3) and sol.X.dtype == dtype


def test_dense_input_is_symmetrized_not_triangle_read():
    A = torch.tensor([[0.0, 2.0], [0.0, 0.0]], dtype=torch.float64, requires_grad=True)
    sol = OptLayer(SphereQP(0))(A)
    assert sol.value.item() == pytest.approx(-1.0)
    sol.value.backward()
    torch.testing.assert_close(A.grad, A.grad.mT)


def test_a_third_backend_is_one_registration():
    class Diagonal:
        name = "diagonal"

        def solve(self, problem, A):
            d = torch.diagonal(A, dim1=-2, dim2=-1).sort(-1).values
            lo, hi = problem.eigen_range(A.shape[-1])
            return Solution(d[..., lo:hi].sum(-1))

    optneuron.register_backend("diagonal", Diagonal)
    try:
        assert "diagonal" in optneuron.available_backends()
        value = OptLayer(SphereQP(1), "diagonal")(torch.diag(torch.tensor([3.0, 1.0, 2.0]))).value
        assert value.item() == 2.0
    finally:
        from optneuron import backends

        backends._REGISTRY.pop("diagonal")


def test_tridiagonal_input_through_the_layer_matches_dense():
    d, e = torch.randn(4, 5, dtype=torch.float64), torch.randn(4, 4, dtype=torch.float64)
    T = SymTridiagonal(d, e)
    for problem in (SphereQP(2), KyFan(3, largest=True)):
        dense = OptLayer(problem)(T.to_dense()).value
        torch.testing.assert_close(OptLayer(problem)(T).value, dense)
