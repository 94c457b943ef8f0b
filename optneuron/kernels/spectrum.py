"""Every eigenvalue of a batch of symmetric matrices, and the gradient of a mixture <w, lam>.

For phi(A) = <w, lam(A)> = sum_k w_k lam_k(A) (eigenvalues ascending) the gradient with respect
to a dense A is Q diag(w) Q^T; for a symmetric tridiagonal T (diagonal d, off-diagonal e) it is
d phi / d d_i = sum_k w_k q_ik^2 and d phi / d e_i = 2 sum_k w_k q_ik q_{i+1,k}; with respect
to w it is lam(A). The kernels form these sums per matrix without returning Q.
"""

import numpy as np

from ._spectrum import _dense_spectrum_batch, _tri_spectrum_batch
from .threads import dense_work, run_planned, tridiagonal_work
from .tridiagonal import check_tridiagonal


def _float_dtype(x, name):
    if x.dtype not in (np.float32, np.float64):
        raise TypeError(f"{name} must be float32 or float64, got {x.dtype}")


def _weights(weights, B, n):
    """weights as a float64 C array of shape (1, n) (shared) or (B, n) (per matrix)."""
    w = np.asarray(weights)
    if not (np.issubdtype(w.dtype, np.floating) or np.issubdtype(w.dtype, np.integer)):
        raise TypeError(f"weights must be real, got {w.dtype}")
    if w.shape == (n,):
        w = w[None]
    elif w.shape != (B, n):
        raise ValueError(f"weights must have shape ({n},) or {(B, n)}, got {w.shape}")
    w = np.ascontiguousarray(w, dtype=np.float64)
    if not np.isfinite(w).all():
        raise ValueError("weights must be finite")
    return w


def tridiagonal_spectrum(diag, off, weights=None, max_threads=None):
    """All eigenvalues of each symmetric tridiagonal matrix in a batch, and optionally the
    gradient of <w, lam> with respect to the diagonal and the off-diagonal.

    diag: (B, n) float32 or float64; off: (B, n-1) same dtype; weights: None, (n,) (shared by
    every matrix) or (B, n), any real dtype (used in float64).

    Returns (values (B, n) ascending, grad_diag (B, n), grad_off (B, n-1), suspect (B,) bool),
    the gradients None when weights is None (the value-only path, which skips the vectors):
        grad_diag[b, i] = sum_k w_k q_ik^2,   grad_off[b, i] = 2 sum_k w_k q_ik q_{i+1,k}
    with q_k the unit eigenvector of values[b, k]. Values and gradients are in the input dtype
    (all arithmetic in float64). At a repeated eigenvalue the q_k are an orthonormal basis of
    its eigenspace, so the gradient is a Clarke subgradient of <w, lam>, and the gradient itself
    (basis-independent) wherever w is constant on each cluster of eigenvalues.

    suspect[b] is True when the kernel cannot vouch for row b: non-finite input (values and
    gradients NaN), QL not converging, or an eigenvector failing its residual check
    ||T q - lam q|| <= 16 n eps ||T||_inf. Clusters are not suspect. See the package docstring
    for the accuracy contract.
    """
    diag, off = check_tridiagonal(diag, off)
    B, n = diag.shape
    gradient = weights is not None
    w = _weights(weights, B, n) if gradient else np.zeros((1, 1))
    dt = diag.dtype
    vals = np.empty((B, n), dtype=dt)
    suspect = np.zeros(B, dtype=np.bool_)
    gd = np.empty((B, n), dtype=dt) if gradient else None
    ge = np.empty((B, max(n - 1, 0)), dtype=dt) if gradient else None
    if B == 0 or n == 0:
        return vals, gd, ge, suspect
    # float64 in and out of the kernel: its arithmetic is float64 anyway, and one compiled
    # specialization instead of two halves its compile time (conversions are O(B n))
    diag = np.ascontiguousarray(diag, dtype=np.float64)
    off = np.ascontiguousarray(off, dtype=np.float64)
    if n == 1:
        # keep the kernel's argument types fixed (2-D C arrays) for n = 1
        off = np.zeros((B, 1))
    vals64 = vals if dt == np.float64 else np.empty((B, n))
    gd64 = np.empty((B, n)) if gradient else np.empty((0, 0))
    ge64 = np.empty((B, max(n - 1, 1))) if gradient else np.empty((0, 0))

    def kernel(c0, c1, nchunks):
        _tri_spectrum_batch(diag, off, w, gradient, c0, c1, nchunks, vals64, gd64, ge64, suspect)

    # all n eigenvalues by QL (~n^2 work) and, with a gradient, n twisted vectors
    run_planned(kernel, B, tridiagonal_work(B, n, n, gradient), "tridiagonal_spectrum",
                max_threads)
    if vals64 is not vals:
        vals[...] = vals64
    if gradient:
        gd[...] = gd64
        ge[...] = ge64[:, : n - 1]
    return vals, gd, ge, suspect


def dense_spectrum(A, weights=None, max_threads=None):
    """All eigenvalues of each dense symmetric matrix in a batch, and optionally the gradient
    Q diag(w) Q^T of <w, lam> with respect to A.

    A: (B, n, n) float32 or float64, assumed exactly symmetric (the full matrix is read; the
    caller symmetrizes); weights: None, (n,) or (B, n), any real dtype (used in float64).

    Returns (values (B, n) ascending, grad (B, n, n) or None, suspect (B,) bool) in the input
    dtype. The gradient is formed as H (Y diag(w) Y^T) H^T from the Householder reduction
    A = H T H^T and the tridiagonal eigenvectors Y, and symmetrized; it is exactly symmetric.
    Repeated eigenvalues and suspect rows as in tridiagonal_spectrum (the residual check is that
    of the tridiagonal eigenvectors; the reduction is backward stable).
    """
    A = np.asarray(A)
    _float_dtype(A, "A")
    if A.ndim != 3 or A.shape[1] != A.shape[2]:
        raise ValueError(f"A must have shape (B, n, n), got {A.shape}")
    B, n, _ = A.shape
    gradient = weights is not None
    w = _weights(weights, B, n) if gradient else np.zeros((1, 1))
    dt = A.dtype
    vals = np.empty((B, n), dtype=dt)
    suspect = np.zeros(B, dtype=np.bool_)
    G = np.empty((B, n, n), dtype=dt) if gradient else None
    if B == 0 or n == 0:
        return vals, G, suspect
    A = np.ascontiguousarray(A, dtype=np.float64)  # one specialization, as above
    vals64 = vals if dt == np.float64 else np.empty((B, n))
    G64 = (G if dt == np.float64 else np.empty((B, n, n))) if gradient else np.empty((0, 0, 0))

    def kernel(c0, c1, nchunks):
        _dense_spectrum_batch(A, w, gradient, c0, c1, nchunks, vals64, G64, suspect)

    run_planned(kernel, B, dense_work(B, n, n, gradient), "dense_spectrum", max_threads)
    if vals64 is not vals:
        vals[...] = vals64
        if gradient:
            G[...] = G64
    return vals, G, suspect
