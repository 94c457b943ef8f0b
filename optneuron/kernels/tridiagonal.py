"""Batch kernel for eigenpairs lo..hi-1 of symmetric tridiagonal matrices."""

import math

import numba
import numpy as np
from numba import njit, prange

from ._core import FAILED, chunk_bounds, scale_exponent, scratch, sign_fix, solve_scaled, zero_matrix


@njit(cache=True, nogil=True, parallel=True, error_model="numpy")
def _tri_batch(diag, off, lo, hi, vectors, nchunks, vals, vecs, suspect):
    B, n = diag.shape
    m = hi - lo
    for c in prange(nchunks):
        b0, b1 = chunk_bounds(c, nchunks, B)
        d, e, e2, lam, Z, ws = scratch(n, m, vectors)
        for b in range(b0, b1):
            amax = 0.0
            for i in range(n):
                amax = max(amax, abs(np.float64(diag[b, i])))
            for i in range(n - 1):
                amax = max(amax, abs(np.float64(off[b, i])))
            if not amax < math.inf:
                # NaN or inf somewhere (the max propagates both)
                status = FAILED
                for j in range(m):
                    lam[j] = math.nan
                    if vectors:
                        for i in range(n):
                            Z[j, i] = math.nan
            elif amax == 0.0:
                status = zero_matrix(n, lo, hi, vectors, lam, Z)
            else:
                p = scale_exponent(amax)
                s = math.ldexp(1.0, -p)
                for i in range(n):
                    d[i] = np.float64(diag[b, i]) * s
                for i in range(n - 1):
                    e[i] = np.float64(off[b, i]) * s
                status = solve_scaled(d, e, e2, n, lo, hi, vectors, lam, Z, ws)
                for j in range(m):
                    lam[j] = math.ldexp(lam[j], p)
            suspect[b] = status != 0
            for j in range(m):
                vals[b, j] = lam[j]
            if vectors:
                for j in range(m):
                    z = Z[j]
                    sign_fix(z, n)
                    for i in range(n):
                        vecs[b, i, j] = z[i]


def _check_range(n, lo, hi):
    lo = int(lo)
    hi = int(hi)
    if not 0 <= lo <= hi <= n:
        raise ValueError(f"index range lo={lo}, hi={hi} must satisfy 0 <= lo <= hi <= n={n}")
    return lo, hi


def _nchunks(B):
    return max(1, min(B, 4 * numba.get_num_threads()))


def tridiagonal_eigenpairs(diag, off, lo, hi, vectors=True):
    """Eigenvalues lo..hi-1 (0-based, ascending) of each symmetric tridiagonal matrix in a batch.

    diag: (B, n) float32 or float64; off: (B, n-1) same dtype. Returns (values (B, hi-lo),
    vecs (B, n, hi-lo) or None if not vectors, suspect (B,) bool), values and vecs in the input
    dtype; see the package docstring for the accuracy contract and the meaning of suspect.
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
    m = hi - lo
    dt = diag.dtype
    vals = np.empty((B, m), dtype=dt)
    vecs = np.empty((B, n, m), dtype=dt) if vectors else None
    suspect = np.zeros(B, dtype=np.bool_)
    if B == 0 or m == 0:
        return vals, vecs, suspect
    diag = np.ascontiguousarray(diag)
    off = np.ascontiguousarray(off)
    if off.shape[1] == 0:
        # keep the kernel's argument types fixed (a 2-D C array) for n = 1
        off = np.zeros((B, 1), dtype=dt)
    dummy = vecs if vectors else np.empty((0, 0, 0), dtype=dt)
    _tri_batch(diag, off, lo, hi, bool(vectors), _nchunks(B), vals, dummy, suspect)
    return vals, vecs, suspect
