"""theory/solution-derivatives.md: eigenvector and projector derivatives, the 1/gap bound, and
the Lipschitz continuity of the smoothed solution — against numpy central differences."""

import numpy as np
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import optneuron

from ._helpers import SEEDS, clustered_spectrum, orthogonal, random_symmetric, rng, with_spectrum


def _direction(n, seed):
    E = rng(seed + 1).standard_normal((n, n))
    return (E + E.T) / 2


def _eigvec(A, k):
    """numpy's eigenvector k with the largest-magnitude component positive."""
    q = np.linalg.eigh(A)[1][:, k]
    return q * np.sign(q[np.argmax(np.abs(q))])


@settings(max_examples=20, deadline=None)
@given(n=st.integers(2, 7), data=st.data(), seed=SEEDS)
def test_eigenvector_derivative_is_the_resolvent_formula(n, data, seed):
    k = data.draw(st.integers(0, n - 1))
    A, E = random_symmetric(n, seed), _direction(n, seed)
    mu = np.linalg.eigvalsh(A)
    gap = min(abs(mu[j] - mu[k]) for j in range(n) if j != k)
    if gap < 1e-2:
        return  # central differences need a clear gap; the formula itself is exact
    h = 1e-6
    fd = (_eigvec(A + h * E, k) - _eigvec(A - h * E, k)) / (2 * h)
    q = _eigvec(A, k)
    formula = -np.linalg.pinv(A - mu[k] * np.eye(n), rcond=1e-12) @ E @ q
    assert np.abs(fd - formula).max() < 1e-5 / gap
    # the eigen backend's x derivative is the same directional derivative
    leaf = torch.tensor(A, requires_grad=True)
    x = optneuron.OptLayer(optneuron.SphereQP(k))(leaf).x
    (torch.tensor(formula) * x).sum().backward()
    assert abs((leaf.grad.numpy() * E).sum() - formula @ formula) < 1e-8 * max(1, formula @ formula)


@settings(max_examples=30, deadline=None)
@given(n=st.integers(2, 8), data=st.data(), seed=SEEDS,
       split=st.sampled_from([1e-6, 1e-3, 0.1, 1.0]))
def test_eigenvector_derivative_bound_by_the_gap(n, data, seed, split):
    """‖dq‖ ≤ ‖dA‖₂/gap, also for near ties (a pair split by ``split``)."""
    k = data.draw(st.integers(0, n - 1))
    mu = np.sort(rng(seed).uniform(-1, 1, n))
    mu[k] = mu[k - 1] + split if k > 0 else mu[1] - split if n > 1 else mu[0]
    mu = np.sort(mu)
    A, E = with_spectrum(mu, seed), _direction(n, seed)
    lam, Q = np.linalg.eigh(A)
    gap = min(abs(lam[j] - lam[k]) for j in range(n) if j != k)
    others = [j for j in range(n) if j != k]  # dq = Σ_{j≠k} q_j (q_jᵀ E q_k)/(λ_k − λ_j)
    dq = Q[:, others] @ ((Q[:, others].T @ E @ Q[:, k]) / (lam[k] - lam[others]))
    assert np.linalg.norm(dq) <= np.linalg.norm(E, 2) / gap * (1 + 1e-6)
    solution = optneuron.OptLayer(optneuron.SphereQP(k))(torch.tensor(A))
    assert abs(solution.gap.item() - gap) <= 1e-9


@settings(max_examples=20, deadline=None)
@given(n=st.integers(2, 7), data=st.data(), seed=SEEDS)
def test_projector_derivative_is_daleckii_krein(n, data, seed):
    """Central differences of P_S for S = the m smallest, with repeated eigenvalues inside S
    allowed (the projector stays smooth); the eigen backend's X derivative agrees."""
    m = data.draw(st.integers(1, n - 1))
    mu = clustered_spectrum(n, seed)
    if mu[m] - mu[m - 1] < 0.05:
        return
    A, E = with_spectrum(mu, seed), _direction(n, seed)

    def projector(M):
        U = np.linalg.eigh(M)[1][:, :m]
        return U @ U.T

    h = 1e-6
    fd = (projector(A + h * E) - projector(A - h * E)) / (2 * h)
    lam, Q = np.linalg.eigh(A)
    w = (np.arange(n) < m).astype(float)
    diff = lam[:, None] - lam[None, :]
    gamma = np.where(w[:, None] != w[None, :], (w[:, None] - w[None, :]) / np.where(
        diff == 0, 1, diff), 0.0)
    formula = Q @ (gamma * (Q.T @ E @ Q)) @ Q.T
    assert np.abs(fd - formula).max() < 1e-5
    leaf = torch.tensor(A, requires_grad=True)
    X = optneuron.OptLayer(optneuron.KyFan(m))(leaf).X
    (torch.tensor(formula) * X).sum().backward()
    assert abs((leaf.grad.numpy() * E).sum() - (formula * formula).sum()) < 1e-8 * max(
        1, (formula * formula).sum())


@settings(max_examples=30, deadline=None)
@given(n=st.integers(2, 8), data=st.data(), seed=SEEDS,
       alpha=st.sampled_from([0.01, 0.1, 1.0]), repeated=st.booleans())
def test_smoothed_solution_is_lipschitz(n, data, seed, alpha, repeated):
    """‖X^α(A) − X^α(B)‖_F ≤ ‖A − B‖_F/α for a Ky Fan term, 2/α for a smoothed λ_k."""
    m = data.draw(st.integers(1, n))
    k = data.draw(st.integers(0, n - 1))
    A = with_spectrum(clustered_spectrum(n, seed), seed) if repeated else random_symmetric(n, seed)
    B = A + data.draw(st.sampled_from([1e-3, 0.1, 1.0])) * _direction(n, seed)
    A, B = torch.tensor(A), torch.tensor(B)
    distance = torch.linalg.norm(A - B).item()
    for problem, constant in ((optneuron.KyFan(m, smoothing=alpha), 1 / alpha),
                              (optneuron.SphereQP(k, smoothing=alpha), 2 / alpha)):
        layer = optneuron.OptLayer(problem)
        change = torch.linalg.norm(layer(A).X - layer(B).X).item()
        assert change <= constant * distance * (1 + 1e-9) + 1e-12


@settings(max_examples=25, deadline=None)
@given(n=st.integers(3, 12), data=st.data(), seed=SEEDS,
       split=st.sampled_from([1e-7, 1e-5, 1e-3, 0.1, 1.0]))
def test_singular_solve_is_accurate_to_the_condition_number(n, data, seed, split):
    """1b: the kernels' solve with the singular ``T − ρI`` (pivoted LU, the component along
    ``q`` projected away) gives ``(A − λ_kI)⁺ P r`` to ``O(n eps ‖A‖/gap)`` relative, dense and
    tridiagonal, down to near ties — against the exact ``Σ_{j≠k} q_j q_jᵀ r/(μ_j − μ_k)`` of a
    matrix built from a known eigenbasis."""
    from scipy.linalg import hessenberg

    from optneuron.kernels import (
        dense_eigenvector,
        dense_eigenvector_adjoint,
        tridiagonal_eigenvector_adjoint,
    )

    k = data.draw(st.integers(0, n - 1))
    mu = np.sort(rng(seed).uniform(-1, 1, n))
    mu[k] = mu[k - 1] + split if k > 0 else mu[1] - split
    order = np.argsort(mu, kind="stable")
    mu = mu[order]
    k = int(np.flatnonzero(order == k)[0])
    Q = orthogonal(n, seed)
    A = (Q * mu) @ Q.T
    A = (A + A.T) / 2
    q = Q[:, k] * np.sign(Q[np.argmax(np.abs(Q[:, k])), k])
    r = rng(seed + 2).standard_normal(n)
    gap = min(abs(mu[j] - mu[k]) for j in range(n) if j != k)
    others = [j for j in range(n) if j != k]
    exact = Q[:, others] @ ((Q[:, others].T @ r) / (mu[others] - mu[k]))
    bound = 100 * n * np.finfo(float).eps * np.abs(mu).max() / gap * np.linalg.norm(exact)
    _, _, _, reflectors = dense_eigenvector(A[None], k)
    G, tie = dense_eigenvector_adjoint(reflectors, k, q[None], r[None])
    assert not tie.any() and np.linalg.norm(-2 * G[0] @ q - exact) <= bound
    T, H = hessenberg(A, calc_q=True)  # A = H T Hᵀ, T tridiagonal
    d, e, qT = np.diag(T).copy(), np.diag(T, 1).copy(), H.T @ q
    gd, _, tie = tridiagonal_eigenvector_adjoint(d[None], e[None], k, qT[None], (H.T @ r)[None])
    # ∂L/∂d_i = −v_i q_i: compare v on the entries where q is not small
    big = np.abs(qT) > 0.1
    assert not tie.any() and big.any()
    v = -gd[0, big] / qT[big]
    assert np.linalg.norm(v - (H.T @ exact)[big]) <= bound / 0.1
