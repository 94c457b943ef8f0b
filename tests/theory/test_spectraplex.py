"""theory/spectraplex.md: the SDP relaxation of λ_0 is tight; its optimal set; its dual."""

import cvxpy as cp
import numpy as np
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import optneuron
from optneuron.verify import subdifferential_distance

from ._helpers import SEEDS, clustered_spectrum, distinct_gap, random_symmetric, rng, with_spectrum


@settings(max_examples=15, deadline=None)
@given(n=st.integers(1, 5), seed=SEEDS, scale=st.sampled_from([0.1, 1.0, 10.0]))
def test_sdp_optimum_equals_eigen_and_eigvalsh(n, seed, scale):
    A = np.stack([random_symmetric(n, seed + b, scale) for b in range(3)])
    At = torch.tensor(A)
    sdp = optneuron.OptLayer(optneuron.SphereQP(0), "sdp")(At).value.numpy()
    eig = optneuron.OptLayer(optneuron.SphereQP(0), "eigen")(At).value.numpy()
    ref = np.linalg.eigvalsh(A)[:, 0]
    np.testing.assert_allclose(eig, ref, rtol=0, atol=1e-12 * scale)
    np.testing.assert_allclose(sdp, ref, rtol=0, atol=1e-6 * scale)


@settings(max_examples=15, deadline=None)
@given(n=st.integers(2, 5), seed=SEEDS, top=st.booleans())
def test_sdp_solution_in_optimal_set_at_repeated_eigenvalue(n, seed, top):
    """With a repeated extreme eigenvalue the SDP's X is some point of
    conv{q qᵀ : q in the eigenspace}: X ⪰ 0, tr X = 1, support in the eigenspace."""
    mu = clustered_spectrum(n, seed, max_mult=n)
    mu[: 2] = mu[0]  # the bottom eigenvalue is at least double
    if top:
        mu = -mu[::-1]
    assume(distinct_gap(mu) > 1e-2)
    A = with_spectrum(mu, seed)
    index = -1 if top else 0
    sol = optneuron.OptLayer(optneuron.SphereQP(index), "sdp")(torch.tensor(A))
    X = sol.X.numpy()
    assert np.linalg.eigvalsh(X)[0] >= -1e-7
    assert abs(np.trace(X) - 1) <= 1e-7
    ref_mu, Q = np.linalg.eigh(A)
    k = index % n
    assert subdifferential_distance(X, Q, ref_mu, k, k + 1, 1e-8) <= 1e-5


@settings(max_examples=30, deadline=None)
@given(n=st.integers(1, 7), seed=SEEDS)
def test_optimality_gap_bounds_mass_outside_eigenspace(n, seed):
    """For feasible X: ⟨A, X⟩ − λ_0 ≥ (λ_gap) · tr((I − P) X), P the bottom eigenprojector.
    Hence ⟨A, X⟩ = λ_0 forces X = P X P: the optimal set is conv{q qᵀ}."""
    A = with_spectrum(clustered_spectrum(n, seed), seed)
    mu, Q = np.linalg.eigh(A)
    bottom = mu <= mu[0] + 1e-12
    if bottom.all():  # A = λ_0 I: every feasible X is optimal
        return
    gap = mu[~bottom][0] - mu[0]
    P = Q[:, bottom] @ Q[:, bottom].T
    for trial in range(10):
        G = rng(seed + trial).standard_normal((n, n))
        X = G @ G.T
        X /= np.trace(X)
        outside = np.trace((np.eye(n) - P) @ X)
        assert np.sum(A * X) - mu[0] >= gap * outside - 1e-12


@settings(max_examples=10, deadline=None)
@given(n=st.integers(1, 5), seed=SEEDS)
def test_dual_certificate(n, seed):
    """max t s.t. A − tI ⪰ 0 equals λ_0, and A − λ_0 I is PSD and singular."""
    A = random_symmetric(n, seed)
    lam0 = float(optneuron.OptLayer(optneuron.SphereQP(0))(torch.tensor(A)).value)
    t = cp.Variable()
    cp.Problem(cp.Maximize(t), [A - t * np.eye(n) >> 0]).solve(solver=cp.CLARABEL)
    assert abs(t.value - lam0) <= 1e-6
    shifted = np.linalg.eigvalsh(A - lam0 * np.eye(n))
    assert shifted[0] >= -1e-12 and abs(shifted[0]) <= 1e-12
