"""theory/trust-region-neuron.md: concavity, the per-feature certificate, monotonicity."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import optneuron

from ._helpers import SEEDS, random_symmetric, rng


def _f(A0, As, b0, bs, z, ball=False):
    A = A0 + np.tensordot(z, As, 1)
    b = b0 + z @ bs
    return optneuron.OptLayer(optneuron.TrustRegion(ball))(torch.tensor(A),
                                                          torch.tensor(b)).value.item()


def _pencil(n, d, seed):
    A0 = random_symmetric(n, seed)
    As = np.stack([random_symmetric(n, seed + 1 + i) for i in range(d)])
    return A0, As, rng(seed).standard_normal(n), rng(seed + 9).standard_normal((d, n))


@settings(max_examples=15, deadline=None)
@given(n=st.integers(1, 5), seed=SEEDS, ball=st.booleans())
def test_concave_along_random_segments(n, seed, ball):
    A0, As, b0, bs = _pencil(n, 3, seed)
    z1, z2 = rng(seed + 3).standard_normal((2, 3))
    for t in (0.25, 0.5, 0.8):
        mid = _f(A0, As, b0, bs, t * z1 + (1 - t) * z2, ball)
        chord = t * _f(A0, As, b0, bs, z1, ball) + (1 - t) * _f(A0, As, b0, bs, z2, ball)
        assert mid >= chord - 1e-12


@settings(max_examples=15, deadline=None)
@given(n=st.integers(1, 5), seed=SEEDS)
def test_sensitivity_bound_holds_and_is_attained_in_one_dimension(n, seed):
    A0, As, b0, bs = _pencil(n, 2, seed)
    s = np.linalg.norm(As, 2, axis=(-2, -1)) + 2 * np.linalg.norm(bs, axis=-1)
    z = rng(seed + 4).standard_normal(2)
    for eps in rng(seed + 5).standard_normal((10, 2)):
        change = abs(_f(A0, As, b0, bs, z + eps) - _f(A0, As, b0, bs, z))
        assert change <= np.abs(eps) @ s + 1e-12
    # n = 1, A_1 = a, b_1 = β, large z: f(z) = a0 + a z − 2|b0 + β z| moves at rate |a| + 2|β|
    a, beta = -1.5, 0.7
    f = [_f(np.zeros((1, 1)), np.array([[[a]]]), np.zeros(1), np.array([[beta]]), np.array([z]))
         for z in (10.0, 11.0)]
    assert abs(f[1] - f[0]) == pytest.approx(abs(a) + 2 * abs(beta), abs=1e-12)


def test_monotone_needs_b_zero():
    # A_1 = 1 ⪰ 0: with b_1 = 0 nondecreasing; with b_1 = 1 (‖A_1‖ < 2‖b_1‖) eventually decreasing
    zs = np.linspace(-5, 5, 41)
    for beta, monotone in ((0.0, True), (1.0, False)):
        f = np.array([_f(np.zeros((1, 1)), np.ones((1, 1, 1)), np.array([0.3]),
                         np.array([[beta]]), np.array([z])) for z in zs])
        assert (np.diff(f).min() >= -1e-12) == monotone
