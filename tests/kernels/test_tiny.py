"""The tiny dense kernels (n <= 8, Jacobi over lanes): LAPACK accuracy, clusters and special
matrices, independence of the batch split, the packed-coordinate entry point and its dispatch."""

import numpy as np
import pytest
import torch
from kernel_helpers import check_against_lapack, random_orthogonal

from optneuron.kernels import TINY_MAX_N, pencil_eigenvalue, tiny_eigenpairs
from optneuron.kernels import _tiny as K
from optneuron.pencils import DensePencil


def _sym(rng, B, n):
    A = rng.standard_normal((B, n, n))
    return (A + A.transpose(0, 2, 1)) / 2


@pytest.mark.parametrize("dt", [np.float64, np.float32])
@pytest.mark.parametrize("n", range(1, TINY_MAX_N + 1))
def test_random_matrices_match_lapack(n, dt):
    rng = np.random.default_rng(n)
    A = _sym(rng, 37, n).astype(dt)
    for lo, hi in {(0, n), (n - 1, n), (0, 1), (n // 2, n // 2 + 1)}:
        vals, vecs, sus = tiny_eigenpairs(A, lo, hi)
        assert vals.dtype == dt and vecs.dtype == dt
        if dt == np.float64:
            check_against_lapack(A, lo, hi, vals, vecs, sus, require_clean=True)
        else:  # computed in float64 from the float32 entries, rounded at the end
            w = np.linalg.eigvalsh(A.astype(np.float64))[:, lo:hi]
            np.testing.assert_allclose(vals, w, atol=4e-7 * np.abs(w).max())
        top = np.abs(vecs).argmax(axis=1)  # sign rule: largest component positive
        assert (np.take_along_axis(vecs, top[:, None, :], axis=1) > 0).all()
        v2, none, sus2 = tiny_eigenpairs(A, lo, hi, vectors=False)
        assert none is None
        np.testing.assert_array_equal(v2, vals)
        np.testing.assert_array_equal(sus2, sus)


@pytest.mark.parametrize("n", [4, 8])
def test_repeated_and_nearly_repeated_eigenvalues(n):
    rng = np.random.default_rng(3)
    spectra = [np.r_[np.ones(n - 1), 2.0], np.r_[1.0, 1.0 + 1e-13, np.linspace(2, 3, n - 2)],
               np.ones(n), np.r_[np.linspace(-1, 0, n - 2), 5.0, 5.0]]
    A = np.stack([(Q * s) @ Q.T for s in spectra for Q in [random_orthogonal(rng, n)]])
    A = (A + A.transpose(0, 2, 1)) / 2
    for lo, hi in [(0, 1), (n - 1, n), (0, n)]:
        vals, vecs, sus = tiny_eigenpairs(A, lo, hi)
        check_against_lapack(A, lo, hi, vals, vecs, sus)  # vectors where not suspect
        check_against_lapack(A, lo, hi, vals, None, np.zeros_like(sus))  # values everywhere
        w = np.linalg.eigvalsh(A)
        near = [np.any(np.abs(np.delete(w[b], j) - w[b, j]) < 1e-8 * np.abs(w[b]).max())
                for b in range(len(A)) for j in [range(lo, hi)]
                for j in j]
        clustered = np.array(near).reshape(len(A), hi - lo).any(axis=1)
        np.testing.assert_array_equal(sus, clustered)


@pytest.mark.parametrize("scale", [1e-150, 1e150, 2.0**-1000, 2.0**1000])
def test_extreme_scalings(scale):
    A = _sym(np.random.default_rng(5), 20, 5)
    vals, vecs, sus = tiny_eigenpairs(A * scale, 1, 3)
    ref, rvecs, _ = tiny_eigenpairs(A, 1, 3)
    assert not sus.any()
    np.testing.assert_allclose(vals / scale, ref, rtol=1e-13)
    if np.frexp(scale)[0] == 0.5:  # a power of two: the kernel's own scaling undoes it exactly
        np.testing.assert_array_equal(vecs, rvecs)
    else:
        np.testing.assert_allclose(vecs, rvecs, atol=1e-13)


def test_zero_identity_and_non_finite():
    A = np.zeros((4, 3, 3))
    A[1] = np.eye(3)
    A[2, 0, 1] = A[2, 1, 0] = np.nan
    A[3] = np.diag([1.0, 2.0, np.inf])
    vals, vecs, sus = tiny_eigenpairs(A, 0, 3)
    np.testing.assert_array_equal(vals[:2], [[0, 0, 0], [1, 1, 1]])
    assert sus.all()  # repeated eigenvalues; non-finite input
    assert np.isnan(vals[2:]).all() and np.isnan(vecs[2:]).all()


@pytest.mark.parametrize("threads", [1, 2])
def test_results_do_not_depend_on_batching(threads, monkeypatch):
    from optneuron.kernels import threads as pool

    monkeypatch.setattr(pool, "MIN_WORK_PER_THREAD", 0)
    monkeypatch.setattr(pool, "CPUS", 4)
    rng = np.random.default_rng(11)
    n, B = 5, 5 * K.LANES + 7
    A = _sym(rng, B, n)
    A[3] = 0.0
    A[20, 1, 1] = np.nan
    A[40] *= 1e-300
    pencil = DensePencil(3, n, dtype=torch.float64)
    P = pencil._pattern
    C = rng.standard_normal((B, P.size))
    pool.set_num_threads(threads)
    try:
        whole = tiny_eigenpairs(A, 1, 4)
        alone = [tiny_eigenpairs(A[b:b + 1], 1, 4) for b in range(B)]
        for got, parts in zip(whole, zip(*alone)):
            np.testing.assert_array_equal(got, np.concatenate(parts))
        args = (P.symmetric_index.numpy(), P.scale.numpy(), n, 3)
        whole = pencil_eigenvalue(C, *args)
        alone = [pencil_eigenvalue(C[b:b + 1], *args) for b in range(B)]
        for got, parts in zip(whole, zip(*alone)):
            np.testing.assert_array_equal(got, np.concatenate(parts))
    finally:
        pool.set_num_threads(None)


@pytest.mark.parametrize("k", [0, 2, 3])
def test_pencil_eigenvalue_and_gradient_match_eigh(k):
    # the gradient in coordinates is that of torch.linalg.eigvalsh through the pencil's unpacking
    n = 4
    P = DensePencil(3, n, dtype=torch.float64)._pattern
    C = torch.randn(50, P.size, dtype=torch.float64, generator=torch.Generator().manual_seed(k))
    vals, grads, sus = pencil_eigenvalue(C.numpy(), P.symmetric_index.numpy(), P.scale.numpy(),
                                         n, k)
    leaf = C.clone().requires_grad_(True)
    ref = torch.linalg.eigvalsh(P.symmetric(leaf))[:, k]
    (ref_grad,) = torch.autograd.grad(ref.sum(), leaf)
    assert not sus.any()
    np.testing.assert_allclose(vals, ref.detach().numpy(), atol=1e-14 * ref.abs().max().item())
    np.testing.assert_allclose(grads, ref_grad.numpy(), atol=1e-12)


def test_bad_arguments_are_named():
    A = np.zeros((2, 9, 9))
    with pytest.raises(ValueError, match="n <= 8"):
        tiny_eigenpairs(A, 0, 1)
    with pytest.raises(TypeError, match="A must be float32 or float64"):
        tiny_eigenpairs(A.astype(np.int64), 0, 1)
    with pytest.raises(ValueError, match="lo=2, hi=1"):
        tiny_eigenpairs(np.zeros((1, 3, 3)), 2, 1)
    idx = np.zeros(4, dtype=np.int64)
    with pytest.raises(ValueError, match="k must"):
        pencil_eigenvalue(np.zeros((1, 3)), idx, np.ones(3), 2, 2)
    with pytest.raises(ValueError, match="index must"):
        pencil_eigenvalue(np.zeros((1, 3)), idx + 4, np.ones(3), 2, 0)
    with pytest.raises(ValueError, match="scale must"):
        pencil_eigenvalue(np.zeros((1, 3)), idx, np.ones(2), 2, 0)


def test_eigen_backend_serves_small_dense_batches_from_the_tiny_kernel(monkeypatch):
    from optneuron import OptLayer, SphereQP, kernels

    def refuse(*args, **kwargs):
        raise AssertionError("the Householder kernel was called for n <= 8")

    monkeypatch.setattr(kernels, "dense_eigenpairs", refuse)
    monkeypatch.setattr(kernels, "checked_dense_eigenpairs", refuse)  # the backend's entry
    A = torch.from_numpy(_sym(np.random.default_rng(2), 30, 6)).requires_grad_(True)
    value = OptLayer(SphereQP(-1), method="kernel")(A).value
    (grad,) = torch.autograd.grad(value.sum(), A)
    leaf = A.detach().clone().requires_grad_(True)
    ref = torch.linalg.eigvalsh(leaf)[:, -1]
    (ref_grad,) = torch.autograd.grad(ref.sum(), leaf)
    torch.testing.assert_close(value, ref.detach(), atol=1e-13, rtol=0)
    torch.testing.assert_close(grad, ref_grad, atol=1e-12, rtol=0)
