"""Every batch kernel returns how many matrices it flagged in ``suspect``, and the ``checked_*``
front ends turn a zero count into ``suspect=None``: the backend's test for "re-solve some rows"
is then a comparison with None, not a numpy reduction per training step. The counts are checked
here against the flag arrays the kernels fill, over several chunks, with flagged rows of every
kind (non-finite, clustered, the zero matrix) among ordinary ones."""

import numpy as np
import pytest

from optneuron.kernels import (
    checked_dense_eigenpairs,
    checked_dense_eigenvector,
    checked_tiny_eigenpairs,
    checked_tridiagonal_eigenpairs,
    dense_eigenpairs,
    dense_eigenvector,
    pencil_eigenvalue,
    tiny_eigenpairs,
    tridiagonal_eigenpairs,
)
from optneuron.kernels._compiled import _dense_batch, _dense_solution_batch, _tri_batch
from optneuron.kernels._tiny import _pencil_batch, _tiny_batch
from optneuron.kernels.tiny import pencil_eigenvalue_unchecked

#: rows of the mixed batches below that the kernels must flag
FLAGGED = [1, 4, 6]


def mixed_dense(n, B=9, seed=0):
    """Random symmetric matrices with a NaN entry in row 1, the identity (one eigenvalue of
    multiplicity n) in row 4 and the zero matrix in row 6."""
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((B, n, n))
    A = (A + A.transpose(0, 2, 1)) / 2
    A[1, 0, 1] = A[1, 1, 0] = np.nan
    A[4] = np.eye(n)
    A[6] = 0.0
    return A


def mixed_tridiagonal(n, B=9, seed=0):
    rng = np.random.default_rng(seed)
    d, e = rng.standard_normal((B, n)), rng.standard_normal((B, n - 1))
    d[1, 2] = np.inf
    d[4], e[4] = 1.0, 0.0
    d[6], e[6] = 0.0, 0.0
    return d, e


def run_by_chunks(call, nchunks):
    """``call(c0, c1, nchunks)`` once per chunk, and once over all chunks: the counts of both."""
    by_chunk = sum(call(c, c + 1, nchunks) for c in range(nchunks))
    return by_chunk, call(0, nchunks, nchunks)


@pytest.mark.parametrize("nchunks", [1, 3])
def test_tridiagonal_and_dense_kernels_count_the_rows_they_flag(nchunks):
    n, m = 6, 2
    d, e = mixed_tridiagonal(n)
    A = mixed_dense(n)
    B = len(A)
    none = np.empty((0, 0, 0))
    calls = {
        "_tri_batch": lambda s, v: lambda c0, c1, nc: _tri_batch(
            d, e, 2, 2 + m, v, not v, c0, c1, nc, np.empty((B, m)),
            np.empty((B, n, m)) if v else none, none if v else np.empty((B, n, m)),
            none if v else np.empty((B, n - 1, m)), s),
        "_dense_batch": lambda s, v: lambda c0, c1, nc: _dense_batch(
            A, 2, 2 + m, v, c0, c1, nc, np.empty((B, m)),
            np.empty((B, n, m)) if v else none, s),
        "_dense_solution_batch": lambda s, v: lambda c0, c1, nc: _dense_solution_batch(
            A, 2, c0, c1, nc, np.empty((B, 1)), np.empty((B, n, 1)), s, np.empty((B, n, n)),
            np.zeros((B, n)), np.zeros((B, n)), np.zeros((B, n)), np.zeros(B, dtype=np.int64)),
    }
    for name, make in calls.items():
        for vectors in (True, False):
            suspect = np.zeros(B, dtype=np.bool_)
            by_chunk, at_once = run_by_chunks(make(suspect, vectors), nchunks)
            assert list(np.flatnonzero(suspect)) == FLAGGED, name
            assert by_chunk == at_once == len(FLAGGED), name


@pytest.mark.parametrize("nchunks", [1, 3])
def test_lane_kernels_count_the_rows_they_flag(nchunks):
    # B = 11 leaves a partial block of lanes
    n, k = 4, 1
    A = mixed_dense(n, B=11)
    B = len(A)
    C, index, scale = packed(A)

    def tiny(suspect, vectors):
        vecs = np.empty((B, n, 1)) if vectors else np.empty((0, 0, 0))
        return lambda c0, c1, nc: _tiny_batch(A, k, k + 1, vectors, c0, c1, nc,
                                              np.empty((B, 1)), vecs, suspect)

    for vectors in (True, False):
        suspect = np.zeros(B, dtype=np.bool_)
        by_chunk, at_once = run_by_chunks(tiny(suspect, vectors), nchunks)
        assert list(np.flatnonzero(suspect)) == FLAGGED
        assert by_chunk == at_once == len(FLAGGED)
    suspect = np.zeros(B, dtype=np.bool_)
    by_chunk, at_once = run_by_chunks(lambda c0, c1, nc: _pencil_batch(
        C, index, scale, n, k, c0, c1, nc, np.empty(B), np.empty((B, C.shape[1])), suspect),
        nchunks)
    assert list(np.flatnonzero(suspect)) == FLAGGED
    assert by_chunk == at_once == len(FLAGGED)


def packed(A):
    """``(C, index, scale)`` of ``pencil_eigenvalue`` for symmetric ``A``: one coordinate per
    entry on or above the diagonal, scale 1."""
    B, n, _ = A.shape
    upper = [(i, j) for i in range(n) for j in range(i, n)]
    C = np.stack([A[:, i, j] for i, j in upper], axis=1)
    index = np.array([upper.index((min(i, j), max(i, j))) for i in range(n) for j in range(n)])
    return np.ascontiguousarray(C), index, np.ones(len(upper))


def front_ends(n):
    """``{name: (checked call, public call)}`` on a batch argument (dense or packed)."""
    return {
        "dense": (lambda A: checked_dense_eigenpairs(A, 2, 4, True),
                  lambda A: dense_eigenpairs(A, 2, 4)),
        "tiny": (lambda A: checked_tiny_eigenpairs(A, 1, 3, True),
                 lambda A: tiny_eigenpairs(A, 1, 3)),
        "dense_eigenvector": (lambda A: checked_dense_eigenvector(A, 2),
                              lambda A: dense_eigenvector(A, 2)),
        "pencil": (lambda A: pencil_eigenvalue_unchecked(*packed(A), n, 2),
                   lambda A: pencil_eigenvalue(*packed(A), n, 2)),
    }


@pytest.mark.parametrize("name", ["dense", "tiny", "dense_eigenvector", "pencil"])
def test_checked_front_ends_say_none_flagged_with_none(name):
    n = 5
    checked, public = front_ends(n)[name]
    clean = np.ascontiguousarray(mixed_dense(n)[[0, 2, 3, 5, 7, 8]])
    got, want = checked(clean), public(clean)
    assert got[2] is None
    assert want[2].shape == (6,) and want[2].dtype == np.bool_ and not want[2].any()
    for a, b in zip(got[:2], want[:2]):
        np.testing.assert_array_equal(a, b)
    mixed = mixed_dense(n)
    got, want = checked(mixed), public(mixed)
    assert list(np.flatnonzero(got[2])) == list(np.flatnonzero(want[2])) == FLAGGED


def test_tridiagonal_front_ends_flag_the_same_rows():
    d, e = mixed_tridiagonal(7)
    checked = checked_tridiagonal_eigenpairs(d, e, 2, 4, True, True)
    public = tridiagonal_eigenpairs(d, e, 2, 4, True, True)
    assert list(np.flatnonzero(checked[2])) == list(np.flatnonzero(public[2])) == FLAGGED
    clean = [np.ascontiguousarray(x[[0, 2, 3]]) for x in (d, e)]
    assert checked_tridiagonal_eigenpairs(*clean, 2, 4, True, True)[2] is None
    assert not tridiagonal_eigenpairs(*clean, 2, 4)[2].any()
