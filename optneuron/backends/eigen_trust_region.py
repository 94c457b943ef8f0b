"""Eigen backend: ``TrustRegion`` by an eigendecomposition and the secular equation.

``A = Q diag(λ) Qᵀ`` (the backend's ``eigenpairs``: compiled kernels or LAPACK), then
``secular.trust_region_coordinates`` gives ``y = Qᵀx`` and ``x = Q y``. The value is the
objective at that feasible point, ``Σ λ_i y_i² + 2βᵀy``; its gradient is Danskin's,
``∂/∂A = x xᵀ``, ``∂/∂b = 2x`` (theory/trust-region.md), by a Function that saves only ``x``.
A ``SymTridiagonal`` ``A`` on the CPU (``method`` other than ``"lapack"``) goes to the
compiled O(n)-per-step kernel (``kernels.trust_region``) with the bottom eigenpair from the
tridiagonal eigen-kernel, and gets the gradients ``x_i²`` (diagonal), ``2x_ix_{i+1}``
(off-diagonal); rows the eigen-kernel flags (a repeated bottom eigenvalue) and other devices
are solved densely, their gradient reaching ``diag``/``off`` through ``to_dense``.
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


class _TridiagonalTrustRegionValue(torch.autograd.Function):
    """``value(d, e, b)`` with ``∂/∂d_i = x_i²``, ``∂/∂e_i = 2x_ix_{i+1}``, ``∂/∂b = 2x``."""

    @staticmethod
    def forward(ctx, diag, off, b, x, value):
        ctx.save_for_backward(x)
        return value

    @staticmethod
    def backward(ctx, grad_value):
        (x,) = ctx.saved_tensors
        g = grad_value.unsqueeze(-1)
        return g * x * x, 2 * g * x[:, :-1] * x[:, 1:], 2 * g * x, None, None


def _tridiagonal_kernel(T: SymTridiagonal, b: torch.Tensor, ball: bool):
    """``(x, value)`` for flat CPU input by the compiled kernels, or ``None`` if any row is one
    the eigen-kernel flags (then the whole batch goes the dense way: simpler, and rare)."""
    from .. import kernels
    from ..kernels.trust_region import tridiagonal_trust_region

    d = T.diag.detach().double().contiguous().numpy()
    e = T.off.detach().double().contiguous().numpy()
    lam, q, suspect = kernels.tridiagonal_eigenpairs(d, e, 0, 1, True)
    if suspect.any():
        return None
    x, value, _ = tridiagonal_trust_region(d, e, b.detach().double().numpy(), lam[:, 0],
                                           q[:, :, 0], ball)
    return (torch.from_numpy(x).to(T.dtype), torch.from_numpy(value).to(T.dtype))


@EIGEN.solves(TrustRegion)
def solve_trust_region(backend, problem: TrustRegion, A, b) -> Solution:
    """``TrustRegion`` for a batch: value, minimizer ``x``, ``X = x xᵀ``."""
    if isinstance(A, SymTridiagonal) and A.device.type == "cpu" and backend.method != "lapack":
        n, batch = A.shape[-1], A.shape[:-2]
        flat, flat_b = A.reshape(-1), b.reshape(-1, n)
        found = _tridiagonal_kernel(flat, flat_b, problem.ball) if flat_b.shape[0] else None
        if found is not None:
            x, value = found
            if torch.is_grad_enabled() and (flat.requires_grad or flat_b.requires_grad):
                value = _TridiagonalTrustRegionValue.apply(flat.diag, flat.off, flat_b, x, value)
            x = x.reshape(*batch, n)
            return Solution(value.reshape(batch),
                            lift=lambda: (x.unsqueeze(-1) * x.unsqueeze(-2), x))
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
