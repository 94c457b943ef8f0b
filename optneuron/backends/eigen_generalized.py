"""Eigen backend: ``GeneralizedSphereQP`` by Cholesky reduction to a symmetric eigenproblem.

``B = LLᵀ``, ``C = L⁻¹AL⁻ᵀ``; the eigenpairs ``(μ_j, q_j)`` of ``C`` give the generalized
eigenpairs ``(μ_j, x_j = L⁻ᵀq_j)`` with ``x_jᵀBx_j = 1``. The value is the reduced spectral
problem's (``problem.reduced``) on ``C``, ``Σ_j w_j μ_j`` (``∓(α/2)(‖w‖² − m)`` smoothed); its
gradients (theory/generalized-courant-fischer.md) are ``∂/∂A = Σ_j w_j x_j x_jᵀ`` and
``∂/∂B = −Σ_j w_j μ_j x_j x_jᵀ``, formed in backward from ``x`` and the two weight vectors.
"""

from __future__ import annotations

import torch

from ..matrices import SymTridiagonal
from ..problems import GeneralizedSphereQP
from ..solution import Solution
from .dispatch import EIGEN
from .eigenpairs import eigenpairs, spectral_weights

__all__ = ["solve_generalized", "cholesky_factor"]


def cholesky_factor(B: torch.Tensor) -> torch.Tensor:
    """Lower Cholesky factor of a flat batch ``B (N, n, n)``; ``ValueError`` naming ``B`` if some
    matrix is not (numerically) positive definite."""
    L, info = torch.linalg.cholesky_ex(B)
    if bool((info != 0).any()):
        rows = torch.nonzero(info).flatten().tolist()
        raise ValueError(
            f"B must be symmetric positive definite; the Cholesky factorization failed for "
            f"batch entries {rows[:5]}{' ...' if len(rows) > 5 else ''}"
        )
    return L


class _GeneralizedValue(torch.autograd.Function):
    """``value(A, B)`` with ``∂/∂A = Σ w_j x_j x_jᵀ`` and ``∂/∂B = −Σ w_j μ_j x_j x_jᵀ``."""

    @staticmethod
    def forward(ctx, A, B, value, x, w_A, w_B):
        ctx.save_for_backward(x, w_A, w_B)
        return value

    @staticmethod
    def backward(ctx, grad_value):
        x, w_A, w_B = ctx.saved_tensors
        g = grad_value.unsqueeze(-1)
        grad_A = (x * (g * w_A).unsqueeze(-2)) @ x.mT
        grad_B = -(x * (g * w_B).unsqueeze(-2)) @ x.mT
        return grad_A, grad_B, None, None, None, None


def generalized_eigenpairs(problem, A, B, method: str):
    """``(value, x (N, n, r), w (N, r), μ (N, r))`` for flat detached ``A``, ``B``."""
    n = A.shape[-1]
    L = cholesky_factor(B)
    left = torch.linalg.solve_triangular(L, A, upper=False)
    C = torch.linalg.solve_triangular(L, left.mT, upper=False)
    C = C / 2 + C.mT / 2
    reduced = problem.reduced
    lo, hi = reduced.eigen_range(n)
    mu, Q, _ = eigenpairs(C, lo, hi, True, method)
    value, w = spectral_weights(reduced, mu, n)
    w = torch.ones_like(mu) if w is None else w
    x = torch.linalg.solve_triangular(L.mT, Q, upper=True)
    return value, x, w, mu


@EIGEN.solves(GeneralizedSphereQP)
def solve_generalized(backend, problem: GeneralizedSphereQP, A, B) -> Solution:
    """``GeneralizedSphereQP`` for a batch: value, ``x = L⁻ᵀq_k``, ``X = Σ w_j x_j x_jᵀ``."""
    dense = A.to_dense() if isinstance(A, SymTridiagonal) else A
    n = dense.shape[-1]
    batch = dense.shape[:-2]
    flat_A, flat_B = dense.reshape(-1, n, n), B.reshape(-1, n, n)
    with torch.no_grad():
        value, x, w, mu = generalized_eigenpairs(problem, flat_A.detach(), flat_B.detach(),
                                                 backend.method)
    if torch.is_grad_enabled() and (flat_A.requires_grad or flat_B.requires_grad):
        value = _GeneralizedValue.apply(flat_A, flat_B, value, x, w, w * mu)

    def lift():
        X = (x * w.unsqueeze(-2)) @ x.mT
        vectors = x[..., 0] if problem.smoothing is None else None
        return X.reshape(*batch, n, n), (None if vectors is None else vectors.reshape(*batch, n))

    return Solution(value.reshape(batch), lift=lift)
