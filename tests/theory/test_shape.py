"""theory/shape.md: monotone under PSD feature matrices; λ_0 concave, λ_{-1} convex in z."""

import numpy as np
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import optneuron

from ._helpers import SEEDS, random_symmetric, rng


def _psd(n, seed, rank=None):
    L = rng(seed).standard_normal((n, rank or n))
    return L @ L.T


def _pencil_values(problem, A0, As, Z):
    """``problem`` at ``A0 + Σ z_i A_i`` for a batch of points ``Z (b, d)``."""
    M = torch.tensor(A0) + torch.einsum("bi,inm->bnm", torch.tensor(Z), torch.tensor(As))
    with torch.no_grad():
        return optneuron.OptLayer(problem)(M).value.numpy()


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 7), data=st.data(), seed=SEEDS, sign=st.sampled_from([1, -1]),
       rank=st.integers(1, 7), smoothing=st.sampled_from([None, 0.05, 1.0]))
def test_monotone_under_psd_feature(n, data, seed, sign, rank, smoothing):
    """A_1 = ±L Lᵀ (any rank): every λ_k, Ky Fan sum and smoothed λ_k is monotone in z_1."""
    k = data.draw(st.integers(0, n - 1))
    A0 = random_symmetric(n, seed)
    As = np.stack([sign * _psd(n, seed + 1, min(rank, n)), random_symmetric(n, seed + 2)])
    z = np.linspace(-3, 3, 41)
    Z = np.stack([z, np.full_like(z, rng(seed).standard_normal())], -1)
    for problem in (optneuron.SphereQP(k, smoothing=smoothing),
                    optneuron.KyFan(k + 1, smoothing=smoothing)):
        f = _pencil_values(problem, A0, As, Z)
        assert np.all(sign * np.diff(f) >= -1e-10)


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 7), d=st.integers(1, 3), seed=SEEDS,
       smoothing=st.sampled_from([None, 0.05, 1.0]))
def test_bottom_concave_top_convex(n, d, seed, smoothing):
    """Midpoint inequalities on random segments of a random affine pencil (smoothed too)."""
    r = rng(seed)
    A0 = random_symmetric(n, seed)
    As = np.stack([random_symmetric(n, seed + 1 + i) for i in range(d)])
    Z0, Z1 = r.standard_normal((30, d)) * 3, r.standard_normal((30, d)) * 3
    t = r.uniform(0, 1, (30, 1))
    Zt = t * Z0 + (1 - t) * Z1
    t = t[:, 0]
    for index, sign in ((0, 1.0), (-1, -1.0)):  # concave: f(mix) ≥ mix of f
        p = optneuron.SphereQP(index, smoothing=smoothing)
        f0, f1, ft = (_pencil_values(p, A0, As, Z) for Z in (Z0, Z1, Zt))
        assert np.all(sign * (ft - (t * f0 + (1 - t) * f1)) >= -1e-10)


@settings(max_examples=4, deadline=None)
@given(n=st.integers(3, 6))
def test_middle_eigenvalue_is_neither(n):
    """A middle λ_k need not be concave or convex, hence the DC form. Witness:
    A(z) = diag(z, −z, 1, −5, …, −5), whose λ_{n−2} is the median of {z, −z, 1}:
    |z| near 0 (a convex kink) and 1 for |z| ≥ 1 (a concave kink at z = 1)."""
    A0 = np.diag([0.0, 0.0, 1.0] + [-5.0] * (n - 3))
    A1 = np.diag([1.0, -1.0, 0.0] + [0.0] * (n - 3))[None]
    f = _pencil_values(optneuron.SphereQP(n - 2), A0, A1, np.array([[-1.0], [0.0], [1.0]]))
    g = _pencil_values(optneuron.SphereQP(n - 2), A0, A1, np.array([[0.5], [1.0], [1.5]]))
    assert f[0] + f[2] - 2 * f[1] > 1.9  # convex kink
    assert g[0] + g[2] - 2 * g[1] < -0.4  # concave kink
