"""Differentiable solutions of spectral problems: ``X(A)`` and ``x(A)`` with their derivatives.

The value's autograd Functions (``eigen.py``) stay as they are; the Function here is built
only when ``Solution.X`` or ``Solution.x`` is accessed with gradients on, so value-only
training pays nothing for it (theory/solution-derivatives.md has the math and proofs).

With ``A = Q diag(λ) Qᵀ`` (all ``n`` eigenpairs, ascending) and weights ``w`` (``∂value/∂λ``:
ones on the index range of an exact problem, the capped-simplex weights of a smoothed one),
``X = Q diag(w) Qᵀ`` and, for a symmetric direction ``dA`` with ``Â = Qᵀ dA Q``,

    dX = Q (Γ ∘ Â + diag(J_w diag(Â))) Qᵀ,   Γ_ij = (w_i − w_j)/(λ_i − λ_j)   (i ≠ j)

(Daleckii–Krein; for exact problems ``J_w = 0`` and ``Γ`` is ``1/(λ_i − λ_j)`` across the
boundary of the selected set, zero elsewhere). The minimizer ``x = q_k`` of an exact problem
moves as ``dq_k = Σ_{j≠k} q_j Â_jk/(λ_k − λ_j) = −(A − λ_k I)⁺ dA q_k``. Backward is the
adjoint: ``∂L/∂A = Q K Qᵀ`` with ``K`` formed in the eigenbasis.

An exact ``SphereQP`` computes only ``x = q_k`` (its own Function, one output; ``X = x xᵀ`` is
formed from ``x`` when read, so autograd turns ``∂L/∂X`` into ``(G + Gᵀ) x``) and its backward
solves ``v = (A − λ_k I)⁺ P ∂L/∂x``: on the kernels' path in O(n) per tridiagonal matrix and
O(n²) per dense one, reusing the Householder reduction of forward
(``kernels/eigenvector_adjoint.py``; theory/solution-derivatives.md, 1b); LAPACK rows, other
devices and kernels still compiling take a dense LU in torch (``_eigenvector_adjoint``).

Ties: where the divided difference ``1/(λ_i − λ_j)`` is needed and the two eigenvalues are
within ``tie_tolerance`` (``8 n eps max|λ|``: computed eigenvalues cannot be told apart
closer than that), exact ``X`` and ``x`` are not differentiable and backward raises
``ValueError`` naming ``Solution.gap``; smoothed ``X^α`` is differentiable everywhere (the
limit of ``Γ_ij`` is ``J_ii − J_ij``), so ``smoothing=α`` is the well-conditioned choice.

Signs: ``x`` follows the kernels' rule — the largest-magnitude component of each eigenvector
is positive (the first such on exact ties) — on every path (``eigenpairs.fix_signs``), so ``x``
is a function of ``A`` wherever the eigenvalue is simple.
"""

from __future__ import annotations

import torch
from torch.autograd.function import once_differentiable

from ..matrices import SymTridiagonal
from ..problems import SphereQP
from ..smoothing import fantope_envelope
from .eigenpairs import _choose, dense_eigenvector, eigenpairs, kernel_ready

__all__ = ["ReductionCache", "solution_function", "spectral_gap", "tie_tolerance",
           "weights_and_jacobian"]


def tie_tolerance(values: torch.Tensor) -> torch.Tensor:
    """``8 n eps max(|λ|, tiny)`` per matrix ``(B, 1)``: eigenvalues closer are a tie."""
    n = values.shape[-1]
    eps = torch.finfo(values.dtype).eps
    scale = values.abs().amax(-1, keepdim=True).clamp_min(torch.finfo(values.dtype).tiny)
    return 8 * n * eps * scale


def spectral_gap(values: torch.Tensor, lo: int, hi: int) -> torch.Tensor:
    """Distance from eigenvalues ``lo..hi-1`` to the nearest eigenvalue outside that range,
    ``(B,)`` from all eigenvalues ``(B, n)`` ascending; ``inf`` when the range is everything."""
    inf = torch.full(values.shape[:-1], float("inf"), dtype=values.dtype, device=values.device)
    below = values[..., lo] - values[..., lo - 1] if lo > 0 else inf
    above = values[..., hi] - values[..., hi - 1] if hi < values.shape[-1] else inf
    return torch.minimum(below, above)


def weights_and_jacobian(problem, values: torch.Tensor):
    """Weights ``w (B, n)`` of a smoothed problem and ``J_w = ∂w/∂λ (B, n, n)``.

    Each Ky Fan term's weights are the projection of ``±λ/α`` (+ for the largest sum) onto a
    capped simplex, whose Jacobian is ``(±1/α)(D_F − 1_F 1_Fᵀ/|F|)`` on the free set
    ``F = {0 < w_i < 1}`` (the shift by the mean that ``fantope_envelope`` applies is absorbed
    by the projection's threshold).
    """
    alpha = problem.smoothing
    n = values.shape[-1]
    w = torch.zeros_like(values)
    J = values.new_zeros(*values.shape, n)
    for term in problem.fantope_terms(n):
        _, wt = fantope_envelope(values, term.count, term.largest, alpha)
        free = ((wt > 0) & (wt < 1)).to(values.dtype)
        size = free.sum(-1, keepdim=True).clamp_min(1).unsqueeze(-1)
        Jt = torch.diag_embed(free) - free.unsqueeze(-1) * free.unsqueeze(-2) / size
        w = w + term.coef * wt
        J = J + (term.coef * (1.0 if term.largest else -1.0) / alpha) * Jt
    return w, J


def _raise_tie(what: str) -> None:
    raise ValueError(
        f"{what} is not differentiable here: an eigenvalue it depends on ties with another "
        "(Solution.gap is below 8·n·eps·max|λ|); use smoothing=α for a differentiable X^α, or "
        "detach the solution"
    )


def _exact_coefficients(values, Q, lo, hi, gX, gx):
    """``H (B, n, r)`` with ``∂L/∂A = sym(Q H Q_Sᵀ)`` for an exact problem (S = lo..hi-1)."""
    n = values.shape[-1]
    QS = Q[..., lo:hi]
    diff = values[..., lo:hi].unsqueeze(-2) - values.unsqueeze(-1)  # λ_k − λ_j  (B, n, r)
    tie = diff.abs() <= tie_tolerance(values).unsqueeze(-1)
    inside = torch.zeros(n, hi - lo, dtype=torch.bool, device=values.device)
    inside[lo:hi] = True
    self_ = torch.zeros_like(inside)
    self_[torch.arange(lo, hi), torch.arange(hi - lo)] = True
    H = torch.zeros_like(diff)
    safe = torch.where(tie, torch.ones_like(diff), diff)
    if gX is not None:
        G = gX + gX.mT
        # 2 Σ_k Σ_{j∉S} (q_jᵀ G q_k)/(λ_k − λ_j) q_j q_kᵀ with G symmetrized (factor 2 in G)
        if (tie & ~inside).any():
            _raise_tie("Solution.X")
        H = H + torch.where(inside, 0.0, (Q.mT @ (G @ QS)) / safe)
    if gx is not None:
        gx = gx.unsqueeze(-1) if gx.ndim == values.ndim else gx
        if (tie & ~self_).any():
            _raise_tie("Solution.x")
        H = H + torch.where(self_, 0.0, (Q.mT @ gx) / safe)
    return H


def _smoothed_kernel(problem, values, Q, gX):
    """``K (B, n, n)`` with ``∂L/∂A = Q K Qᵀ`` for a smoothed problem's ``X^α``."""
    w, J = weights_and_jacobian(problem, values)
    G = (gX + gX.mT) / 2
    Ghat = Q.mT @ G @ Q
    diff = values.unsqueeze(-1) - values.unsqueeze(-2)
    close = diff.abs() <= tie_tolerance(values).unsqueeze(-1)
    Jd = torch.diagonal(J, dim1=-2, dim2=-1)
    limit = Jd.unsqueeze(-1) - J  # lim (w_i − w_j)/(λ_i − λ_j) as λ_j → λ_i
    dd = (w.unsqueeze(-1) - w.unsqueeze(-2)) / torch.where(close, torch.ones_like(diff), diff)
    Gamma = torch.where(close, limit, dd)
    Gamma.diagonal(dim1=-2, dim2=-1).zero_()
    diag = (J @ torch.diagonal(Ghat, dim1=-2, dim2=-1).unsqueeze(-1)).squeeze(-1)
    return Gamma * Ghat + torch.diag_embed(diag)


def _full_eigenpairs(A, method):
    values, Q, _ = eigenpairs(A, 0, A.shape[-1], True, method)
    return values, Q


def _outputs(problem, values, Q, lo, hi):
    if problem.smoothing is not None:
        w, _ = weights_and_jacobian(problem, values)
        return (Q * w.unsqueeze(-2)) @ Q.mT, None
    QS = Q[..., lo:hi]
    x = QS[..., 0] if isinstance(problem, SphereQP) else QS
    return QS @ QS.mT, x


def _gradient(problem, values, Q, lo, hi, gX, gx):
    """``∂L/∂A`` (dense, symmetric) from the gradients w.r.t. ``X`` and ``x`` (either None)."""
    if gX is None and (gx is None or problem.smoothing is not None):
        return torch.zeros_like(Q)
    if problem.smoothing is not None:
        return Q @ _smoothed_kernel(problem, values, Q, gX) @ Q.mT
    M = (Q @ _exact_coefficients(values, Q, lo, hi, gX, gx)) @ Q[..., lo:hi].mT
    return (M + M.mT) / 2


def _solve_and_save(ctx, A, problem, method):
    """``(X, x)`` from the full eigendecomposition of ``A``; saves what backward needs."""
    lo, hi = problem.eigen_range(A.shape[-1])
    values, Q = _full_eigenpairs(A, method)
    ctx.problem, ctx.range = problem, (lo, hi)
    ctx.save_for_backward(values, Q)
    ctx.set_materialize_grads(False)
    return _outputs(problem, values, Q, lo, hi)


class _DenseSolution(torch.autograd.Function):
    """``(X, x)`` of a spectral problem for a flat dense batch ``A (B, n, n)``."""

    @staticmethod
    def forward(ctx, A, problem, method):
        return _solve_and_save(ctx, A, problem, method)

    @staticmethod
    def backward(ctx, gX, gx):
        values, Q = ctx.saved_tensors
        return _gradient(ctx.problem, values, Q, *ctx.range, gX, gx), None, None


class _TridiagonalSolution(torch.autograd.Function):
    """``(X, x)`` of a spectral problem for flat tridiagonal ``(diag (B, n), off (B, n-1))``;
    the gradient w.r.t. ``off`` is the sum of the two symmetric entries of ``∂L/∂A``."""

    @staticmethod
    def forward(ctx, diag, off, problem, method):
        return _solve_and_save(ctx, SymTridiagonal(diag, off), problem, method)

    @staticmethod
    def backward(ctx, gX, gx):
        values, Q = ctx.saved_tensors
        G = _gradient(ctx.problem, values, Q, *ctx.range, gX, gx)
        grad_diag = torch.diagonal(G, dim1=-2, dim2=-1)
        grad_off = 2 * torch.diagonal(G, offset=1, dim1=-2, dim2=-1)
        return grad_diag, grad_off, None, None


def _near_range(k: int, n: int) -> tuple[int, int]:
    """``λ_{k−1}..λ_{k+1}`` (clipped): forward computes them with ``q_k``, for the gap."""
    return max(k - 1, 0), min(k + 2, n)


_TIE_WHAT = "Solution.x (and Solution.X = x xᵀ)"


def _eigenvector_adjoint(A, k, near, q, gx):
    """``v`` with ``∂L/∂A = −sym(v qᵀ)``: ``v = (A − λI)⁺ P gx`` for an exact ``SphereQP(k)``
    (``P = I − qqᵀ``), by one dense LU solve with ``A − λI + γ qqᵀ`` (the torch path: LAPACK
    rows, other devices, or kernels not compiled yet).

    The rank-one term moves only the zero eigenvalue (to ``γ = ‖A‖_F``), so on ``q⊥``, where
    ``P gx`` lies, the solve is ``(A − λI)⁺`` itself and the matrix is as well conditioned as
    the gap allows. Ties (``gap ≤ 8 n eps ‖A‖_F``, from the neighbours ``near`` that forward
    computed) raise ``ValueError``.
    """
    dense = A.to_dense() if isinstance(A, SymTridiagonal) else A
    n = dense.shape[-1]
    lo, _ = _near_range(k, n)
    gap = spectral_gap(near, k - lo, k - lo + 1)
    scale = torch.linalg.matrix_norm(dense).clamp_min(torch.finfo(dense.dtype).tiny)
    if (gap <= 8 * n * torch.finfo(dense.dtype).eps * scale).any():
        _raise_tie(_TIE_WHAT)
    r = gx - q * (q * gx).sum(-1, keepdim=True)
    M = dense - near[:, k - lo, None, None] * torch.eye(n, dtype=dense.dtype, device=dense.device)
    M = torch.baddbmm(M, (scale.unsqueeze(-1) * q).unsqueeze(-1), q.unsqueeze(-2))
    return torch.linalg.lu_solve(*torch.linalg.lu_factor(M), r.unsqueeze(-1)).squeeze(-1)


def _near_eigenpairs(A, k, method):
    """``(λ_{k−1..k+1}, q_k)`` (neighbours clipped) for the torch path's gap test."""
    lo, hi = _near_range(k, A.shape[-1])
    near, Q, _ = eigenpairs(A, lo, hi, True, method)
    return near, Q[..., k - lo]


class _DenseEigenvector(torch.autograd.Function):
    """``x = q_k`` of an exact ``SphereQP(k)`` for dense ``A (B, n, n)``, torch path: forward
    computes ``q_k`` and its neighbours' eigenvalues; backward is one dense LU solve."""

    @staticmethod
    def forward(ctx, A, k, method):
        near, q = _near_eigenpairs(A, k, method)
        ctx.k = k
        ctx.save_for_backward(A, near, q)
        ctx.set_materialize_grads(False)
        return q

    @staticmethod
    def backward(ctx, gx):
        A, near, q = ctx.saved_tensors
        if gx is None:
            return None, None, None
        v = _eigenvector_adjoint(A, ctx.k, near, q, gx)
        vq = v.unsqueeze(-1) * q.unsqueeze(-2)
        return -(vq + vq.mT) / 2, None, None


class _TridiagonalEigenvector(torch.autograd.Function):
    """As ``_DenseEigenvector`` for tridiagonal ``(diag, off)``: ``∂L/∂d_i = −v_i q_i``,
    ``∂L/∂e_i = −(v_i q_{i+1} + v_{i+1} q_i)``."""

    @staticmethod
    def forward(ctx, diag, off, k, method):
        near, q = _near_eigenpairs(SymTridiagonal(diag, off), k, method)
        ctx.k = k
        ctx.save_for_backward(diag, off, near, q)
        ctx.set_materialize_grads(False)
        return q

    @staticmethod
    def backward(ctx, gx):
        diag, off, near, q = ctx.saved_tensors
        if gx is None:
            return None, None, None, None
        v = _eigenvector_adjoint(SymTridiagonal(diag, off), ctx.k, near, q, gx)
        return -v * q, -(v[..., :-1] * q[..., 1:] + v[..., 1:] * q[..., :-1]), None, None


def _numpy(t: torch.Tensor):
    return t.detach().contiguous().numpy()


def _threads() -> int:
    return torch.get_num_threads()


class _TridiagonalEigenvectorKernel(torch.autograd.Function):
    """``x = q_k`` for tridiagonal ``(diag, off)`` on the kernels' path: forward computes only
    ``q_k`` (O(n)); backward is the compiled O(n) solve ``kernels.tridiagonal_eigenvector_adjoint``
    (pivoted LU of ``T − λI``, its Sturm counts flag ties)."""

    @staticmethod
    def forward(ctx, diag, off, k, method):
        _, Q, _ = eigenpairs(SymTridiagonal(diag, off), k, k + 1, True, method)
        q = Q[..., 0]
        ctx.k = k
        ctx.save_for_backward(diag, off, q)
        ctx.set_materialize_grads(False)
        return q

    @staticmethod
    @once_differentiable
    def backward(ctx, gx):
        from .. import kernels

        diag, off, q = ctx.saved_tensors
        if gx is None:
            return None, None, None, None
        gd, ge, tie = kernels.tridiagonal_eigenvector_adjoint(
            _numpy(diag), _numpy(off), ctx.k, _numpy(q), _numpy(gx), max_threads=_threads())
        if tie.any():
            _raise_tie(_TIE_WHAT)
        return torch.from_numpy(gd), torch.from_numpy(ge), None, None


class ReductionCache:
    """One solve's eigenvector ``q_k`` and Householder reduction, from the value's Function
    (``eigen._DenseValue``) to the eigenvector's (``_DenseEigenvectorKernel``): reading
    ``Solution.x`` after ``value`` then reduces ``A`` once, not twice. Taken once, then empty;
    until then the ``Solution`` holds it (float64 reflectors, ``B n²`` numbers, beside the
    input it already holds for ``x``)."""

    __slots__ = ("q", "reflectors")

    def __init__(self):
        self.q = self.reflectors = None

    def take(self):
        """``(q, reflectors)``, or ``(None, None)`` if the value's Function kept none."""
        q, reflectors = self.q, self.reflectors
        self.q = self.reflectors = None
        return q, reflectors


class _DenseEigenvectorKernel(torch.autograd.Function):
    """``x = q_k`` for dense ``A (B, n, n)`` on the kernels' path: forward keeps the Householder
    reduction ``A = H T Hᵀ`` that found ``q_k`` (``kernels.dense_eigenvector``, or the value's
    own, handed over in a ``ReductionCache``); backward solves ``H (T − λI)⁺ Hᵀ`` in O(n²) per
    matrix (``kernels.dense_eigenvector_adjoint``). Rows the kernel flags get ``q_k`` from
    LAPACK; their reflectors stay valid for the backward solve."""

    @staticmethod
    def forward(ctx, A, k, method, cache):
        q, reflectors = cache.take() if cache is not None else (None, None)
        if reflectors is None:
            _, q, reflectors = dense_eigenvector(A, k)
        else:
            q = q.clone()  # the value's Function saved q: this output is a tensor of its own
        ctx.k, ctx.reflectors = k, reflectors
        ctx.save_for_backward(q)
        ctx.set_materialize_grads(False)
        return q

    @staticmethod
    @once_differentiable
    def backward(ctx, gx):
        from .. import kernels

        (q,) = ctx.saved_tensors
        if gx is None:
            return None, None, None, None
        grad, tie = kernels.dense_eigenvector_adjoint(ctx.reflectors, ctx.k, _numpy(q),
                                                      _numpy(gx), max_threads=_threads())
        if tie.any():
            _raise_tie(_TIE_WHAT)
        return torch.from_numpy(grad), None, None, None


def _adjoint_kernel(A, method: str) -> bool:
    """Whether an exact ``SphereQP``'s eigenvector goes the kernels' way: the batch is on their
    path (``eigenpairs._choose``) and the adjoint kernels are compiled (compiling them now
    when ``method="kernel"``; else LAPACK's torch path serves meanwhile)."""
    if _choose(A, method) != "kernel":
        return False
    return kernel_ready("eigenvector_adjoint", A.dtype, block=method == "kernel")


def _outer(x):
    """``X = x xᵀ`` from ``x``, built on demand: autograd carries ``∂L/∂X`` into ``∂L/∂x`` as
    ``(G + Gᵀ) x``, so the eigenvector Function never materializes ``X``."""
    return lambda: x.unsqueeze(-1) * x.unsqueeze(-2)


def solution_function(problem, flat, method: str, cache: ReductionCache | None = None):
    """``(X, x)`` of ``problem`` for a flat batch, both differentiable w.r.t. the batch (module
    docstring): ``X (B, n, n)`` or a zero-argument callable returning it (built on first use),
    ``x (B, n)`` / ``(B, n, m)``, or None for smoothed problems.

    An exact ``SphereQP`` computes only its eigenvector ``x`` and solves in backward
    (``kernels.eigenvector_adjoint`` on the kernels' path, else ``_eigenvector_adjoint``);
    ``X = x xᵀ`` is formed from ``x`` only if asked for; ``cache`` may hold the value's
    reduction of a dense batch (``ReductionCache``). The others use all eigenpairs
    (Daleckii–Krein)."""
    if isinstance(problem, SphereQP) and problem.smoothing is None:
        k = problem.resolve_index(flat.shape[-1])
        kernel = _adjoint_kernel(flat, method)
        if isinstance(flat, SymTridiagonal):
            function = _TridiagonalEigenvectorKernel if kernel else _TridiagonalEigenvector
            x = function.apply(flat.diag, flat.off, k, method)
        else:
            x = (_DenseEigenvectorKernel.apply(flat, k, method, cache) if kernel
                 else _DenseEigenvector.apply(flat, k, method))
        return _outer(x), x
    if isinstance(flat, SymTridiagonal):
        return _TridiagonalSolution.apply(flat.diag, flat.off, problem, method)
    return _DenseSolution.apply(flat, problem, method)
