"""The SDP backend's solution derivative against references that share nothing with it.

``Solution.X`` of the SDP backend is differentiated through the Fantope SDP's KKT system at
the solver's primal-dual point (backends/fantope_sdp.py). The references: ``torch.linalg.eigh``'s
backward of the projector ``Σ coef · Q diag(w) Qᵀ`` — ``w`` the indicator of the selected
eigenvalues for exact terms, the capped-simplex weights of ``smoothing.fantope_envelope`` for
smoothed ones — and central finite differences of the SDP solution itself. Spectra are
separated (gaps ≥ 0.5), where the solution map is differentiable.
"""

import numpy as np
import pytest
import torch

from optneuron import KyFan, OptLayer, SphereQP
from optneuron.backends.fantope_sdp import (
    FantopeKKTDerivative,
    kkt_matrix,
    smat,
    solve_fantope,
    svec,
)
from optneuron.smoothing import fantope_envelope

from spectra_helpers import random_symmetric, with_spectrum

SPECTRA = [[-2.0, -1.0, 0.5, 1.5, 3.0], [-1.5, -0.5, 0.25, 1.0, 2.5]]

CASES = [
    SphereQP(0),
    SphereQP(2),
    SphereQP(-1),
    KyFan(2),
    KyFan(3, largest=True),
    SphereQP(0, smoothing=0.4),
    SphereQP(-2, smoothing=0.3),
    KyFan(1, largest=True, smoothing=0.5),
    KyFan(2, smoothing=0.5),
    KyFan(3, largest=True, smoothing=0.6),
]


def eigen_reference_X(problem, A):
    """``X(A)`` from ``torch.linalg.eigh`` (autograd through it): per Fantope term,
    ``Q diag(w) Qᵀ`` with ``w`` the term's weights."""
    n = A.shape[-1]
    mu, Q = torch.linalg.eigh(A)
    X = torch.zeros_like(A)
    for term in problem.fantope_terms(n):
        if problem.smoothing is None:
            w = torch.zeros_like(mu)
            if term.largest:
                w[..., n - term.count :] = 1
            else:
                w[..., : term.count] = 1
        else:
            _, w = fantope_envelope(mu, term.count, term.largest, problem.smoothing)
        X = X + term.coef * (Q * w[..., None, :]) @ Q.mT
    return X


def relative_error(a, b):
    return ((a - b).norm() / b.norm()).item()


@pytest.mark.parametrize("problem", CASES, ids=str)
def test_solution_derivative_matches_eigh_backward(problem):
    A = with_spectrum(SPECTRA, seed=31)
    C = random_symmetric(2, 5, 5, seed=32)
    leaf = A.clone().requires_grad_(True)
    X = OptLayer(problem, "sdp")(leaf).X
    (C * X).sum().backward()
    ref_leaf = A.clone().requires_grad_(True)
    X_ref = eigen_reference_X(problem, ref_leaf)
    (C * X_ref).sum().backward()
    symmetric_reference = (ref_leaf.grad + ref_leaf.grad.mT) / 2
    assert relative_error(X.detach(), X_ref.detach()) < 1e-6
    assert relative_error(leaf.grad, symmetric_reference) < 1e-4
    # the input is symmetrized, so ∂/∂A is a symmetric matrix
    assert torch.equal(leaf.grad, leaf.grad.mT)


@pytest.mark.parametrize("problem", [SphereQP(1), KyFan(2, largest=True, smoothing=0.5)], ids=str)
def test_solution_derivative_matches_central_differences_of_the_sdp(problem):
    """<∂<C, X>/∂A, E> against <C, X(A+hE) − X(A−hE)>/2h of the SDP solution itself, for
    symmetric directions E (diagonal and off-diagonal); solves are accurate to ~1e-10, h = 1e-4."""
    A = with_spectrum([[-1.0, 0.5, 2.0]], seed=33)
    C = random_symmetric(1, 3, 3, seed=43)
    layer = OptLayer(problem, "sdp")
    leaf = A.clone().requires_grad_(True)
    (C * layer(leaf).X).sum().backward()
    h = 1e-4
    for i, j in [(0, 0), (0, 1), (1, 2), (2, 2)]:
        E = torch.zeros(1, 3, 3, dtype=torch.float64)
        E[0, i, j] = E[0, j, i] = 1.0
        difference = (C * (layer(A + h * E).X - layer(A - h * E).X)).sum() / (2 * h)
        assert abs((leaf.grad * E).sum().item() - difference.item()) < 1e-5


def test_float32_input_gets_a_float32_symmetric_gradient():
    A = with_spectrum(SPECTRA, seed=34).float().requires_grad_(True)
    X = OptLayer(KyFan(2), "sdp")(A).X
    assert X.dtype == torch.float32
    X[:, 0, 1].sum().backward()
    assert A.grad.dtype == torch.float32 and torch.equal(A.grad, A.grad.mT)
    reference = A.detach().double().requires_grad_(True)
    eigen_reference_X(KyFan(2), reference)[:, 0, 1].sum().backward()
    symmetric_reference = (reference.grad + reference.grad.mT) / 2
    assert relative_error(A.grad.double(), symmetric_reference) < 1e-5


def test_svec_is_an_isometry_in_every_solver_order():
    M, N = random_symmetric(2, 4, 4, seed=35), random_symmetric(2, 4, 4, seed=36)
    for solver in ("Clarabel", "SCS", "canonical"):
        v = svec(M, solver)
        assert v.shape == (2, 10)
        torch.testing.assert_close((v * svec(N, solver)).sum(-1), (M * N).sum((-2, -1)))
        torch.testing.assert_close(smat(v, 4, solver), M)


@pytest.mark.parametrize("solve_method, m, alpha", [("Clarabel", 1, None), ("Clarabel", 2, 0.5),
                                                    ("SCS", 2, None)])
def test_solver_duals_satisfy_the_kkt_conditions(solve_method, m, alpha):
    """The duals come back in the right order (what diffcp gets wrong for Clarabel, n ≥ 4):
    stationarity S + αX − νI − Z + W = 0 and complementarity XZ = 0, (I − X)W = 0."""
    S = with_spectrum([[-1.0, -0.25, 0.5, 1.0]], seed=37)
    args = {"solve_method": solve_method}
    if solve_method == "SCS":
        args.update(eps_abs=1e-10, eps_rel=1e-10)
    a = None if alpha is None else torch.tensor([alpha], dtype=torch.float64)
    sol = solve_fantope(S, m, a, args)
    I = torch.eye(4, dtype=torch.float64)
    W = torch.zeros_like(S) if sol.W is None else sol.W
    residual = S + (alpha or 0.0) * sol.X - sol.nu[:, None, None] * I - sol.Z + W
    tol = 1e-6 if solve_method == "SCS" else 1e-8
    assert residual.abs().max() < tol
    assert (sol.X @ sol.Z).abs().max() < tol
    assert ((I - sol.X) @ W).abs().max() < tol
    assert torch.linalg.eigvalsh(sol.Z).min() > -tol


def test_kkt_matrix_near_singular_direction_is_the_dual_shift_and_backward_ignores_it():
    """m = 1: K is well conditioned. Exact m > 1: the dual is not unique (ν anywhere between
    λ_{m−1} and λ_m, with Z and W shifted to match), so K has one near-zero singular value; its
    right singular vector moves no dX and its left one touches no stationarity row, so the
    adjoint's output (the stationarity block) does not see it."""
    S = with_spectrum([[-1.0, 0.0, 1.0, 2.0]], seed=38)
    zero = torch.zeros(1, dtype=torch.float64)
    one = solve_fantope(S, 1, None, {})
    assert torch.linalg.cond(kkt_matrix(one.X, one.Z, one.W, zero)).item() < 1e3
    two = solve_fantope(S, 2, None, {})
    K = kkt_matrix(two.X, two.Z, two.W, zero)
    assert K.shape == (1, 31, 31)
    U, sigma, Vh = torch.linalg.svd(K)
    assert sigma[0, -1] < 1e-6 < sigma[0, -2]
    assert Vh[0, -1, :10].abs().max() < 1e-6 and U[0, :10, -1].abs().max() < 1e-6


def test_kkt_derivative_function_on_the_spectraplex_matches_the_eigenvector_formula():
    """For X = q₀q₀ᵀ, dX = q₀dqᵀ + dq q₀ᵀ with dq = −(A − λ₀I)⁺ dA q₀ (a closed-form
    reference for the bare autograd Function, m = 1)."""
    A = with_spectrum([[-1.0, 0.5, 1.0, 3.0]], seed=39)
    sol = solve_fantope(A, 1, None, {})
    C = random_symmetric(1, 4, 4, seed=40)
    S = A.clone().requires_grad_(True)
    X = FantopeKKTDerivative.apply(S, sol.X, sol.Z, sol.W, torch.zeros(1, dtype=torch.float64))
    (C * X).sum().backward()
    mu, Q = np.linalg.eigh(A[0].numpy())
    q = Q[:, 0]
    pinv = np.linalg.pinv(A[0].numpy() - mu[0] * np.eye(4), rcond=1e-10)
    # <C, dX> = 2 qᵀ C dq = −2 qᵀ C (A − λ₀I)⁺ dA q, so the gradient is −(v qᵀ + q vᵀ),
    # v = (A − λ₀I)⁺ C q
    v = pinv @ C[0].numpy() @ q
    expected = -(np.outer(v, q) + np.outer(q, v))
    assert np.abs(S.grad[0].numpy() - expected).max() < 1e-7


def test_bad_solver_arguments_are_named():
    A = random_symmetric(1, 4, 4, seed=41)
    with pytest.raises(ValueError, match="solve_method"):
        OptLayer(KyFan(2), "sdp", solver_args={"solve_method": "MOSEK"})(A)
    with pytest.raises(ValueError, match="solver_args.*tol_nonsense"):
        OptLayer(KyFan(2), "sdp", solver_args={"tol_nonsense": 1.0})(A)


@pytest.mark.parametrize("gap", [1e-3, 1e-6])
def test_near_tie_across_the_selection_still_matches_eigh(gap):
    """The derivative grows like 1/gap; it stays accurate while the gap is well above the
    solver's accuracy (a relative error ≲ tolerance/gap)."""
    A = with_spectrum([[1.0, 1.0 + gap, 2.0, 3.0]], seed=3)
    C = random_symmetric(1, 4, 4, seed=4)
    leaf = A.clone().requires_grad_(True)
    (C * OptLayer(SphereQP(0), "sdp")(leaf).X).sum().backward()
    reference = A.clone().requires_grad_(True)
    (C * eigen_reference_X(SphereQP(0), reference)).sum().backward()
    assert relative_error(leaf.grad, (reference.grad + reference.grad.mT) / 2) < 1e-4


@pytest.mark.parametrize("problem", [KyFan(2), SphereQP(1, smoothing=0.3)], ids=str)
def test_scs_solutions_give_the_same_derivative(problem):
    A = with_spectrum([[-1.0, 0.0, 1.0, 2.0, 3.5]], seed=5)
    C = random_symmetric(1, 5, 5, seed=6)
    scs = {"solve_method": "SCS", "eps_abs": 1e-9, "eps_rel": 1e-9}
    leaf = A.clone().requires_grad_(True)
    (C * OptLayer(problem, "sdp", solver_args=scs)(leaf).X).sum().backward()
    reference = A.clone().requires_grad_(True)
    (C * eigen_reference_X(problem, reference)).sum().backward()
    assert relative_error(leaf.grad, (reference.grad + reference.grad.mT) / 2) < 1e-4


def test_a_solve_that_fails_its_certificate_is_retried_in_another_orientation(monkeypatch):
    # the first solve of every batch comes back slightly infeasible (as an interior-point solve
    # that stalls does); the rotated retry must be certified and give the same X and derivative
    from optneuron import OptLayer, SphereQP
    from optneuron.backends import fantope_sdp, sdp

    real = fantope_sdp.solve_fantope
    calls = []

    def stalled_once(S, m, alpha, solver_args):
        out = real(S, m, alpha, solver_args)
        calls.append(S.shape)
        if len(calls) == 1:
            return out._replace(X=out.X - 1e-3 * torch.eye(S.shape[-1], dtype=S.dtype),
                                statuses=["AlmostSolved"] * S.shape[0])
        return out

    monkeypatch.setattr(sdp, "solve_fantope", stalled_once)
    g = torch.Generator().manual_seed(3)
    A = torch.randn(2, 4, 4, generator=g, dtype=torch.float64)
    A = ((A + A.mT) / 2).requires_grad_(True)
    C = torch.randn(4, 4, generator=g, dtype=torch.float64)
    C = C + C.mT
    X = OptLayer(SphereQP(0), backend="sdp")(A).X
    (C * X).sum().backward()
    assert len(calls) == 2
    R = A.detach().clone().requires_grad_(True)
    q = torch.linalg.eigh(R)[1][..., 0]
    torch.testing.assert_close(X.detach(), (q[..., :, None] * q[..., None, :]).detach(),
                               atol=1e-7, rtol=0)
    (C * (q[..., :, None] * q[..., None, :])).sum().backward()
    torch.testing.assert_close(A.grad, R.grad, atol=1e-5, rtol=1e-4)
