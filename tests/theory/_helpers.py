"""Shared builders for the theory tests: random symmetric matrices with chosen spectra."""

from __future__ import annotations

import numpy as np
import torch
from hypothesis import strategies as st

import optneuron

SEEDS = st.integers(0, 2**32 - 1)


def rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


def orthogonal(n: int, seed: int) -> np.ndarray:
    """A Haar-random orthogonal ``n × n`` matrix (QR of a Gaussian, signs fixed)."""
    G = rng(seed).standard_normal((n, n))
    Q, R = np.linalg.qr(G)
    return Q * np.sign(np.diag(R))


def clustered_spectrum(n: int, seed: int, scale: float = 1.0, max_mult: int = 3) -> np.ndarray:
    """Ascending eigenvalues with repeated values (multiplicities up to ``max_mult``)."""
    r = rng(seed)
    values = []
    while len(values) < n:
        values += [r.uniform(-1, 1)] * int(r.integers(1, max_mult + 1))
    return np.sort(np.array(values[:n])) * scale


def with_spectrum(mu: np.ndarray, seed: int) -> np.ndarray:
    """``Q diag(mu) Qᵀ`` for a seeded random orthogonal ``Q`` (exactly symmetric)."""
    Q = orthogonal(len(mu), seed)
    A = (Q * mu) @ Q.T
    return (A + A.T) / 2


def random_symmetric(n: int, seed: int, scale: float = 1.0) -> np.ndarray:
    G = rng(seed).standard_normal((n, n)) * scale
    return (G + G.T) / 2


def value(problem, A, backend: str = "eigen") -> torch.Tensor:
    """Detached value of ``problem`` at ``A`` (numpy or torch) through ``OptLayer``."""
    A = torch.as_tensor(np.asarray(A, dtype=np.float64)) if not torch.is_tensor(A) else A
    with torch.no_grad():
        return optneuron.OptLayer(problem, backend)(A).value


def value_and_grad(problem, A, backend: str = "eigen"):
    """``(value, dvalue/dA)`` through ``OptLayer`` (autograd), as numpy."""
    leaf = torch.tensor(np.asarray(A, dtype=np.float64), requires_grad=True)
    sol = optneuron.OptLayer(problem, backend)(leaf)
    sol.value.sum().backward()
    return sol.value.detach().numpy(), leaf.grad.numpy(), sol


def min_gap(mu: np.ndarray) -> float:
    return float(np.min(np.diff(np.sort(mu)))) if len(mu) > 1 else np.inf


def distinct_gap(mu: np.ndarray, tol: float = 1e-9) -> float:
    """Smallest gap between *distinct* eigenvalues (values within ``tol`` are one cluster)."""
    mu = np.sort(mu)
    gaps = np.diff(mu)
    gaps = gaps[gaps > tol]
    return float(gaps.min()) if len(gaps) else np.inf
