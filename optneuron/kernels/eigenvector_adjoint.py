"""The backward pass of an eigenvector ``q_k(A)``: ``v = (A − λ_k I)⁺ P r`` in O(n) or O(n²).

An eigenvector's derivative is ``dq_k = −(A − λ_k I)⁺ dA q_k``, so the backward pass of a loss
``L(q_k)`` is ``∂L/∂A = −sym(v q_kᵀ)`` with ``v = (A − λ_k I)⁺ P r``, ``r = ∂L/∂q_k`` and
``P = I − q_k q_kᵀ`` (theory/solution-derivatives.md, 1). Here that solve is done for a batch:

* ``tridiagonal_eigenvector_adjoint(diag, off, k, q, r)``: ``T − ρI`` (``ρ = qᵀTq``) factored by
  partial pivoting (LAPACK's gttrf), O(n) per matrix, returning the gradient w.r.t. ``diag``
  (``−v_i q_i``) and ``off`` (``−(v_i q_{i+1} + v_{i+1} q_i)``) and a ``tie`` flag;
* ``dense_eigenvector(A, k)``: the eigenpair ``k`` as ``dense_eigenpairs(A, k, k + 1)`` computes
  it (the same code; equal to rounding, see below), keeping the Householder reduction
  ``A = H T Hᵀ`` it made on the way
  (``reflectors``); ``dense_eigenvector_adjoint(reflectors, k, q, r)`` then solves
  ``v = H (T − ρI)⁺ Hᵀ P r``, O(n²) per matrix, instead of a second O(n³) factorization, and
  returns the gradient ``−sym(v qᵀ)``.

Why a singular solve works (the error analysis of inverse iteration): ``T − ρI`` is singular to
working precision exactly along ``q``. A pivot below ``eps‖T‖`` is raised to it (as LAPACK's
stein does), so the solve is backward stable: it returns the exact solution of
``(T − ρI + E) y = r`` with ``‖E‖ = O(eps‖T‖)``. Projected onto ``q⊥`` that reads
``y⊥ = (T − ρI)⁺ (r − P E y)``: the blown-up component lies along ``q`` and is removed by the
final ``P``; the rest carries the relative error ``O(eps‖T‖/gap)`` of any backward-stable solve,
the eigenvector's own condition number. (``r ⊥ q`` keeps the ``q``-component of ``y`` of the size
of ``y⊥``, so ``‖E y‖`` is not inflated.)

Ties: two Sturm counts at ``ρ ± tol`` with ``tol = 8 n eps ‖A‖_F`` (``eps`` of the input dtype,
the eigen backend's rule) flag a matrix whose ``λ_k`` has another eigenvalue within ``tol``:
``tie[b]`` is set and its result is zero (the caller raises). All arithmetic is float64; results
are in the input dtype and do not depend on the thread count.
"""

import numpy as np

from ._compiled import _dense_adjoint_batch, _dense_solution_batch, _tri_adjoint_batch
from .dense import check_dense
from .threads import dense_work, run_planned
from .tridiagonal import _check_range, check_tridiagonal, suspect_array

__all__ = ["tridiagonal_eigenvector_adjoint", "dense_eigenvector", "dense_eigenvector_adjoint"]


def _check_vectors(q, r, B, n, dtype):
    """``q``, ``r`` as C arrays ``(B, n)`` of ``dtype``; ValueError/TypeError naming them."""
    arrays = []
    for name, x in (("q", q), ("r", r)):
        x = np.asarray(x)
        if x.shape != (B, n):
            raise ValueError(f"{name} must have shape {(B, n)}, got {x.shape}")
        if x.dtype != dtype:
            raise TypeError(f"{name} must have the dtype of the matrices ({dtype}), got {x.dtype}")
        arrays.append(np.ascontiguousarray(x))
    return arrays


def _eps(dtype) -> float:
    return float(np.finfo(dtype).eps)


def tridiagonal_eigenvector_adjoint(diag, off, k, q, r, max_threads=None):
    """``(grad_diag (B, n), grad_off (B, n-1), tie (B,) bool)`` for tridiagonal ``(diag, off)``,
    unit eigenvectors ``q (B, n)`` of eigenvalue ``k`` and incoming gradients ``r (B, n)``:
    ``v = (T − λ_k I)⁺ (I − qqᵀ) r``, ``grad_diag_i = −v_i q_i``,
    ``grad_off_i = −(v_i q_{i+1} + v_{i+1} q_i)`` (module docstring); zero where ``tie``."""
    diag, off = check_tridiagonal(diag, off)
    B, n = diag.shape
    k, _ = _check_range(n, k, k + 1)
    q, r = _check_vectors(q, r, B, n, diag.dtype)
    gd = np.zeros((B, n), dtype=diag.dtype)
    ge = np.zeros((B, max(n - 1, 0)), dtype=diag.dtype)
    tie = np.zeros(B, dtype=np.bool_)
    if B == 0:
        return gd, ge, tie
    diag = np.ascontiguousarray(diag)
    off = np.ascontiguousarray(off) if n > 1 else np.zeros((B, 1), dtype=diag.dtype)
    ge_out = ge if n > 1 else np.zeros((B, 1), dtype=diag.dtype)
    eps = _eps(diag.dtype)

    def kernel(c0, c1, nchunks):
        _tri_adjoint_batch(diag, off, k, eps, q, r, c0, c1, nchunks, gd, ge_out, tie)

    # two Sturm counts, a factorization and a solve: ~8 passes of n steps
    run_planned(kernel, B, 12.0 * B * n, "adjoint_solve", max_threads)
    return gd, ge, tie


def dense_eigenvector(A, k, max_threads=None):
    """``(values (B, 1), vecs (B, n, 1), suspect (B,), reflectors)`` for dense symmetric
    ``A (B, n, n)``: the first three as ``dense_eigenpairs(A, k, k + 1)`` computes them, by the
    same Householder and eigenvalue code; ``reflectors`` is the reduction ``A = H T Hᵀ``
    (float64; what ``dense_eigenvector_adjoint`` needs).

    Equal to rounding, usually bit for bit: the reduction's dot products are compiled with
    reassociation (``_FAST``) into each batch kernel, and a fresh-clone test run saw the two
    kernels, compiled in different processes, differ in the last bit of some eigenvalues.

    Rows the kernel flags ``suspect`` keep valid reflectors (the reduction does not depend on
    the eigen-solve), so a caller that re-solves their eigenpair another way may still pass the
    new ``q`` to the adjoint; rows with non-finite entries have none."""
    A = check_dense(A)
    k, _ = _check_range(A.shape[1], k, k + 1)
    return suspect_array(checked_dense_eigenvector(np.ascontiguousarray(A), k, max_threads),
                         A.shape[0])


def checked_dense_eigenvector(A, k, max_threads=None):
    """``dense_eigenvector`` on checked arguments (C-contiguous ``A (B, n, n)``, float32 or
    float64; an int ``0 <= k < n``), ``suspect`` None when no matrix was flagged (as
    ``dense.checked_dense_eigenpairs``)."""
    B, n, _ = A.shape
    vals = np.empty((B, 1), dtype=A.dtype)
    vecs = np.empty((B, n, 1), dtype=A.dtype)
    suspect = np.zeros(B, dtype=np.bool_)
    W = np.empty((B, n, n))
    tau = np.zeros((B, n))
    dT = np.zeros((B, n))
    eT = np.zeros((B, n))
    pexp = np.zeros(B, dtype=np.int64)
    flagged = 0
    if B:
        def kernel(c0, c1, nchunks):
            return _dense_solution_batch(A, k, c0, c1, nchunks, vals, vecs, suspect, W, tau, dT,
                                         eT, pexp)

        flagged = run_planned(kernel, B, dense_work(B, n, 1, True), "dense_eigenvector",
                              max_threads)
    return vals, vecs, (suspect if flagged else None), (W, tau, dT, eT, pexp)


def dense_eigenvector_adjoint(reflectors, k, q, r, max_threads=None):
    """``(grad (B, n, n), tie (B,) bool)``: ``grad = −(v qᵀ + q vᵀ)/2`` with
    ``v = (A − λ_k I)⁺ (I − qqᵀ) r`` for the matrices whose ``reflectors``
    ``dense_eigenvector`` returned, unit eigenvectors ``q (B, n)`` of eigenvalue ``k`` and
    ``r (B, n)`` (module docstring). Zero where ``tie``."""
    W, tau, dT, eT, pexp = reflectors
    B, n = dT.shape
    k, _ = _check_range(n, k, k + 1)
    q = np.asarray(q)
    if q.dtype not in (np.float32, np.float64):
        raise TypeError(f"q must be float32 or float64, got {q.dtype}")
    q, r = _check_vectors(q, r, B, n, q.dtype)
    G = np.zeros((B, n, n), dtype=q.dtype)
    tie = np.zeros(B, dtype=np.bool_)
    if B == 0:
        return G, tie
    eps = _eps(q.dtype)

    def kernel(c0, c1, nchunks):
        _dense_adjoint_batch(q, r, k, eps, W, tau, dT, eT, pexp, c0, c1, nchunks, G, tie)

    # two applications of H^T, one of H and writing the gradient (2n^2 flops each) dominate
    run_planned(kernel, B, B * (4.0 * n * n + 12.0 * n), "adjoint_gradient", max_threads)
    return G, tie
