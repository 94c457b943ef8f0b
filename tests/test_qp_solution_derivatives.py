"""Differentiable solutions of TrustRegion and GeneralizedSphereQP, on both backends.

References that share nothing with the code under test: central finite differences of the
eigen backend's own ``x`` (gradcheck and an explicit directional check), the trust-region
minimizer recomputed from numpy (the Gander–Golub–von Matt multiplier) for the
finite differences of the formula, and the SDP backend's KKT derivative against the eigen
backend's implicit derivative (and vice versa). Spectra and data are generic unless the test
is about a degenerate case.
"""

import numpy as np
import pytest
import torch

from optneuron import GeneralizedSphereQP, OptLayer, SymTridiagonal, TrustRegion
from optneuron.backends.trust_region_solution import tridiagonal_solve

from spectra_helpers import random_symmetric, with_spectrum

F64 = torch.float64


def _data(n, seed, ball=False):
    """Two generic ``(A, b)``; with ``ball`` the first is an interior case (``A ≻ 0``,
    ``‖A⁻¹b‖ < 1``) and the second a boundary one."""
    A = random_symmetric(2, n, n, seed=seed)
    b = torch.randn(2, n, generator=torch.Generator().manual_seed(seed + 1), dtype=F64)
    if ball:
        A[0] = A[0] @ A[0] + 2 * torch.eye(n, dtype=F64)
        b[0] = 0.3 * b[0] / b[0].norm()
    return A, b


def _spd(*shape, seed):
    M = torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=F64)
    return M @ M.mT / shape[-1] + 0.5 * torch.eye(shape[-1], dtype=F64)


def _trust_region_x(ball, method="auto"):
    layer = OptLayer(TrustRegion(ball=ball), method=method)
    return lambda A, b: layer(A, b).x


@pytest.mark.parametrize("ball", [False, True])
@pytest.mark.parametrize("n", [2, 4, 6])
def test_trust_region_x_and_X_pass_gradcheck_dense(n, ball):
    A, b = _data(n, seed=n, ball=ball)
    leaves = (A.requires_grad_(), b.requires_grad_())
    assert torch.autograd.gradcheck(_trust_region_x(ball), leaves)
    C = random_symmetric(2, n, n, seed=n + 7)
    layer = OptLayer(TrustRegion(ball=ball))
    assert torch.autograd.gradcheck(lambda A, b: (C * layer(A, b).X).sum(), leaves)
    if ball:  # the batch really holds one interior and one boundary point
        norms = layer(A, b).x.norm(dim=-1)
        assert norms[0] < 0.9 and abs(norms[1].item() - 1) < 1e-12


@pytest.mark.parametrize("ball", [False, True])
@pytest.mark.parametrize("n", [3, 5])
def test_trust_region_x_passes_gradcheck_tridiagonal(n, ball):
    g = torch.Generator().manual_seed(n)
    d, e = torch.randn(2, n, generator=g, dtype=F64), torch.randn(2, n - 1, generator=g, dtype=F64)
    b = torch.randn(2, n, generator=g, dtype=F64)
    if ball:  # diagonally dominant, small b: the interior solution
        d[0] = 4 + d[0].abs()
        b[0] = 0.3 * b[0] / b[0].norm()
    layer = OptLayer(TrustRegion(ball=ball))
    assert torch.autograd.gradcheck(
        lambda d, e, b: layer(SymTridiagonal(d, e), b).x,
        (d.requires_grad_(), e.requires_grad_(), b.requires_grad_()))


def _ggvm_minimizer(A, b):
    """numpy/scipy reference for the sphere: the GGVM multiplier, then ``x = −(A − μI)⁻¹b``."""
    import scipy.linalg

    n = len(b)
    ev = scipy.linalg.eigvals(np.block([[A, -np.eye(n)], [-np.outer(b, b), A]]))
    mu = ev[np.abs(ev.imag) <= 1e-7 * np.abs(ev).max()].real.min()
    return -np.linalg.solve(A - mu * np.eye(n), b)


def test_trust_region_derivative_matches_central_differences_of_an_independent_solver():
    n = 5
    A, b = _data(n, seed=11)
    A, b = A[0], b[0]
    E = random_symmetric(n, n, seed=12)
    f = torch.randn(n, generator=torch.Generator().manual_seed(13), dtype=F64)
    h = 1e-6
    fd = (_ggvm_minimizer((A + h * E).numpy(), (b + h * f).numpy())
          - _ggvm_minimizer((A - h * E).numpy(), (b - h * f).numpy())) / (2 * h)
    c = torch.randn(n, generator=torch.Generator().manual_seed(14), dtype=F64)
    for method in ("auto", "lapack"):  # the kernels' path and LAPACK's give the same x'
        leaves = (A.clone().requires_grad_(), b.clone().requires_grad_())
        (c * _trust_region_x(False, method)(*leaves)).sum().backward()
        directional = (leaves[0].grad * E).sum() + (leaves[1].grad * f).sum()
        assert abs(directional.item() - c.numpy() @ fd) <= 1e-6 * np.abs(fd).max()


def test_tridiagonal_solve_matches_a_dense_solve():
    g = torch.Generator().manual_seed(0)
    d = 3 + torch.rand(3, 7, generator=g, dtype=F64)
    e = torch.randn(3, 6, generator=g, dtype=F64)
    R = torch.randn(3, 7, 2, generator=g, dtype=F64)
    dense = SymTridiagonal(d, e).to_dense()
    assert torch.allclose(tridiagonal_solve(d, e, R), torch.linalg.solve(dense, R), atol=1e-13)


def _hard_case(n):
    """Simple bottom eigenvalue, ``b ⟂ q_0`` and ``‖(A − λ_0)⁺b‖ < 1``."""
    mu = torch.linspace(-1.0, 2.0, n, dtype=F64)
    A = with_spectrum(mu[None], seed=n)[0]
    Q = torch.linalg.eigh(A).eigenvectors
    return A, Q[:, 1:] @ torch.full((n - 1,), 0.2 / np.sqrt(n), dtype=F64)


def _kink(n):
    """The ball with ``‖A⁻¹b‖ = 1`` exactly: the interior solution touches the boundary."""
    A = torch.diag(torch.linspace(1.0, 3.0, n, dtype=F64))
    x0 = torch.ones(n, dtype=F64) / np.sqrt(n)
    return A, -A @ x0


@pytest.mark.parametrize("backend", ["eigen", "sdp"])
@pytest.mark.parametrize("case, ball, match", [
    ("hard", False, "hard case|singular"),
    ("b = 0", False, "hard case|singular"),
    ("kink", True, "kink|singular"),
])
def test_non_differentiable_trust_region_points_raise_on_backward(backend, case, ball, match):
    n = 4
    if case == "hard":
        A, b = _hard_case(n)
    elif case == "b = 0":
        A, b = torch.diag(torch.linspace(-1.0, 2.0, n, dtype=F64)), torch.zeros(n, dtype=F64)
    else:
        A, b = _kink(n)
    A.requires_grad_()
    sol = OptLayer(TrustRegion(ball=ball), backend)(A, b)
    with pytest.raises(ValueError, match=match) as info:
        sol.X.sum().backward()
    assert "TrustRegion" in str(info.value)
    if backend == "sdp":
        assert "eigen backend" in str(info.value)


def test_ball_b_zero_inside_is_differentiable():
    """``b = 0`` with ``A ≻ 0`` on the ball is the interior point ``x = 0``: ``dx = −A⁻¹db``."""
    A = with_spectrum(torch.tensor([[0.5, 1.0, 2.0]]), seed=3)[0]
    b = torch.zeros(3, dtype=F64, requires_grad=True)
    x = OptLayer(TrustRegion(ball=True))(A, b).x
    (J,) = torch.autograd.grad(x, b, torch.eye(3, dtype=F64), is_grads_batched=True)
    assert torch.allclose(J, -torch.linalg.inv(A), atol=1e-12)


GENERALIZED = [GeneralizedSphereQP(0), GeneralizedSphereQP(2), GeneralizedSphereQP(-1)]


@pytest.mark.parametrize("problem", GENERALIZED)
@pytest.mark.parametrize("n", [3, 5])
def test_generalized_x_and_X_pass_gradcheck(problem, n):
    A, B = random_symmetric(2, n, n, seed=n), _spd(2, n, n, seed=n)
    layer = OptLayer(problem)
    leaves = (A.requires_grad_(), B.requires_grad_())
    # fast mode (a random projection of the Jacobian against central differences): the full
    # Jacobian of 2n² inputs costs ~10 s here for no more confidence
    assert torch.autograd.gradcheck(lambda A, B: layer(A, B).x, leaves, fast_mode=True)
    C = random_symmetric(2, n, n, seed=n + 3)
    assert torch.autograd.gradcheck(lambda A, B: (C * layer(A, B).X).sum(), leaves,
                                    fast_mode=True)


@pytest.mark.parametrize("problem", [GeneralizedSphereQP(1), GeneralizedSphereQP(0, smoothing=0.4)])
def test_generalized_tridiagonal_and_smoothed_X_pass_gradcheck(problem):
    n = 4
    g = torch.Generator().manual_seed(4)
    d, e = torch.randn(2, n, generator=g, dtype=F64), torch.randn(2, n - 1, generator=g, dtype=F64)
    B, C = _spd(2, n, n, seed=5), random_symmetric(2, n, n, seed=6)
    layer = OptLayer(problem)
    assert torch.autograd.gradcheck(
        lambda d, e, B: (C * layer(SymTridiagonal(d, e), B).X).sum(),
        (d.requires_grad_(), e.requires_grad_(), B.requires_grad_()), fast_mode=True)


def test_generalized_x_is_b_normalized_with_its_sign_rule_and_gap_is_the_reduced_gap():
    import scipy.linalg

    n = 5
    A, B = random_symmetric(3, n, n, seed=2), _spd(3, n, n, seed=3)
    for grad in (False, True):
        sol = OptLayer(GeneralizedSphereQP(1))(A.clone().requires_grad_(grad), B)
        x = sol.x.detach()
        assert torch.allclose((x.unsqueeze(-2) @ B @ x.unsqueeze(-1)).flatten(),
                              torch.ones(3, dtype=F64), atol=1e-12)
        top = x.abs().argmax(-1, keepdim=True)
        assert bool((x.gather(-1, top) > 0).all())
    mu = np.stack([scipy.linalg.eigh(A[i].numpy(), B[i].numpy(), eigvals_only=True)
                   for i in range(3)])
    expected = np.minimum(mu[:, 1] - mu[:, 0], mu[:, 2] - mu[:, 1])
    # the gap is the reduced matrix C = L⁻¹AL⁻ᵀ's, whose eigenvalues are the pencil's
    assert np.allclose(sol.gap.numpy(), expected, atol=1e-10)


def test_generalized_tie_raises_on_backward_naming_the_gap():
    A = torch.diag(torch.tensor([-1.0, -1.0, 1.0, 2.0], dtype=F64)).requires_grad_()
    B = _spd(4, 4, seed=0)
    L = torch.linalg.cholesky(B)
    A_tied = (L @ A @ L.mT).detach().requires_grad_()  # λ(A_tied, B) = λ(A): a bottom tie
    sol = OptLayer(GeneralizedSphereQP(0))(A_tied, B)
    with pytest.raises(ValueError, match="Solution.gap"):
        sol.X.sum().backward()


def _grads(backend, problem, data, C, c):
    leaves = [t.clone().requires_grad_() for t in data]
    sol = OptLayer(problem, backend)(*leaves)
    loss = (C * sol.X).sum() + (0 if c is None else (c * sol.x).sum())
    loss.backward()
    return [t.grad for t in leaves]


def _relative(a, b):
    return ((a - b).norm() / b.norm()).item()


@pytest.mark.parametrize("ball", [False, True])
@pytest.mark.parametrize("n", [3, 5])
def test_sdp_trust_region_derivative_agrees_with_eigen(n, ball):
    A, b = _data(n, seed=20 + n, ball=ball)
    C, c = random_symmetric(2, n, n, seed=n), torch.randn(2, n, dtype=F64)
    eigen = _grads("eigen", TrustRegion(ball=ball), (A, b), C, c)
    sdp = _grads("sdp", TrustRegion(ball=ball), (A, b), C, c)
    for e, s in zip(eigen, sdp):
        assert _relative(s, e) <= 1e-4


@pytest.mark.parametrize("problem", [GeneralizedSphereQP(0), GeneralizedSphereQP(1),
                                     GeneralizedSphereQP(0, smoothing=0.3)])
def test_sdp_generalized_derivative_agrees_with_eigen(problem):
    n = 5
    A, B = random_symmetric(2, n, n, seed=30), _spd(2, n, n, seed=31)
    C = random_symmetric(2, n, n, seed=32)
    eigen = _grads("eigen", problem, (A, B), C, None)
    sdp = _grads("sdp", problem, (A, B), C, None)
    for e, s in zip(eigen, sdp):
        assert _relative(s, e) <= 1e-4


SCS = {"solve_method": "SCS", "eps_abs": 1e-10, "eps_rel": 1e-10, "max_iters": 100_000}


@pytest.mark.parametrize("solver_args", [None, SCS], ids=["Clarabel", "SCS"])
@pytest.mark.parametrize("ball", [False, True])
def test_linear_sdp_returns_a_kkt_point(ball, solver_args):
    """The solver's duals, mapped back from its own vectorization, satisfy the KKT conditions
    (stationarity, complementarity, dual feasibility, ``ν_i s_i = 0``): what the derivative
    linearizes must be a KKT point."""
    from optneuron.backends.linear_sdp import solve_linear_sdp
    from optneuron.backends.sdp import DEFAULT_SOLVER_ARGS
    from optneuron.backends.sdp_forms import _trust_region_constraints

    n = 4
    A, b = _data(n, seed=40, ball=ball)
    S = torch.zeros(2, n + 1, n + 1, dtype=F64)
    S[:, :n, :n], S[:, :n, n], S[:, n, :n] = A, b, b
    S = S / torch.linalg.matrix_norm(S, 2)[:, None, None]
    M, c, p_eq = _trust_region_constraints(n, ball)
    M = M.expand(2, -1, -1, -1)
    solved = solve_linear_sdp(S, M, c, p_eq, solver_args or DEFAULT_SOLVER_ARGS)
    stationarity = S - (solved.nu[..., None, None] * M).sum(1) - solved.Z
    assert stationarity.abs().max() < 1e-8
    assert (solved.Y @ solved.Z).abs().max() < 1e-5  # Clarabel stops at "AlmostSolved": ~1e-6
    assert torch.linalg.eigvalsh(solved.Z).min() > -1e-8
    assert (solved.nu * solved.slack).abs().max() < 1e-8
    if ball:  # the interior row has slack, the boundary row a multiplier
        assert solved.slack[0, 1] > 0.1 and solved.nu[1, 1] < -1e-3


def test_sdp_derivative_with_scs_agrees_with_eigen():
    n = 4
    A, b = _data(n, seed=41)
    C, c = random_symmetric(2, n, n, seed=42), torch.randn(2, n, dtype=F64)
    eigen = _grads("eigen", TrustRegion(), (A, b), C, c)
    leaves = [A.clone().requires_grad_(), b.clone().requires_grad_()]
    sol = OptLayer(TrustRegion(), "sdp", solver_args=SCS, optimality_tol=1e-5)(*leaves)
    ((C * sol.X).sum() + (c * sol.x).sum()).backward()
    for e, leaf in zip(eigen, leaves):
        assert _relative(leaf.grad, e) <= 1e-6
