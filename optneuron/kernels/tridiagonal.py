"""Batch eigenpairs lo..hi-1 of symmetric tridiagonal matrices (Python front end)."""

import numpy as np

from ._compiled import _tri_batch
from .threads import run_planned, tridiagonal_work


def _check_range(n, lo, hi):
    lo = int(lo)
    hi = int(hi)
    if not 0 <= lo <= hi <= n:
        raise ValueError(f"index range lo={lo}, hi={hi} must satisfy 0 <= lo <= hi <= n={n}")
    return lo, hi


def check_tridiagonal(diag, off):
    """``(diag, off)`` as arrays after checking a batch of tridiagonals: ``diag (B, n)`` float32
    or float64, ``off (B, n-1)`` of the same dtype; TypeError/ValueError naming the argument."""
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
    return diag, off


def tridiagonal_eigenpairs(diag, off, lo, hi, vectors=True, derivatives=False, max_threads=None):
    """Eigenvalues lo..hi-1 (0-based, ascending) of each symmetric tridiagonal matrix in a batch.

    diag: (B, n) float32 or float64; off: (B, n-1) same dtype. Returns (values (B, hi-lo),
    vecs (B, n, hi-lo) or None if not vectors, suspect (B,) bool), values and vecs in the input
    dtype; see the package docstring for the accuracy contract and the meaning of suspect.

    derivatives=True appends the derivatives of each eigenvalue with respect to the entries,
    from its unit eigenvector q_j: dd (B, n, hi-lo) with dd[b, i, j] = q_ij**2 =
    d lam_j / d diag_i, and de (B, n-1, hi-lo) with de[b, i, j] = 2 q_ij q_{i+1,j} =
    d lam_j / d off_i (exact for simple eigenvalues; a Clarke subgradient of the ordered
    eigenvalue otherwise). The vectors are computed for them either way; with vectors=False
    they are not returned (vecs is None), which saves storing them.

    max_threads caps the threads of this call (``threads.plan_threads`` picks the count from the
    work and the other caps); the result does not depend on it.
    """
    diag, off = check_tridiagonal(diag, off)
    lo, hi = _check_range(diag.shape[1], lo, hi)
    return suspect_array(checked_tridiagonal_eigenpairs(
        np.ascontiguousarray(diag), np.ascontiguousarray(off), lo, hi, bool(vectors),
        bool(derivatives), max_threads), diag.shape[0])


def suspect_array(result: tuple, batch: int) -> tuple:
    """A checked kernel's result with ``suspect`` (its third item) None made an all-False
    ``(batch,)`` array, the public functions' form."""
    if result[2] is not None:
        return result
    return (*result[:2], np.zeros(batch, dtype=np.bool_), *result[3:])


#: the kernel's unused outputs, by dtype: an empty array keeps its argument types fixed
_NONE = {dt: np.empty((0, 0, 0), dtype=dt) for dt in (np.float32, np.float64)}


def checked_tridiagonal_eigenpairs(diag, off, lo, hi, vectors, derivatives, max_threads=None):
    """``tridiagonal_eigenpairs`` on arguments that already meet its checks: C-contiguous
    ``diag (B, n)`` and ``off (B, n-1)`` of one dtype, float32 or float64, ints
    ``0 <= lo <= hi <= n``, and bools. Nothing is verified here: this is the eigen backend's
    path, whose tensors come from a checked ``SymTridiagonal`` and whose range from a
    problem's ``eigen_range``, once per training step, where checking them again would only
    repeat that work. One difference in what it returns: ``suspect`` is None when no matrix
    was flagged (the kernel counts them), so that the caller's test is a comparison with None
    rather than a numpy reduction."""
    B, n = diag.shape
    m = hi - lo
    dt = diag.dtype
    vals = np.empty((B, m), dtype=dt)
    vecs = np.empty((B, n, m), dtype=dt) if vectors else None
    suspect = np.zeros(B, dtype=np.bool_)
    dd = np.empty((B, n, m), dtype=dt) if derivatives else None
    de = np.empty((B, max(n - 1, 0), m), dtype=dt) if derivatives else None
    flagged = 0
    if B > 0 and m > 0:
        if n == 1:
            # keep the kernel's argument types fixed (a 2-D C array) for n = 1
            off = np.zeros((B, 1), dtype=dt)
        none = _NONE[dt.type]
        vecs_out = vecs if vectors else none
        dd_out = dd if derivatives else none
        de_out = de if derivatives else none

        def kernel(c0, c1, nchunks):
            return _tri_batch(diag, off, lo, hi, vectors, derivatives, c0, c1, nchunks, vals,
                              vecs_out, dd_out, de_out, suspect)

        flagged = run_planned(kernel, B, tridiagonal_work(B, n, m, vectors or derivatives),
                              "tridiagonal", max_threads)
    suspect = suspect if flagged else None
    return (vals, vecs, suspect, dd, de) if derivatives else (vals, vecs, suspect)
