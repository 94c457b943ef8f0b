"""The eigen backend: problems solved exactly by a symmetric eigen-solver.

Spectral problems (``SphereQP``, ``KyFan``; ``solve_spectral``): the value is
``Σ_j w_j μ_j`` (plus ``∓(α/2)(‖w‖² − m)`` per term when smoothed, the aligned envelope of
``smoothing.py``) over the
eigenvalues ``μ_j`` in its index range, with weights ``w`` (ones for exact problems, the
capped-simplex weights of ``smoothing.py`` for smoothed ones). Its gradient is
``Q diag(w) Qᵀ`` — ``q_k q_kᵀ`` for ``λ_k``, the projector for a Ky Fan sum — and, for a
``SymTridiagonal``, ``(Σ_j w_j q_ij²)`` on the diagonal and ``(2 Σ_j w_j q_ij q_{i+1,j})``
off it. At a repeated eigenvalue the returned ``q_k q_kᵀ`` uses the eigenvector the
solver picked, a member of the Clarke subdifferential.

Under ``torch.no_grad`` (or when nothing requires grad) only eigenvalues are computed;
``Solution.X`` / ``Solution.x`` then compute the vectors on first access. With gradients the
vectors are computed once (for a ``SymTridiagonal`` the kernels also write the derivatives
backward needs), and ``X`` is formed from them only if asked for.

``Solution.X`` / ``.x`` accessed with gradients on come from ``eigen_solution`` (their own
autograd Function, differentiable w.r.t. ``A``; built only on access, so value-only training
pays nothing for it). ``Solution.gap`` is the distance from the selected eigenvalue(s) to the
rest of the spectrum (``eigen_solution.spectral_gap``; for a smoothed problem, that of its
exact counterpart): the solution's derivative scales as ``1/gap``.

Other problems have their solves in ``eigen_trust_region`` and ``eigen_generalized``; all are
found through the ``dispatch.EIGEN`` table.
"""

from __future__ import annotations

import dataclasses

import torch

from ..matrices import TORCH_GRAIN, SymTridiagonal, serial_slices
from ..problems import KyFan, SphereQP
from ..solution import Solution
from . import eigen_generalized, eigen_mixture, eigen_trust_region  # noqa: F401  (their @solves register)
from .dispatch import EIGEN
from .eigen_solution import ReductionCache, solution_function, spectral_gap
from .eigenpairs import (
    METHODS,
    dense_eigenpair,
    eigenpairs,
    flatten,
    spectral_weights,
    tridiagonal_sum,
    unflatten,
)
from .torch_threads import follow_machine_load

__all__ = ["EigenBackend", "solve_spectral"]


def _lift(problem, Q: torch.Tensor, w: torch.Tensor | None):
    """``X = Q diag(w) Qᵀ`` and the minimizer(s) ``x`` (None for smoothed problems)."""
    X = (Q if w is None else Q * w.unsqueeze(-2)) @ Q.mT
    if problem.smoothing is not None:
        return X, None
    return X, (Q[..., 0] if isinstance(problem, SphereQP) else Q)


def _scaled_outer(g: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """``g_b q_b q_bᵀ`` ``(B, n, n)`` for ``g (B,)``, ``q (B, n)``: a broadcast product (a k=1
    bmm is the slow way), on batch slices that torch runs serially (``serial_slices``)."""
    B, n = q.shape
    if B * n * n <= TORCH_GRAIN or torch.is_grad_enabled():  # create_graph: no out= ops
        return (g.unsqueeze(-1) * q).unsqueeze(-1) * q.unsqueeze(-2)
    out = q.new_empty(B, n, n)
    for s in serial_slices(B, n * n):
        torch.mul((g[s].unsqueeze(-1) * q[s]).unsqueeze(-1), q[s].unsqueeze(-2), out=out[s])
    return out


class _DenseValue(torch.autograd.Function):
    """value(A) with ``∂value/∂A = Q diag(w) Qᵀ``."""

    @staticmethod
    def forward(ctx, A, problem, method, cache):
        n = A.shape[-1]
        lo, hi = problem.eigen_range(n)
        if problem.smoothing is None and hi - lo == 1:  # one eigenvalue: save q_k alone (B, n)
            value, q, reflectors = dense_eigenpair(A, lo, method, reduction=cache is not None)
            if reflectors is not None:
                cache.q, cache.reflectors = q, reflectors
            ctx.save_for_backward(q, None)
            return value
        values, Q, _ = eigenpairs(A, lo, hi, True, method)
        value, w = spectral_weights(problem, values, n)
        ctx.save_for_backward(Q, w)
        return value

    @staticmethod
    def backward(ctx, grad_value):
        Q, w = ctx.saved_tensors
        if Q.ndim == 2:
            return _scaled_outer(grad_value, Q), None, None, None
        gw = grad_value.unsqueeze(-1) if w is None else grad_value.unsqueeze(-1) * w  # (B, r)
        return (Q * gw.unsqueeze(-2)) @ Q.mT, None, None, None


class _TridiagonalValue(torch.autograd.Function):
    """value(d, e) with ``∂/∂d_i = Σ_j w_j q_ij²`` and ``∂/∂e_i = 2 Σ_j w_j q_ij q_{i+1,j}``.

    Both derivatives are formed in forward (by the kernels, on their path): backward is then
    two products with the incoming gradient, and saves only ``(B, n)`` and ``(B, n-1)`` tensors.
    """

    @staticmethod
    def forward(ctx, diag, off, problem, method):
        n = diag.shape[-1]
        lo, hi = problem.eigen_range(n)
        T = SymTridiagonal.trusted(diag, off)
        if problem.smoothing is None:
            value, grad_diag, grad_off = tridiagonal_sum(T, lo, hi, method)
        else:
            values, _, (dd, de) = eigenpairs(T, lo, hi, False, method, derivatives=True)
            value, w = spectral_weights(problem, values, n)
            w = w.unsqueeze(-2)
            grad_diag, grad_off = (dd * w).sum(-1), (de * w).sum(-1)
        ctx.save_for_backward(grad_diag, grad_off)
        return value

    @staticmethod
    def backward(ctx, grad_value):
        grad_diag, grad_off = ctx.saved_tensors
        g = grad_value.unsqueeze(-1)
        return g * grad_diag, g * grad_off, None, None


class EigenBackend:
    """Solve problems exactly with a symmetric eigen-solver.

    ``method="auto"`` picks per batch: the compiled numba kernels (``optneuron.kernels``) for
    CPU tensors — tridiagonal always, dense up to n = 64 — and ``torch.linalg`` (LAPACK, or
    cuSOLVER on CUDA) otherwise; ``"kernel"`` and ``"lapack"`` force one path.

    Input with nan or inf raises ``ValueError`` (``matrices.require_finite``) like everywhere
    else, but checked here (``checks_finite``): on the kernel path the kernels flag such rows
    anyway, so the check runs only when a row was flagged, and training loops skip a
    reduction and a sync per tensor per step.
    """

    name = "eigen"
    checks_finite = True

    def __init__(self, method: str = "auto"):
        if method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}, got {method!r}")
        self.method = method

    def solve(self, problem, *data) -> Solution:
        """``problem`` on its validated data, by the solve registered for its class."""
        # here, not at the kernel calls: LAPACK's path (a cold cache's, beside the compiling
        # child process) runs torch's threads too
        follow_machine_load()
        return EIGEN.lookup(problem)(self, problem, *data)

    def __repr__(self) -> str:
        return f"EigenBackend(method={self.method!r})"


def _shape(x, batch):
    if x is None:
        return None
    return x.reshape(*batch, *x.shape[1:])


def _gap_function(problem, flat, method, batch):
    """``Solution.gap``: computed on access from all eigenvalues (detached)."""

    def gap():
        n = flat.shape[-1]
        exact = dataclasses.replace(problem, smoothing=None)
        with torch.no_grad():
            values, _, _ = eigenpairs(flat, 0, n, False, method)
        return unflatten(spectral_gap(values, *exact.eigen_range(n)), batch)

    return gap


@EIGEN.solves(SphereQP, KyFan)
def solve_spectral(backend, problem, A) -> Solution:
    """A spectral problem (value ``Σ_j w_j μ_j``, module docstring) for a batch ``A``."""
    shape = A.shape  # a property that builds a Size for a SymTridiagonal: read it once
    n = shape[-1]
    batch = shape[:-2]
    flat = A if len(shape) == 3 else flatten(A)
    gap = _gap_function(problem, flat, backend.method, batch)
    needs_grad = torch.is_grad_enabled() and A.requires_grad
    if needs_grad:
        cache = None
        if isinstance(flat, SymTridiagonal):
            value = _TridiagonalValue.apply(flat.diag, flat.off, problem, backend.method)
        else:
            # an exact SphereQP's x reuses the value's Householder reduction (ReductionCache)
            cache = ReductionCache() if isinstance(problem, SphereQP) else None
            value = _DenseValue.apply(flat, problem, backend.method, cache)

        def lift_differentiable():
            X, x = solution_function(problem, flat, backend.method, cache)
            if callable(X):  # X = x xᵀ, formed only if Solution.X is read
                return (lambda: X().reshape(*batch, n, n)), _shape(x, batch)
            return X.reshape(*batch, n, n), _shape(x, batch)

        return Solution(unflatten(value, batch), lift=lift_differentiable, gap=gap)

    lo, hi = problem.eigen_range(n)
    values, _, _ = eigenpairs(flat, lo, hi, False, backend.method)
    value, _ = spectral_weights(problem, values, n)

    def lift():
        with torch.no_grad():
            values, Q, _ = eigenpairs(flat, lo, hi, True, backend.method)
            _, w = spectral_weights(problem, values, n)
            X, x = _lift(problem, Q, w)
        return X.reshape(*batch, n, n), _shape(x, batch)

    return Solution(unflatten(value, batch), lift=lift, gap=gap)
