"""Shared helpers of the kernel tests (a plain module: conftest names can collide)."""

import numpy as np

EPS = np.finfo(np.float64).eps
#: the accuracy constant of optneuron.kernels' contract
C = 4.0


def random_orthogonal(rng, n):
    q, r = np.linalg.qr(rng.standard_normal((n, n)))
    return q * np.sign(np.diag(r))


def tridiag_to_dense(diag, off):
    B, n = diag.shape
    T = np.zeros((B, n, n), dtype=np.float64)
    i = np.arange(n)
    T[:, i, i] = diag
    T[:, i[:-1], i[1:]] = off
    T[:, i[1:], i[:-1]] = off
    return T


def check_against_lapack(A, lo, hi, vals, vecs, suspect, require_clean=False):
    """Check the contract for the rows not flagged suspect; A is the float64 reference matrix.

    Returns (max |lam err| / (n eps ||A||), max residual / (n eps ||A||)) over checked rows.
    """
    A = np.asarray(A, dtype=np.float64)
    B, n, _ = A.shape
    if require_clean:
        assert not suspect.any()
    w = np.linalg.eigvalsh(A) if B else np.zeros((0, n))
    norm = np.maximum(np.abs(w).max(axis=-1, initial=0.0), np.finfo(float).tiny) if B else w
    worst_val = worst_res = 0.0
    for b in range(B):
        if suspect[b]:
            continue
        scale = n * EPS * norm[b]
        err = np.abs(vals[b].astype(np.float64) - w[b, lo:hi]).max(initial=0.0)
        assert err <= C * scale, (b, err / scale)
        worst_val = max(worst_val, err / scale)
        if vecs is not None:
            q = vecs[b].astype(np.float64)
            res = np.linalg.norm(A[b] @ q - q * vals[b].astype(np.float64), axis=0).max(initial=0)
            assert res <= C * scale, (b, res / scale)
            assert np.all(np.abs(np.linalg.norm(q, axis=0) - 1.0) <= C * n * EPS)
            worst_res = max(worst_res, res / scale)
    return worst_val, worst_res
