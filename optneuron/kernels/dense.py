"""Batch eigenpairs lo..hi-1 of dense symmetric matrices (Python front end).

Householder reduction to tridiagonal form on a full square float64 copy (contiguous rank-2
updates fused with the next matrix-vector product), the tridiagonal driver, then
back-transformation of only the wanted vectors.
"""

import numpy as np

from ._compiled import _dense_batch
from .tridiagonal import _check_range, _nchunks


def dense_eigenpairs(A, lo, hi, vectors=True):
    """Eigenvalues lo..hi-1 (0-based, ascending) of each dense symmetric matrix in a batch.

    A: (B, n, n) float32 or float64, assumed exactly symmetric (only the full matrix is read;
    the caller symmetrizes). Returns (values (B, hi-lo), vecs (B, n, hi-lo) or None,
    suspect (B,) bool) in the input dtype; vecs[b, :, j] belongs to values[b, j] (numpy.linalg.eigh
    column convention).
    """
    A = np.asarray(A)
    if A.dtype not in (np.float32, np.float64):
        raise TypeError(f"A must be float32 or float64, got {A.dtype}")
    if A.ndim != 3 or A.shape[1] != A.shape[2]:
        raise ValueError(f"A must have shape (B, n, n), got {A.shape}")
    B, n, _ = A.shape
    lo, hi = _check_range(n, lo, hi)
    m = hi - lo
    dt = A.dtype
    vals = np.empty((B, m), dtype=dt)
    vecs = np.empty((B, n, m), dtype=dt) if vectors else None
    suspect = np.zeros(B, dtype=np.bool_)
    if B == 0 or m == 0:
        return vals, vecs, suspect
    A = np.ascontiguousarray(A)
    dummy = vecs if vectors else np.empty((0, 0, 0), dtype=dt)
    _dense_batch(A, lo, hi, bool(vectors), _nchunks(B), vals, dummy, suspect)
    return vals, vecs, suspect
