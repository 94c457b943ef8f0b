"""The training step's hot path (issue 13): ``tridiagonal_sum`` and ``dense_eigenpair`` against
LAPACK, on ordinary rows and on rows the kernels hand to LAPACK (repeated and nearly repeated
eigenvalues, the zero matrix); their outputs are not torch views; ``SymTridiagonal.trusted``;
``OptLayer`` without and with an autocast region."""

import pytest
import torch

from optneuron import OptLayer, SphereQP, SymTridiagonal
from optneuron.backends.eigenpairs import dense_eigenpair, tridiagonal_sum
from optneuron.layer import _autocast_device

from spectra_helpers import with_spectrum


def _tridiagonal_batch(dtype):
    g = torch.Generator().manual_seed(7)
    d = torch.randn(6, 8, generator=g, dtype=torch.float64)
    e = torch.randn(6, 7, generator=g, dtype=torch.float64)
    d[1], e[1] = 1.0, 0.0  # identity: every eigenvalue repeated
    d[2], e[2] = 0.0, 0.0  # the zero matrix
    for row, shift in ((3, 0.0), (4, 1e-13)):  # two decoupled copies of one 4x4 block:
        e[row, 3] = 0.0  # every eigenvalue repeated (row 3) or nearly so (row 4)
        d[row, 4:] = d[row, :4] + shift
        e[row, 4:] = e[row, :3]
    return SymTridiagonal(d.to(dtype), e.to(dtype))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("method", ["kernel", "lapack", "auto"])
@pytest.mark.parametrize("lo, hi", [(3, 4), (0, 1), (7, 8), (2, 5)])
def test_tridiagonal_sum_matches_torch_eigh(dtype, method, lo, hi):
    T = _tridiagonal_batch(dtype)
    value, grad_d, grad_e = tridiagonal_sum(T, lo, hi, method)
    mu, Q = torch.linalg.eigh(T.to_dense().double())
    tol = dict(atol=1e-5, rtol=1e-5) if dtype == torch.float32 else dict(atol=1e-12, rtol=1e-12)
    torch.testing.assert_close(value.double(), mu[:, lo:hi].sum(-1), **tol)
    separated = [0, 5]  # rows whose selected eigenvalues are simple: a unique gradient
    Qs = Q[separated][:, :, lo:hi]
    torch.testing.assert_close(grad_d[separated].double(), (Qs * Qs).sum(-1), **tol)
    torch.testing.assert_close(grad_e[separated].double(),
                               (2 * Qs[:, :-1] * Qs[:, 1:]).sum(-1), **tol)
    # at repeated eigenvalues the gradient is a projector's diagonal: entries in [0, 1], sum m
    torch.testing.assert_close(grad_d.double().sum(-1), torch.full((6,), float(hi - lo),
                                                                  dtype=torch.float64), **tol)
    for x in (value, grad_d, grad_e):
        assert not x._is_view() and x.dtype == dtype


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("method", ["kernel", "lapack", "auto"])
@pytest.mark.parametrize("k", [0, 2, 4])
def test_dense_eigenpair_matches_torch_eigh(dtype, method, k):
    A = with_spectrum([[-2.0, -0.5, 0.7, 1.9, 3.2], [1.0, 1.0, 1.0 + 1e-12, 2.0, 2.0],
                       [0.0] * 5], seed=2).to(dtype)
    value, q, reflectors = dense_eigenpair(A, k, method)
    assert reflectors is None  # only asked for with reduction=True
    mu, Q = torch.linalg.eigh(A.double())
    tol = dict(atol=1e-5, rtol=1e-5) if dtype == torch.float32 else dict(atol=1e-12, rtol=1e-12)
    torch.testing.assert_close(value.double(), mu[:, k], **tol)
    residual = A.double() @ q.double().unsqueeze(-1) - value.double()[:, None, None] * \
        q.double().unsqueeze(-1)
    assert residual.abs().max() < (1e-5 if dtype == torch.float32 else 1e-12)
    torch.testing.assert_close(torch.linalg.vector_norm(q.double(), dim=-1),
                               torch.ones(3, dtype=torch.float64), **tol)
    qq = torch.abs((q.double() * Q[0, :, k]).sum(-1))[0]  # row 0 is separated: q = ±q_k
    torch.testing.assert_close(qq, torch.tensor(1.0, dtype=torch.float64), **tol)
    assert not value._is_view() and not q._is_view() and value.shape == (3,)


def test_tridiagonal_sum_and_dense_eigenpair_take_empty_batches():
    value, gd, ge = tridiagonal_sum(SymTridiagonal(torch.zeros(0, 4), torch.zeros(0, 3)), 1, 2,
                                    "auto")
    assert value.shape == (0,) and gd.shape == (0, 4) and ge.shape == (0, 3)
    for reduction in (False, True):
        value, q, _ = dense_eigenpair(torch.zeros(0, 12, 12), 1, "auto", reduction=reduction)
        assert value.shape == (0,) and q.shape == (0, 12)


def test_trusted_holds_the_same_tensors_without_checks():
    d, e = torch.randn(3, 5), torch.randn(3, 4)
    T = SymTridiagonal.trusted(d, e)
    assert T.diag is d and T.off is e and T.shape == (3, 5, 5)
    torch.testing.assert_close(T.to_dense(), SymTridiagonal(d, e).to_dense())


@pytest.mark.parametrize("structure", ["dense", "tridiagonal"])
def test_layer_gradient_is_the_same_with_and_without_autocast(structure):
    A = with_spectrum([[-2.0, -0.5, 0.7, 1.9, 3.2]] * 2, seed=3).float()
    data = A if structure == "dense" else SymTridiagonal(A.diagonal(dim1=-2, dim2=-1).clone(),
                                                         A.diagonal(1, -2, -1).clone())
    leaves = [data] if structure == "dense" else [data.diag, data.off]
    grads = []
    for autocast in (False, True):
        for x in leaves:
            x.requires_grad_(True).grad = None
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
            for datum in (data, torch.zeros(1)):
                assert _autocast_device(datum) == ("cpu" if autocast else None)
            OptLayer(SphereQP(2))(data).value.sum().backward()
        grads.append([x.grad.clone() for x in leaves])
    for a, b in zip(*grads):
        assert torch.equal(a, b)
    assert _autocast_device(torch.zeros(1, device="meta")) is None  # a type autocast does not know


def test_serial_slices_cover_the_batch_below_the_grain():
    from optneuron.matrices import TORCH_GRAIN, serial_slices

    for batch, per_item in [(4096, 256), (5, 100_000), (1, 1), (0, 7), (1000, 33)]:
        slices = serial_slices(batch, per_item)
        covered = [i for s in slices for i in range(batch)[s]]
        assert covered == list(range(batch))
        assert all((s.stop - s.start) * per_item <= TORCH_GRAIN or s.stop - s.start == 1
                   for s in slices)


@pytest.mark.parametrize("B", [3, 4096])
def test_large_batches_symmetrize_and_differentiate_with_the_same_bits(B):
    """Above torch's grain the symmetry test and g q qᵀ run on batch slices: same results as
    the whole-batch torch expressions, and as torch.linalg.eigh's gradient."""
    from optneuron.matrices import as_symmetric

    g = torch.Generator().manual_seed(11)
    M = torch.randn(B, 16, 16, generator=g, dtype=torch.float64)
    S = (M + M.mT) / 2
    assert as_symmetric(S) is S  # symmetric: returned as is
    M[-1, 0, 1] += 1.0  # one asymmetric matrix, in the last slice
    torch.testing.assert_close(as_symmetric(M), M / 2 + M.mT / 2, rtol=0, atol=0)
    A = S.detach().requires_grad_(True)
    w = torch.randn(B, generator=g, dtype=torch.float64)
    (OptLayer(SphereQP(5))(A).value * w).sum().backward()
    _, Q = torch.linalg.eigh(S)
    q = Q[..., 5]
    reference = (w.unsqueeze(-1) * q).unsqueeze(-1) * q.unsqueeze(-2)
    torch.testing.assert_close(A.grad, reference, atol=1e-9, rtol=1e-9)
    B_ = torch.randn(B, 16, generator=g, dtype=torch.float64)
    from optneuron.backends.eigen import _scaled_outer

    expected = (w.unsqueeze(-1) * B_).unsqueeze(-1) * B_.unsqueeze(-2)
    assert torch.equal(_scaled_outer(w, B_), expected)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_dense_eigenpair_with_its_reduction_gives_the_same_numbers(dtype):
    # what eigen._DenseValue keeps for Solution.x (ReductionCache): the same value and vector
    # as without, to rounding (the same code compiled into two batch kernels: usually to the
    # bit), on separated rows, a nearly repeated pair, the zero matrix
    spectra = [[-3.0, -2.0, -1.0, -0.5, 0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 4.0],
               [-1.0, 1.0, 1.0 + 1e-12] + [2.0 + i for i in range(9)], [0.0] * 12]
    A = with_spectrum(spectra, seed=3).to(dtype)
    for k in (0, 2):
        value, q, none = dense_eigenpair(A, k, "kernel")
        kept_value, kept_q, reflectors = dense_eigenpair(A, k, "kernel", reduction=True)
        assert none is None and reflectors is not None
        tol = 64 * torch.finfo(dtype).eps
        torch.testing.assert_close(kept_value, value, rtol=0, atol=tol)
        torch.testing.assert_close(kept_q, q, rtol=0, atol=tol)
        assert dense_eigenpair(A, k, "lapack", reduction=True)[2] is None
