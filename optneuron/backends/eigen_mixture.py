"""The eigen backend's solve for ``EigenvalueMixture``: ``⟨w, λ(A)⟩`` and its gradients.

Exact mixtures go through the full-spectrum kernels (``kernels.tridiagonal_spectrum`` /
``dense_spectrum``), which form ``∂φ/∂A = Q diag(w) Qᵀ`` (tridiagonal: its diagonal
``Σ_k w_k q_ik²`` and off-diagonal ``2 Σ_k w_k q_ik q_{i+1,k}``) without returning ``Q``;
rows the kernels flag, non-CPU tensors and ``method="lapack"`` use ``torch.linalg.eigh``.
Smoothed mixtures use ``eigenpairs`` (all vectors) and the envelopes of ``smoothing.py``:
``φ^α = ⟨w, λ^α⟩`` with gradient ``Q diag(W) Qᵀ``, ``W = Σ_k w_k ∂λ^α_k/∂μ``.
``∂φ/∂w`` is ``λ`` (``λ^α``) either way.
"""

from __future__ import annotations

import numpy as np
import torch

from ..matrices import SymTridiagonal, require_finite
from ..problems import EigenvalueMixture, SphereQP
from ..solution import Solution
from .dispatch import EIGEN
from .eigenpairs import (
    eigenpairs,
    flatten,
    kernel_ready,
    spectral_weights,
    tridiagonal_derivatives,
)

# Above this size LAPACK's blocked reduction wins over the dense kernels (eigenpairs.py).
KERNEL_MAX_DENSE_N = 64

__all__ = ["solve_mixture", "mixture_pieces"]


def _lapack(A, w: torch.Tensor, gradient: bool):
    """``(λ, gradient)`` by ``torch.linalg``: ``Q diag(w) Qᵀ`` or its tridiagonal terms."""
    require_finite(A)
    dense = (A.to_dense() if isinstance(A, SymTridiagonal) else A).detach()
    if not gradient:
        return torch.linalg.eigvalsh(dense), None
    values, Q = torch.linalg.eigh(dense)
    if isinstance(A, SymTridiagonal):
        dd, de = tridiagonal_derivatives(Q)
        w = w.unsqueeze(-2)
        return values, ((dd * w).sum(-1), (de * w).sum(-1))
    return values, (Q * w.unsqueeze(-2)) @ Q.mT


def _kernel(A, w: torch.Tensor, gradient: bool):
    """``(λ, gradient)`` by the full-spectrum kernels; flagged rows re-solved by LAPACK."""
    from .. import kernels

    weights = w.detach().contiguous().numpy() if gradient else None
    threads = torch.get_num_threads()
    if isinstance(A, SymTridiagonal):
        values, gd, ge, suspect = kernels.tridiagonal_spectrum(
            A.diag.detach().contiguous().numpy(), A.off.detach().contiguous().numpy(),
            weights, max_threads=threads)
        grad = (torch.from_numpy(gd), torch.from_numpy(ge)) if gradient else None
    else:
        values, G, suspect = kernels.dense_spectrum(
            A.detach().contiguous().numpy(), weights, max_threads=threads)
        grad = torch.from_numpy(G) if gradient else None
    values = torch.from_numpy(values)
    if suspect.any():
        rows = torch.from_numpy(suspect)
        fixed_values, fixed_grad = _lapack(_rows(A, rows), w[rows], gradient)
        values[rows] = fixed_values
        if isinstance(grad, tuple):
            grad[0][rows], grad[1][rows] = fixed_grad
        elif grad is not None:
            grad[rows] = fixed_grad
    return values, grad


def _rows(A, rows: torch.Tensor):
    if isinstance(A, SymTridiagonal):
        return SymTridiagonal(A.diag[rows], A.off[rows])
    return A[rows]


def _exact_pieces(A, w: torch.Tensor, method: str, gradient: bool):
    if A.shape[0] == 0:
        return _lapack(A, w, gradient)
    if _use_kernel(A, method):
        return _kernel(A, w, gradient)
    return _lapack(A, w, gradient)


def _use_kernel(A, method: str) -> bool:
    """The policy of ``eigenpairs._choose`` for the full-spectrum kernels: CPU, dense up to
    its size limit, once compiled (``method="kernel"`` waits for the compile)."""
    kind = "tridiagonal_spectrum" if isinstance(A, SymTridiagonal) else "dense_spectrum"
    if method == "kernel":
        if A.device.type != "cpu":
            raise ValueError(f"method='kernel' needs CPU tensors, got device {A.device}")
        return kernel_ready(kind, A.dtype, block=True)
    if method != "auto" or A.device.type != "cpu":
        return False
    if kind == "dense_spectrum" and A.shape[-1] > KERNEL_MAX_DENSE_N:
        return False
    return kernel_ready(kind, A.dtype)


def _smoothed_pieces(problem, A, w: torch.Tensor, method: str, gradient: bool):
    """``(λ^α, gradient)``: ``λ^α_k`` from ``SphereQP(k, α)``'s weights, ``W = Σ_k w_k u_k``."""
    n = A.shape[-1]
    values, Q, _ = eigenpairs(A, 0, n, gradient, method)
    smoothed = []
    W = torch.zeros_like(values)
    for k in range(n):
        value_k, u_k = spectral_weights(SphereQP(k, smoothing=problem.smoothing), values, n)
        smoothed.append(value_k)
        W = W + w[:, k: k + 1] * u_k
    smoothed = torch.stack(smoothed, -1)
    if not gradient:
        return smoothed, None
    if isinstance(A, SymTridiagonal):
        dd, de = tridiagonal_derivatives(Q)
        return smoothed, ((dd * W.unsqueeze(-2)).sum(-1), (de * W.unsqueeze(-2)).sum(-1))
    return smoothed, (Q * W.unsqueeze(-2)) @ Q.mT


def mixture_pieces(problem, A, w: torch.Tensor, method: str, gradient: bool):
    """``(ℓ (B, n), ∂φ/∂A or None)`` for a flat batch, with ``φ = ⟨w, ℓ⟩``: ``ℓ = λ(A)``
    (exact) or ``λ^α(A)`` (smoothed); the gradient is dense ``(B, n, n)`` or, for a
    ``SymTridiagonal``, the pair ``(∂φ/∂d (B, n), ∂φ/∂e (B, n−1))``."""
    if problem.smoothing is None:
        return _exact_pieces(A, w, method, gradient)
    return _smoothed_pieces(problem, A, w, method, gradient)


def _numpy_ok(*tensors) -> bool:
    """Elementwise work of the autograd Functions below may go through numpy: CPU tensors of
    one dtype, nothing recorded. Why: torch's OpenMP workers spin-wait after each parallel
    elementwise op (those over more than ~32k elements), and beside the kernels' second thread
    that spinning made the tridiagonal n = 45, B = 1024 forward + backward through the layer
    take 2.1× the kernel's time on 2 cores, 1.0–1.1× after this (``python -m
    benchmarks.spectrum``, the OptLayer rows). numpy's elementwise ops run on the calling
    thread."""
    return (not torch.is_grad_enabled() and all(t.device.type == "cpu" for t in tensors)
            and len({t.dtype for t in tensors}) == 1)


def _dot_rows(ell: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """``Σ_k ell[b, k] w[b, k]`` for each row ``b``."""
    if _numpy_ok(ell, w):
        return torch.from_numpy(np.einsum("bk,bk->b", ell.numpy(), w.numpy()))
    return (ell * w).sum(-1)


def _scale_rows(g: torch.Tensor, X: torch.Tensor) -> torch.Tensor:
    """``g[b] X[b]`` for each row ``b`` of ``X`` (B, ...)."""
    g = g.reshape((-1,) + (1,) * (X.dim() - 1))
    if _numpy_ok(g, X):
        return torch.from_numpy(g.numpy() * X.numpy())
    return g * X


class _DenseMixture(torch.autograd.Function):
    """``φ(A, w)`` with ``∂φ/∂A = Q diag(w) Qᵀ`` (formed in forward), ``∂φ/∂w = ℓ``."""

    @staticmethod
    def forward(ctx, A, w, problem, method):
        ell, G = mixture_pieces(problem, A, w, method, gradient=ctx.needs_input_grad[0])
        ctx.save_for_backward(ell, G)
        return _dot_rows(ell, w)

    @staticmethod
    def backward(ctx, grad_value):
        ell, G = ctx.saved_tensors
        grad_A = _scale_rows(grad_value, G) if ctx.needs_input_grad[0] else None
        return grad_A, (_scale_rows(grad_value, ell) if ctx.needs_input_grad[1] else None), \
            None, None


class _TridiagonalMixture(torch.autograd.Function):
    """``φ(d, e, w)`` with the tridiagonal gradient terms formed in forward."""

    @staticmethod
    def forward(ctx, diag, off, w, problem, method):
        needs_A = ctx.needs_input_grad[0] or ctx.needs_input_grad[1]
        ell, grad = mixture_pieces(problem, SymTridiagonal(diag, off), w, method, needs_A)
        ctx.save_for_backward(ell, *(grad if needs_A else (None, None)))
        return _dot_rows(ell, w)

    @staticmethod
    def backward(ctx, grad_value):
        ell, grad_diag, grad_off = ctx.saved_tensors
        gd = _scale_rows(grad_value, grad_diag) if ctx.needs_input_grad[0] else None
        ge = _scale_rows(grad_value, grad_off) if ctx.needs_input_grad[1] else None
        gw = _scale_rows(grad_value, ell) if ctx.needs_input_grad[2] else None
        return gd, ge, gw, None, None


@EIGEN.solves(EigenvalueMixture)
def solve_mixture(backend, problem, A, w) -> Solution:
    """``⟨w, λ(A)⟩`` (or ``⟨w, λ^α(A)⟩``) for a batch; ``Solution.X = Q diag(w) Qᵀ`` lazily."""
    n = A.shape[-1]
    batch = A.shape[:-2]
    flat, w_flat = flatten(A), w.reshape(-1, n)
    if isinstance(flat, SymTridiagonal):
        value = _TridiagonalMixture.apply(flat.diag, flat.off, w_flat, problem, backend.method)
    else:
        value = _DenseMixture.apply(flat, w_flat, problem, backend.method)

    def lift():
        with torch.no_grad():
            # X = Q diag(w) Qᵀ is dense even for a tridiagonal A
            dense = flat.to_dense() if isinstance(flat, SymTridiagonal) else flat
            _, grad = mixture_pieces(problem, dense.detach(), w_flat.detach(), "lapack", True)
        return grad.reshape(*batch, n, n), None

    return Solution(value.reshape(batch), lift=lift)
