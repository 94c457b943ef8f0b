"""GeneralizedSphereQP: λ_k(A, B) = min xᵀAx s.t. xᵀBx = 1 (and Courant–Fischer), B ≻ 0."""

import numpy as np
import pytest
import scipy.linalg
import torch

from optneuron import GeneralizedSphereQP, OptLayer, SphereQP, SymTridiagonal

from spectra_helpers import random_symmetric


def _spd(*shape, seed, cond=10.0):
    g = torch.Generator().manual_seed(seed)
    M = torch.randn(*shape, generator=g, dtype=torch.float64)
    return M @ M.mT / shape[-1] + torch.eye(shape[-1], dtype=torch.float64) / cond


@pytest.mark.parametrize("n", [1, 3, 6])
def test_values_match_scipy_eigh_for_every_index(n):
    A, B = random_symmetric(4, n, n, seed=n), _spd(4, n, n, seed=n)
    ref = np.stack([scipy.linalg.eigh(A[i].numpy(), B[i].numpy(), eigvals_only=True)
                    for i in range(4)])
    for k in range(-n, n):
        value = OptLayer(GeneralizedSphereQP(k))(A, B).value.numpy()
        scale = np.abs(ref).max(-1)
        assert np.all(np.abs(value - ref[:, k]) <= 1e3 * n * np.finfo(float).eps * scale)


def test_repeated_generalized_eigenvalue():
    n = 5
    B = _spd(n, n, seed=1)
    L = torch.linalg.cholesky(B)
    mu = torch.tensor([-1.0, -1.0, 0.5, 0.5, 2.0], dtype=torch.float64)
    Q = torch.linalg.qr(torch.randn(n, n, dtype=torch.float64)).Q
    A = L @ (Q * mu) @ Q.T @ L.T  # λ(A, B) = mu
    for k in range(n):
        assert OptLayer(GeneralizedSphereQP(k))(A, B).value.item() == pytest.approx(
            mu[k].item(), abs=1e-12)


def test_minimizer_is_b_normalized_and_a_generalized_eigenvector():
    A, B = random_symmetric(3, 5, 5, seed=2), _spd(3, 5, 5, seed=2)
    for k in (0, 2, -1):
        sol = OptLayer(GeneralizedSphereQP(k))(A, B)
        x = sol.x
        torch.testing.assert_close(torch.einsum("bi,bij,bj->b", x, B, x), torch.ones(3,
                                   dtype=torch.float64))
        torch.testing.assert_close(A @ x[..., None], sol.value[:, None, None] * B @ x[..., None])
        torch.testing.assert_close(sol.X, x[..., :, None] * x[..., None, :])


@pytest.mark.parametrize("index, smoothing", [(0, None), (1, None), (-1, None), (1, 0.3)])
def test_gradcheck(index, smoothing):
    A = random_symmetric(2, 4, 4, seed=3).requires_grad_(True)
    B = _spd(2, 4, 4, seed=3).requires_grad_(True)
    problem = GeneralizedSphereQP(index, smoothing=smoothing)
    assert torch.autograd.gradcheck(lambda A, B: OptLayer(problem)(A, B).value, (A, B))


def test_gradients_are_x_xt_and_minus_lambda_x_xt():
    A = random_symmetric(3, 5, 5, seed=4).requires_grad_(True)
    B = _spd(3, 5, 5, seed=4).requires_grad_(True)
    sol = OptLayer(GeneralizedSphereQP(1))(A, B)
    sol.value.sum().backward()
    x, lam = sol.x.detach(), sol.value.detach()
    xxT = x[..., :, None] * x[..., None, :]
    torch.testing.assert_close(A.grad, xxT)
    torch.testing.assert_close(B.grad, -lam[:, None, None] * xxT)


def test_identity_b_is_the_sphere_problem_and_smoothing_follows_it():
    A = random_symmetric(4, 5, 5, seed=5)
    eye = torch.eye(5, dtype=torch.float64)
    for k, alpha in ((0, None), (2, None), (2, 0.2), (-1, 0.5)):
        torch.testing.assert_close(OptLayer(GeneralizedSphereQP(k, smoothing=alpha))(A, eye).value,
                                   OptLayer(SphereQP(k, smoothing=alpha))(A).value)


def test_tridiagonal_a_and_broadcast_b():
    d, e = torch.randn(3, 4, dtype=torch.float64), torch.randn(3, 3, dtype=torch.float64)
    B = _spd(4, 4, seed=6)
    T = SymTridiagonal(d, e)
    got = OptLayer(GeneralizedSphereQP(-1))(T, B)
    assert got.value.shape == (3,)
    torch.testing.assert_close(got.value, OptLayer(GeneralizedSphereQP(-1))(T.to_dense(), B).value)


@pytest.mark.parametrize(
    "make_B, error, match",
    [
        (lambda: -torch.eye(3, dtype=torch.float64), ValueError, "B must be symmetric positive"),
        (lambda: torch.zeros(3, 3, dtype=torch.float64), ValueError, "B must be symmetric pos"),
        (lambda: torch.full((3, 3), float("inf"), dtype=torch.float64), ValueError,
         "B has non-finite"),
        (lambda: torch.eye(4, dtype=torch.float64), ValueError,
         r"B must have shape \(\.\.\., n, n\)"),
        (lambda: torch.eye(3, dtype=torch.float64).expand(5, 3, 3), ValueError,
         "B's batch shape"),
    ],
)
@pytest.mark.parametrize("backend", ["eigen", "sdp"])
def test_bad_b_is_refused_naming_b(make_B, error, match, backend):
    A = random_symmetric(2, 3, 3, seed=7)
    with pytest.raises(error, match=match):
        OptLayer(GeneralizedSphereQP(0), backend)(A, make_B())


@pytest.mark.parametrize("index, smoothing", [(0, None), (1, None), (-1, None), (0, 0.3)])
def test_sdp_agrees_with_eigen(index, smoothing):
    A = random_symmetric(3, 4, 4, seed=8).requires_grad_(True)
    B = _spd(3, 4, 4, seed=8).requires_grad_(True)
    problem = GeneralizedSphereQP(index, smoothing=smoothing)
    eig, sdp = OptLayer(problem)(A, B), OptLayer(problem, "sdp")(A, B)
    scale = eig.value.detach().abs().clamp_min(1)
    assert float(((eig.value - sdp.value).detach().abs() / scale).max()) <= 1e-6
    ge = torch.autograd.grad(eig.value.sum(), (A, B))
    gs = torch.autograd.grad(sdp.value.sum(), (A, B))
    for a, b in zip(ge, gs):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(eig.X, sdp.X, atol=1e-5, rtol=1e-5)
