"""The lane reduction (``reduce_queued`` over ``householder_lanes``) against the per-matrix
``householder_tridiagonal``: same tridiagonal up to rounding, same reflectors' action, whatever a
matrix's lane, its group's fill, or its neighbours."""

import numpy as np
import pytest

from optneuron.kernels import _compiled as C


def _per_matrix(W):
    B, n = W.shape[:2]
    d, e, tau = np.zeros((B, n)), np.zeros((B, n)), np.zeros((B, n))
    p, vn = np.empty(n), np.empty(2 * n)
    for b in range(B):
        C.householder_tridiagonal(W[b], n, d[b], e[b], tau[b], p, vn)
    return d, e, tau


def _lanes(W, queue):
    B, n = W.shape[:2]
    d, e, tau = np.zeros((B, n)), np.zeros((B, n)), np.zeros((B, n))
    C.reduce_queued(W, tau, 0, n, queue, len(queue), d, e, C.lanes_scratch(n))
    return d, e, tau


def _apply_q(W, tau, z):
    """Q z for each matrix, by the kernels' own back-transformation."""
    out = z.copy()
    for b in range(len(W)):
        C.back_transform(W[b], W.shape[1], tau[b], out[b])
    return out


def _batch(n, B, seed):
    """Random symmetric matrices, one already tridiagonal (zero reflectors), one zero and one
    with a zero first column below the diagonal."""
    A = np.random.default_rng(seed).standard_normal((B, n, n))
    A = (A + A.transpose(0, 2, 1)) / 2
    A[1] = np.diag(np.diag(A[1])) + np.diag(np.diag(A[1], 1), 1) + np.diag(np.diag(A[1], 1), -1)
    A[2] = 0.0
    A[3, 1:, 0] = A[3, 0, 1:] = 0.0
    return A


@pytest.mark.parametrize("n", [1, 2, 3, 5, 16, C.HH_LANES_MAX_N])
@pytest.mark.parametrize("B", [4, C.HH_LANES + 7])  # one partial group; a full one and a partial
def test_lanes_give_the_per_matrix_reduction(n, B):
    A = _batch(n, B, seed=n)
    W1, W2 = A.copy(), A.copy()
    d1, e1, tau1 = _per_matrix(W1)
    d2, e2, tau2 = _lanes(W2, np.arange(len(A)))
    scale = np.abs(A).max()
    np.testing.assert_allclose(d2, d1, rtol=0, atol=1e-12 * scale)
    np.testing.assert_allclose(e2[:, :n - 1], e1[:, :n - 1], rtol=0, atol=1e-12 * scale)
    np.testing.assert_allclose(tau2, tau1, rtol=0, atol=1e-12)
    # Q T Q^T = A: the stored reflectors reproduce the matrix from its tridiagonal
    T = np.zeros_like(A)
    T[:, range(n), range(n)] = d2
    T[:, range(n - 1), range(1, n)] = e2[:, :n - 1]
    T[:, range(1, n), range(n - 1)] = e2[:, :n - 1]
    cols = np.stack([_apply_q(W2, tau2, np.ascontiguousarray(T[:, :, j])) for j in range(n)], -1)
    QT = np.stack([_apply_q(W2, tau2, np.ascontiguousarray(cols[:, j, :])) for j in range(n)], 1)
    np.testing.assert_allclose(QT, A, rtol=0, atol=1e-12 * max(scale, 1))


def test_a_matrix_gets_the_same_bits_in_any_lane_and_group():
    n = 12
    A = _batch(n, 3 * C.HH_LANES + 5, seed=3)
    whole = _lanes(A.copy(), np.arange(len(A)))
    for b in (0, 3, C.HH_LANES + 1, len(A) - 1):
        alone = _lanes(A[b:b + 1].copy(), np.arange(1))
        for got, want in zip(whole, alone):
            np.testing.assert_array_equal(got[b], want[0])
    # only the queued matrices are touched, and a queue need not be in order
    W = A.copy()
    d, _, _ = _lanes(W, np.array([5, 2]))
    assert np.array_equal(W[0], A[0]) and not d[0].any()
    np.testing.assert_array_equal(d[5], whole[0][5])
