"""theory/weyl-certificates.md: Weyl's inequality and the Lipschitz certificates built on it.

``optneuron.certify`` was still being written when this was; the composition rule is checked
here on a small two-layer construction made directly with ``OptLayer``.
"""

import numpy as np
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import optneuron

from ._helpers import SEEDS, clustered_spectrum, random_symmetric, rng, value, with_spectrum


def _op(M):
    return float(np.abs(np.linalg.eigvalsh(M)).max())


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 8), seed=SEEDS, scale=st.sampled_from([1e-4, 1e-1, 1.0, 1e2]),
       repeated=st.booleans())
def test_weyl_two_sided(n, seed, scale, repeated):
    """λ_k(A) + λ_0(E) ≤ λ_k(A+E) ≤ λ_k(A) + λ_{n−1}(E), so |Δλ_k| ≤ ‖E‖_op, for every k;
    the same holds for the smoothed λ_k (its gradient is PSD with trace 1)."""
    A = with_spectrum(clustered_spectrum(n, seed), seed) if repeated else random_symmetric(n, seed)
    E = random_symmetric(n, seed + 1, scale)
    mu, muE = np.linalg.eigvalsh(A), np.linalg.eigvalsh(A + E)
    e = np.linalg.eigvalsh(E)
    tol = 1e-12 * n * (1 + scale)
    assert np.all(mu + e[0] <= muE + tol) and np.all(muE <= mu + e[-1] + tol)
    for k in range(n):
        p = optneuron.SphereQP(k, smoothing=0.3)
        assert abs(float(value(p, A + E) - value(p, A))) <= _op(E) + tol


@settings(max_examples=30, deadline=None)
@given(n=st.integers(1, 6), d=st.integers(1, 4), data=st.data(), seed=SEEDS)
def test_feature_certificates_on_affine_pencil(n, d, data, seed):
    """|f(z+ε) − f(z)| ≤ ‖Σ ε_i A_i‖ ≤ Σ|ε_i|‖A_i‖ ≤ min(‖ε‖₂ (Σ‖A_i‖²)^½, ‖ε‖_∞ Σ‖A_i‖)."""
    k = data.draw(st.integers(0, n - 1))
    r = rng(seed)
    A0 = random_symmetric(n, seed)
    As = np.stack([random_symmetric(n, seed + 1 + i) * r.uniform(0.01, 3) for i in range(d)])
    norms = np.array([_op(M) for M in As])
    problem = optneuron.SphereQP(k)
    for _ in range(5):
        z = r.standard_normal(d)
        eps = r.standard_normal(d) * 10.0 ** r.uniform(-4, 0)
        f0 = float(value(problem, A0 + np.tensordot(z, As, 1)))
        f1 = float(value(problem, A0 + np.tensordot(z + eps, As, 1)))
        gap = abs(f1 - f0)
        tol = 1e-12 * n * (1 + norms.sum())
        chain = [
            _op(np.tensordot(eps, As, 1)),
            float(np.abs(eps) @ norms),
            min(np.linalg.norm(eps) * np.linalg.norm(norms), np.abs(eps).max() * norms.sum()),
        ]
        assert gap <= chain[0] + tol
        assert chain[0] <= chain[1] + tol and chain[1] <= chain[2] + tol
        # per feature: the partial derivative qᵀ A_i q is at most ‖A_i‖_op in size
        leaf = torch.tensor(z, requires_grad=True)
        Az = torch.tensor(A0) + torch.einsum("i,ijk->jk", leaf, torch.tensor(As))
        optneuron.OptLayer(problem)(Az).value.backward()
        assert np.all(np.abs(leaf.grad.numpy()) <= norms + tol)


@settings(max_examples=20, deadline=None)
@given(n=st.integers(2, 5), d=st.integers(1, 4), p=st.integers(1, 3), seed=SEEDS)
def test_lipschitz_constants_compose(n, d, p, seed):
    """Layer 1: p neurons f_j(z) = λ_{k_j}(A^j(z)) with bounds B (p × d), ‖Δf‖₂ ≤ ‖B‖₂‖ε‖₂;
    then a linear map W; then one neuron g(y) = λ_0(C(y)): the product bounds the network."""
    r = rng(seed)
    A0 = torch.tensor(np.stack([random_symmetric(n, seed + j) for j in range(p)]))
    A = torch.tensor(np.stack([[random_symmetric(n, seed + 10 * j + i + 100) for i in range(d)]
                               for j in range(p)]))  # (p, d, n, n)
    ks = [int(r.integers(0, n)) for _ in range(p)]
    W = torch.tensor(r.standard_normal((3, p)))
    C0 = torch.tensor(random_symmetric(n, seed + 500))
    C = torch.tensor(np.stack([random_symmetric(n, seed + 600 + i) for i in range(3)]))

    def network(z):  # z (batch, d)
        mats = A0 + torch.einsum("bi,jinm->bjnm", z, A)
        h = torch.stack([optneuron.OptLayer(optneuron.SphereQP(k))(mats[:, j]).value
                         for j, k in enumerate(ks)], -1)
        y = h @ W.T
        return optneuron.OptLayer(optneuron.SphereQP(0))(C0 + torch.einsum("bi,inm->bnm", y, C)
                                                          ).value

    B = torch.linalg.eigvalsh(A).abs().amax(-1)  # (p, d) feature bounds
    Cb = torch.linalg.eigvalsh(C).abs().amax(-1)  # (3,)
    L = float(torch.linalg.matrix_norm(B, 2) * torch.linalg.matrix_norm(W, 2)
              * torch.linalg.vector_norm(Cb))
    z = torch.tensor(r.standard_normal((20, d)))
    eps = torch.tensor(r.standard_normal((20, d))) * 10.0 ** float(r.uniform(-4, 0))
    with torch.no_grad():
        gap = (network(z + eps) - network(z)).abs()
    assert torch.all(gap <= L * eps.norm(dim=-1) + 1e-10 * (1 + L))
