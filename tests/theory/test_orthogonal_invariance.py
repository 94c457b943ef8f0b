"""theory/orthogonal-invariance.md: λ(QᵀAQ) = λ(A); dense pencils may take A_0 diagonal."""

import numpy as np
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import optneuron

from ._helpers import SEEDS, min_gap, orthogonal, random_symmetric, rng, value, value_and_grad


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 8), data=st.data(), seed=SEEDS,
       smoothing=st.sampled_from([None, 0.1]))
def test_values_invariant_gradients_equivariant(n, data, seed, smoothing):
    k = data.draw(st.integers(-n, n - 1))
    A = random_symmetric(n, seed)
    Q = orthogonal(n, seed + 1)
    B = Q.T @ A @ Q
    for problem in (optneuron.SphereQP(k, smoothing=smoothing),
                    optneuron.KyFan(k % n + 1, largest=k < 0, smoothing=smoothing)):
        vA, GA, _ = value_and_grad(problem, A)
        vB, GB, _ = value_and_grad(problem, B)
        assert abs(vA - vB) <= 1e-12 * n
        if min_gap(np.linalg.eigvalsh(A)) > 1e-6:  # gradients are unique off crossings
            assert np.abs(GB - Q.T @ GA @ Q).max() <= 1e-8


@settings(max_examples=30, deadline=None)
@given(n=st.integers(1, 7), d=st.integers(1, 3), data=st.data(), seed=SEEDS)
def test_dense_pencil_offset_may_be_diagonal_and_sorted(n, d, data, seed):
    """A(z) = A_0 + Σ z_i A_i and D + Σ z_i VᵀA_iV (A_0 = V D Vᵀ, D sorted) have the same
    spectrum for every z: the n(n−1)/2 off-diagonal parameters of A_0 are redundant."""
    k = data.draw(st.integers(0, n - 1))
    A0 = random_symmetric(n, seed)
    As = np.stack([random_symmetric(n, seed + 1 + i) for i in range(d)])
    D, V = np.linalg.eigh(A0)
    Bs = np.einsum("ji,ajk,kl->ail", V, As, V)
    Z = rng(seed).standard_normal((10, d)) * 3
    full = torch.tensor(A0 + np.einsum("bi,inm->bnm", Z, As))
    reduced = torch.tensor(np.diag(D) + np.einsum("bi,inm->bnm", Z, Bs))
    assert np.all(np.diff(D) >= 0)
    for problem in (optneuron.SphereQP(k), optneuron.KyFan(k + 1)):
        assert torch.allclose(value(problem, full), value(problem, reduced), rtol=0, atol=1e-11)
