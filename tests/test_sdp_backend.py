import numpy as np
import pytest
import torch

from optneuron import KyFan, OptLayer, SphereQP, SymTridiagonal
from optneuron.backends.sdp import SDPBackend, SDPSolverError
from optneuron.verify import subdifferential_distance

from spectra_helpers import random_symmetric, with_spectrum

PROBLEMS = [SphereQP(0), SphereQP(2), SphereQP(-1), KyFan(2), KyFan(3, largest=True),
            SphereQP(1, smoothing=0.3), KyFan(2, smoothing=0.5)]


@pytest.mark.parametrize("problem", PROBLEMS)
def test_sdp_agrees_with_eigen_in_value_gradient_and_X(problem):
    A = random_symmetric(3, 5, 5, seed=21)
    results = {}
    for backend in ("eigen", "sdp"):
        leaf = A.clone().requires_grad_(True)
        sol = OptLayer(problem, backend)(leaf)
        sol.value.sum().backward()
        results[backend] = (sol.value.detach(), leaf.grad, sol.X.detach())
    (v0, g0, X0), (v1, g1, X1) = results["eigen"], results["sdp"]
    assert (v0 - v1).abs().max() < 1e-6
    assert (g0 - g1).abs().max() < 1e-5
    assert (X0 - X1).abs().max() < 1e-5


@pytest.mark.parametrize("problem", [SphereQP(1), KyFan(2, largest=True),
                                     SphereQP(0, smoothing=0.3)])
def test_gradcheck_away_from_crossings(problem):
    """The value's gradient (Danskin: the optimal X) against finite differences of the SDP
    value itself. The SDP is solved to ~1e-10, so steps of 1e-4 leave ~1e-6 of noise."""
    A = with_spectrum([[-2.0, -0.5, 1.0, 3.0]], seed=4)
    leaf = A.clone().requires_grad_(True)

    def value(M):
        return OptLayer(problem, "sdp")(M).value

    assert torch.autograd.gradcheck(value, (leaf,), eps=1e-4, atol=1e-4, rtol=1e-3)


@pytest.mark.parametrize("problem", [SphereQP(0), SphereQP(1), SphereQP(-1), KyFan(2)])
def test_sdp_solution_is_in_the_clarke_subdifferential_at_repeated_eigenvalues(problem):
    A = with_spectrum([[1.0, 1.0, 1.0, 2.0, 2.0], [0.5, 0.5, 0.5, 0.5, 0.5]], seed=22)
    leaf = A.clone().requires_grad_(True)
    sol = OptLayer(problem, "sdp")(leaf)
    sol.value.sum().backward()
    lo, hi = problem.eigen_range(5)
    for b in range(2):
        mu, Q = np.linalg.eigh(A[b].numpy())
        assert subdifferential_distance(leaf.grad[b].numpy(), Q, mu, lo, hi, 1e-6) < 1e-6
        X = sol.X[b].detach()
        assert abs(X.trace().item() - (hi - lo)) < 1e-8
        assert torch.linalg.eigvalsh(X).min() > -1e-8


def test_sdp_preserves_dtype_and_batch_shape_and_accepts_tridiagonal():
    d = torch.tensor([[1.0, 2.0, 3.5], [0.0, -1.0, 1.0]], dtype=torch.float32)
    e = torch.tensor([[0.5, 0.25], [1.0, 0.5]], dtype=torch.float32)
    sol = OptLayer(SphereQP(1), "sdp")(SymTridiagonal(d, e))
    assert sol.value.dtype == torch.float32 and sol.value.shape == (2,)
    assert sol.x is None
    expected = torch.linalg.eigvalsh(SymTridiagonal(d, e).to_dense().double())[:, 1]
    torch.testing.assert_close(sol.value.double(), expected, atol=1e-6, rtol=0)
    empty = OptLayer(SphereQP(0), "sdp")(torch.zeros(0, 3, 3))
    assert empty.value.shape == (0,)


def test_solution_X_is_differentiable_through_the_kkt_system():
    A = with_spectrum([[-1.0, 0.5, 2.0]], seed=23).requires_grad_(True)
    X = OptLayer(KyFan(1), "sdp")(A).X
    assert X.requires_grad
    X[0, 0, 0].backward()
    assert torch.isfinite(A.grad).all()


def test_full_fantope_is_the_identity_without_a_solver():
    A = random_symmetric(2, 4, 4, seed=24)
    sol = OptLayer(KyFan(4), "sdp")(A)
    torch.testing.assert_close(sol.X, torch.eye(4, dtype=A.dtype).expand(2, 4, 4))
    torch.testing.assert_close(sol.value, torch.diagonal(A, dim1=-2, dim2=-1).sum(-1))


def test_non_optimal_solver_output_raises_naming_the_status():
    A = random_symmetric(1, 5, 5, seed=25)
    starved = {"solve_method": "Clarabel", "max_iter": 1}
    with pytest.raises(SDPSolverError, match="status"):
        OptLayer(KyFan(2), "sdp", solver_args=starved)(A)


def test_bad_backend_options_are_rejected():
    with pytest.raises(TypeError, match="solver_args"):
        SDPBackend(solver_args="Clarabel")
    with pytest.raises(ValueError, match="feasibility_tol"):
        SDPBackend(feasibility_tol=0)
