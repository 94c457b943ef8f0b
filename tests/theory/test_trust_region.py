"""theory/trust-region.md and theory/trust-region-hard-case.md: optimality, S-lemma, hard case."""

import numpy as np
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import optneuron

from ._helpers import SEEDS, orthogonal, random_symmetric, rng


def _solve(A, b, ball=False, backend="eigen"):
    sol = optneuron.OptLayer(optneuron.TrustRegion(ball), backend)(torch.tensor(A), torch.tensor(b))
    return sol.value.numpy(), sol


@settings(max_examples=8, deadline=None)
@given(n=st.integers(1, 5), seed=SEEDS, ball=st.booleans())
def test_sdp_value_equals_the_eigen_value(n, seed, ball):
    A = np.stack([random_symmetric(n, seed + i) for i in range(2)])
    b = rng(seed).standard_normal((2, n))
    eig, _ = _solve(A, b, ball)
    sdp, _ = _solve(A, b, ball, "sdp")
    np.testing.assert_allclose(sdp, eig, atol=1e-6 * max(1.0, np.abs(A).max()))


@settings(max_examples=20, deadline=None)
@given(n=st.integers(1, 6), seed=SEEDS)
def test_dual_certificate_is_psd_and_annihilates_the_minimizer(n, seed):
    A, b = random_symmetric(n, seed), rng(seed).standard_normal(n)
    v, sol = _solve(A, b)
    x = sol.x.numpy()
    mu = x @ A @ x + b @ x
    M = np.block([[A - mu * np.eye(n), b[:, None]], [b[None, :], np.array([[mu - v]])]])
    scale = max(1.0, np.linalg.norm(A, 2), np.linalg.norm(b))
    assert np.linalg.eigvalsh(M)[0] >= -1e-9 * scale
    assert np.linalg.norm(M @ np.append(x, 1.0)) <= 1e-9 * scale
    assert mu <= np.linalg.eigvalsh(A)[0] + 1e-9 * scale


@settings(max_examples=20, deadline=None)
@given(n=st.integers(1, 6), seed=SEEDS, ball=st.booleans())
def test_no_unit_vector_beats_the_minimizer(n, seed, ball):
    A, b = random_symmetric(n, seed), rng(seed).standard_normal(n)
    v, _ = _solve(A, b, ball)
    X = rng(seed + 1).standard_normal((2000, n))
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    if ball:
        X *= rng(seed + 2).uniform(0, 1, (2000, 1)) ** (1 / n)
    q = np.einsum("bi,ij,bj->b", X, A, X) + 2 * X @ b
    assert q.min() >= v - 1e-12


def _hard(n, seed, mult):
    mu = np.sort(rng(seed).uniform(0.5, 2.0, n))
    mu[:mult] = -1.0
    Q = orthogonal(n, seed)
    coef = rng(seed + 1).standard_normal(n)
    coef[:mult] = 0.0
    coef *= 0.3 / max(np.linalg.norm(coef), 1e-300)
    A = (Q * mu) @ Q.T
    return (A + A.T) / 2, Q @ coef, Q[:, :mult]


@settings(max_examples=15, deadline=None)
@given(n=st.integers(2, 6), seed=SEEDS, mult=st.integers(1, 3))
def test_hard_case_value_and_minimizers(n, seed, mult):
    mult = min(mult, n)
    A, b, E0 = _hard(n, seed, mult)
    xp = -np.linalg.pinv(A + np.eye(n), rcond=1e-10) @ b
    assert np.linalg.norm(xp) < 1  # the hard case proper
    v, sol = _solve(A, b)
    assert abs(v - (-1.0 + b @ xp)) <= 1e-12
    x = sol.x.numpy()
    # x = x_p + τ q with q in E_0 and τ = (1 − ‖x_p‖²)^½
    tau = np.sqrt(1 - xp @ xp)
    np.testing.assert_allclose(np.linalg.norm(E0.T @ x), tau, atol=1e-10)
    np.testing.assert_allclose(x - E0 @ (E0.T @ x), xp, atol=1e-10)
    # the other branch x_p − τq is a minimizer too: the minimizer is not unique
    other = 2 * xp - x
    assert abs(other @ A @ other + 2 * b @ other - v) <= 1e-12


@settings(max_examples=15, deadline=None)
@given(n=st.integers(2, 6), seed=SEEDS)
def test_secular_function_is_increasing_and_concave(n, seed):
    lam = np.sort(rng(seed).standard_normal(n))
    beta = rng(seed + 1).standard_normal(n)
    t = np.linspace(1e-3, 10, 400)
    d = lam - lam[0]
    h = 1 / np.sqrt(((beta[None, :] / (d[None, :] + t[:, None])) ** 2).sum(-1))
    assert np.all(np.diff(h) > 0)
    assert np.all(np.diff(h, 2) <= 1e-12)


@settings(max_examples=15, deadline=None)
@given(n=st.integers(1, 6), seed=SEEDS)
def test_root_is_bracketed(n, seed):
    A, b = random_symmetric(n, seed), rng(seed).standard_normal(n)
    lam, Q = np.linalg.eigh(A)
    v, sol = _solve(A, b)
    x = sol.x.numpy()
    t = lam[0] - (x @ A @ x + b @ x)
    beta = Q.T @ b
    bottom = np.abs(lam - lam[0]) <= 1e-12 * max(1, np.abs(lam).max())
    assert np.linalg.norm(beta[bottom]) - 1e-9 <= t <= np.linalg.norm(b) + 1e-9
