"""Batch eigenpairs lo..hi-1 of dense symmetric matrices (Python front end).

Householder reduction to tridiagonal form on a full square float64 copy (contiguous rank-2
updates fused with the next matrix-vector product; for n <= 24 of 64 matrices at once, every
loop running across them: ``householder_lanes`` in _compiled.py), the tridiagonal driver, then
back-transformation of only the wanted vectors.
"""

import numpy as np

from ._compiled import _dense_batch
from .threads import dense_work, run_planned
from .tridiagonal import _check_range, suspect_array


def check_dense(A) -> np.ndarray:
    """``A`` as a float32/float64 array of shape ``(B, n, n)``; a TypeError or ValueError naming
    ``A`` otherwise (the checks every dense kernel wrapper shares)."""
    A = np.asarray(A)
    if A.dtype not in (np.float32, np.float64):
        raise TypeError(f"A must be float32 or float64, got {A.dtype}")
    if A.ndim != 3 or A.shape[1] != A.shape[2]:
        raise ValueError(f"A must have shape (B, n, n), got {A.shape}")
    return A


def dense_eigenpairs(A, lo, hi, vectors=True, max_threads=None):
    """Eigenvalues lo..hi-1 (0-based, ascending) of each dense symmetric matrix in a batch.

    A: (B, n, n) float32 or float64, assumed exactly symmetric (only the full matrix is read;
    the caller symmetrizes). Returns (values (B, hi-lo), vecs (B, n, hi-lo) or None,
    suspect (B,) bool) in the input dtype; vecs[b, :, j] belongs to values[b, j] (numpy.linalg.eigh
    column convention). max_threads caps the threads of this call, as in
    ``tridiagonal_eigenpairs``.
    """
    A = check_dense(A)
    lo, hi = _check_range(A.shape[-1], lo, hi)
    return suspect_array(checked_dense_eigenpairs(np.ascontiguousarray(A), lo, hi,
                                                  bool(vectors), max_threads), A.shape[0])


def checked_dense_eigenpairs(A, lo, hi, vectors, max_threads=None):
    """``dense_eigenpairs`` on arguments that already meet its checks (C-contiguous
    ``A (B, n, n)``, float32 or float64; ints ``0 <= lo <= hi <= n``; a bool), with ``suspect``
    None when no matrix was flagged: the eigen backend's path, as
    ``checked_tridiagonal_eigenpairs`` is for tridiagonal input."""
    return run_eigenpairs(A, lo, hi, vectors, max_threads, _dense_batch,
                          lambda B, n, m: dense_work(B, n, m, vectors))


def run_eigenpairs(A, lo, hi, vectors, max_threads, batch_kernel, work):
    """Allocate ``(values, vecs or None, suspect)`` for eigenpairs ``lo..hi-1`` of a checked
    C-contiguous dense batch ``A (B, n, n)`` and fill them with ``batch_kernel`` (a chunk-range
    kernel with ``_dense_batch``'s signature, returning the number of rows it flagged) on the
    threads ``work(B, n, m)`` earns; ``suspect`` is None when no row was flagged."""
    B, n, _ = A.shape
    m = hi - lo
    dt = A.dtype
    vals = np.empty((B, m), dtype=dt)
    vecs = np.empty((B, n, m), dtype=dt) if vectors else None
    if B == 0 or m == 0:
        return vals, vecs, None
    suspect = np.zeros(B, dtype=np.bool_)
    out = vecs if vectors else np.empty((0, 0, 0), dtype=dt)
    flag = bool(vectors)  # one compiled specialization whatever truthy value came

    def kernel(c0, c1, nchunks):
        return batch_kernel(A, lo, hi, flag, c0, c1, nchunks, vals, out, suspect)

    flagged = run_planned(kernel, B, work(B, n, m), "dense", max_threads)
    return vals, vecs, (suspect if flagged else None)
