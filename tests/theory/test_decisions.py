"""theory/decisions.md: DCP forms of the exported terms, tangent planes, the convex–concave
procedure's monotone improvement, and the soundness of output ranges.

The modules here are duck-typed (a pencil with ``offset_matrix``/``feature_matrices`` and an
``OptLayer``-like ``solver.problem``), so that the offset can be given a chosen, repeated
spectrum; references are LAPACK (``numpy.linalg.eigvalsh``) and the closed-form envelopes.
"""

from types import SimpleNamespace

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import optneuron
from optneuron.decisions import optimize_inputs, output_range
from optneuron.export import DifferenceOfConcave, to_cvxpy, to_difference_of_concave
from optneuron.smoothing import fantope_envelope

from ._helpers import SEEDS, clustered_spectrum, random_symmetric, rng, with_spectrum

cp = pytest.importorskip("cvxpy")


class _Pencil:
    structure = "dense"
    monotone: dict = {}

    def __init__(self, A0, Ai):
        self.A0, self.Ai = torch.tensor(A0), torch.tensor(Ai)
        self.in_features = Ai.shape[0]

    def offset_matrix(self):
        return self.A0

    def feature_matrices(self):
        return self.Ai


class _Neuron(torch.nn.Module):
    """``f(z) = problem(A_0 + Σ z_i A_i)`` with the pencil given as matrices."""

    out_features = None

    def __init__(self, A0, Ai, problem):
        super().__init__()
        self.pencil = _Pencil(A0, Ai)
        self.solver = SimpleNamespace(problem=problem)
        self.layer = optneuron.OptLayer(problem)

    def forward(self, z):
        A = self.pencil.A0 + torch.einsum("...i,ijk->...jk", z, self.pencil.Ai)
        return self.layer(A).value


def _pencil(n, d, seed, repeated):
    A0 = with_spectrum(clustered_spectrum(n, seed), seed) if repeated else random_symmetric(n, seed)
    Ai = np.stack([random_symmetric(n, seed + 1 + i) for i in range(d)])
    return A0, Ai


def _reference(problem, A):
    """Exact value from LAPACK eigenvalues (the closed form for smoothed problems)."""
    mu = np.linalg.eigvalsh(A)
    n = len(mu)
    total = 0.0
    for t in problem.fantope_terms(n):
        if problem.smoothing is None:
            term = mu[n - t.count:].sum() if t.largest else mu[:t.count].sum()
        else:
            term = float(fantope_envelope(torch.tensor(mu), t.count, t.largest,
                                          problem.smoothing)[0])
        total += t.coef * term
    return total


def _problems(n, data, smoothing):
    k = data.draw(st.integers(-n, n - 1))
    m = data.draw(st.integers(1, n))
    return [optneuron.SphereQP(k, smoothing=smoothing),
            optneuron.KyFan(m, largest=data.draw(st.booleans()), smoothing=smoothing)]


def _evaluate(expr, z, point):
    z.value = point
    return float(np.asarray(expr.value))


def _check_curvature(problem, n, expr):
    """1(c): concave for λ_0 and smallest sums, convex for λ_{n−1} and largest sums,
    a difference of concave functions otherwise."""
    if isinstance(problem, optneuron.KyFan):
        if problem.count == n:
            assert expr.is_affine()
        elif problem.largest:
            assert expr.is_convex()
        else:
            assert expr.is_concave()
        return
    k = problem.index % n
    if n == 1:
        assert expr.is_affine()
    elif k == 0:
        assert not isinstance(expr, DifferenceOfConcave) and expr.is_concave()
    elif k == n - 1:
        assert not isinstance(expr, DifferenceOfConcave) and expr.is_convex()
    else:
        assert isinstance(expr, DifferenceOfConcave)
        assert expr.f.is_concave() and expr.g.is_concave()


@settings(max_examples=15, deadline=None)
@given(n=st.integers(1, 5), d=st.integers(1, 3), data=st.data(), seed=SEEDS,
       repeated=st.booleans())
def test_dcp_forms_equal_the_values(n, d, data, seed, repeated):
    """1(a,c): the exported expression equals LAPACK's value, with the stated curvature."""
    A0, Ai = _pencil(n, d, seed, repeated)
    z = cp.Variable(d)
    for problem in _problems(n, data, None):
        expr = to_cvxpy(_Neuron(A0, Ai, problem), z)
        _check_curvature(problem, n, expr)
        for point in [np.zeros(d), *rng(seed).standard_normal((2, d))]:
            ref = _reference(problem, A0 + np.tensordot(point, Ai, 1))
            assert abs(_evaluate(expr, z, point) - ref) <= 1e-9 * (1 + abs(ref))


@settings(max_examples=5, deadline=None)
@given(n=st.integers(2, 4), data=st.data(), seed=SEEDS, alpha=st.sampled_from([0.05, 0.5, 2.0]))
def test_smoothed_moreau_forms(n, data, seed, alpha):
    """1(b): the partial optimizations over B equal the closed-form envelopes."""
    A0, Ai = _pencil(n, 2, seed, data.draw(st.booleans()))
    z = cp.Variable(2)
    for problem in _problems(n, data, alpha):
        expr = to_cvxpy(_Neuron(A0, Ai, problem), z)
        point = rng(seed).standard_normal(2)
        ref = _reference(problem, A0 + np.tensordot(point, Ai, 1))
        assert abs(_evaluate(expr, z, point) - ref) <= 1e-6 * (1 + abs(ref))
    smallest = to_cvxpy(_Neuron(A0, Ai, optneuron.SphereQP(0, smoothing=alpha)), z)
    assert smallest.is_concave()


@settings(max_examples=15, deadline=None)
@given(n=st.integers(2, 5), data=st.data(), seed=SEEDS, repeated=st.booleans(),
       alpha=st.sampled_from([None, 0.3]))
def test_tangent_planes_majorize_and_touch(n, data, seed, repeated, alpha):
    """2: the affine planes equal f and g at z_0 and lie above them everywhere."""
    A0, Ai = _pencil(n, 2, seed, repeated)
    z = cp.Variable(2)
    for problem in _problems(n, data, alpha):
        dc = to_difference_of_concave(_Neuron(A0, Ai, problem), z)
        z.value = np.zeros(2)  # at A_0: repeated eigenvalues when `repeated`
        f_tan, g_tan = dc.f_tangent(), dc.g_tangent()
        f0, g0 = float(dc.f.value), float(dc.g.value)
        assert abs(float(f_tan.value) - f0) <= 1e-6 * (1 + abs(f0))
        assert abs(float(g_tan.value) - g0) <= 1e-6 * (1 + abs(g0))
        for point in rng(seed + 1).standard_normal((2, 2)):
            z.value = point
            assert float(f_tan.value) >= float(dc.f.value) - 1e-6
            assert float(g_tan.value) >= float(dc.g.value) - 1e-6


@settings(max_examples=4, deadline=None)
@given(n=st.integers(3, 5), data=st.data(), seed=SEEDS, maximize=st.booleans())
def test_ccp_improves_monotonically(n, data, seed, maximize):
    """2: every convex–concave step improves the module's own value (both senses)."""
    A0, Ai = _pencil(n, 3, seed, data.draw(st.booleans()))
    k = data.draw(st.integers(1, n - 2))
    module = _Neuron(A0, Ai, optneuron.SphereQP(k))
    result = optimize_inputs(module, constraints=lambda z: [cp.norm2(z) <= 1.5], lower=-1,
                             upper=1, maximize=maximize, starts=2, max_iter=8,
                             seed=seed % 1000)
    h = np.array(result.history)
    step = np.diff(h) if maximize else -np.diff(h)
    assert np.all(step >= -1e-9)
    assert np.linalg.norm(result.z) <= 1.5 + 1e-6


@settings(max_examples=6, deadline=None)
@given(n=st.integers(2, 5), data=st.data(), seed=SEEDS, repeated=st.booleans())
def test_output_ranges_are_sound(n, data, seed, repeated):
    """3: Weyl, branch-and-bound and exact sides contain every sampled output; the exact sides
    are attained."""
    d = data.draw(st.integers(1, 3))
    A0, Ai = _pencil(n, d, seed, repeated)
    k = data.draw(st.integers(-n, n - 1))
    module = _Neuron(A0, Ai, optneuron.SphereQP(k))
    r_ = rng(seed)
    lo = r_.uniform(-1, 0, d)
    hi = lo + r_.uniform(0, 2, d)
    result = output_range(module, lo, hi, max_boxes=16)
    with torch.no_grad():
        values = module(torch.tensor(r_.uniform(lo, hi, (3000, d)))).numpy()
    assert result.lower[0] <= values.min() + 1e-12 and values.max() <= result.upper[0] + 1e-12
    assert result.weyl_lower[0] <= result.lower[0] and result.upper[0] <= result.weyl_upper[0]
    for side, bound, attained in (("lower", result.lower, result.lower_attained),
                                  ("upper", result.upper, result.upper_attained)):
        if getattr(result, f"{side}_exact")[0]:
            assert abs(bound[0] - attained[0]) <= 1e-6 * (1 + abs(attained[0]))
