"""theory/solution-derivatives.md, sections 5 and 6: the trust-region minimizer's implicit
derivative and the generalized eigenvector's, against central differences of numpy/scipy
solves; the eigen backend's ``x`` derivative is the same directional derivative."""

import numpy as np
import scipy.linalg
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import optneuron

from ._helpers import SEEDS, random_symmetric, rng

H = 1e-6


def _direction(n, seed):
    E = rng(seed + 1).standard_normal((n, n))
    return (E + E.T) / 2


def _sphere_minimizer(A, b):
    """Gander–Golub–von Matt: ``μ`` the smallest real eigenvalue of ``[[A, −I], [−bbᵀ, A]]``,
    ``x = −(A − μI)⁻¹b``; also returns ``μ``."""
    n = len(b)
    ev = scipy.linalg.eigvals(np.block([[A, -np.eye(n)], [-np.outer(b, b), A]]))
    mu = ev[np.abs(ev.imag) <= 1e-7 * np.abs(ev).max()].real.min()
    return -np.linalg.solve(A - mu * np.eye(n), b), mu


def _package_directional(problem, data, direction, weights):
    """``⟨weights, x'(data)[direction]⟩`` from the eigen backend's backward."""
    leaves = [torch.tensor(d, requires_grad=True) for d in data]
    x = optneuron.OptLayer(problem)(*leaves).x
    (torch.tensor(weights) * x).sum().backward()
    return sum((leaf.grad.numpy() * d).sum() for leaf, d in zip(leaves, direction))


@settings(max_examples=20, deadline=None)
@given(n=st.integers(2, 7), seed=SEEDS)
def test_trust_region_derivative_is_the_kkt_formula(n, seed):
    """Sphere: ``dx = −M⁻¹(dA x + db) + dμ M⁻¹x``, ``dμ = xᵀM⁻¹(dA x + db)/xᵀM⁻¹x``, and
    ``‖dx‖ ≤ (‖dA‖₂ + ‖db‖)/t``."""
    A, E = random_symmetric(n, seed), _direction(n, seed)
    b, f = rng(seed + 2).standard_normal(n), rng(seed + 3).standard_normal(n)
    x, mu = _sphere_minimizer(A, b)
    t = np.linalg.eigvalsh(A)[0] - mu
    if t < 0.05:
        return  # near the hard case central differences need a smaller step; the formula holds
    M = A - mu * np.eye(n)
    r = E @ x + f
    u = np.linalg.solve(M, x)
    formula = -np.linalg.solve(M, r) + (u @ r) / (u @ x) * u
    bound = (np.linalg.norm(E, 2) + np.linalg.norm(f)) / t
    assert np.linalg.norm(formula) <= bound * (1 + 1e-9)
    fd = (_sphere_minimizer(A + H * E, b + H * f)[0]
          - _sphere_minimizer(A - H * E, b - H * f)[0]) / (2 * H)
    size = max(1.0, np.abs(formula).max())
    assert np.abs(fd - formula).max() < 1e-5 * size / t
    package = _package_directional(optneuron.TrustRegion(), (A, b), (E, f), formula)
    assert abs(package - formula @ formula) < 1e-8 * max(1.0, formula @ formula)


@settings(max_examples=10, deadline=None)
@given(n=st.integers(1, 6), seed=SEEDS)
def test_ball_interior_derivative_is_newtons(n, seed):
    """Inside the ball (``A ≻ 0``, ``‖A⁻¹b‖ < 1``): ``x = −A⁻¹b``, ``dx = −A⁻¹(dA x + db)``."""
    G = rng(seed).standard_normal((n, n))
    A, E = G @ G.T + np.eye(n), _direction(n, seed)
    b = rng(seed + 2).standard_normal(n)
    b = 0.5 * b / np.linalg.norm(b)  # ‖A⁻¹b‖ ≤ ‖b‖/λ_min(A) ≤ 0.5
    f = rng(seed + 3).standard_normal(n)
    x = -np.linalg.solve(A, b)
    formula = -np.linalg.solve(A, E @ x + f)
    fd = (np.linalg.solve(A + H * E, -(b + H * f))
          - np.linalg.solve(A - H * E, -(b - H * f))) / (2 * H)
    assert np.abs(fd - formula).max() < 1e-6 * max(1.0, np.abs(formula).max())
    package = _package_directional(optneuron.TrustRegion(ball=True), (A, b), (E, f), formula)
    assert abs(package - formula @ formula) < 1e-8 * max(1.0, formula @ formula)


def _generalized_vector(A, B, k):
    """scipy's B-normalized generalized eigenvector k, largest-magnitude component positive."""
    x = scipy.linalg.eigh(A, B)[1][:, k]
    return x * np.sign(x[np.argmax(np.abs(x))])


@settings(max_examples=20, deadline=None)
@given(n=st.integers(2, 7), data=st.data(), seed=SEEDS)
def test_generalized_eigenvector_derivative(n, data, seed):
    """``dx_k = Σ_{j≠k} x_j x_jᵀ(dA − λ_k dB)x_k/(λ_k − λ_j) − ½(x_kᵀ dB x_k) x_k``."""
    k = data.draw(st.integers(0, n - 1))
    G = rng(seed + 4).standard_normal((n, n))
    A, B = random_symmetric(n, seed), G @ G.T / n + 0.5 * np.eye(n)
    E, F = _direction(n, seed), _direction(n, seed + 10)
    lam, X = scipy.linalg.eigh(A, B)
    X = X * np.sign(X[np.argmax(np.abs(X), axis=0), range(n)])
    gap = min(abs(lam[j] - lam[k]) for j in range(n) if j != k)
    if gap < 1e-2:
        return
    x = X[:, k]
    others = [j for j in range(n) if j != k]
    coupling = X[:, others].T @ (E - lam[k] * F) @ x / (lam[k] - lam[others])
    formula = X[:, others] @ coupling - 0.5 * (x @ F @ x) * x
    fd = (_generalized_vector(A + H * E, B + H * F, k)
          - _generalized_vector(A - H * E, B - H * F, k)) / (2 * H)
    size = max(1.0, np.abs(formula).max())
    assert np.abs(fd - formula).max() < 1e-5 * size / gap
    package = _package_directional(optneuron.GeneralizedSphereQP(k), (A, B), (E, F), formula)
    assert abs(package - formula @ formula) < 1e-7 * max(1.0, formula @ formula)
