"""theory/tridiagonal.md: gradient formula, Sturm counts, simple spectra, bidiagonal L Lᵀ."""

import numpy as np
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import optneuron
from optneuron import SymTridiagonal

from ._helpers import SEEDS, min_gap, rng


def _dense(d, e):
    return np.diag(d) + np.diag(e, 1) + np.diag(e, -1)


def _random_tridiagonal(n, seed, scale=1.0):
    r = rng(seed)
    d = r.standard_normal(n) * scale
    e = r.choice([-1, 1], n - 1) * r.uniform(0.1, 1.5, n - 1) * scale
    return d, e


def sturm_count(d, e, x):
    """Number of eigenvalues of T strictly below x: the negative pivots of T − xI = L D Lᵀ."""
    count, q = 0, 1.0
    for i in range(len(d)):
        q = d[i] - x - (e[i - 1] ** 2 / q if i > 0 else 0.0)
        if q == 0.0:
            q = -1e-300  # x is (numerically) an eigenvalue: count it as below (a tiny shift)
        count += q < 0
    return count


def bisect_eigenvalue(d, e, k, iters=200):
    """λ_k of T by bisection on the Sturm count, from the Gershgorin interval."""
    radius = np.abs(np.concatenate([[0.0], e])) + np.abs(np.concatenate([e, [0.0]]))
    lo, hi = float(np.min(d - radius)), float(np.max(d + radius))
    for _ in range(iters):
        mid = (lo + hi) / 2
        if mid in (lo, hi):
            break
        lo, hi = (lo, mid) if sturm_count(d, e, mid) > k else (mid, hi)
    return (lo + hi) / 2


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 9), seed=SEEDS, scale=st.sampled_from([1e-3, 1.0, 1e3]))
def test_sturm_count_matches_eigvalsh(n, seed, scale):
    d, e = _random_tridiagonal(n, seed, scale)
    mu = np.linalg.eigvalsh(_dense(d, e))
    xs = np.concatenate([rng(seed + 1).uniform(mu[0] - scale, mu[-1] + scale, 20),
                         (mu[:-1] + mu[1:]) / 2])
    for x in xs:
        if np.min(np.abs(mu - x)) > 1e-9 * scale:
            assert sturm_count(d, e, x) == np.count_nonzero(mu < x)
    for k in range(n):
        assert abs(bisect_eigenvalue(d, e, k) - mu[k]) <= 1e-12 * scale * n


@settings(max_examples=40, deadline=None)
@given(n=st.integers(2, 9), seed=SEEDS, x=st.floats(-5, 5))
def test_unreduced_tridiagonal_has_simple_spectrum(n, seed, x):
    """(T − xI) with its first row and last column deleted is triangular with diagonal e,
    so rank(T − xI) ≥ n − 1 for every x: each eigenvalue is simple when all e_i ≠ 0."""
    d, e = _random_tridiagonal(n, seed)
    M = (_dense(d, e) - x * np.eye(n))[1:, :-1]
    assert np.allclose(np.tril(M, -1), 0) and np.allclose(np.diag(M), e)
    assert np.linalg.matrix_rank(_dense(d, e) - x * np.eye(n)) >= n - 1


@settings(max_examples=15, deadline=None)
@given(n=st.integers(2, 7), data=st.data(), seed=SEEDS, smoothing=st.sampled_from([None, 0.3]))
def test_gradient_formula_gradcheck(n, data, seed, smoothing):
    """∂λ_k/∂d_i = q_i², ∂λ_k/∂e_i = 2 q_i q_{i+1}: the eigen backend's tridiagonal backward
    against finite differences (gradcheck), away from crossings."""
    k = data.draw(st.integers(0, n - 1))
    d, e = _random_tridiagonal(n, seed)
    assume(min_gap(np.linalg.eigvalsh(_dense(d, e))) > 1e-2)
    layer = optneuron.OptLayer(optneuron.SphereQP(k, smoothing=smoothing))
    dt = torch.tensor(d, requires_grad=True)
    et = torch.tensor(e, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a, b: layer(SymTridiagonal(a, b)).value, (dt, et),
                                    eps=1e-6, atol=1e-5)
    # the same numbers as the dense gradient G = q qᵀ read off the tridiagonal pattern
    layer(SymTridiagonal(dt, et)).value.backward()
    q = np.linalg.eigh(_dense(d, e))[1][:, k]
    if smoothing is None:
        assert np.allclose(dt.grad.numpy(), q**2, atol=1e-10)
        assert np.allclose(et.grad.numpy(), 2 * q[:-1] * q[1:], atol=1e-10)
    A = torch.tensor(_dense(d, e), requires_grad=True)
    layer(A).value.backward()
    G = A.grad.numpy()
    assert np.allclose(dt.grad.numpy(), np.diag(G), atol=1e-10)
    assert np.allclose(et.grad.numpy(), 2 * np.diag(G, 1), atol=1e-10)


@settings(max_examples=30, deadline=None)
@given(n=st.integers(2, 8), seed=SEEDS)
def test_bidiagonal_factor_gives_psd_tridiagonal(n, seed):
    """L lower bidiagonal (diagonal a, subdiagonal b): L Lᵀ is tridiagonal with
    d_i = a_i² + b_{i−1}², e_i = a_i b_i, and PSD; every PD tridiagonal arises this way
    (its Cholesky factor is bidiagonal)."""
    r = rng(seed)
    a, b = r.standard_normal(n), r.standard_normal(n - 1)
    L = np.diag(a) + np.diag(b, -1)
    T = L @ L.T
    d = a**2 + np.concatenate([[0.0], b**2])
    e = a[:-1] * b
    assert np.allclose(T, _dense(d, e), atol=1e-12)
    assert np.linalg.eigvalsh(T)[0] >= -1e-12 * max(1.0, np.abs(T).max())
    d2, e2 = _random_tridiagonal(n, seed + 1)
    S = _dense(d2, e2)
    S = S + (1e-3 - min(0.0, np.linalg.eigvalsh(S)[0]) + 1e-3) * np.eye(n)  # make it PD
    C = np.linalg.cholesky(S)
    assert np.allclose(np.tril(C, -2), 0, atol=1e-12)
    # gradients flow to (a, b) through the parametrization (the chain rule, in the layer)
    at = torch.tensor(a, requires_grad=True)
    bt = torch.tensor(b, requires_grad=True)
    pad = torch.cat([at.new_zeros(1), bt])
    tri = SymTridiagonal(at**2 + pad**2, at[:-1] * bt)
    optneuron.OptLayer(optneuron.SphereQP(0))(tri).value.backward()
    assert torch.isfinite(at.grad).all() and torch.isfinite(bt.grad).all()


def test_one_by_one_tridiagonal():
    """n = 1: T = (d), λ_0 = d, gradient 1 (the formula with q = (±1))."""
    d = torch.tensor([2.5], dtype=torch.float64, requires_grad=True)
    sol = optneuron.OptLayer(optneuron.SphereQP(0))(SymTridiagonal(d, d.new_zeros(0)))
    sol.value.backward()
    assert float(sol.value.detach()) == 2.5 and float(d.grad) == 1.0
