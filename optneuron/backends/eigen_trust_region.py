"""Eigen backend: ``TrustRegion`` by an eigendecomposition and the secular equation.

``A = Q diag(λ) Qᵀ`` (the backend's ``eigenpairs``: compiled kernels or LAPACK), then
``secular.trust_region_coordinates`` gives ``y = Qᵀx`` and ``x = Q y``. The value is the
objective at that feasible point, ``Σ λ_i y_i² + 2βᵀy``; its gradient is Danskin's,
``∂/∂A = x xᵀ``, ``∂/∂b = 2x`` (theory/trust-region.md), by a Function that saves only ``x``.
On the CPU (``method`` other than ``"lapack"``; dense up to n = 64) the compiled kernels
(``kernels.trust_region``) solve instead: a ``SymTridiagonal`` directly, a dense ``A`` after
the Householder reduction ``A = QTQᵀ`` (``x = Q x_T``), with the bottom eigenpair of ``T`` from
the tridiagonal eigen-kernel and O(n) secular steps; a tridiagonal ``A`` gets the gradients
``x_i²`` (diagonal), ``2x_ix_{i+1}`` (off-diagonal). A batch with a row the eigen-kernel flags
(a repeated bottom eigenvalue, non-finite input) goes the eigendecomposition way above, its
tridiagonal gradient reaching ``diag``/``off`` through ``to_dense``.

With gradients on, ``Solution.x`` (and ``X = x xᵀ``) is differentiable too: the minimizer and
``λ_min`` found here go to ``trust_region_solution``'s Functions, whose backward is the
implicit derivative of the KKT system (one Cholesky solve per dense matrix, O(n) per
tridiagonal one; the hard case raises).
"""

from __future__ import annotations

import torch

from ..matrices import SymTridiagonal
from ..problems import TrustRegion
from ..solution import Solution
from .dispatch import EIGEN
from .eigenpairs import eigenpairs, kernel_ready
from .secular import trust_region_coordinates
from .trust_region_solution import TridiagonalTrustRegionSolution, TrustRegionSolution

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
    """Minimizer ``x (B, n)``, value ``(B,)`` and ``λ_min(A) (B,)`` for flat detached
    ``A (B, n, n)``, ``b (B, n)``."""
    n = A.shape[-1]
    lam, Q, _ = eigenpairs(A, 0, n, True, method)
    beta = (Q.mT @ b.unsqueeze(-1)).squeeze(-1)
    y = trust_region_coordinates(lam, beta, ball)
    value = (lam * y * y).sum(-1) + 2 * (beta * y).sum(-1)
    x = (Q @ y.unsqueeze(-1)).squeeze(-1)
    return x, value, lam[:, 0]


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


def _tridiagonal_kernel(d, e, b, ball: bool):
    """``(x, value, λ_min)`` (numpy) by the compiled kernels, or ``None`` if any row is one the
    eigen-kernel flags (then the whole batch goes the LAPACK way: simpler, and rare)."""
    from .. import kernels
    from ..kernels.trust_region import tridiagonal_trust_region

    lam, q, suspect = kernels.tridiagonal_eigenpairs(d, e, 0, 1, True)
    if suspect.any():
        return None
    x, value, _ = tridiagonal_trust_region(d, e, b, lam[:, 0], q[:, :, 0], ball)
    return x, value, lam[:, 0]


def _kernel_minimizer(A, b: torch.Tensor, ball: bool):
    """``(x, value, λ_min)`` tensors for flat CPU input (dense: after the kernels' Householder
    reduction), or ``None`` where the kernels do not vouch for a row."""
    from ..kernels.trust_region import dense_back_transform, dense_reduction

    b64 = b.detach().double().contiguous().numpy()
    if isinstance(A, SymTridiagonal):
        d = A.diag.detach().double().contiguous().numpy()
        e = A.off.detach().double().contiguous().numpy()
        found = _tridiagonal_kernel(d, e, b64, ball)
    else:
        d, e, bT, reflectors = dense_reduction(A.detach().double().numpy(), b64)
        found = _tridiagonal_kernel(d, e, bT, ball)
        if found is not None:
            found = dense_back_transform(reflectors, found[0]), *found[1:]
    if found is None:
        return None
    return tuple(torch.from_numpy(t).to(A.dtype) for t in found)


@EIGEN.solves(TrustRegion)
def solve_trust_region(backend, problem: TrustRegion, A, b) -> Solution:
    """``TrustRegion`` for a batch: value, minimizer ``x``, ``X = x xᵀ``; with gradients on,
    ``x`` and ``X`` are differentiable w.r.t. ``A`` and ``b`` (``trust_region_solution``)."""
    n, batch = A.shape[-1], A.shape[:-2]
    flat = A.reshape(-1) if isinstance(A, SymTridiagonal) else A.reshape(-1, n, n)
    flat_b = b.reshape(-1, n)
    found = None
    if _use_kernels(flat, backend.method) and flat_b.shape[0]:
        found = _kernel_minimizer(flat, flat_b, problem.ball)
    if found is None:
        dense = flat.to_dense() if isinstance(flat, SymTridiagonal) else flat
        with torch.no_grad():
            found = (trust_region_minimizer(dense.detach(), flat_b.detach(), problem.ball,
                                            backend.method) if flat_b.shape[0] else
                     (flat_b.new_zeros(flat_b.shape), flat_b.new_zeros(0), flat_b.new_zeros(0)))
        flat = dense
    x, value, lam0 = found
    needs_grad = torch.is_grad_enabled() and (flat.requires_grad or flat_b.requires_grad)
    if needs_grad:
        if isinstance(flat, SymTridiagonal):
            value = _TridiagonalTrustRegionValue.apply(flat.diag, flat.off, flat_b, x, value)
        else:
            value = _TrustRegionValue.apply(flat, flat_b, x, value)

    def lift():
        # built only when X or x is read, so value-only training adds no node to the graph
        solution = x
        if needs_grad and isinstance(flat, SymTridiagonal):
            solution = TridiagonalTrustRegionSolution.apply(flat.diag, flat.off, flat_b, x, lam0,
                                                            problem.ball)
        elif needs_grad:
            solution = TrustRegionSolution.apply(flat, flat_b, x, lam0, problem.ball)
        solution = solution.reshape(*batch, n)
        return solution.unsqueeze(-1) * solution.unsqueeze(-2), solution

    return Solution(value.reshape(batch), lift=lift)


def _use_kernels(A, method: str) -> bool:
    """The compiled path: CPU, ``method`` not ``"lapack"``, dense only up to the size where the
    kernels' reduction beats LAPACK for the eigen backend (``eigenpairs``)."""
    if A.device.type != "cpu" or method == "lapack":
        return False
    if not (isinstance(A, SymTridiagonal) or method == "kernel" or A.shape[-1] <= 64):
        return False
    # both compiled pieces (the bottom eigenpair and the secular solve); until they are, the
    # LAPACK path answers (kernels.readiness)
    block = method == "kernel"
    return kernel_ready("tridiagonal", A.dtype, block) and kernel_ready("trust_region", A.dtype,
                                                                         block)
