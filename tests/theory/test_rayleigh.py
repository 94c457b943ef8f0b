"""theory/rayleigh.md: λ_0 = min of the Rayleigh quotient on the sphere, λ_{-1} = its max."""

import numpy as np
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import optneuron

from ._helpers import SEEDS, clustered_spectrum, random_symmetric, rng, value, with_spectrum

SIZES = st.integers(1, 8)
SCALES = st.sampled_from([1e-3, 1.0, 1e3])


@settings(max_examples=40, deadline=None)
@given(n=SIZES, seed=SEEDS, scale=SCALES)
def test_rayleigh_quotient_lies_between_extreme_eigenvalues(n, seed, scale):
    A = random_symmetric(n, seed, scale)
    mu = np.linalg.eigvalsh(A)
    X = rng(seed + 1).standard_normal((n, 50))
    X /= np.linalg.norm(X, axis=0)
    r = np.einsum("ij,ik,kj->j", X, A, X)
    tol = 1e-12 * scale * n
    assert np.all(r >= mu[0] - tol) and np.all(r <= mu[-1] + tol)


@settings(max_examples=40, deadline=None)
@given(n=SIZES, seed=SEEDS, scale=SCALES, repeated=st.booleans())
def test_layer_minimizer_attains_min_and_max(n, seed, scale, repeated):
    A = (
        with_spectrum(clustered_spectrum(n, seed, scale), seed)
        if repeated
        else random_symmetric(n, seed, scale)
    )
    mu = np.linalg.eigvalsh(A)
    At = torch.tensor(A)
    tol = 1e-10 * scale * n
    for index, target in ((0, mu[0]), (-1, mu[-1])):
        sol = optneuron.OptLayer(optneuron.SphereQP(index))(At)
        x = sol.x.numpy()
        assert abs(np.linalg.norm(x) - 1) < 1e-12
        assert abs(x @ A @ x - target) <= tol
        assert abs(float(sol.value) - target) <= tol


@settings(max_examples=40, deadline=None)
@given(n=SIZES, seed=SEEDS, scale=SCALES)
def test_max_form_is_minus_min_of_negative(n, seed, scale):
    A = random_symmetric(n, seed, scale)
    top = value(optneuron.SphereQP(-1), A)
    assert torch.allclose(top, -value(optneuron.SphereQP(0), -A), rtol=0, atol=1e-12 * scale * n)
