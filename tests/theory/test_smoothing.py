"""theory/smoothing.md: the Moreau envelope of Ky Fan sums, its gradient and error bounds."""

import numpy as np
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import optneuron
from optneuron.smoothing import capped_simplex_projection, fantope_envelope

from ._helpers import SEEDS, clustered_spectrum, random_symmetric, rng, value, with_spectrum

ALPHAS = st.sampled_from([1e-3, 0.05, 0.5, 3.0])


def _matrix(n, seed, repeated, scale=1.0):
    if repeated:
        return with_spectrum(clustered_spectrum(n, seed, scale), seed)
    return random_symmetric(n, seed, scale)


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 9), data=st.data(), seed=SEEDS, scale=st.sampled_from([0.1, 1.0, 10.0]))
def test_capped_simplex_projection(n, data, seed, scale):
    """w is feasible, has the form clip(v − τ, 0, 1), satisfies ⟨v − w, u − w⟩ ≤ 0 for feasible
    u (the projection's variational inequality), and grows with the total (lemma)."""
    m = data.draw(st.integers(0, n))
    r = rng(seed)
    v = torch.tensor(r.standard_normal(n) * scale)
    w = capped_simplex_projection(v, float(m)).numpy()
    vv = v.numpy()
    assert np.all(w >= -1e-12) and np.all(w <= 1 + 1e-12) and abs(w.sum() - m) <= 1e-9 * n
    inner = (w > 1e-12) & (w < 1 - 1e-12)
    if inner.sum() > 1:
        tau = vv[inner] - w[inner]
        assert np.ptp(tau) <= 1e-9 * (1 + scale)
    for _ in range(10):  # random vertices of the capped simplex
        u = np.zeros(n)
        u[r.permutation(n)[:m]] = 1.0
        assert (vv - w) @ (u - w) <= 1e-9 * (1 + scale) * n
    if m < n:
        w_next = capped_simplex_projection(v, float(m + 1)).numpy()
        assert np.all(w_next >= w - 1e-12)


@settings(max_examples=10, deadline=None)
@given(n=st.integers(2, 5), data=st.data(), seed=SEEDS, alpha=st.sampled_from([0.05, 0.5, 2.0]))
def test_closed_form_equals_sdp(n, data, seed, alpha):
    """The eigen backend's closed form and the SDP backend's quadratic Fantope program agree,
    for Ky Fan sums (either side) and for the smoothed λ_k."""
    m = data.draw(st.integers(1, n))
    k = data.draw(st.integers(-n, n - 1))
    A = np.stack([random_symmetric(n, seed + b) for b in range(2)])
    for problem in (optneuron.KyFan(m, largest=data.draw(st.booleans()), smoothing=alpha),
                    optneuron.SphereQP(k, smoothing=alpha)):
        got = value(problem, A, "sdp").numpy()
        np.testing.assert_allclose(got, value(problem, A).numpy(), rtol=0, atol=1e-6 * n)


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 8), data=st.data(), seed=SEEDS, alpha=ALPHAS, repeated=st.booleans())
def test_moreau_identity_and_gradient(n, data, seed, alpha, repeated):
    """E^α_m(A) = E_m(A − αX*) + (α/2)‖X*‖² with X* = ∇E^α_m(A) = Q diag(w) Qᵀ (the envelope
    is attained at the prox point A − αX*; the layer returns the aligned E^α_m + αm/2), and
    ‖∇E^α(A) − ∇E^α(B)‖ ≤ ‖A − B‖/α."""
    m = data.draw(st.integers(1, n))
    A = _matrix(n, seed, repeated)
    problem = optneuron.KyFan(m, largest=True, smoothing=alpha)
    env, X, _ = _value_grad(problem, A)
    exact = optneuron.KyFan(m, largest=True)
    moreau = float(value(exact, A - alpha * X)) + alpha / 2 * np.sum(X * X)
    assert abs(env - alpha * m / 2 - moreau) <= 1e-10
    mu, Q = np.linalg.eigh(A)
    _, w = fantope_envelope(torch.tensor(mu), m, True, alpha)
    assert np.allclose(X, (Q * w.numpy()) @ Q.T, atol=1e-10)
    B = A + random_symmetric(n, seed + 1, 10.0 ** rng(seed).uniform(-3, 1))
    _, XB, _ = _value_grad(problem, B)
    assert np.linalg.norm(X - XB) <= np.linalg.norm(A - B) / alpha + 1e-9


def _value_grad(problem, A):
    leaf = torch.tensor(A, requires_grad=True)
    sol = optneuron.OptLayer(problem)(leaf)
    sol.value.backward()
    return float(sol.value.detach()), leaf.grad.numpy(), sol


@settings(max_examples=8, deadline=None)
@given(n=st.integers(2, 5), data=st.data(), seed=SEEDS, alpha=st.sampled_from([0.1, 1.0]))
def test_smoothed_is_differentiable_at_repeated_eigenvalues(n, data, seed, alpha):
    """At an exactly repeated spectrum the smoothed problems are still differentiable:
    gradcheck of the eigen backend (its Q diag(w) Qᵀ does not depend on the basis chosen)."""
    k = data.draw(st.integers(-n, n - 1))
    A = torch.tensor(with_spectrum(clustered_spectrum(n, seed, max_mult=n), seed),
                     requires_grad=True)
    for problem in (optneuron.SphereQP(k, smoothing=alpha),
                    optneuron.KyFan(k % n + 1, smoothing=alpha)):
        layer = optneuron.OptLayer(problem)
        assert torch.autograd.gradcheck(lambda M, layer=layer: layer(M).value, (A,),
                                        eps=1e-6, atol=1e-5, fast_mode=True)


@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 8), data=st.data(), seed=SEEDS, alpha=ALPHAS, repeated=st.booleans(),
       scale=st.sampled_from([1e-3, 1.0, 1e2]))
def test_error_bounds(n, data, seed, alpha, repeated, scale):
    """Aligned terms: 0 ≤ Ê^α_m − E_m ≤ αm(n−m)/(2n) and 0 ≤ F_m − F̂^α_m ≤ αm(n−m)/(2n);
    |λ_k − λ^α_k| ≤ α/2 for the smoothed SphereQP (the bound its docstring states);
    the smoothed λ_k's gradient is PSD with trace 1."""
    m = data.draw(st.integers(1, n))
    k = data.draw(st.integers(0, n - 1))
    A = _matrix(n, seed, repeated, scale)
    mu = np.linalg.eigvalsh(A)
    tol = 1e-12 * n * (1 + scale) + 1e-12 * alpha * n
    cap = alpha * m * (n - m) / (2 * n)
    overE = float(value(optneuron.KyFan(m, largest=True, smoothing=alpha), A)) - mu[n - m:].sum()
    assert -tol <= overE <= cap + tol
    underF = mu[:m].sum() - float(value(optneuron.KyFan(m, smoothing=alpha), A))
    assert -tol <= underF <= cap + tol
    smooth, G, _ = _value_grad(optneuron.SphereQP(k, smoothing=alpha), A)
    assert abs(mu[k] - smooth) <= alpha / 2 + tol
    g = np.linalg.eigvalsh(G)
    assert g[0] >= -1e-10 and abs(g.sum() - 1) <= 1e-10


def _separated_spectrum(n, seed, alpha, k, gap_factor):
    """Ascending eigenvalues, random except that λ_k is ``gap_factor·α`` or more from both
    neighbours (the rest may cluster or repeat)."""
    r = rng(seed)
    below = np.sort(r.uniform(-3, 0, k)) - gap_factor * alpha
    above = np.sort(r.uniform(0, 3, n - 1 - k)) + gap_factor * alpha
    return np.concatenate([below, [0.0], above])


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 8), data=st.data(), seed=SEEDS, alpha=ALPHAS,
       gap_factor=st.sampled_from([1.0, 1.001, 2.0]), shift=st.sampled_from([-5.0, 0.0, 7.0]))
def test_aligned_is_exact_where_gaps_exceed_alpha(n, data, seed, alpha, gap_factor, shift):
    """λ^α_k = λ_k where both gaps to λ_k's neighbours are ≥ α; Ky Fan sums equal the exact
    sums where the selected set is ≥ α from the rest (eigen backend and the closed form)."""
    k = data.draw(st.integers(0, n - 1))
    mu = _separated_spectrum(n, seed, alpha, k, gap_factor) + shift
    A = with_spectrum(mu, seed)
    tol = 1e-11 * (1 + np.abs(mu).max()) * n
    assert abs(float(value(optneuron.SphereQP(k, smoothing=alpha), A)) - mu[k]) <= tol
    # λ_k's gaps make {λ_0..λ_k} separated from the rest: F_{k+1}, E_{n−k} are exact there.
    F = float(value(optneuron.KyFan(k + 1, smoothing=alpha), A))
    assert abs(F - mu[:k + 1].sum()) <= tol
    E = float(value(optneuron.KyFan(n - k, largest=True, smoothing=alpha), A))
    assert abs(E - mu[k:].sum()) <= tol


@settings(max_examples=25, deadline=None)
@given(data=st.data(), seed=SEEDS, alpha=ALPHAS)
def test_aligned_error_inside_an_isolated_cluster(data, seed, alpha):
    """Inside an eigenvalue λ of multiplicity r, ≥ α from the rest, the j-th copy from the top
    is smoothed to λ + (α/2)(1 − (2j−1)/r) (theory/smoothing.md, 3): the errors are symmetric
    about λ, and the top copy's (α/2)(1 − 1/r) approaches the bound α/2 as r grows."""
    r = data.draw(st.integers(1, 6))
    below, above = data.draw(st.integers(0, 2)), data.draw(st.integers(0, 2))
    mu = np.concatenate([np.sort(rng(seed).uniform(-3, 0, below)) - alpha, np.zeros(r),
                         np.sort(rng(seed + 1).uniform(0, 3, above)) + alpha])
    A = with_spectrum(mu, seed)
    tol = 1e-11 * (1 + np.abs(mu).max()) * len(mu)
    for j in range(1, r + 1):
        got = float(value(optneuron.SphereQP(below + r - j, smoothing=alpha), A))
        assert abs(got - alpha / 2 * (1 - (2 * j - 1) / r)) <= tol


@settings(max_examples=8, deadline=None)
@given(n=st.integers(2, 5), data=st.data(), seed=SEEDS, alpha=st.sampled_from([0.05, 0.5, 2.0]))
def test_verify_and_sdp_agree_on_aligned_values(n, data, seed, alpha):
    """``verify`` passes the smoothed problems on both backends (its reference is the aligned
    closed form), and at a separated λ_k the SDP backend returns λ_k itself."""
    k = data.draw(st.integers(0, n - 1))
    mu = _separated_spectrum(n, seed, alpha, k, 1.5)
    A = with_spectrum(mu, seed)
    problem = optneuron.SphereQP(k, smoothing=alpha)
    assert abs(float(value(problem, A, "sdp")) - mu[k]) <= 1e-6 * n * (1 + np.abs(mu).max())
    batch = torch.tensor(np.stack([A, random_symmetric(n, seed + 1)]))
    report = optneuron.verify(problem, batch)
    assert report.ok, str(report)


@settings(max_examples=20, deadline=None)
@given(n=st.integers(1, 8), data=st.data(), seed=SEEDS)
def test_smoothed_tends_to_exact(n, data, seed):
    k = data.draw(st.integers(-n, n - 1))
    A = random_symmetric(n, seed)
    exact = float(value(optneuron.SphereQP(k), A))
    errors = [exact - float(value(optneuron.SphereQP(k, smoothing=a), A))
              for a in (1.0, 1e-2, 1e-4, 1e-6)]
    assert all(abs(e) <= a / 2 + 1e-12 for e, a in zip(errors, (1.0, 1e-2, 1e-4, 1e-6)))
