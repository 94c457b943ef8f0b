"""Batch eigenpairs of tiny dense symmetric matrices, n <= TINY_MAX_N (Python front end).

Cyclic Jacobi over lanes of matrices (``_tiny.py``): for n <= 8 it needs no reduction to
tridiagonal form, and its rotations vectorize across the matrices of a block. Same outputs,
accuracy contract and ``suspect`` rule as ``dense_eigenpairs`` (package docstring), plus
``pencil_eigenvalue``: one eigenvalue and its gradient straight from packed coordinates, and
the compiled loops of the estimators' readout network around it (``softplus_offset``,
``readout_coordinates``, ``readout_output``, ``readout_gradients``; ``optneuron/fused.py``),
which take C-contiguous float64 arrays.
"""

import numpy as np

from ._tiny import (
    TINY_MAX_N,
    _pencil_batch,
    _tiny_batch,
    readout_coordinates,
    readout_gradients,
    readout_output,
    softplus_offset,
)
from .dense import check_dense, run_eigenpairs
from .threads import run_planned
from .tridiagonal import _check_range, suspect_array

__all__ = ["TINY_MAX_N", "JACOBI_MAX_N", "tiny_eigenpairs", "checked_tiny_eigenpairs",
           "pencil_eigenvalue", "pencil_eigenvalue_unchecked",
           "tiny_work", "softplus_offset", "readout_coordinates", "readout_output",
           "readout_gradients"]

#: the largest n for which the backends take this kernel over ``dense_eigenpairs``: from n = 6
#: on, the Householder reduction plus one tridiagonal solve beats ~6 Jacobi sweeps (one thread,
#: B = 4096, with and without vectors: ``python -m benchmarks.tiny_cutoff``)
JACOBI_MAX_N = 5


def tiny_work(batch: int, n: int) -> float:
    """Estimated serial cost (``threads.plan_threads`` units, ~ns) of ``batch`` Jacobi solves:
    ~6 sweeps of n(n-1)/2 rotations of ~6n flops each, over vector lanes."""
    return batch * 2.0 * n**3


def tiny_eigenpairs(A, lo, hi, vectors=True, max_threads=None):
    """Eigenvalues lo..hi-1 (0-based, ascending) of each dense symmetric ``A[b]``, n <= 8.

    As ``dense_eigenpairs``: A (B, n, n) float32/float64, assumed exactly symmetric; returns
    ``(values (B, hi-lo), vecs (B, n, hi-lo) or None, suspect (B,))`` in A's dtype (arithmetic
    in float64), vectors sign-fixed (largest-magnitude component positive).
    """
    A = check_dense(A)
    n = A.shape[-1]
    if not 1 <= n <= TINY_MAX_N:
        raise ValueError(f"A must have 1 <= n <= {TINY_MAX_N}, got n={n}")
    lo, hi = _check_range(n, lo, hi)
    return suspect_array(checked_tiny_eigenpairs(np.ascontiguousarray(A), lo, hi, bool(vectors),
                                                 max_threads), A.shape[0])


def checked_tiny_eigenpairs(A, lo, hi, vectors, max_threads=None):
    """``tiny_eigenpairs`` on checked arguments, ``suspect`` None when no matrix was flagged
    (as ``dense.checked_dense_eigenpairs``)."""
    return run_eigenpairs(A, lo, hi, vectors, max_threads, _tiny_batch,
                          lambda B, n, m: tiny_work(B, n))


def pencil_eigenvalue(C, index, scale, n, k, max_threads=None):
    """``lam_k`` of the symmetric matrices held by their coordinates, and its gradient.

    ``C (B, size)`` float64 coordinates; entry ``(i, j)`` of matrix ``b`` is
    ``C[b, index[i*n + j]] * scale[index[i*n + j]]``, and 0 where ``index == size``
    (``pencils._Pattern.symmetric_index`` and ``.scale``). Returns ``(values (B,), grads
    (B, size), suspect (B,))`` with ``grads[b] = ∂λ_k/∂C[b]``: ``Σ scale · q_i q_j`` over the
    entries of each coordinate, ``q`` the unit eigenvector (the gradient ``q qᵀ`` read in
    coordinates). ``suspect`` as in ``tiny_eigenpairs``.
    """
    C = np.ascontiguousarray(C, dtype=np.float64)
    index = np.ascontiguousarray(index, dtype=np.int64)
    scale = np.ascontiguousarray(scale, dtype=np.float64)
    if C.ndim != 2:
        raise ValueError(f"C must have shape (B, size), got {C.shape}")
    B, size = C.shape
    if not 1 <= n <= TINY_MAX_N:
        raise ValueError(f"n must satisfy 1 <= n <= {TINY_MAX_N}, got {n}")
    if index.shape != (n * n,) or index.min(initial=0) < 0 or index.max(initial=0) > size:
        raise ValueError(f"index must have shape ({n * n},) with entries in 0..{size}")
    if scale.shape != (size,):
        raise ValueError(f"scale must have shape ({size},), got {scale.shape}")
    k = int(k)
    if not 0 <= k < n:
        raise ValueError(f"k must satisfy 0 <= k < n={n}, got {k}")
    return suspect_array(pencil_eigenvalue_unchecked(C, index, scale, n, k, max_threads), B)


def pencil_eigenvalue_unchecked(C, index, scale, n, k, max_threads=None):
    """``pencil_eigenvalue`` for arguments already checked (contiguous float64 ``C``, int64
    ``index``, float64 ``scale``): a training step calls it with the same layout every time.
    ``suspect`` is None when no matrix was flagged (the kernel counts them: no reduction)."""
    B, size = C.shape
    vals = np.empty(B)
    grads = np.empty((B, size))
    if B == 0:
        return vals, grads, None
    suspect = np.zeros(B, dtype=np.bool_)

    def kernel(c0, c1, nchunks):
        return _pencil_batch(C, index, scale, n, k, c0, c1, nchunks, vals, grads, suspect)

    flagged = run_planned(kernel, B, tiny_work(B, n), "tiny", max_threads)
    return vals, grads, (suspect if flagged else None)
