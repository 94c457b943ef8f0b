"""The eigen backend: problems solved exactly by a symmetric eigen-solver.

Every problem's value is ``Σ_j w_j μ_j`` (plus ``∓(α/2)‖w‖²`` when smoothed) over the
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
"""

from __future__ import annotations

import torch

from ..matrices import SymTridiagonal, require_finite
from ..problems import SphereQP
from ..smoothing import fantope_envelope
from ..solution import Solution

__all__ = ["EigenBackend"]

_METHODS = ("auto", "kernel", "lapack")

# Above these sizes LAPACK's blocked reduction wins over the compiled kernels (benchmarks/).
_KERNEL_MAX_DENSE_N = 64


def _flatten(A):
    """``(B, n, n)`` dense or ``SymTridiagonal`` with one batch dimension."""
    if len(A.shape) == 3:
        return A  # already flat: a reshape would add a view node to the autograd graph
    n = A.shape[-1]
    if isinstance(A, SymTridiagonal):
        return A.reshape(-1)
    return A.reshape(-1, n, n)


def _unflatten(value: torch.Tensor, batch: torch.Size) -> torch.Tensor:
    return value if value.shape == batch else value.reshape(batch)


def _choose(A, method: str) -> str:
    """``"kernel"`` or ``"lapack"`` for this batch: kernels on CPU for the sizes they win, once
    compiled. Until then LAPACK serves (same accuracy contract) while they compile in the
    background, unless torch was asked for deterministic algorithms: then the first call
    compiles them, saying so (``kernels.readiness``)."""
    from .. import kernels

    kind = "tridiagonal" if isinstance(A, SymTridiagonal) else "dense"
    if method == "kernel":
        if A.device.type == "cpu":
            kernels.ensure_ready(kind, _numpy_dtype(A), block=True)
        return method
    if method != "auto" or A.device.type != "cpu":
        return "lapack"
    if kind == "dense" and A.shape[-1] > _KERNEL_MAX_DENSE_N:
        return "lapack"
    block = torch.are_deterministic_algorithms_enabled()
    return "kernel" if kernels.ensure_ready(kind, _numpy_dtype(A), block=block) else "lapack"


def _numpy_dtype(A):
    return "float32" if A.dtype == torch.float32 else "float64"


def _lapack_eigenpairs(dense: torch.Tensor, lo: int, hi: int, vectors: bool):
    if vectors:
        values, Q = torch.linalg.eigh(dense)
        return values[:, lo:hi], Q[:, :, lo:hi].contiguous()
    return torch.linalg.eigvalsh(dense)[:, lo:hi], None


def _tridiagonal_derivatives(Q: torch.Tensor):
    """``∂λ_j/∂d_i = q_ij²`` ``(B, n, r)`` and ``∂λ_j/∂e_i = 2 q_ij q_{i+1,j}`` ``(B, n-1, r)``
    from unit eigenvectors ``Q (B, n, r)`` of tridiagonal matrices."""
    return Q * Q, 2 * Q[:, :-1] * Q[:, 1:]


def _kernel_eigenpairs(A, lo: int, hi: int, vectors: bool, derivatives: bool):
    """The compiled kernels; rows they flag (clusters, no convergence) go to LAPACK."""
    from .. import kernels

    if A.device.type != "cpu":
        raise ValueError(f"method='kernel' needs CPU tensors, got device {A.device}")
    derivs = None
    if isinstance(A, SymTridiagonal):
        values, Q, suspect, *derivs = kernels.tridiagonal_eigenpairs(
            A.diag.detach().contiguous().numpy(), A.off.detach().contiguous().numpy(),
            lo, hi, vectors, derivatives, max_threads=torch.get_num_threads(),
        )
        derivs = tuple(torch.from_numpy(x) for x in derivs) if derivatives else None
    else:
        values, Q, suspect = kernels.dense_eigenpairs(
            A.detach().contiguous().numpy(), lo, hi, vectors, max_threads=torch.get_num_threads()
        )
    values = torch.from_numpy(values)
    Q = torch.from_numpy(Q) if vectors else None
    if suspect.any():
        # non-finite input is among the rows the kernels flag: the check costs nothing unless
        # some row was flagged
        require_finite(A)
        rows = torch.from_numpy(suspect)
        dense = A.to_dense() if isinstance(A, SymTridiagonal) else A
        fixed_values, fixed_Q = _lapack_eigenpairs(dense.detach()[rows], lo, hi, vectors)
        values[rows] = fixed_values
        if vectors:
            Q[rows] = fixed_Q
        if derivs is not None:
            for full, fixed in zip(derivs, _tridiagonal_derivatives(fixed_Q)):
                full[rows] = fixed
    return values, Q, derivs


def _eigenpairs(A, lo: int, hi: int, vectors: bool, method: str, derivatives: bool = False):
    """Eigenvalues ``lo..hi-1`` of a flat batch, their vectors ``(B, n, hi-lo)`` (or None) and,
    for a ``SymTridiagonal`` with ``derivatives``, ``_tridiagonal_derivatives`` (else None)."""
    if A.shape[0] == 0:
        n = A.shape[-1]
        values = torch.zeros((0, hi - lo), dtype=A.dtype, device=A.device)
        Q = torch.zeros((0, n, hi - lo), dtype=A.dtype, device=A.device) if vectors else None
    elif _choose(A, method) == "kernel":
        return _kernel_eigenpairs(A, lo, hi, vectors, derivatives)
    else:
        require_finite(A)
        dense = A.to_dense() if isinstance(A, SymTridiagonal) else A
        values, Q = _lapack_eigenpairs(dense.detach(), lo, hi, vectors)
    return values, Q, (_tridiagonal_derivatives(Q) if derivatives else None)


def _weights(problem, values: torch.Tensor, n: int):
    """``(value, w)`` of the problem from its eigenvalues in ``problem.eigen_range(n)``;
    ``w=None`` stands for unit weights (exact problems)."""
    if problem.smoothing is None:
        # one eigenvalue: a view, not a reduction (a training step's every op counts)
        return (values[:, 0] if values.shape[-1] == 1 else values.sum(-1)), None
    value = values.new_zeros(values.shape[:-1])
    w = torch.zeros_like(values)
    for term in problem.fantope_terms(n):
        v, wt = fantope_envelope(values, term.count, term.largest, problem.smoothing)
        value = value + term.coef * v
        w = w + term.coef * wt
    return value, w


def _lift(problem, Q: torch.Tensor, w: torch.Tensor | None):
    """``X = Q diag(w) Qᵀ`` and the minimizer(s) ``x`` (None for smoothed problems)."""
    X = (Q if w is None else Q * w.unsqueeze(-2)) @ Q.mT
    if problem.smoothing is not None:
        return X, None
    return X, (Q[..., 0] if isinstance(problem, SphereQP) else Q)


class _Found:
    """Where a forward leaves its eigenvectors ``Q`` and weights ``w`` for ``Solution.X`` and
    ``.x``: as extra outputs of the autograd Function they cost bookkeeping on every call."""

    Q: torch.Tensor | None = None
    w: torch.Tensor | None = None


class _DenseValue(torch.autograd.Function):
    """value(A) with ``∂value/∂A = Q diag(w) Qᵀ``; ``Q`` and ``w`` are left in ``found``."""

    @staticmethod
    def forward(ctx, A, problem, method, found):
        lo, hi = problem.eigen_range(A.shape[-1])
        values, Q, _ = _eigenpairs(A, lo, hi, True, method)
        value, w = _weights(problem, values, A.shape[-1])
        found.Q, found.w = Q, w
        ctx.save_for_backward(Q, w)
        return value

    @staticmethod
    def backward(ctx, grad_value):
        Q, w = ctx.saved_tensors
        gw = grad_value.unsqueeze(-1) if w is None else grad_value.unsqueeze(-1) * w  # (B, r)
        if Q.shape[-1] == 1:  # q qᵀ as a broadcast product: a k=1 bmm is the slow way
            gq = gw * Q[..., 0]
            return gq.unsqueeze(-1) * Q[..., 0].unsqueeze(-2), None, None, None
        return (Q * gw.unsqueeze(-2)) @ Q.mT, None, None, None


def _tridiagonal_gradient(dd: torch.Tensor, de: torch.Tensor, w: torch.Tensor | None):
    """``∂value/∂d = Σ_j w_j ∂λ_j/∂d`` and ``∂value/∂e = Σ_j w_j ∂λ_j/∂e`` from the
    per-eigenvalue derivatives ``(B, ·, r)``; ``w=None`` means unit weights."""
    if w is None and dd.shape[-1] == 1:  # one exact eigenvalue (the common neuron): views
        return dd[..., 0], de[..., 0]
    if w is None:
        return dd.sum(-1), de.sum(-1)
    w = w.unsqueeze(-2)
    return (dd * w).sum(-1), (de * w).sum(-1)


class _TridiagonalValue(torch.autograd.Function):
    """value(d, e) with ``∂/∂d_i = Σ_j w_j q_ij²`` and ``∂/∂e_i = 2 Σ_j w_j q_ij q_{i+1,j}``;
    ``Q`` and ``w`` are left in ``found``.

    Both derivatives are formed in forward (by the kernels, on their path): backward is then
    two products with the incoming gradient, and saves only ``(B, n)`` and ``(B, n-1)`` tensors.
    """

    @staticmethod
    def forward(ctx, diag, off, problem, method, found):
        n = diag.shape[-1]
        lo, hi = problem.eigen_range(n)
        values, Q, (dd, de) = _eigenpairs(SymTridiagonal(diag, off), lo, hi, True, method,
                                          derivatives=True)
        value, w = _weights(problem, values, n)
        found.Q, found.w = Q, w
        ctx.save_for_backward(*_tridiagonal_gradient(dd, de, w))
        return value

    @staticmethod
    def backward(ctx, grad_value):
        grad_diag, grad_off = ctx.saved_tensors
        g = grad_value.unsqueeze(-1)
        return g * grad_diag, g * grad_off, None, None, None


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
        if method not in _METHODS:
            raise ValueError(f"method must be one of {_METHODS}, got {method!r}")
        self.method = method

    def solve(self, problem, A) -> Solution:
        n = A.shape[-1]
        batch = A.shape[:-2]
        flat = _flatten(A)
        needs_grad = torch.is_grad_enabled() and A.requires_grad
        if needs_grad:
            found = _Found()
            if isinstance(flat, SymTridiagonal):
                value = _TridiagonalValue.apply(flat.diag, flat.off, problem, self.method, found)
            else:
                value = _DenseValue.apply(flat, problem, self.method, found)

            def lift_saved():
                X, x = _lift(problem, found.Q, found.w)
                return X.reshape(*batch, n, n), _shape(x, batch)

            return Solution(_unflatten(value, batch), lift=lift_saved)

        lo, hi = problem.eigen_range(n)
        values, _, _ = _eigenpairs(flat, lo, hi, False, self.method)
        value, _ = _weights(problem, values, n)

        def lift():
            with torch.no_grad():
                values, Q, _ = _eigenpairs(flat, lo, hi, True, self.method)
                _, w = _weights(problem, values, n)
                X, x = _lift(problem, Q, w)
            return X.reshape(*batch, n, n), _shape(x, batch)

        return Solution(_unflatten(value, batch), lift=lift)

    def __repr__(self) -> str:
        return f"EigenBackend(method={self.method!r})"


def _shape(x, batch):
    if x is None:
        return None
    return x.reshape(*batch, *x.shape[1:])
