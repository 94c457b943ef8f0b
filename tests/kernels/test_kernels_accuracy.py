"""optneuron.kernels against numpy.linalg.eigh (LAPACK), float64 contract and float32 inputs."""

import numpy as np
import pytest
from kernel_helpers import (
    EPS,
    check_against_lapack,
    random_orthogonal,
    tridiag_to_dense,
)

from optneuron.kernels import dense_eigenpairs, tridiagonal_eigenpairs


def _random_sym(rng, B, n):
    A = rng.standard_normal((B, n, n))
    return (A + A.transpose(0, 2, 1)) / 2


@pytest.mark.parametrize("seed", range(6))
def test_dense_random_sizes_and_ranges(seed):
    rng = np.random.default_rng(seed)
    for _ in range(8):
        n = int(rng.integers(1, 65))
        lo = int(rng.integers(0, n))
        hi = int(rng.integers(lo + 1, n + 1))
        A = _random_sym(rng, int(rng.integers(1, 20)), n)
        vals, vecs, sus = dense_eigenpairs(A, lo, hi)
        assert vals.shape == (A.shape[0], hi - lo) and vecs.shape == (A.shape[0], n, hi - lo)
        assert vals.dtype == np.float64 and vecs.dtype == np.float64
        check_against_lapack(A, lo, hi, vals, vecs, sus, require_clean=True)
        if hi - lo > 1:
            gram = np.einsum("bij,bik->bjk", vecs, vecs)
            assert np.abs(gram - np.eye(hi - lo)).max() < 1e-11


@pytest.mark.parametrize("seed", range(6))
def test_tridiagonal_random_sizes_and_ranges(seed):
    rng = np.random.default_rng(100 + seed)
    for _ in range(8):
        n = int(rng.integers(1, 65))
        lo = int(rng.integers(0, n))
        hi = int(rng.integers(lo + 1, n + 1))
        B = int(rng.integers(1, 20))
        diag = rng.standard_normal((B, n))
        off = rng.standard_normal((B, n - 1))
        vals, vecs, sus = tridiagonal_eigenpairs(diag, off, lo, hi)
        check_against_lapack(tridiag_to_dense(diag, off), lo, hi, vals, vecs, sus, True)


@pytest.mark.parametrize("kind", ["dense", "tridiagonal"])
def test_float32_inputs_are_solved_in_float64(kind):
    rng = np.random.default_rng(7)
    n, B = 24, 50
    if kind == "dense":
        A32 = _random_sym(rng, B, n).astype(np.float32)
        vals, vecs, sus = dense_eigenpairs(A32, 5, 8)
        A64 = A32.astype(np.float64)
    else:
        d32 = rng.standard_normal((B, n)).astype(np.float32)
        e32 = rng.standard_normal((B, n - 1)).astype(np.float32)
        vals, vecs, sus = tridiagonal_eigenpairs(d32, e32, 5, 8)
        A64 = tridiag_to_dense(d32.astype(np.float64), e32.astype(np.float64))
    assert vals.dtype == np.float32 and vecs.dtype == np.float32
    assert not sus.any()
    w = np.linalg.eigvalsh(A64)
    norm = np.abs(w).max(axis=-1, keepdims=True)
    ref = w[:, 5:8]
    eps32 = np.finfo(np.float32).eps
    # only the final rounding to float32 separates us from the float64 reference
    assert np.all(np.abs(vals - ref) <= eps32 * np.abs(ref) + 64 * n * EPS * norm)
    q = vecs.astype(np.float64)
    res = np.linalg.norm(A64 @ q - q * vals.astype(np.float64)[:, None, :], axis=1)
    assert res.max() <= 2 * eps32 * norm.max()


def test_empty_batch_and_single_matrix():
    for dt in (np.float32, np.float64):
        vals, vecs, sus = dense_eigenpairs(np.zeros((0, 5, 5), dt), 1, 3)
        assert vals.shape == (0, 2) and vecs.shape == (0, 5, 2) and sus.shape == (0,)
        assert vals.dtype == dt
        vals, vecs, sus = tridiagonal_eigenpairs(np.zeros((0, 5), dt), np.zeros((0, 4), dt), 0, 1)
        assert vals.shape == (0, 1) and vecs.shape == (0, 5, 1)
        A = _random_sym(np.random.default_rng(1), 1, 6).astype(dt)
        vals, vecs, sus = dense_eigenpairs(A, 2, 4)
        assert vals.shape == (1, 2) and not sus.any()


def test_n_equals_one():
    diag = np.array([[3.0], [-2.0], [0.0]])
    off = np.zeros((3, 0))
    vals, vecs, sus = tridiagonal_eigenpairs(diag, off, 0, 1)
    assert np.array_equal(vals[:, 0], diag[:, 0]) and np.all(vecs == 1.0) and not sus.any()
    vals, vecs, sus = dense_eigenpairs(diag[:, :, None], 0, 1)
    assert np.array_equal(vals[:, 0], diag[:, 0]) and np.all(vecs == 1.0) and not sus.any()


def test_value_only_path_returns_same_values_and_flags():
    rng = np.random.default_rng(3)
    A = _random_sym(rng, 40, 17)
    A[0] = np.eye(17)
    v1, q1, s1 = dense_eigenpairs(A, 3, 9)
    v2, q2, s2 = dense_eigenpairs(A, 3, 9, vectors=False)
    assert q2 is None and np.array_equal(v1, v2) and np.array_equal(s1, s2)
    d, e = rng.standard_normal((40, 17)), rng.standard_normal((40, 16))
    v1, _, s1 = tridiagonal_eigenpairs(d, e, 0, 17)
    v2, q2, s2 = tridiagonal_eigenpairs(d, e, 0, 17, vectors=False)
    assert q2 is None and np.array_equal(v1, v2) and np.array_equal(s1, s2)


def test_sign_convention_and_column_layout():
    rng = np.random.default_rng(11)
    A = _random_sym(rng, 30, 9)
    vals, vecs, _ = dense_eigenpairs(A, 0, 9)
    idx = np.abs(vecs).argmax(axis=1)
    assert np.all(np.take_along_axis(vecs, idx[:, None, :], axis=1) > 0)
    w, U = np.linalg.eigh(A)
    U = U * np.sign(np.take_along_axis(U, idx[:, None, :], axis=1))
    assert np.allclose(vecs, U, atol=1e-10)


def test_bad_arguments():
    with pytest.raises(ValueError, match="lo"):
        dense_eigenpairs(np.zeros((1, 3, 3)), 2, 4)
    with pytest.raises(ValueError, match="shape"):
        dense_eigenpairs(np.zeros((1, 3, 4)), 0, 1)
    with pytest.raises(TypeError, match="float32 or float64"):
        dense_eigenpairs(np.zeros((1, 3, 3), dtype=np.int64), 0, 1)
    with pytest.raises(ValueError, match="off"):
        tridiagonal_eigenpairs(np.zeros((2, 3)), np.zeros((2, 3)), 0, 1)
    with pytest.raises(TypeError, match="dtype"):
        tridiagonal_eigenpairs(np.zeros((2, 3)), np.zeros((2, 2), np.float32), 0, 1)


def test_non_finite_rows_are_suspect_and_do_not_hang():
    A = np.stack([np.eye(4) * 2.0 + 0.1, np.full((4, 4), np.nan), np.full((4, 4), np.inf)])
    A[0] = (A[0] + A[0].T) / 2
    vals, vecs, sus = dense_eigenpairs(A, 1, 2)
    assert list(sus[1:]) == [True, True] and np.isnan(vals[1:]).all()
    d = np.array([[1.0, np.nan, 2.0], [1.0, 2.0, 3.0]])
    e = np.array([[0.5, 0.5], [np.inf, 0.0]])
    vals, _, sus = tridiagonal_eigenpairs(d, e, 0, 1)
    assert sus.all()


def test_pairs_1e13_apart_are_accurate():
    rng = np.random.default_rng(5)
    B, n = 20, 12
    A = np.empty((B, n, n))
    for b in range(B):
        lam = np.sort(rng.standard_normal(n))
        lam[5] = lam[4] + 1e-13
        Q = random_orthogonal(rng, n)
        A[b] = (Q * lam) @ Q.T
        A[b] = (A[b] + A[b].T) / 2
    for lo, hi in [(4, 5), (5, 6), (4, 6), (0, n)]:
        vals, vecs, sus = dense_eigenpairs(A, lo, hi)
        assert sus.all()  # 1e-13 < 1e-8 ||A||: flagged, the values still accurate
        sus_none = np.zeros_like(sus)
        check_against_lapack(A, lo, hi, vals, None, sus_none)
    vals, vecs, sus = dense_eigenpairs(A, 7, 9)  # far from the pair: clean
    check_against_lapack(A, 7, 9, vals, vecs, sus, require_clean=True)


@pytest.mark.parametrize("dt", [np.float32, np.float64])
def test_tridiagonal_derivatives_are_those_of_the_vectors(dt):
    rng = np.random.default_rng(9)
    n = 12
    d = rng.standard_normal((50, n)).astype(dt)
    e = rng.standard_normal((50, n - 1)).astype(dt)
    vals, vecs, sus, dd, de = tridiagonal_eigenpairs(d, e, 3, 6, derivatives=True)
    assert dd.shape == (50, n, 3) and de.shape == (50, n - 1, 3) and dd.dtype == dt
    q = vecs.astype(np.float64)
    tol = 4 * np.finfo(dt).eps
    np.testing.assert_allclose(dd, q * q, rtol=0, atol=tol)
    np.testing.assert_allclose(de, 2 * q[:, :-1] * q[:, 1:], rtol=0, atol=tol)
    # and they are the derivatives: a central difference of lam_j in diag_i and off_i
    h = 1e-6
    for i, j in [(0, 0), (5, 1), (n - 1, 2)]:
        dp, dm = d.astype(np.float64), d.astype(np.float64)
        dp[:, i] += h
        dm[:, i] -= h
        fd = (tridiagonal_eigenpairs(dp, e.astype(np.float64), 3 + j, 4 + j, False)[0]
              - tridiagonal_eigenpairs(dm, e.astype(np.float64), 3 + j, 4 + j, False)[0]) / (2 * h)
        np.testing.assert_allclose(fd[:, 0], dd[:, i, j], atol=1e-5 if dt == np.float64 else 1e-3)
    _, _, sus1, dd1, de1 = tridiagonal_eigenpairs(d[:, :1], e[:, :0], 0, 1, derivatives=True)
    assert (dd1 == 1).all() and de1.shape == (50, 0, 1)
    # derivatives without the vectors: the same bits, no vectors stored (the backend's path);
    # the special rows (n = 1, a zero matrix, a non-finite entry) included
    d[7], e[7] = 0, 0
    d[8, 2] = np.nan
    with_vecs = tridiagonal_eigenpairs(d, e, 3, 6, derivatives=True)
    vals2, vecs2, sus2, dd2, de2 = tridiagonal_eigenpairs(d, e, 3, 6, vectors=False,
                                                          derivatives=True)
    assert vecs2 is None
    for a, b in zip((vals2, sus2, dd2, de2), with_vecs[:1] + with_vecs[2:]):
        np.testing.assert_array_equal(a, b)
    _, none1, _, dd1b, _ = tridiagonal_eigenpairs(d[:, :1], e[:, :0], 0, 1, vectors=False,
                                                  derivatives=True)
    assert none1 is None and (dd1b == 1).all()
