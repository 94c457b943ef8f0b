"""theory/courant-fischer.md: the min-max and the sequential forms of λ_k."""

import numpy as np
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import optneuron

from ._helpers import SEEDS, clustered_spectrum, orthogonal, random_symmetric, rng, with_spectrum


def _matrix(n, seed, repeated):
    if repeated:
        return with_spectrum(clustered_spectrum(n, seed), seed)
    return random_symmetric(n, seed)


def _random_subspace(n, d, seed):
    Q, _ = np.linalg.qr(rng(seed).standard_normal((n, d)))
    return Q


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 8), data=st.data(), seed=SEEDS, repeated=st.booleans())
def test_min_max_over_subspaces(n, data, seed, repeated):
    """max over any (k+1)-dim S of the quotient ≥ λ_k, min over any (n−k)-dim T ≤ λ_k,
    with equality on the eigenvector spans."""
    k = data.draw(st.integers(0, n - 1))
    A = _matrix(n, seed, repeated)
    mu, Q = np.linalg.eigh(A)
    tol = 1e-12 * n
    for trial in range(10):
        S = _random_subspace(n, k + 1, seed + trial)
        T = _random_subspace(n, n - k, seed + 100 + trial)
        assert np.linalg.eigvalsh(S.T @ A @ S)[-1] >= mu[k] - tol
        assert np.linalg.eigvalsh(T.T @ A @ T)[0] <= mu[k] + tol
    assert abs(np.linalg.eigvalsh(Q[:, : k + 1].T @ A @ Q[:, : k + 1])[-1] - mu[k]) <= tol
    assert abs(np.linalg.eigvalsh(Q[:, k:].T @ A @ Q[:, k:])[0] - mu[k]) <= tol


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 8), data=st.data(), seed=SEEDS, repeated=st.booleans())
def test_sequential_form(n, data, seed, repeated):
    """min of xᵀAx over unit x ⟂ q_0..q_{k−1} is λ_k, for any orthonormal basis of that
    complement; the layer's minimizer for SphereQP(k) is such an x."""
    k = data.draw(st.integers(0, n - 1))
    A = _matrix(n, seed, repeated)
    mu, Q = np.linalg.eigh(A)
    # a random orthonormal basis of span(q_0..q_{k-1})^⟂
    V = Q[:, k:] @ orthogonal(n - k, seed + 7)
    assert abs(np.linalg.eigvalsh(V.T @ A @ V)[0] - mu[k]) <= 1e-12 * n
    sol = optneuron.OptLayer(optneuron.SphereQP(k))(torch.tensor(A))
    x = sol.x.numpy()
    assert abs(x @ A @ x - mu[k]) <= 1e-12 * n
    assert abs(float(sol.value) - mu[k]) <= 1e-12 * n
    # x ⟂ the eigenvectors of the *strictly* smaller eigenvalues (with repeated values the
    # "previous eigenvectors" are any orthonormal basis of the lower part of the cluster)
    below = Q[:, mu < mu[k] - 1e-9]
    assert np.abs(below.T @ x).max(initial=0.0) <= 1e-10


@settings(max_examples=30, deadline=None)
@given(n=st.integers(2, 8), seed=SEEDS)
def test_cauchy_interlacing(n, seed):
    """Corollary: the compression VᵀAV to an (n−1)-dim subspace interlaces the spectrum."""
    A = random_symmetric(n, seed)
    mu = np.linalg.eigvalsh(A)
    V = _random_subspace(n, n - 1, seed + 3)
    nu = np.linalg.eigvalsh(V.T @ A @ V)
    assert np.all(mu[:-1] <= nu + 1e-12) and np.all(nu <= mu[1:] + 1e-12)
