"""theory/generalized-courant-fischer.md: min-max with B, gradients, the B-spectraplex SDP."""

import numpy as np
import scipy.linalg
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import optneuron

from ._helpers import SEEDS, random_symmetric, rng


def _spd(n, seed):
    M = rng(seed).standard_normal((n, n))
    return M @ M.T / n + 0.2 * np.eye(n)


@settings(max_examples=15, deadline=None)
@given(n=st.integers(1, 5), seed=SEEDS, data=st.data())
def test_min_max_over_subspaces(n, seed, data):
    k = data.draw(st.integers(0, n - 1))
    A, B = random_symmetric(n, seed), _spd(n, seed)
    lam, V = scipy.linalg.eigh(A, B)
    value = optneuron.OptLayer(optneuron.GeneralizedSphereQP(k))(torch.tensor(A),
                                                                torch.tensor(B)).value.item()
    assert abs(value - lam[k]) <= 1e-10 * max(1, np.abs(lam).max())

    def top_rayleigh(S):  # max of xᵀAx / xᵀBx over span(S): a (k+1)-dim generalized problem
        return scipy.linalg.eigh(S.T @ A @ S, S.T @ B @ S, eigvals_only=True)[-1]

    # the span of the first k+1 eigenvectors attains λ_k, random subspaces never go below
    assert abs(top_rayleigh(V[:, : k + 1]) - value) <= 1e-9 * max(1, np.abs(lam).max())
    for trial in range(20):
        S = rng(seed + trial).standard_normal((n, k + 1))
        assert top_rayleigh(S) >= value - 1e-9 * max(1, np.abs(lam).max())


@settings(max_examples=10, deadline=None)
@given(n=st.integers(1, 5), seed=SEEDS, data=st.data())
def test_gradients_match_finite_differences_of_scipy(n, seed, data):
    k = data.draw(st.integers(0, n - 1))
    A, B = random_symmetric(n, seed), _spd(n, seed)
    lam = scipy.linalg.eigh(A, B, eigvals_only=True)
    if n > 1 and np.diff(lam).min() < 1e-3:
        return  # a (nearly) repeated eigenvalue: no derivative to compare with
    At = torch.tensor(A, requires_grad=True)
    Bt = torch.tensor(B, requires_grad=True)
    optneuron.OptLayer(optneuron.GeneralizedSphereQP(k))(At, Bt).value.backward()
    h = 1e-6
    for _ in range(3):
        D = random_symmetric(n, seed + 7 + _)
        dA = (scipy.linalg.eigh(A + h * D, B, eigvals_only=True)[k]
              - scipy.linalg.eigh(A - h * D, B, eigvals_only=True)[k]) / (2 * h)
        dB = (scipy.linalg.eigh(A, B + h * D, eigvals_only=True)[k]
              - scipy.linalg.eigh(A, B - h * D, eigvals_only=True)[k]) / (2 * h)
        assert abs(np.sum(At.grad.numpy() * D) - dA) <= 1e-5 * max(1, abs(dA))
        assert abs(np.sum(Bt.grad.numpy() * D) - dB) <= 1e-5 * max(1, abs(dB))


@settings(max_examples=6, deadline=None)
@given(n=st.integers(1, 4), seed=SEEDS)
def test_b_spectraplex_sdp_is_tight(n, seed):
    import cvxpy as cp

    A, B = random_symmetric(n, seed), _spd(n, seed)
    X = cp.Variable((n, n), symmetric=True)
    problem = cp.Problem(cp.Minimize(cp.trace(A @ X)), [X >> 0, cp.trace(B @ X) == 1])
    problem.solve(solver="CLARABEL")
    lam0 = scipy.linalg.eigh(A, B, eigvals_only=True)[0]
    assert abs(problem.value - lam0) <= 1e-6 * max(1, abs(lam0))
    value = optneuron.OptLayer(optneuron.GeneralizedSphereQP(0), "sdp")(
        torch.tensor(A), torch.tensor(B)).value.item()
    assert abs(value - lam0) <= 1e-6 * max(1, abs(lam0))
