"""theory/diagonal-offset.md: a dense pencil with A_0 = diag(μ), μ increasing, loses nothing."""

import numpy as np
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from optneuron.pencils import DensePencil

from ._helpers import SEEDS, random_symmetric, rng


def _inverse_softplus(y):
    return y + np.log(-np.expm1(-y))


def _rotated_pencil(A0, Ai, monotone):
    """The DensePencil holding (QᵀA_0Q = diag(μ), QᵀA_iQ), Q the eigenvectors of A_0; monotone
    features stored by a lower Cholesky factor of QᵀA_iQ (a PSD matrix has one)."""
    n, d = A0.shape[0], len(Ai)
    mu, Q = np.linalg.eigh(A0)
    p = DensePencil(d, n, monotone=monotone, dtype=torch.float64)
    B = np.einsum("ji,djk,kl->dil", Q, Ai, Q)
    B = (B + B.transpose(0, 2, 1)) / 2
    pattern = p._pattern
    with torch.no_grad():
        p.bias.copy_(torch.tensor(np.concatenate([[mu[0]], _inverse_softplus(np.diff(mu))])))
        coords = pattern.pack(torch.tensor(B))
        for i, sign in (monotone or {}).items():
            L = np.linalg.cholesky(sign * B[i])
            coords[i] = torch.tensor(L)[pattern.lower.div(n, rounding_mode="floor"),
                                        pattern.lower % n]
        p.weight.copy_(coords)
    return p, mu


@settings(max_examples=30, deadline=None)
@given(n=st.integers(1, 7), d=st.integers(1, 3), seed=SEEDS,
       gap=st.sampled_from([None, 1e-6]), monotone=st.booleans())
def test_diagonal_offset_pencil_has_the_same_spectrum(n, d, seed, gap, monotone):
    """For a random dense pencil (and a nearly repeated A_0 spectrum), the rotated pencil with
    A_0 = diag(μ) built through the parametrization has A_0's sorted eigenvalues on its
    diagonal and the same eigenvalues as the original at random z (LAPACK on both sides)."""
    r = rng(seed)
    A0 = random_symmetric(n, seed)
    if gap is not None:  # A_0 with a pair of eigenvalues 1e-6 apart
        mu0, Q0 = np.linalg.eigh(A0)
        mu0[-1] = mu0[0] + gap if n > 1 else mu0[-1]
        A0 = (Q0 * mu0) @ Q0.T
        A0 = (A0 + A0.T) / 2
    Ai = np.stack([random_symmetric(n, seed + 1 + i) for i in range(d)])
    signs = {0: 1} if monotone else None
    if monotone:  # a full-rank PSD first feature
        G = r.standard_normal((n, n))
        Ai[0] = G @ G.T + 0.1 * np.eye(n)
    p, mu = _rotated_pencil(A0, Ai, signs)
    np.testing.assert_allclose(torch.diagonal(p.offset_matrix().detach()).numpy(), mu,
                               rtol=0, atol=1e-12 * (1 + np.abs(mu).max()))
    z = r.standard_normal((5, d))
    with torch.no_grad():
        got = torch.linalg.eigvalsh(p(torch.tensor(z))).numpy()
    want = np.linalg.eigvalsh(A0 + np.einsum("bi,ijk->bjk", z, Ai))
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-9 * (1 + np.abs(want).max()))
    if monotone:
        assert np.linalg.eigvalsh(p.feature_matrices()[0].detach().numpy()).min() >= -1e-10
