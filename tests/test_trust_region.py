"""TrustRegion: min xᵀAx + 2bᵀx on the sphere / ball, eigen and SDP backends."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from trust_region_reference import ggvm_value, hard_case_value, optimality_residual

from optneuron import OptLayer, SymTridiagonal, TrustRegion

from spectra_helpers import random_orthogonal, random_symmetric, with_spectrum

EPS = np.finfo(np.float64).eps
F64 = torch.float64


def _size(A, b):
    return max(np.linalg.norm(A, 2), np.linalg.norm(b), 1e-300)


@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 8), seed=st.integers(0, 10_000), scale=st.sampled_from([1e-3, 1.0, 1e3]))
def test_sphere_values_match_the_ggvm_eigenproblem(n, seed, scale):
    A = random_symmetric(4, n, n, seed=seed) * scale
    b = torch.randn(4, n, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    b = b * scale
    sol = OptLayer(TrustRegion())(A, b)
    for i in range(4):
        Ai, bi = A[i].numpy(), b[i].numpy()
        tol = 64 * n * EPS * _size(Ai, bi)
        assert abs(sol.value[i].item() - ggvm_value(Ai, bi)) <= tol
        x = sol.x[i].numpy()
        # x itself is as conditioned as the secular root (y_0 = −β_0/t): a looser bound
        assert optimality_residual(Ai, bi, x) <= 1e4 * tol
        assert sol.value[i].item() == pytest.approx(x @ Ai @ x + 2 * bi @ x, abs=tol)


def _hard_case(n, seed, mult=2, along=1.0):
    """A with a bottom eigenvalue of multiplicity ``mult`` and b ⟂ its eigenspace (scaled by
    ``along`` so that ‖(A − λ_0)⁺b‖ < 1)."""
    mu = torch.linspace(-1.0, 2.0, n, dtype=torch.float64)
    mu[:mult] = -1.0
    A = with_spectrum(mu[None], seed)[0]
    Q = torch.linalg.eigh(A).eigenvectors
    coef = torch.zeros(n, dtype=torch.float64)
    coef[mult:] = 0.3 * along / np.sqrt(n)
    return A, Q @ coef, Q


@pytest.mark.parametrize("n, mult", [(2, 1), (4, 2), (6, 3), (5, 5)])
def test_hard_case_reaches_the_sphere_with_a_bottom_eigenvector(n, mult):
    A, b, Q = _hard_case(n, seed=n, mult=mult)
    sol = OptLayer(TrustRegion())(A, b)
    An, bn, x = A.numpy(), b.numpy(), sol.x.numpy()
    tol = 64 * n * EPS * _size(An, bn)
    assert abs(sol.value.item() - hard_case_value(An, bn)) <= tol
    assert optimality_residual(An, bn, x) <= tol
    # the minimizer has mass on the bottom eigenspace (it would not be on the sphere otherwise)
    assert np.linalg.norm(Q[:, :mult].numpy().T @ x) > 0.5


def test_nearly_hard_case_is_continuous():
    A, b, Q = _hard_case(5, seed=3)
    values = []
    for eps in (1e-4, 1e-8, 1e-12, 0.0):
        values.append(OptLayer(TrustRegion())(A, b + eps * Q[:, 0]).value.item())
        x = OptLayer(TrustRegion())(A, b + eps * Q[:, 0]).x.numpy()
        assert optimality_residual(A.numpy(), (b + eps * Q[:, 0]).numpy(), x) <= 1e-12
    assert abs(values[-2] - values[-1]) <= 1e-11 and abs(values[1] - values[-1]) <= 1e-7


def test_zero_b_gives_the_smallest_eigenvalue_and_the_ball_gives_min_with_zero():
    A = random_symmetric(6, 4, 4, seed=5)
    lam0 = torch.linalg.eigvalsh(A)[:, 0]
    b = torch.zeros(6, 4, dtype=torch.float64)
    torch.testing.assert_close(OptLayer(TrustRegion())(A, b).value, lam0)
    torch.testing.assert_close(OptLayer(TrustRegion(ball=True))(A, b).value, lam0.clamp_max(0))


def test_ball_interior_solution_is_the_newton_point():
    mu = torch.tensor([[0.5, 1.0, 2.0, 3.0]], dtype=torch.float64)
    A = with_spectrum(mu, seed=2)[0]
    b = torch.tensor([0.1, -0.2, 0.05, 0.1], dtype=torch.float64)
    sol = OptLayer(TrustRegion(ball=True))(A, b)
    x = -torch.linalg.solve(A, b)
    assert x.norm() < 1
    torch.testing.assert_close(sol.x, x)
    torch.testing.assert_close(sol.value, -(b @ torch.linalg.solve(A, b)))  # = bᵀx
    # on the sphere the same data must pay more: the sphere excludes the interior optimum
    assert OptLayer(TrustRegion())(A, b).value > sol.value


def test_ball_value_is_below_the_sphere_value_and_equal_when_not_convex():
    A = random_symmetric(20, 5, 5, seed=7)
    b = torch.randn(20, 5, generator=torch.Generator().manual_seed(7), dtype=torch.float64)
    sphere = OptLayer(TrustRegion())(A, b).value
    ball = OptLayer(TrustRegion(ball=True))(A, b).value
    assert bool((ball <= sphere + 1e-12).all())
    indefinite = torch.linalg.eigvalsh(A)[:, 0] <= 0
    torch.testing.assert_close(ball[indefinite], sphere[indefinite])


@pytest.mark.parametrize("ball", [False, True])
def test_gradcheck_away_from_the_hard_case(ball):
    A = random_symmetric(3, 4, 4, seed=11).requires_grad_(True)
    b = torch.randn(3, 4, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    b = (b * 0.3).requires_grad_(True)  # small b: the ball has interior solutions too
    assert torch.autograd.gradcheck(lambda A, b: OptLayer(TrustRegion(ball))(A, b).value, (A, b))


def test_gradient_is_danskins():
    A = random_symmetric(3, 5, 5, seed=13).requires_grad_(True)
    b = torch.randn(3, 5, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    b.requires_grad_(True)
    sol = OptLayer(TrustRegion())(A, b)
    sol.value.sum().backward()
    x = sol.x.detach()
    torch.testing.assert_close(A.grad, x[..., :, None] * x[..., None, :])
    torch.testing.assert_close(b.grad, 2 * x)
    torch.testing.assert_close(sol.X, x[..., :, None] * x[..., None, :])


def test_tridiagonal_matches_dense_with_gradients_on_the_diagonals():
    d = torch.randn(3, 6, dtype=torch.float64, requires_grad=True)
    e = torch.randn(3, 5, dtype=torch.float64, requires_grad=True)
    b = torch.randn(3, 6, dtype=torch.float64)
    T = SymTridiagonal(d, e)
    sol = OptLayer(TrustRegion())(T, b)
    torch.testing.assert_close(sol.value, OptLayer(TrustRegion())(T.to_dense(), b).value)
    sol.value.sum().backward()
    x = sol.x.detach()
    torch.testing.assert_close(d.grad, x * x)
    torch.testing.assert_close(e.grad, 2 * x[:, :-1] * x[:, 1:])


def test_batch_dimensions_broadcast_as_in_torch():
    A = random_symmetric(3, 1, 4, 4, seed=17)
    b = torch.randn(2, 4, dtype=torch.float64)
    sol = OptLayer(TrustRegion())(A, b)
    assert sol.value.shape == (3, 2) and sol.x.shape == (3, 2, 4) and sol.X.shape == (3, 2, 4, 4)
    for i in range(3):
        for j in range(2):
            single = OptLayer(TrustRegion())(A[i, 0], b[j]).value
            torch.testing.assert_close(sol.value[i, j], single)
    assert OptLayer(TrustRegion())(A[0, 0], b).value.shape == (2,)


def test_float32_is_accurate_to_single_precision():
    A = random_symmetric(8, 6, 6, seed=19)
    b = torch.randn(8, 6, dtype=torch.float64)
    v32 = OptLayer(TrustRegion())(A.float(), b.float()).value
    assert v32.dtype == torch.float32
    torch.testing.assert_close(v32.double(), OptLayer(TrustRegion())(A, b).value,
                               atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize(
    "make_b, error, match",
    [
        (lambda: torch.ones(3, dtype=F64), ValueError, r"b must have shape \(\.\.\., n\)"),
        (lambda: torch.ones(4, 4, dtype=F64), ValueError,
         r"b's batch shape \(4,\) does not broadcast"),
        (lambda: torch.tensor([1.0, float("nan"), 0, 0], dtype=torch.float64), ValueError,
         "b has non-finite"),
        (lambda: torch.ones(4, dtype=torch.float32), TypeError, "b must have the dtype of A"),
        (lambda: "b", TypeError, "b must be a torch.Tensor"),
    ],
)
def test_bad_b_is_refused_naming_b(make_b, error, match):
    A = random_symmetric(2, 4, 4, seed=23)
    with pytest.raises(error, match=match):
        OptLayer(TrustRegion())(A, make_b())


def test_wrong_number_of_data_is_refused():
    with pytest.raises(TypeError, match=r"TrustRegion takes 2 data argument\(s\) \(A, b\), got 1"):
        OptLayer(TrustRegion())(torch.eye(3))
    with pytest.raises(TypeError, match="ball must be a bool"):
        TrustRegion(ball=1)


@pytest.mark.parametrize("ball", [False, True])
def test_sdp_agrees_with_eigen_including_the_hard_case(ball):
    A = random_symmetric(3, 4, 4, seed=29)
    b = torch.randn(3, 4, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    Ah, bh, _ = _hard_case(4, seed=4)
    A, b = torch.cat([A, Ah[None]]), torch.cat([b, bh[None]])
    eig = OptLayer(TrustRegion(ball))(A, b)
    sdp = OptLayer(TrustRegion(ball), "sdp")(A, b)
    scale = torch.linalg.matrix_norm(A, 2).clamp_min(1)
    assert float(((eig.value - sdp.value).abs() / scale).max()) <= 1e-6
    # the SDP's X is feasible and optimal: on the simple rows it is x xᵀ
    torch.testing.assert_close(sdp.X[:3], eig.X[:3], atol=1e-5, rtol=0)


def test_eigenvector_sign_does_not_matter():
    Q = random_orthogonal(1, 5, seed=31)[0]
    mu = torch.tensor([-2.0, -1.0, 0.0, 1.0, 2.0], dtype=torch.float64)
    A = (Q * mu) @ Q.T
    b = Q @ torch.tensor([0.4, 0.1, 0.2, 0.0, 0.1], dtype=torch.float64)
    v = OptLayer(TrustRegion())(A, b).value
    assert v.item() == pytest.approx(ggvm_value(A.numpy(), b.numpy()), abs=1e-12)
