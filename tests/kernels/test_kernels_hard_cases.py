"""Clusters, exact doubles, Wilkinson, extreme scalings, splits, zero and identity matrices."""

import numpy as np
import pytest
from kernel_helpers import EPS, check_against_lapack, random_orthogonal, tridiag_to_dense

from optneuron.kernels import dense_eigenpairs, tridiagonal_eigenpairs


def _accurate_or_suspect(A, lo, hi, vals, vecs, sus):
    """Vectors must be good where not suspect; values must be good everywhere."""
    check_against_lapack(A, lo, hi, vals, vecs, sus)
    check_against_lapack(A, lo, hi, vals, None, np.zeros_like(sus))


def _eightfold(rng, B, n):
    A = np.empty((B, n, n))
    lam = np.ones(n)
    lam[8:] = np.linspace(2.0, 3.0, n - 8)
    for b in range(B):
        Q = random_orthogonal(rng, n)
        A[b] = (Q * lam) @ Q.T
        A[b] = (A[b] + A[b].T) / 2
    return A


@pytest.mark.parametrize("lo,hi", [(0, 1), (3, 4), (7, 8), (8, 9), (0, 8), (2, 10), (9, 12)])
def test_eightfold_cluster(lo, hi):
    rng = np.random.default_rng(lo * 31 + hi)
    A = _eightfold(rng, 12, 14)
    vals, vecs, sus = dense_eigenpairs(A, lo, hi)
    _accurate_or_suspect(A, lo, hi, vals, vecs, sus)
    if lo < 8:
        assert sus.all()
    if lo >= 9:
        assert not sus.any()


def test_exact_doubles_diagonal_and_splits():
    # diagonal (all off-diagonals zero) with exact doubles, as dense and as tridiagonal
    d = np.array([[3.0, 1.0, 2.0, 1.0, 5.0], [1.0, 2.0, 3.0, 4.0, 5.0]])
    e = np.zeros((2, 4))
    for lo, hi in [(0, 1), (0, 2), (2, 3), (3, 5), (0, 5)]:
        vals, vecs, sus = tridiagonal_eigenpairs(d, e, lo, hi)
        _accurate_or_suspect(tridiag_to_dense(d, e), lo, hi, vals, vecs, sus)
        assert not sus[1]
        vals, vecs, sus = dense_eigenpairs(tridiag_to_dense(d, e), lo, hi)
        _accurate_or_suspect(tridiag_to_dense(d, e), lo, hi, vals, vecs, sus)
        assert not sus[1]
    # splits: blocks with identical spectra -> doubles; blocks with distinct spectra -> clean
    rng = np.random.default_rng(2)
    block_d, block_e = rng.standard_normal(4), rng.standard_normal(3)
    d2 = np.concatenate([block_d, block_d])[None]
    e2 = np.concatenate([block_e, [0.0], block_e])[None]
    d3 = np.concatenate([block_d, block_d + 10.0])[None]
    for dd, ee in [(d2, e2), (d3, e2)]:
        for lo, hi in [(0, 1), (1, 3), (0, 8), (7, 8)]:
            vals, vecs, sus = tridiagonal_eigenpairs(dd, ee, lo, hi)
            _accurate_or_suspect(tridiag_to_dense(dd, ee), lo, hi, vals, vecs, sus)
    vals, vecs, sus = tridiagonal_eigenpairs(d3, e2, 0, 8)
    assert not sus.any()


def _wilkinson_plus(m):
    n = 2 * m + 1
    return np.abs(np.arange(n) - m).astype(float)[None], np.ones((1, n - 1))


@pytest.mark.parametrize("m", [10, 15])
def test_wilkinson(m):
    d, e = _wilkinson_plus(m)
    n = d.shape[1]
    T = tridiag_to_dense(d, e)
    for lo, hi in [(0, 1), (n - 2, n - 1), (n - 2, n), (n - 1, n), (0, n), (n // 2, n // 2 + 1)]:
        vals, vecs, sus = tridiagonal_eigenpairs(d, e, lo, hi)
        _accurate_or_suspect(T, lo, hi, vals, vecs, sus)
        vals, vecs, sus = dense_eigenpairs(T, lo, hi)
        _accurate_or_suspect(T, lo, hi, vals, vecs, sus)
    # the top pair of W21+ agrees to ~1e-14 relative: must be flagged
    assert tridiagonal_eigenpairs(d, e, n - 1, n)[2].all()


@pytest.mark.parametrize("scale", [1e-150, 1e-30, 1.0, 1e30, 1e150])
def test_extreme_scalings(scale):
    rng = np.random.default_rng(9)
    n = 20
    A = rng.standard_normal((6, n, n))
    A = (A + A.transpose(0, 2, 1)) / 2 * scale
    for lo, hi in [(0, 1), (10, 12), (19, 20)]:
        vals, vecs, sus = dense_eigenpairs(A, lo, hi)
        # compare in units of the scale so that the reference itself does not underflow
        check_against_lapack(A / scale, lo, hi, vals / scale, vecs, sus, require_clean=True)
        d = rng.standard_normal((6, n)) * scale
        e = rng.standard_normal((6, n - 1)) * scale
        vals, vecs, sus = tridiagonal_eigenpairs(d, e, lo, hi)
        T = tridiag_to_dense(d / scale, e / scale)
        check_against_lapack(T, lo, hi, vals / scale, vecs, sus, require_clean=True)


@pytest.mark.parametrize("dt", [np.float32, np.float64])
def test_zero_and_identity(dt):
    n = 6
    Z = np.zeros((2, n, n), dt)
    vals, vecs, sus = dense_eigenpairs(Z, 1, 4)
    assert np.all(vals == 0) and np.allclose(np.linalg.norm(vecs, axis=1), 1) and sus.all()
    vals, vecs, sus = tridiagonal_eigenpairs(np.zeros((2, n), dt), np.zeros((2, n - 1), dt), 0, 1)
    assert np.all(vals == 0) and sus.all()
    vals, vecs, sus = dense_eigenpairs(np.zeros((2, 1, 1), dt), 0, 1)
    assert np.all(vals == 0) and np.all(vecs == 1) and not sus.any()
    eye = np.broadcast_to(np.eye(n, dtype=dt) * 3, (2, n, n)).copy()
    vals, vecs, sus = dense_eigenpairs(eye, 2, 5)
    assert np.allclose(vals, 3, rtol=4 * n * np.finfo(dt).eps, atol=0) and sus.all()
    gram = np.einsum("bij,bik->bjk", vecs.astype(float), vecs.astype(float))
    assert np.allclose(gram, np.eye(3), atol=1e-6 if dt == np.float32 else 1e-13)
    assert np.allclose(eye.astype(float) @ vecs, 3 * vecs, atol=4 * n * EPS * 3)
