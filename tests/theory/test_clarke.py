"""theory/clarke.md: the Clarke subdifferential of λ_k at repeated eigenvalues; both
backward passes return members of it."""

import numpy as np
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import optneuron
from optneuron.verify import subdifferential_distance

from ._helpers import (
    SEEDS,
    clustered_spectrum,
    distinct_gap,
    orthogonal,
    random_symmetric,
    value_and_grad,
    with_spectrum,
)


def _cluster(mu, k, tol=1e-9):
    """Half-open index range [a, b) of the eigenvalues equal to mu[k]."""
    same = np.flatnonzero(np.abs(mu - mu[k]) <= tol)
    return int(same[0]), int(same[-1]) + 1


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 8), data=st.data(), seed=SEEDS, scale=st.sampled_from([1e-2, 1.0, 1e2]))
def test_eigen_gradient_in_subdifferential(n, data, seed, scale):
    """q_k q_kᵀ (λ_k) and the projector Σ_{j<m} q_j q_jᵀ (Ky Fan) from the eigen backend lie
    in the Clarke subdifferential, whichever eigenvectors the solver picked in a cluster."""
    k = data.draw(st.integers(0, n - 1))
    A = with_spectrum(clustered_spectrum(n, seed, scale, max_mult=4), seed)
    mu, Q = np.linalg.eigh(A)
    tol = 1e-9 * scale
    for problem in (optneuron.SphereQP(k), optneuron.KyFan(k + 1),
                    optneuron.KyFan(k + 1, largest=True)):
        _, G, sol = value_and_grad(problem, A)
        lo, hi = problem.eigen_range(n)
        assert subdifferential_distance(G, Q, mu, lo, hi, tol) <= 1e-9
        assert subdifferential_distance(sol.X.detach().numpy(), Q, mu, lo, hi, tol) <= 1e-9


@settings(max_examples=10, deadline=None)
@given(n=st.integers(2, 5), data=st.data(), seed=SEEDS)
def test_sdp_gradient_in_subdifferential(n, data, seed):
    """The SDP backend's gradient (its optimal X, Danskin) lies in the same set, for every
    index, at spectra with clusters of multiplicity up to 4 (middle indices: see the caveat)."""
    k = data.draw(st.integers(0, n - 1))
    A = with_spectrum(clustered_spectrum(n, seed, max_mult=4), seed)
    mu, Q = np.linalg.eigh(A)
    assume(distinct_gap(mu) > 1e-2)  # a nearly-but-not-repeated pair blurs the SDP's answer
    problem = optneuron.SphereQP(k)
    _, G, sol = value_and_grad(problem, A, "sdp")
    assert subdifferential_distance(G, Q, mu, k, k + 1, 1e-8) <= 1e-5
    assert subdifferential_distance(sol.X.detach().numpy(), Q, mu, k, k + 1, 1e-8) <= 1e-5


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 8), data=st.data(), seed=SEEDS)
def test_directional_derivative_at_cluster(n, data, seed):
    """λ_k'(A; E) = λ_{k−a}(Uᵀ E U), U a basis of the eigenspace of λ_k, [a, b) its indices:
    the one-sided derivative that makes the subdifferential conv{q qᵀ : q ∈ range U}."""
    k = data.draw(st.integers(0, n - 1))
    A = with_spectrum(clustered_spectrum(n, seed, max_mult=4), seed)
    mu, Q = np.linalg.eigh(A)
    assume(distinct_gap(mu) > 1e-2)  # keeps the O(t/gap) second-order term small
    a, b = _cluster(mu, k)
    E = random_symmetric(n, seed + 1)
    U = Q[:, a:b]
    predicted = np.linalg.eigvalsh(U.T @ E @ U)[k - a]
    t = 1e-7
    fd = (np.linalg.eigvalsh(A + t * E)[k] - mu[k]) / t
    assert abs(fd - predicted) <= 1e-4 * (1 + np.abs(E).max())


@settings(max_examples=40, deadline=None)
@given(n=st.integers(2, 8), data=st.data(), seed=SEEDS)
def test_every_q_qT_is_a_limit_of_gradients(n, data, seed):
    """For any unit q in the eigenspace, A_t = A + t Σ_j (j−k) v_j v_jᵀ (v_k = q) has a simple
    λ_k with gradient q qᵀ: the subdifferential is no smaller than conv{q qᵀ}."""
    k = data.draw(st.integers(0, n - 1))
    A = with_spectrum(clustered_spectrum(n, seed, max_mult=4), seed)
    mu, Q = np.linalg.eigh(A)
    assume(distinct_gap(mu) > 1e-3)
    a, b = _cluster(mu, k)
    V = Q[:, a:b] @ orthogonal(b - a, seed + 5)  # a random orthonormal basis of the eigenspace
    q = V[:, k - a]
    gaps = np.diff(np.unique(np.round(mu, 9)))
    t = 1e-3 * (gaps.min() if len(gaps) else 1.0) / n
    At = A + t * sum((a + j - k) * np.outer(V[:, j], V[:, j]) for j in range(b - a))
    _, G, _ = value_and_grad(optneuron.SphereQP(k), At)
    assert np.linalg.norm(G - np.outer(q, q)) <= 1e-6


def test_danskin_alone_does_not_pick_a_member_for_middle_indices():
    """Caveat of theory/clarke.md: for a cluster of multiplicity ≥ 3 with k strictly inside,
    some optimal X_{k+1} (of F_{k+1}) and X_k (of F_k) have X_{k+1} − X_k ∉ ∂λ_k; the SDP
    backend is right only because the interior-point solver returns the symmetric centre."""
    mu = np.array([-1.0, 0.0, 0.0, 0.0, 2.0])
    A = with_spectrum(mu, 3)
    ref_mu, Q = np.linalg.eigh(A)
    k = 2
    P = np.outer(Q[:, 0], Q[:, 0])
    U = Q[:, 1:4]
    X3 = P + U @ np.diag([1.0, 1.0, 0.0]) @ U.T  # optimal for F_3: tr 3, 0 ⪯ X ⪯ I
    X2 = P + U @ np.diag([0.0, 0.0, 1.0]) @ U.T  # optimal for F_2
    assert abs(np.sum(A * X3) - ref_mu[:3].sum()) < 1e-12
    assert abs(np.sum(A * X2) - ref_mu[:2].sum()) < 1e-12
    assert subdifferential_distance(X3 - X2, Q, ref_mu, k, k + 1, 1e-9) > 0.5
    sdp = optneuron.OptLayer(optneuron.SphereQP(k), "sdp")(torch.tensor(A)).X.numpy()
    assert subdifferential_distance(sdp, Q, ref_mu, k, k + 1, 1e-9) <= 1e-5
