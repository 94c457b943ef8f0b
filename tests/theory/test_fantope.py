"""theory/ky-fan.md: Ky Fan sums over the Fantope; λ_k = F_{k+1} − F_k; top indices."""

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
    random_symmetric,
    rng,
    value,
    with_spectrum,
)


@settings(max_examples=15, deadline=None)
@given(n=st.integers(2, 5), data=st.data(), seed=SEEDS, largest=st.booleans(),
       repeated=st.booleans())
def test_fantope_sdp_equals_ky_fan_sum(n, data, seed, largest, repeated):
    """The SDP over {tr X = m, 0 ⪯ X ⪯ I} returns the Ky Fan sum, and its X lies in the
    optimal set (the Clarke/convex subdifferential of the sum) even at repeated eigenvalues."""
    m = data.draw(st.integers(1, n))
    A = with_spectrum(clustered_spectrum(n, seed), seed) if repeated else random_symmetric(n, seed)
    mu, Q = np.linalg.eigh(A)
    assume(distinct_gap(mu) > 1e-2)
    problem = optneuron.KyFan(m, largest=largest)
    sol = optneuron.OptLayer(problem, "sdp")(torch.tensor(A))
    ref = mu[n - m:].sum() if largest else mu[:m].sum()
    assert abs(float(sol.value) - ref) <= 1e-6 * m
    assert abs(float(value(problem, A)) - ref) <= 1e-12 * n
    lo, hi = problem.eigen_range(n)
    assert subdifferential_distance(sol.X.numpy(), Q, mu, lo, hi, 1e-8) <= 1e-5


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 8), seed=SEEDS)
def test_fantope_lower_bound_holds_for_random_feasible_points(n, seed):
    """⟨A, X⟩ ≥ F_m(A) on the Fantope (random points Q diag(w) Qᵀ, w in the capped simplex),
    and dropping X ⪯ I would give the smaller value m·λ_0."""
    A = random_symmetric(n, seed)
    mu = np.linalg.eigvalsh(A)
    r = rng(seed)
    for m in range(1, n + 1):
        for _ in range(5):
            w = r.uniform(0, 1, n)
            w = np.clip(w * m / w.sum(), 0, 1)
            while abs(w.sum() - m) > 1e-12:  # push mass onto the unsaturated entries
                free = w < 1
                w[free] += (m - w.sum()) / free.sum()
                w = np.clip(w, 0, 1)
            U, _ = np.linalg.qr(r.standard_normal((n, n)))
            X = (U * w) @ U.T
            assert np.sum(A * X) >= mu[:m].sum() - 1e-12 * n
        assert m * mu[0] <= mu[:m].sum() + 1e-12


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 8), data=st.data(), seed=SEEDS, repeated=st.booleans())
def test_kth_eigenvalue_is_difference_of_ky_fan_sums(n, data, seed, repeated):
    k = data.draw(st.integers(0, n - 1))
    A = with_spectrum(clustered_spectrum(n, seed), seed) if repeated else random_symmetric(n, seed)
    F = [0.0] + [float(value(optneuron.KyFan(m), A)) for m in range(1, n + 1)]
    E = [0.0] + [float(value(optneuron.KyFan(m, largest=True), A)) for m in range(1, n + 1)]
    lam = float(value(optneuron.SphereQP(k), A))
    assert abs(lam - (F[k + 1] - F[k])) <= 1e-12 * n
    assert abs(lam - (E[n - k] - E[n - k - 1])) <= 1e-12 * n
    # top indices: λ_{n-1-j}(A) = −λ_j(−A), and the negative index convention
    assert abs(float(value(optneuron.SphereQP(n - 1 - k), A)) + float(
        value(optneuron.SphereQP(k), -A))) <= 1e-12 * n
    assert float(value(optneuron.SphereQP(k - n), A)) == lam


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 8), data=st.data(), seed=SEEDS)
def test_ky_fan_sums_are_concave_and_convex(n, data, seed):
    """F_m is concave and E_m convex in A (midpoint inequalities on random segments)."""
    m = data.draw(st.integers(1, n))
    A, B = random_symmetric(n, seed), random_symmetric(n, seed + 1)
    for t in (0.25, 0.5, 0.9):
        M = t * A + (1 - t) * B
        for largest, sign in ((False, 1.0), (True, -1.0)):
            p = optneuron.KyFan(m, largest=largest)
            mix = t * float(value(p, A)) + (1 - t) * float(value(p, B))
            assert sign * (float(value(p, M)) - mix) >= -1e-12 * n


@settings(max_examples=10, deadline=None)
@given(n=st.integers(2, 5), data=st.data(), seed=SEEDS)
def test_sdp_backend_middle_index_matches_eigen(n, data, seed):
    """The SDP backend's two-Fantope value for any index (also negative) equals eigvalsh."""
    k = data.draw(st.integers(-n, n - 1))
    A = np.stack([random_symmetric(n, seed + b) for b in range(2)])
    ref = np.linalg.eigvalsh(A)[:, k]
    got = optneuron.OptLayer(optneuron.SphereQP(k), "sdp")(torch.tensor(A)).value.numpy()
    np.testing.assert_allclose(got, ref, rtol=0, atol=2e-6)
