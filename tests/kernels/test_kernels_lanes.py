"""The lane engines against the one-matrix-at-a-time routines they batch.

``block_eigenvalues`` runs ``laguerre_update`` on many (matrix, index) tasks with one vectorized
Sturm/Laguerre pass per step; ``block_vectors`` runs the twisted factorization for many isolated
eigenvalues at once. Both must give bit-for-bit what the one-matrix routine gives, and the vector
engine must hand back (leave untouched) the tasks whose vector fails its residual test.
"""

import numpy as np
import pytest
from numba import njit

from optneuron.kernels import _compiled as K


@njit
def _sturm_laguerre(d, e2, n, x):
    """One matrix's Sturm count and Laguerre sums G, H at x: the recurrence that
    lanes_sturm_laguerre runs for many matrices at once, written for one."""
    c = 0
    q = d[0] - x
    if abs(q) < K.PIVMIN:
        q = -K.PIVMIN
    if q < 0.0:
        c += 1
    inv = 1.0 / q
    r = -inv
    s = 0.0
    g = r
    h = r * r
    for i in range(1, n):
        t = e2[i - 1] * inv
        q = (d[i] - x) - t
        if abs(q) < K.PIVMIN:
            q = -K.PIVMIN
        if q < 0.0:
            c += 1
        dq = t * r - 1.0
        ddq = t * (s - 2.0 * r * r)
        inv = 1.0 / q
        r = dq * inv
        s = ddq * inv
        g += r
        h += r * r - s
    return c, g, h


@njit
def _scalar_eigenvalue(d, e2, n, k, bounds):
    """The iteration of laguerre_update driven one matrix at a time (the reference), from the
    matrix's spectral_bounds."""
    st = np.zeros(K.STATE_SIZE)
    K.laguerre_start(st, bounds[K._GL], bounds[K._GU], n, k, bounds[K._MEAN], bounds[K._SD])
    tnorm = bounds[K._TN]
    for _ in range(K.MAXIT):
        c, g, h = _sturm_laguerre(d, e2, n, st[K._X])
        if K.laguerre_update(st, c, g, h, k, float(n), tnorm):
            return st[K._X], True
    return 0.5 * (st[K._A] + st[K._B]), False


def _scaled_batch(rng, B, n, graded=False):
    d = rng.standard_normal((B, n))
    e = np.zeros((B, n))
    e[:, : n - 1] = rng.standard_normal((B, n - 1))
    if graded:  # entries spanning many orders of magnitude along the diagonal
        g = 10.0 ** -np.linspace(0, 12, n)
        d *= g
        e[:, : n - 1] *= np.sqrt(g[:-1] * g[1:])
    amax = np.maximum(np.abs(d).max(1), np.abs(e).max(1))
    d /= amax[:, None]
    e /= amax[:, None]
    e2 = e * e
    bounds = np.array([K.spectral_bounds(d[b], e[b], n) for b in range(B)]).T.copy()
    return d, e, e2, bounds


@pytest.mark.parametrize("n, lo, hi", [(2, 0, 1), (7, 3, 4), (45, 22, 23), (45, 0, 45),
                                       (64, 60, 64), (33, 0, 1), (33, 32, 33)])
@pytest.mark.parametrize("graded", [False, True])
def test_block_eigenvalues_equal_the_scalar_iteration(n, lo, hi, graded):
    rng = np.random.default_rng(n + lo + hi)
    B = 70  # more tasks than lanes: lanes are refilled
    d, e, e2, bounds = _scaled_batch(rng, B, n, graded)
    rows = rng.permutation(B)[:61]  # a subset, out of order
    lam = np.full((B, hi - lo), np.nan)
    status = np.zeros(B, dtype=np.int64)
    K.block_eigenvalues(d, e, bounds, rows, len(rows), n, lo, hi, lam, status)
    for i in rows:
        for j in range(hi - lo):
            x, conv = _scalar_eigenvalue(d[i], e2[i], n, lo + j, bounds[:, i].copy())
            assert conv
            assert lam[i, j] == x
    untouched = np.setdiff1d(np.arange(B), rows)
    assert np.isnan(lam[untouched]).all() and not status[untouched].any()
    reference = np.linalg.eigvalsh(
        np.stack([np.diag(d[i]) + np.diag(e[i, :n - 1], 1) + np.diag(e[i, :n - 1], -1)
                  for i in rows]))[:, lo:hi]
    np.testing.assert_allclose(lam[rows], reference, rtol=0, atol=8 * n * K.EPS)


def test_block_eigenvalues_flags_a_cluster_at_the_range_ends():
    n = 6
    d = np.array([[0.1, 0.5, 0.5, 0.9, -0.3, 0.7]])  # lam_2 = lam_3 = 0.5
    e = np.zeros((1, n))
    bounds = np.array(K.spectral_bounds(d[0], e[0], n))[:, None].copy()
    for lo, hi, expect in [(3, 4, K.CLUSTERED), (2, 3, K.CLUSTERED), (4, 5, K.OK)]:
        lam = np.zeros((1, hi - lo))
        status = np.zeros(1, dtype=np.int64)
        K.block_eigenvalues(d, e, bounds, np.zeros(1, np.int64), 1, n, lo, hi, lam, status)
        assert status[0] == expect, (lo, hi)


def _lanczos_tridiagonal(lam, rng):
    """A tridiagonal with spectrum lam: Lanczos on diag(lam) with full reorthogonalization."""
    n = len(lam)
    V = np.zeros((n, n))
    v = rng.standard_normal(n)
    V[:, 0] = v / np.linalg.norm(v)
    d, e = np.zeros(n), np.zeros(n)
    for j in range(n):
        w = lam * V[:, j]
        d[j] = V[:, j] @ w
        w -= V[:, :j + 1] @ (V[:, :j + 1].T @ w)
        w -= V[:, :j + 1] @ (V[:, :j + 1].T @ w)
        if j + 1 < n:
            e[j] = np.linalg.norm(w)
            V[:, j + 1] = w / e[j]
    return d, e


@pytest.mark.parametrize("side", ["left", "right"])
def test_cluster_flags_match_the_gaps_without_their_own_counts(side):
    """The cluster test's counts just outside the range are often implied by the points the
    iteration evaluated (_count_implied); the flags must still be exactly the gaps' verdict:
    a neighbour within CLUSTER_RTOL ||T|| (here 1e-10 or 3e-9) flags the row, one at 3e-8 or
    farther does not, whichever side the iteration approached from."""
    rng = np.random.default_rng(7)
    n, lo, hi = 20, 9, 10
    rows, expected = [], []
    for gap in [1e-10, 3e-9, 3e-8, 1e-7, 1e-5, 1e-3]:
        for _ in range(24):
            lam = np.sort(rng.uniform(-1, 1, n))
            lam[0], lam[-1] = -1.0, 1.0  # ||T|| = 1
            edge = lo if side == "left" else hi - 1
            lam[edge - 1 if side == "left" else edge + 1] = lam[edge] + (
                -gap if side == "left" else gap)
            lam = np.sort(lam)
            rows.append(_lanczos_tridiagonal(lam, rng))
            expected.append(gap < K.CLUSTER_RTOL)
    d = np.array([r[0] for r in rows])
    e = np.array([r[1] for r in rows])
    B = len(rows)
    bounds = np.array([K.spectral_bounds(d[i], e[i], n) for i in range(B)]).T.copy()
    lam = np.zeros((B, hi - lo))
    status = np.zeros(B, dtype=np.int64)
    K.block_eigenvalues(d, e, bounds, np.arange(B), B, n, lo, hi, lam, status)
    np.testing.assert_array_equal(status & K.CLUSTERED != 0, expected)


@njit
def _scalar_twisted(d, e, n, lam, tnorm):
    """One matrix's twisted-factorization vector, written for one: the recurrences that
    lanes_twisted_pivots and lanes_twisted_vector run for many matrices at once, in the same
    order of operations. Returns (unit vector, accepted by the residual test)."""
    Dp = np.zeros(n)
    Rl = np.zeros(n)
    Ru = np.zeros(n)
    q = d[0] - lam
    q = q if abs(q) >= K.PIVMIN else -K.PIVMIN
    Dp[0] = q
    Rl[0] = 1.0 / q
    for i in range(1, n):
        q = (d[i] - lam) - e[i - 1] * e[i - 1] * Rl[i - 1]
        q = q if abs(q) >= K.PIVMIN else -K.PIVMIN
        Dp[i] = q
        Rl[i] = 1.0 / q
    q = d[n - 1] - lam
    q = q if abs(q) >= K.PIVMIN else -K.PIVMIN
    Ru[n - 1] = 1.0 / q
    gmin = abs(Dp[n - 1])
    r = n - 1
    for i in range(n - 2, -1, -1):
        t = e[i] * e[i] * Ru[i + 1]
        q = (d[i] - lam) - t
        q = q if abs(q) >= K.PIVMIN else -K.PIVMIN
        Ru[i] = 1.0 / q
        if abs(Dp[i] - t) < gmin:
            gmin = abs(Dp[i] - t)
            r = i
    y = np.zeros(n + 1)
    y[r] = 1.0
    for i in range(r - 1, -1, -1):
        y[i] = 0.0 - e[i] * Rl[i] * y[i + 1]
    for i in range(r + 1, n):
        y[i] = 0.0 - e[i - 1] * Ru[i] * y[i - 1]
    s = 0.0
    res = 0.0
    for i in range(n):
        s += y[i] * y[i]
    for i in range(n):
        ri = (d[i] - lam) * y[i] + (e[i] if i < n - 1 else 0.0) * y[i + 1]
        if i > 0:
            ri += e[i - 1] * y[i - 1]
        res += ri * ri
    tol = max(n, 4) * K.EPS * tnorm
    ok = s > 0.0 and s < np.inf and res <= tol * tol * s
    return y[:n] * (1.0 / np.sqrt(s)), ok


@pytest.mark.parametrize("n", [2, 5, 45, 64])
@pytest.mark.parametrize("graded", [False, True])
def test_block_vectors_equal_the_scalar_twisted_factorization(n, graded):
    rng = np.random.default_rng(n)
    B, m = 40, 2
    d, e, e2, bounds = _scaled_batch(rng, B, n, graded)
    T = np.stack([np.diag(d[i]) + np.diag(e[i, :n - 1], 1) + np.diag(e[i, :n - 1], -1)
                  for i in range(B)])
    w, V = np.linalg.eigh(T)
    lo = n // 2 - 1
    lam = w[:, lo:lo + m].copy()
    trow = np.repeat(np.arange(B), m)
    tcol = np.tile(np.arange(m), B)
    Zb = np.zeros((B, m, n))
    pre = np.zeros((B, m), dtype=np.bool_)
    K.block_vectors(d, e, bounds[2], lam, trow, tcol, B * m, n, Zb, pre)
    if not graded:  # random spectra: the twisted vector passes the residual test every time
        assert pre.all()
    assert pre.mean() > 0.9
    for i in range(B):
        for j in range(m):
            z, ok = _scalar_twisted(d[i], e[i], n, lam[i, j], bounds[2, i])
            # the lanes decide and compute exactly as the one-matrix routine does
            assert pre[i, j] == ok
            if not ok:
                assert not Zb[i, j].any()  # left to inverse iteration, untouched
                continue
            np.testing.assert_array_equal(Zb[i, j], z)
            # and the vector is LAPACK's, up to sign, to the residual over the gap (sin of the
            # angle <= ||r|| / gap for a unit vector with residual r)
            r = np.linalg.norm(T[i] @ z - lam[i, j] * z)
            bound = max(n, 4) * K.EPS * bounds[2, i]
            assert r <= 1.01 * bound  # the lanes' own test, recomputed by numpy
            gap = np.delete(np.abs(w[i] - lam[i, j]), lo + j).min()
            sin = np.sqrt(max(0.0, 1.0 - (z @ V[i, :, lo + j]) ** 2))
            assert sin <= 2 * bound / gap + 1e-7


def test_block_vectors_leave_tasks_that_fail_the_residual_test():
    rng = np.random.default_rng(3)
    B, n = 8, 20
    d, e, e2, bounds = _scaled_batch(rng, B, n)
    T = np.stack([np.diag(d[i]) + np.diag(e[i, :n - 1], 1) + np.diag(e[i, :n - 1], -1)
                  for i in range(B)])
    lam = np.linalg.eigvalsh(T)[:, 5:6].copy()
    lam[::2] += 1e-3  # a poor shift: the residual is ~1e-3, far above the bound
    Zb = np.zeros((B, 1, n))
    pre = np.zeros((B, 1), dtype=np.bool_)
    K.block_vectors(d, e, bounds[2], lam, np.arange(B), np.zeros(B, np.int64), B, n, Zb, pre)
    np.testing.assert_array_equal(pre[:, 0], np.arange(B) % 2 == 1)
    assert not Zb[::2].any()


@pytest.mark.parametrize("threads", [1, 2, 3])
@pytest.mark.parametrize("kind", ["tridiagonal", "dense"])
def test_results_do_not_depend_on_batching(kind, threads, monkeypatch):
    # several chunks, blocks of BLOCK matrices and a partial last block, lanes refilled; special
    # rows (zero, nan, a 1e-300 scaling) mixed in: every matrix gets the bits it gets alone
    from optneuron.kernels import dense_eigenpairs, tridiagonal_eigenpairs
    from optneuron.kernels import threads as pool

    monkeypatch.setattr(pool, "MIN_WORK_PER_THREAD", 0)  # split even this small batch
    monkeypatch.setattr(pool, "CPUS", 4)

    rng = np.random.default_rng(11)
    n, B = 9, 3 * K.BLOCK + 41
    d = rng.standard_normal((B, n))
    e = rng.standard_normal((B, n - 1))
    d[5], e[5] = 0.0, 0.0
    d[77, 3] = np.nan
    d[200] *= 1e-300
    e[200] *= 1e-300
    T = np.zeros((B, n, n))
    T[:, range(n), range(n)] = d
    T[:, range(n - 1), range(1, n)] = e
    T[:, range(1, n), range(n - 1)] = e
    pool.set_num_threads(threads)
    try:
        for lo, hi in [(4, 5), (2, 6)]:
            if kind == "tridiagonal":
                whole = tridiagonal_eigenpairs(d, e, lo, hi)
                alone = [tridiagonal_eigenpairs(d[b:b + 1], e[b:b + 1], lo, hi) for b in range(B)]
            else:
                whole = dense_eigenpairs(T, lo, hi)
                alone = [dense_eigenpairs(T[b:b + 1], lo, hi) for b in range(B)]
            for got, parts in zip(whole, zip(*alone)):
                np.testing.assert_array_equal(got, np.concatenate(parts))
    finally:
        pool.set_num_threads(None)
