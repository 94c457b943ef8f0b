"""Compiled trust-region solve for symmetric tridiagonal matrices: O(n) per secular step.

``tridiagonal_trust_region(diag, off, b, lam0, q0, ball)`` returns the minimizer ``x (B, n)``,
the value ``(B,)`` of ``min xᵀTx + 2bᵀx`` on ``‖x‖ = 1`` (``ball``: ``≤ 1``) and a ``hard``
flag ``(B,)``, given each matrix's smallest eigenvalue ``lam0`` and its unit eigenvector ``q0``
(``tridiagonal_eigenpairs(diag, off, 0, 1)``, itself O(n)); the bottom eigenvalue must be
simple (unreduced tridiagonal matrices have simple eigenvalues; callers send rows the
eigen-kernels flag to a dense path).

Method (the same mathematics as the eigen backend's ``secular.py``, without the full
eigendecomposition): with ``t = λ_0 − μ > 0`` the shifted matrix ``T − μI`` is positive definite,
so its ``LDLᵀ`` factorization without pivoting is backward stable and costs O(n); one step
solves ``(T − μI)x = −b`` and ``(T − μI)w = x`` and takes Newton's step on
``h(t) = 1/‖x‖ − 1`` (``h' = xᵀw/‖x‖³``) inside the bracket ``|q_0ᵀb| ≤ t ≤ ‖b‖``, bisecting
when a step leaves it. Hard case (``|q_0ᵀb| ≤ 16nε·s``): ``x_p`` is solved at ``μ = λ_0 − δ``
(``δ = 16nε·s``, ``s = max(‖T‖, ‖b‖)``) with the ``q_0`` component removed, and if ``‖x_p‖ ≤ 1``,
``x = x_p + τq_0``. Ball: the interior point ``−T⁻¹b`` when ``λ_0 > 16nε·s`` and it is inside.
numpy + numba only; all arithmetic in float64.

``dense_reduction(A, b)`` / ``dense_back_transform``: for dense input the kernels' Householder
reduction ``A = QTQᵀ`` (``_compiled.householder_tridiagonal``, O(n³) once) turns the problem
into the tridiagonal one with ``Qᵀb``, and ``x = Q x_T`` maps the minimizer back (``‖x‖`` and the
value are unchanged: ``Q`` is orthogonal). Unlike the eigen-kernels it does not rescale ``A``
by a power of two, so entries beyond ~1e±150 are not supported here (callers route such rows,
flagged by the tridiagonal eigen-kernel, to the dense path).
"""

import numpy as np

# the compiled code lives in _compiled.py with every other jitted function: numba's disk cache
# is keyed on a function's own file, so a caller here would keep a stale copy of a helper there
from ._compiled import tr_back, tr_batch, tr_reduce
from .threads import run_planned

__all__ = ["tridiagonal_trust_region", "dense_reduction", "dense_back_transform"]

def _rows(kernel, B: int, work: float) -> None:
    """Run ``kernel(r0, r1)`` over the rows of a batch on the kernels' thread pool."""
    nrows = max(B, 1)

    def chunk(c0, c1, nchunks):
        kernel(c0 * nrows // nchunks, c1 * nrows // nchunks)

    run_planned(chunk, B, work, "trust_region")


def tridiagonal_trust_region(diag, off, b, lam0, q0, ball=False):
    """``(x (B, n), value (B,), hard (B,) bool)`` for a batch (module docstring); float64 in
    and out (other float input is converted)."""
    diag = np.ascontiguousarray(diag, dtype=np.float64)
    b = np.ascontiguousarray(b, dtype=np.float64)
    if diag.ndim != 2 or b.shape != diag.shape:
        raise ValueError(f"diag and b must both have shape (B, n), got {diag.shape}, {b.shape}")
    B, n = diag.shape
    off = np.ascontiguousarray(off, dtype=np.float64).reshape(B, max(n - 1, 0))
    lam0 = np.ascontiguousarray(lam0, dtype=np.float64).reshape(B)
    q0 = np.ascontiguousarray(q0, dtype=np.float64).reshape(B, n)
    X = np.zeros((B, n))
    values = np.zeros(B)
    hard = np.zeros(B, dtype=np.bool_)
    if B and n:
        ball = bool(ball)
        _rows(lambda r0, r1: tr_batch(diag, off, b, lam0, q0, ball, r0, r1, X, values, hard),
              B, B * n * 60)
    return X, values, hard


def dense_reduction(A, b):
    """``(diag, off, Qᵀb, reflectors)`` of ``A = QTQᵀ`` for a batch ``A (B, n, n)``, ``b (B, n)``;
    ``reflectors`` is what ``dense_back_transform`` needs."""
    A = np.ascontiguousarray(A, dtype=np.float64)
    B, n = A.shape[0], A.shape[-1]
    W = np.empty_like(A)
    d, e = np.zeros((B, n)), np.zeros((B, max(n - 1, 0)))
    e_work = np.zeros((B, max(n, 1)))  # the reduction writes e with a spare slot
    tau = np.zeros((B, max(n, 1)))
    bT = np.array(b, dtype=np.float64, copy=True).reshape(B, n)
    if B and n:
        _rows(lambda r0, r1: tr_reduce(A, W, d, e_work, tau, bT, r0, r1), B, B * n**3)
        e[:] = e_work[:, : max(n - 1, 0)]
    return d, e, bT, (W, tau)


def dense_back_transform(reflectors, X):
    """``Q X`` row by row for the ``reflectors`` of ``dense_reduction`` (``X (B, n)``)."""
    W, tau = reflectors
    X = np.array(X, dtype=np.float64, copy=True)
    if X.size:
        _rows(lambda r0, r1: tr_back(W, tau, X, r0, r1), X.shape[0], X.size * X.shape[1])
    return X
