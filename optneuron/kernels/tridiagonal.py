"""Batch eigenpairs lo..hi-1 of symmetric tridiagonal matrices (Python front end)."""

import numba
import numpy as np

from ._compiled import LANES, _tri_batch


def _check_range(n, lo, hi):
    lo = int(lo)
    hi = int(hi)
    if not 0 <= lo <= hi <= n:
        raise ValueError(f"index range lo={lo}, hi={hi} must satisfy 0 <= lo <= hi <= n={n}")
    return lo, hi


def _nchunks(B):
    """Chunks for prange: one per LANES matrices (so each chunk fills the kernels' lanes),
    at least one per thread, at most four per thread (enough to balance the load)."""
    threads = numba.get_num_threads()
    return max(1, min(B, max(threads, min(-(-B // LANES), 4 * threads))))


def tridiagonal_eigenpairs(diag, off, lo, hi, vectors=True, derivatives=False):
    """Eigenvalues lo..hi-1 (0-based, ascending) of each symmetric tridiagonal matrix in a batch.

    diag: (B, n) float32 or float64; off: (B, n-1) same dtype. Returns (values (B, hi-lo),
    vecs (B, n, hi-lo) or None if not vectors, suspect (B,) bool), values and vecs in the input
    dtype; see the package docstring for the accuracy contract and the meaning of suspect.

    derivatives=True (needs vectors) appends the derivatives of each eigenvalue with respect to
    the entries, from its unit eigenvector q_j: dd (B, n, hi-lo) with dd[b, i, j] = q_ij**2 =
    d lam_j / d diag_i, and de (B, n-1, hi-lo) with de[b, i, j] = 2 q_ij q_{i+1,j} =
    d lam_j / d off_i (exact for simple eigenvalues; a Clarke subgradient of the ordered
    eigenvalue otherwise).
    """
    diag = np.asarray(diag)
    off = np.asarray(off)
    if diag.dtype not in (np.float32, np.float64):
        raise TypeError(f"diag must be float32 or float64, got {diag.dtype}")
    if off.dtype != diag.dtype:
        raise TypeError(f"off must have the dtype of diag ({diag.dtype}), got {off.dtype}")
    if diag.ndim != 2:
        raise ValueError(f"diag must have shape (B, n), got {diag.shape}")
    B, n = diag.shape
    if off.shape != (B, max(n - 1, 0)):
        raise ValueError(f"off must have shape {(B, max(n - 1, 0))}, got {off.shape}")
    lo, hi = _check_range(n, lo, hi)
    if derivatives and not vectors:
        raise ValueError("derivatives=True needs vectors=True")
    m = hi - lo
    dt = diag.dtype
    vals = np.empty((B, m), dtype=dt)
    vecs = np.empty((B, n, m), dtype=dt) if vectors else None
    suspect = np.zeros(B, dtype=np.bool_)
    dd = np.empty((B, n, m), dtype=dt) if derivatives else None
    de = np.empty((B, max(n - 1, 0), m), dtype=dt) if derivatives else None
    result = (vals, vecs, suspect, dd, de) if derivatives else (vals, vecs, suspect)
    if B == 0 or m == 0:
        return result
    diag = np.ascontiguousarray(diag)
    off = np.ascontiguousarray(off)
    if off.shape[1] == 0:
        # keep the kernel's argument types fixed (a 2-D C array) for n = 1
        off = np.zeros((B, 1), dtype=dt)
    none = np.empty((0, 0, 0), dtype=dt)  # an unused output keeps the kernel's argument types
    _tri_batch(diag, off, lo, hi, bool(vectors), bool(derivatives), _nchunks(B), vals,
               vecs if vectors else none, dd if derivatives else none,
               de if derivatives else none, suspect)
    return result
