"""Eigen backend: ``GeneralizedSphereQP`` by Cholesky reduction to a symmetric eigenproblem.

``B = LLᵀ``, ``C = L⁻¹AL⁻ᵀ``; the eigenpairs ``(μ_j, q_j)`` of ``C`` give the generalized
eigenpairs ``(μ_j, x_j = L⁻ᵀq_j)`` with ``x_jᵀBx_j = 1``. The value is the reduced spectral
problem's (``problem.reduced``) on ``C``, ``Σ_j w_j μ_j`` (``∓(α/2)(‖w‖² − m)`` smoothed); its
gradients (theory/generalized-courant-fischer.md) are ``∂/∂A = Σ_j w_j x_j x_jᵀ`` and
``∂/∂B = −Σ_j w_j μ_j x_j x_jᵀ``, formed in backward from ``x`` and the two weight vectors.
``x``'s sign makes its own largest-magnitude component positive. With gradients on,
``Solution.x``/``X`` are differentiable w.r.t. ``A`` and ``B`` (``differentiable_solution``),
built only when read.
"""

from __future__ import annotations

import torch

from ..matrices import SymTridiagonal
from ..problems import GeneralizedSphereQP
from ..solution import Solution
from .dispatch import EIGEN
from .eigen_solution import solution_function, spectral_gap
from .eigenpairs import eigenpairs, fix_signs, spectral_weights

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
    L, C = _reduce(A, B)
    reduced = problem.reduced
    lo, hi = reduced.eigen_range(n)
    mu, Q, _ = eigenpairs(C, lo, hi, True, method)
    value, w = spectral_weights(reduced, mu, n)
    w = torch.ones_like(mu) if w is None else w
    x = fix_signs(torch.linalg.solve_triangular(L.mT, Q, upper=True))
    return value, x, w, mu


def _reduce(A, B):
    """``(L, C = L⁻¹AL⁻ᵀ)`` for flat ``A``, ``B`` (differentiable where they require grad)."""
    L = cholesky_factor(B)
    left = torch.linalg.solve_triangular(L, A, upper=False)
    C = torch.linalg.solve_triangular(L, left.mT, upper=False)
    return L, C / 2 + C.mT / 2


def differentiable_solution(problem, A, B, method: str):
    """``(X (N, n, n), x (N, n) or None)`` for flat ``A``, ``B``, differentiable w.r.t. both.

    By composition: ``B = LLᵀ`` and ``C = L⁻¹AL⁻ᵀ`` (autograd through the Cholesky factor and
    the triangular solves), the reduced problem's ``(X_C, q)`` with its own derivative
    (``eigen_solution.solution_function``: ``dq = −(C − μI)⁺dC q`` exact, Daleckii–Krein
    smoothed), then ``x = L⁻ᵀq`` and ``X = L⁻ᵀX_CL⁻¹``. ``x``'s sign makes its own
    largest-magnitude component positive (a locally constant factor, as in ``fix_signs``);
    ties of the reduced spectrum raise on backward, naming ``Solution.gap``.
    """
    L, C = _reduce(A, B)
    X_C, q = solution_function(problem.reduced, C, method)
    X_C = X_C() if callable(X_C) else X_C  # solution_function may defer X until it is asked for
    X = torch.linalg.solve_triangular(L.mT, X_C, upper=True)
    X = torch.linalg.solve_triangular(L.mT, X.mT, upper=True)
    X = X / 2 + X.mT / 2
    if q is None:
        return X, None
    x = torch.linalg.solve_triangular(L.mT, q.unsqueeze(-1), upper=True)
    with torch.no_grad():
        top = x.abs().argmax(dim=-2, keepdim=True)
        sign = torch.where(x.gather(-2, top) < 0, -1.0, 1.0).to(x.dtype)
    return X, (x * sign).squeeze(-1)


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
    needs_grad = torch.is_grad_enabled() and (flat_A.requires_grad or flat_B.requires_grad)
    if needs_grad:
        value = _GeneralizedValue.apply(flat_A, flat_B, value, x, w, w * mu)

    def lift():
        if needs_grad:
            X, vectors = differentiable_solution(problem, flat_A, flat_B, backend.method)
        else:
            X = (x * w.unsqueeze(-2)) @ x.mT
            vectors = x[..., 0] if problem.smoothing is None else None
        return X.reshape(*batch, n, n), (None if vectors is None else vectors.reshape(*batch, n))

    def gap():
        with torch.no_grad():
            _, C = _reduce(flat_A.detach(), flat_B.detach())
            values, _, _ = eigenpairs(C, 0, n, False, backend.method)
            exact = GeneralizedSphereQP(problem.index).reduced
            return spectral_gap(values, *exact.eigen_range(n)).reshape(batch)

    return Solution(value.reshape(batch), lift=lift, gap=gap)
