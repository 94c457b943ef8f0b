"""kernels.eigenvector_adjoint: the O(n) / O(n²) backward solve of an eigenvector.

Reference: ``torch.linalg.eigh``'s autograd backward of ``⟨r, q_k⟩`` (float64, same sign rule),
on random, nearly repeated (gap 1e-6 ‖A‖), decoupled (exact zero pivot) and tied spectra; the
dense eigenpair against ``dense_eigenpairs`` bit for bit; thread counts bit for bit.
"""

import numpy as np
import pytest
import scipy.linalg
import torch
from kernel_helpers import random_orthogonal, tridiag_to_dense

from optneuron.kernels import (
    dense_eigenpairs,
    dense_eigenvector,
    dense_eigenvector_adjoint,
    tridiagonal_eigenpairs,
    tridiagonal_eigenvector_adjoint,
)
from optneuron.kernels import threads as pool


def eigh_gradient(A, k, r):
    """``∂⟨r, q_k⟩/∂A`` (symmetrized) by ``torch.linalg.eigh``'s backward, and ``q_k``."""
    leaf = torch.tensor(A, dtype=torch.float64, requires_grad=True)
    q = torch.linalg.eigh(leaf)[1][..., k]
    q = q * torch.where(q.gather(-1, q.abs().argmax(-1, keepdim=True)) < 0, -1.0, 1.0)
    (q * torch.as_tensor(r, dtype=torch.float64)).sum().backward()
    G = leaf.grad
    return ((G + G.mT) / 2).numpy(), q.detach().numpy()


def tridiagonal_reference(d, e, k, r):
    G, q = eigh_gradient(tridiag_to_dense(d, e), k, r)
    n = d.shape[1]
    return np.diagonal(G, axis1=1, axis2=2), 2 * G[:, np.arange(n - 1), np.arange(1, n)], q


def relative(a, b):
    return np.linalg.norm(a - b) / np.linalg.norm(b)


@pytest.mark.parametrize("n,k", [(2, 0), (5, 2), (17, 0), (17, 16), (45, 7)])
def test_tridiagonal_matches_eigh_backward(n, k):
    rng = np.random.default_rng(n + k)
    d, e, r = (rng.standard_normal((4, m)) for m in (n, n - 1, n))
    q = tridiagonal_eigenpairs(d, e, k, k + 1)[1][:, :, 0]
    gd, ge, tie = tridiagonal_eigenvector_adjoint(d, e, k, q, r)
    rd, re, rq = tridiagonal_reference(d, e, k, r)
    assert not tie.any() and np.abs(q - rq).max() < 1e-12
    assert relative(gd, rd) < 1e-10 and relative(ge, re) < 1e-10


@pytest.mark.parametrize("n,k", [(3, 1), (16, 0), (16, 15), (30, 11)])
def test_dense_matches_eigh_backward_and_dense_eigenpairs(n, k):
    rng = np.random.default_rng(100 + n + k)
    A = rng.standard_normal((5, n, n))
    A = (A + A.transpose(0, 2, 1)) / 2
    r = rng.standard_normal((5, n))
    values, vecs, suspect, reflectors = dense_eigenvector(A, k)
    want_values, want_vecs, want_suspect = dense_eigenpairs(A, k, k + 1)
    # the same code compiled into two batch kernels: equal to rounding (usually to the bit)
    eps = np.finfo(A.dtype).eps
    np.testing.assert_allclose(values, want_values, rtol=0, atol=8 * n * eps * np.abs(A).max())
    np.testing.assert_allclose(vecs, want_vecs, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(suspect, want_suspect)
    G, tie = dense_eigenvector_adjoint(reflectors, k, vecs[:, :, 0], r)
    ref, _ = eigh_gradient(A, k, r)
    assert not tie.any() and relative(G, ref) < 1e-10


def test_nearly_repeated_eigenvalues_are_accurate_to_the_condition_number():
    """Gap 1e-6 ‖A‖: the derivative is 1e6 times larger and still accurate to ~eps/gap."""
    rng = np.random.default_rng(7)
    n, k = 12, 3
    mu = np.linspace(-1.0, 2.0, n)
    mu[k + 1] = mu[k] + 2e-6
    A = np.stack([(Q * mu) @ Q.T for Q in (random_orthogonal(rng, n) for _ in range(3))])
    r = rng.standard_normal((3, n))
    _, vecs, _, reflectors = dense_eigenvector(A, k)
    G, tie = dense_eigenvector_adjoint(reflectors, k, vecs[:, :, 0], r)
    ref, _ = eigh_gradient(A, k, r)
    assert not tie.any() and np.abs(ref).max() > 1e4
    assert relative(G, ref) < 1e-8
    # the same spectrum as tridiagonal matrices (a Householder reduction of A)
    T = np.stack([scipy.linalg.hessenberg(a) for a in A])
    d, e = np.diagonal(T, axis1=1, axis2=2).copy(), T[:, np.arange(n - 1), np.arange(1, n)].copy()
    q = tridiagonal_eigenpairs(d, e, k, k + 1)[1][:, :, 0]
    gd, ge, tie = tridiagonal_eigenvector_adjoint(d, e, k, q, r)
    rd, re, _ = tridiagonal_reference(d, e, k, r)
    assert not tie.any() and relative(gd, rd) < 1e-8 and relative(ge, re) < 1e-8


def test_exact_zero_pivot_of_a_decoupled_matrix():
    """λ_k is exactly a diagonal entry cut off by e = 0: T − λI has an exact zero pivot (raised
    to eps‖T‖); the blown-up component lies along q and is projected away."""
    d = np.array([[3.0, 0.25, 2.0, 1.5, 4.0], [0.5, 1.0, 0.75, 2.0, 3.0]])
    e = np.array([[0.0, 0.0, 0.5, 0.3], [0.0, 0.0, 0.4, 0.7]])
    r = np.random.default_rng(8).standard_normal((2, 5))
    for b in range(2):
        q = np.zeros((1, 5))
        q[0, 1 - b] = 1.0  # e_1 (λ_0 = 0.25), e_0 (λ_0 = 0.5): exact eigenvectors
        rows = slice(b, b + 1)
        gd, ge, tie = tridiagonal_eigenvector_adjoint(d[rows], e[rows], 0, q, r[rows])
        rd, re, rq = tridiagonal_reference(d[rows], e[rows], 0, r[rows])
        assert not tie.any() and np.abs(rq - q).max() < 1e-15
        assert relative(np.hstack([gd, ge]), np.hstack([rd, re])) < 1e-12  # gd = 0 here


def test_ties_are_flagged_and_zero():
    d = np.array([[1.0, 2.0, 2.0, 3.0], [1.0, 2.0, 2.5, 3.0], [0.0, 0.0, 0.0, 0.0]])
    e = np.zeros((3, 3))
    q = np.zeros((3, 4))
    q[:, 1] = 1.0
    r = np.ones((3, 4))
    gd, ge, tie = tridiagonal_eigenvector_adjoint(d, e, 1, q, r)
    assert tie.tolist() == [True, False, True]  # a double eigenvalue 2; the zero matrix
    assert not gd[tie].any() and not ge[tie].any()
    # float32: the tie tolerance is float32's (8 n eps ‖A‖_F), not float64's
    d32 = np.array([[1.0, 2.0, 2.0 + 2e-6, 3.0]], dtype=np.float32)
    q32 = np.array([[0.0, 1.0, 0.0, 0.0]], dtype=np.float32)
    assert tridiagonal_eigenvector_adjoint(d32, e[:1].astype(np.float32), 1, q32,
                                           r[:1].astype(np.float32))[2].all()
    assert not tridiagonal_eigenvector_adjoint(d32.astype(np.float64), e[:1], 1,
                                               q32.astype(np.float64), r[:1])[2].any()


def test_n1_and_empty_batches():
    gd, ge, tie = tridiagonal_eigenvector_adjoint(np.ones((2, 1)), np.zeros((2, 0)), 0,
                                                  np.ones((2, 1)), np.ones((2, 1)))
    assert gd.shape == (2, 1) and ge.shape == (2, 0) and not gd.any() and not tie.any()
    _, vecs, _, reflectors = dense_eigenvector(np.zeros((0, 4, 4)), 1)
    G, tie = dense_eigenvector_adjoint(reflectors, 1, vecs[:, :, 0], np.zeros((0, 4)))
    assert G.shape == (0, 4, 4) and tie.shape == (0,)


def test_bad_arguments_name_the_argument():
    d, e = np.ones((2, 3)), np.zeros((2, 2))
    with pytest.raises(ValueError, match="q must have shape"):
        tridiagonal_eigenvector_adjoint(d, e, 0, np.ones((2, 4)), np.ones((2, 3)))
    with pytest.raises(TypeError, match="r must have the dtype"):
        tridiagonal_eigenvector_adjoint(d, e, 0, np.ones((2, 3)), np.ones((2, 3), np.float32))
    with pytest.raises(ValueError, match="lo=3"):
        tridiagonal_eigenvector_adjoint(d, e, 3, np.ones((2, 3)), np.ones((2, 3)))


@pytest.mark.parametrize("threads", [1, 3])
def test_results_do_not_depend_on_the_thread_count(threads, monkeypatch):
    monkeypatch.setattr(pool, "MIN_WORK_PER_THREAD", 0)  # split even this small batch
    monkeypatch.setattr(pool, "CPUS", 4)
    rng = np.random.default_rng(9)
    B, n, k = 300, 11, 4
    d, e, r = (rng.standard_normal((B, m)) for m in (n, n - 1, n))
    A = rng.standard_normal((B, n, n)).astype(np.float32)
    A = (A + A.transpose(0, 2, 1)) / 2
    q = tridiagonal_eigenpairs(d, e, k, k + 1)[1][:, :, 0]
    pool.set_num_threads(threads)
    try:
        whole = tridiagonal_eigenvector_adjoint(d, e, k, q, r)
        _, vecs, _, reflectors = dense_eigenvector(A, k)
        dense = dense_eigenvector_adjoint(reflectors, k, vecs[:, :, 0], r.astype(np.float32))
    finally:
        pool.set_num_threads(None)
    alone = [tridiagonal_eigenvector_adjoint(d[b:b + 1], e[b:b + 1], k, q[b:b + 1], r[b:b + 1])
             for b in range(0, B, 37)]
    for got, parts in zip(whole, zip(*alone)):
        np.testing.assert_array_equal(got[::37], np.concatenate(parts))
    one = [dense_eigenvector(A[b:b + 1], k) for b in range(0, B, 37)]
    assert np.array_equal(vecs[::37], np.concatenate([o[1] for o in one]))
    alone = [dense_eigenvector_adjoint(o[3], k, o[1][:, :, 0], r[b:b + 1].astype(np.float32))
             for b, o in zip(range(0, B, 37), one)]
    for got, parts in zip(dense, zip(*alone)):
        np.testing.assert_array_equal(got[::37], np.concatenate(parts))


@pytest.mark.parametrize("scale", [-7.0, -1.0, 1.0, 3.0])
def test_split_at_rounding_level_matches_the_pseudoinverse(scale):
    """An off-diagonal at rounding level (T nearly splits) can give the elimination a second
    pivot at rounding level away from q_k; the residual check catches it and the row is solved
    densely. Reference: v = (T − λ_k I)⁺ P r by numpy's pinv, for every k and split position.
    (The bug this pins gave relative errors up to 2 before the check.)"""
    rng = np.random.default_rng(int(scale * 10) + 100)
    for n in (3, 4, 6):
        d, e, r = (rng.standard_normal((1, m)) for m in (n, n - 1, n))
        for j in range(n - 1):
            e_split = e.copy()
            e_split[0, j] = scale * 2.220446049250313e-16
            T = tridiag_to_dense(d, e_split)[0]
            lam, Q = np.linalg.eigh(T)
            for k in range(n):
                if min(abs(lam[k] - lam[i]) for i in range(n) if i != k) < 1e-3:
                    continue
                q = tridiagonal_eigenpairs(d, e_split, k, k + 1)[1][:, :, 0]
                gd, ge, tie = tridiagonal_eigenvector_adjoint(d, e_split, k, q, r)
                assert not tie.any()
                P = np.eye(n) - np.outer(q[0], q[0])
                v = np.linalg.pinv(T - lam[k] * np.eye(n)) @ P @ r[0]
                ref_d = -v * q[0]
                ref_e = -(v[:-1] * q[0, 1:] + v[1:] * q[0, :-1])
                ref = np.concatenate([ref_d, ref_e])
                got = np.concatenate([gd[0], ge[0]])
                assert np.linalg.norm(got - ref) <= 1e-9 * max(np.linalg.norm(ref), 1e-300), \
                    (n, j, k)
