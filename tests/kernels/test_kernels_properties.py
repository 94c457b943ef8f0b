"""Property tests (hypothesis): random shapes, ranges, dtypes and repeated eigenvalues."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from kernel_helpers import check_against_lapack, random_orthogonal, tridiag_to_dense

from optneuron.kernels import (
    checked_tridiagonal_eigenpairs,
    dense_eigenpairs,
    tridiagonal_eigenpairs,
)


@st.composite
def problems(draw):
    n = draw(st.integers(1, 24))
    lo = draw(st.integers(0, n - 1))
    hi = draw(st.integers(lo + 1, n))
    B = draw(st.integers(0, 4))
    seed = draw(st.integers(0, 2**32 - 1))
    repeats = draw(st.booleans())
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    log_scale = draw(st.sampled_from([-150, -8, 0, 8, 150]))
    if dtype == np.float32:
        log_scale = max(min(log_scale, 30), -30)  # float32 stops at ~3e38
    return n, lo, hi, B, seed, repeats, dtype, 10.0**log_scale


@settings(max_examples=40, deadline=None)
@given(problems())
def test_dense_matches_lapack(p):
    n, lo, hi, B, seed, repeats, dtype, scale = p
    rng = np.random.default_rng(seed)
    A = np.empty((B, n, n))
    for b in range(B):
        lam = rng.standard_normal(n)
        if repeats and n > 1:
            lam[rng.integers(0, n, n // 2)] = lam[0]  # repeated eigenvalues
        Q = random_orthogonal(rng, n)
        A[b] = (Q * lam) @ Q.T
    A = (A + A.transpose(0, 2, 1)) / 2
    Ain = (A * scale).astype(dtype)
    vals, vecs, sus = dense_eigenpairs(Ain, lo, hi)
    vals2, none, sus2 = dense_eigenpairs(Ain, lo, hi, vectors=False)
    assert none is None and np.array_equal(vals, vals2) and np.array_equal(sus, sus2)
    assert vals.dtype == dtype and vecs.shape == (B, n, hi - lo)
    if dtype == np.float64:
        ref = Ain.astype(np.float64) / scale
        check_against_lapack(ref, lo, hi, vals / scale, vecs, sus)
        check_against_lapack(ref, lo, hi, vals / scale, None, np.zeros_like(sus))
    else:
        ref = Ain.astype(np.float64)
        w = np.linalg.eigvalsh(ref) if B else np.zeros((0, n))
        norm = np.abs(w).max(axis=-1, keepdims=True, initial=0.0)
        assert np.all(np.abs(vals - w[:, lo:hi]) <= 2 * np.finfo(np.float32).eps * norm)


@settings(max_examples=40, deadline=None)
@given(problems(), st.floats(0.0, 1.0))
def test_tridiagonal_matches_lapack(p, split_frac):
    n, lo, hi, B, seed, repeats, dtype, scale = p
    rng = np.random.default_rng(seed)
    d = rng.standard_normal((B, n))
    e = rng.standard_normal((B, max(n - 1, 0)))
    if repeats:
        d = np.round(d)  # small integers: many exactly equal diagonal entries
        e[rng.random(e.shape) < split_frac] = 0.0  # splits
    d, e = (d * scale).astype(dtype), (e * scale).astype(dtype)
    vals, vecs, sus = tridiagonal_eigenpairs(d, e, lo, hi)
    _, _, sus2 = tridiagonal_eigenpairs(d, e, lo, hi, vectors=False)
    assert np.array_equal(sus, sus2)
    T = tridiag_to_dense(d.astype(np.float64) / scale, e.astype(np.float64) / scale)
    if dtype == np.float64:
        check_against_lapack(T, lo, hi, vals / scale, vecs, sus)
        check_against_lapack(T, lo, hi, vals / scale, None, np.zeros_like(sus))
    else:
        w = np.linalg.eigvalsh(T) if B else np.zeros((0, n))
        norm = np.abs(w).max(axis=-1, keepdims=True, initial=0.0)
        got = vals.astype(np.float64) / scale
        assert np.all(np.abs(got - w[:, lo:hi]) <= 2 * np.finfo(np.float32).eps * norm)


@settings(max_examples=25, deadline=None)
@given(problems(), st.booleans(), st.booleans())
def test_checked_entry_point_equals_the_checking_one(p, vectors, derivatives):
    # the eigen backend's entry point skips the argument checks, and says "no row flagged" with
    # None: otherwise the same arrays, bit for bit, for every shape the checks admit (B = 0 and
    # n = 1 included)
    n, lo, hi, B, seed, _, dtype, scale = p
    derivatives = derivatives and vectors
    rng = np.random.default_rng(seed)
    d = (rng.standard_normal((B, n)) * scale).astype(dtype)
    e = (rng.standard_normal((B, max(n - 1, 0))) * scale).astype(dtype)
    checked = checked_tridiagonal_eigenpairs(d, e, lo, hi, vectors, derivatives)
    public = tridiagonal_eigenpairs(d, e, lo, hi, vectors, derivatives)
    assert len(checked) == len(public) == (5 if derivatives else 3)
    assert (checked[2] is None) == (not public[2].any())
    for a, b in zip(checked, public):
        if a is None and b is public[2]:
            continue
        if b is None:
            assert a is None
        else:
            assert a.dtype == b.dtype and a.shape == b.shape
            np.testing.assert_array_equal(a, b)
