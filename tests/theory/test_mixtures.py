"""Eigenvalue mixtures ⟨w, λ(A)⟩: theory/eigenvalue-mixtures.md, theory/mixture-shape.md,
theory/mixture-sensitivity.md, theory/mixture-certificate.md."""

import numpy as np
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import optneuron

from ._helpers import SEEDS, orthogonal, random_symmetric, rng


def _phi(A, w):
    return float(np.linalg.eigvalsh(A) @ w)


@settings(max_examples=20, deadline=None)
@given(n=st.integers(1, 7), seed=SEEDS)
def test_signed_ky_fan_sum_and_dc_parts(n, seed):
    A = random_symmetric(n, seed)
    w = rng(seed).standard_normal(n)
    F = np.cumsum(np.linalg.eigvalsh(A))  # F_1 … F_n, F_n = tr A
    c = w - np.append(w[1:], 0.0)  # c_{m−1} = w_{m−1} − w_m, c_{n−1} = w_{n−1}
    assert abs(c @ F - _phi(A, w)) < 1e-12 * (1 + np.abs(F).max())
    assert abs(F[-1] - np.trace(A)) < 1e-12 * (1 + np.abs(A).max())
    # the DC parts are concave in A: midpoint test along a random segment
    B = random_symmetric(n, seed + 1)
    cp, cm = np.maximum(c, 0), np.maximum(-c, 0)
    def part(coef, M):
        return coef[:-1] @ np.cumsum(np.linalg.eigvalsh(M))[:-1]

    for coef in (cp, cm):
        assert part(coef, (A + B) / 2) >= (part(coef, A) + part(coef, B)) / 2 - 1e-12
    # the SDP backend solves exactly these terms
    if n <= 4:
        At = torch.tensor(A)[None]
        wt = torch.tensor(w)
        sdp = optneuron.OptLayer(optneuron.EigenvalueMixture(), "sdp")(At, wt).value.item()
        assert abs(sdp - _phi(A, w)) < 1e-6 * (1 + np.abs(A).max())


@settings(max_examples=15, deadline=None)
@given(n=st.integers(2, 7), seed=SEEDS)
def test_gradient_formula_against_finite_differences(n, seed):
    A = random_symmetric(n, seed)
    w = rng(seed).standard_normal(n)
    mu, Q = np.linalg.eigh(A)
    G = (Q * w) @ Q.T
    E = random_symmetric(n, seed + 7)
    h = 1e-6
    fd = (_phi(A + h * E, w) - _phi(A - h * E, w)) / (2 * h)
    gap = np.diff(mu).min()
    assert abs(fd - np.sum(G * E)) < 1e-6 * (1 + np.abs(E).sum()) / max(gap, 1e-3) ** 2
    # tridiagonal terms: the layer's gradient w.r.t. d and e
    d = torch.tensor(np.diag(A).copy(), requires_grad=True)
    e = torch.tensor(np.diag(A, 1).copy(), requires_grad=True)
    T = np.diag(np.diag(A)) + np.diag(np.diag(A, 1), 1) + np.diag(np.diag(A, 1), -1)
    mu_t, Qt = np.linalg.eigh(T)
    value = optneuron.OptLayer(optneuron.EigenvalueMixture())(
        optneuron.SymTridiagonal(d[None], e[None]), torch.tensor(w)).value
    value.sum().backward()
    scale = 1 + np.abs(w).max()
    assert np.abs(d.grad.numpy() - ((Qt * w) * Qt).sum(-1)).max() < 1e-10 * scale
    off = 2 * ((Qt[:-1] * w) * Qt[1:]).sum(-1)
    assert np.abs(e.grad.numpy() - off).max() < 1e-10 * scale


@settings(max_examples=15, deadline=None)
@given(n=st.integers(3, 7), seed=SEEDS)
def test_constant_weights_on_a_cluster_are_basis_free(n, seed):
    r = rng(seed)
    mu = np.sort(r.uniform(-1, 1, n))
    mu[1:3] = mu[1]  # a double eigenvalue
    Q = orthogonal(n, seed)
    A = (Q * mu) @ Q.T
    w = r.standard_normal(n)
    w[2] = w[1]
    R = np.eye(n)
    c, s = np.cos(0.7), np.sin(0.7)
    R[1:3, 1:3] = [[c, -s], [s, c]]  # another orthonormal basis of the eigenspace
    G1, G2 = (Q * w) @ Q.T, ((Q @ R) * w) @ (Q @ R).T
    assert np.abs(G1 - G2).max() < 1e-12
    E = random_symmetric(n, seed + 3)
    h = 1e-6
    fd = (_phi(A + h * E, w) - _phi(A - h * E, w)) / (2 * h)
    assert abs(fd - np.sum(G1 * E)) < 1e-5 * (1 + np.abs(E).sum())


def _pencil(n, seed, psd=None):
    A0 = random_symmetric(n, seed)
    A1 = random_symmetric(n, seed + 1)
    if psd is not None:
        L = rng(seed + 2).standard_normal((n, n))
        A1 = psd * L @ L.T
    return A0, A1


@settings(max_examples=20, deadline=None)
@given(n=st.integers(2, 7), seed=SEEDS, order=st.sampled_from(["concave", "convex"]))
def test_ordered_weights_concave_convex(n, seed, order):
    A0, A1 = _pencil(n, seed)
    w = np.sort(rng(seed).standard_normal(n))[:: -1 if order == "concave" else 1]
    t = np.linspace(-3, 3, 61)
    f = np.array([_phi(A0 + ti * A1, w) for ti in t])
    second = f[2:] - 2 * f[1:-1] + f[:-2]
    tol = 1e-10 * (1 + np.abs(f).max())
    assert (second <= tol).all() if order == "concave" else (second >= -tol).all()


@settings(max_examples=20, deadline=None)
@given(n=st.integers(1, 7), seed=SEEDS, sign=st.sampled_from([1, -1]))
def test_nonnegative_weights_monotone(n, seed, sign):
    A0, A1 = _pencil(n, seed, psd=sign)
    w = np.abs(rng(seed).standard_normal(n))
    f = np.array([_phi(A0 + ti * A1, w) for ti in np.linspace(-3, 3, 41)])
    assert (sign * np.diff(f) >= -1e-10 * (1 + np.abs(f).max())).all()


@settings(max_examples=15, deadline=None)
@given(n=st.integers(2, 7), seed=SEEDS)
def test_divided_differences_give_the_gradient_derivative(n, seed):
    A = random_symmetric(n, seed)
    w = rng(seed).standard_normal(n)
    mu, Q = np.linalg.eigh(A)
    E = random_symmetric(n, seed + 5)
    diff_mu = mu[:, None] - mu[None, :]
    np.fill_diagonal(diff_mu, 1.0)
    Gamma = (w[:, None] - w[None, :]) / diff_mu
    np.fill_diagonal(Gamma, 0.0)
    predicted = Q @ (Gamma * (Q.T @ E @ Q)) @ Q.T

    def G(M):
        m, V = np.linalg.eigh(M)
        return (V * w) @ V.T

    h = 1e-6
    fd = (G(A + h * E) - G(A - h * E)) / (2 * h)
    gap = np.diff(mu).min()
    assert np.abs(fd - predicted).max() < 1e-5 * (1 + np.abs(E).sum()) / max(gap, 1e-3) ** 3
    bound = np.abs(Gamma).max() * np.linalg.norm(E)
    assert np.linalg.norm(predicted) <= bound * (1 + 1e-12)


@settings(max_examples=20, deadline=None)
@given(n=st.integers(1, 7), seed=SEEDS, kind=st.sampled_from(["random", "uniform", "unit"]))
def test_lidskii_certificate(n, seed, kind):
    r = rng(seed)
    w = {"random": r.standard_normal(n), "uniform": np.full(n, 1.0 / n),
         "unit": np.eye(n)[r.integers(n)]}[kind]
    As = [random_symmetric(n, seed + i) for i in range(3)]
    A0 = random_symmetric(n, seed + 9)
    ws = np.sort(w)

    def g(M):
        return ws @ np.linalg.eigvalsh(M)

    s = np.array([max(g(M), g(-M)) for M in As])
    ops = np.array([np.abs(np.linalg.eigvalsh(M)).max() for M in As])
    assert (s <= np.abs(w).sum() * ops + 1e-12).all()
    if kind == "uniform":
        np.testing.assert_allclose(s, [abs(np.trace(M)) / n for M in As], atol=1e-12)
    if kind == "unit":
        np.testing.assert_allclose(s, ops, atol=1e-12)
    def f(x):
        return _phi(A0 + sum(xi * M for xi, M in zip(x, As)), w)

    for _ in range(20):
        z, eps = r.standard_normal(3), r.standard_normal(3)
        assert abs(f(z + eps) - f(z)) <= np.abs(eps) @ s + 1e-10
