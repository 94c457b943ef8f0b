"""Eigen backend: ``TrustRegion`` by an eigendecomposition and the secular equation.

``A = Q diag(λ) Qᵀ`` (the backend's ``eigenpairs``: compiled kernels or LAPACK), then
``secular.trust_region_coordinates`` gives ``y = Qᵀx`` and ``x = Q y``. The value is the
objective at that feasible point, ``Σ λ_i y_i² + 2βᵀy``; its gradient is Danskin's,
``∂/∂A = x xᵀ``, ``∂/∂b = 2x`` (theory/trust-region.md), by a Function that saves only ``x``.
A ``SymTridiagonal`` ``A`` is solved densely and its gradient reaches ``diag``/``off``
through ``to_dense``.
"""

from __future__ import annotations

import torch

from ..matrices import SymTridiagonal
from ..problems import TrustRegion
from ..solution import Solution
from .dispatch import EIGEN
from .eigenpairs import eigenpairs
from .secular import trust_region_coordinates

__all__ = ["solve_trust_region", "trust_region_minimizer"]


class _TrustRegionValue(torch.autograd.Function):
    """``value(A, b)`` with ``∂/∂A = x xᵀ`` and ``∂/∂b = 2x`` at the given minimizer ``x``."""

    @staticmethod
    def forward(ctx, A, b, x, value):
        ctx.save_for_backward(x)
        return value

    @staticmethod
    def backward(ctx, grad_value):
        (x,) = ctx.saved_tensors
        gx = grad_value.unsqueeze(-1) * x
        return gx.unsqueeze(-1) * x.unsqueeze(-2), 2 * gx, None, None


def trust_region_minimizer(A: torch.Tensor, b: torch.Tensor, ball: bool, method: str = "auto"):
    """Minimizer ``x (B, n)`` and value ``(B,)`` for flat detached ``A (B, n, n)``, ``b (B, n)``."""
    n = A.shape[-1]
    lam, Q, _ = eigenpairs(A, 0, n, True, method)
    beta = (Q.mT @ b.unsqueeze(-1)).squeeze(-1)
    y = trust_region_coordinates(lam, beta, ball)
    value = (lam * y * y).sum(-1) + 2 * (beta * y).sum(-1)
    x = (Q @ y.unsqueeze(-1)).squeeze(-1)
    return x, value


@EIGEN.solves(TrustRegion)
def solve_trust_region(backend, problem: TrustRegion, A, b) -> Solution:
    """``TrustRegion`` for a batch: value, minimizer ``x``, ``X = x xᵀ``."""
    dense = A.to_dense() if isinstance(A, SymTridiagonal) else A
    n = dense.shape[-1]
    batch = dense.shape[:-2]
    flat_A, flat_b = dense.reshape(-1, n, n), b.reshape(-1, n)
    with torch.no_grad():
        if flat_A.shape[0] == 0:
            x, value = flat_b.new_zeros(flat_b.shape), flat_b.new_zeros(0)
        else:
            x, value = trust_region_minimizer(flat_A.detach(), flat_b.detach(), problem.ball,
                                              backend.method)
    if torch.is_grad_enabled() and (flat_A.requires_grad or flat_b.requires_grad):
        value = _TrustRegionValue.apply(flat_A, flat_b, x, value)
    x = x.reshape(*batch, n)
    return Solution(value.reshape(batch), lift=lambda: (x.unsqueeze(-1) * x.unsqueeze(-2), x))
