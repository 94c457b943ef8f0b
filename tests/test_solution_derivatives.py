"""The eigen backend's differentiable solutions ``Solution.X`` / ``.x`` and ``Solution.gap``.

References: float64 ``torch.autograd.gradcheck`` (central differences) for every problem ×
structure × kernel path; ``torch.linalg.eigh``'s backward of the same function of its
eigenvectors (1e-8 relative); the SDP backend's KKT derivative (1e-4); exact ties.
"""

import numpy as np
import pytest
import torch

from optneuron import KyFan, OptLayer, SphereQP
from optneuron.backends.eigen_solution import spectral_gap
from optneuron.backends.eigenpairs import fix_signs
from optneuron.matrices import SymTridiagonal
from optneuron.smoothing import fantope_envelope

from spectra_helpers import random_symmetric, with_spectrum

PROBLEMS = [
    SphereQP(0), SphereQP(2), SphereQP(-1), KyFan(2), KyFan(2, largest=True),
    SphereQP(1, smoothing=0.3), KyFan(2, smoothing=0.5), KyFan(1, largest=True, smoothing=0.4),
]


def observable(solution, C):
    """A scalar per matrix using ``X`` and (where defined) ``x``: ``<C, X> + Σ x³``."""
    out = (C * solution.X).sum((-2, -1))
    if solution.x is not None:
        out = out + (solution.x ** 3).flatten(1).sum(-1)
    return out


@pytest.mark.parametrize("method", ["kernel", "lapack"])
@pytest.mark.parametrize("problem", PROBLEMS, ids=str)
def test_gradcheck_dense_and_tridiagonal(problem, method):
    layer = OptLayer(problem, method=method)
    A = random_symmetric(2, 5, 5, seed=1).requires_grad_(True)
    C = random_symmetric(2, 5, 5, seed=2)
    assert torch.autograd.gradcheck(lambda A: observable(layer(A), C), (A,))
    g = torch.Generator().manual_seed(3)
    d = torch.randn(2, 5, generator=g, dtype=torch.float64).requires_grad_(True)
    e = torch.randn(2, 4, generator=g, dtype=torch.float64).requires_grad_(True)
    assert torch.autograd.gradcheck(lambda d, e: observable(layer(SymTridiagonal(d, e)), C), (d, e))


def eigh_reference(problem, A):
    """``(X, x)`` from ``torch.linalg.eigh`` (autograd through it), signs by the kernels' rule."""
    n = A.shape[-1]
    mu, Q = torch.linalg.eigh(A)
    Q = fix_signs(Q)
    if problem.smoothing is not None:
        w = torch.zeros_like(mu)
        for term in problem.fantope_terms(n):
            w = w + term.coef * fantope_envelope(mu, term.count, term.largest, problem.smoothing)[1]
        return (Q * w.unsqueeze(-2)) @ Q.mT, None
    lo, hi = problem.eigen_range(n)
    QS = Q[..., lo:hi]
    return QS @ QS.mT, (QS[..., 0] if isinstance(problem, SphereQP) else QS)


@pytest.mark.parametrize("problem", PROBLEMS, ids=str)
def test_matches_eigh_backward_to_1e_8(problem):
    A = random_symmetric(3, 6, 6, seed=4)
    C = random_symmetric(3, 6, 6, seed=5)
    D = torch.randn(3, 6, 6 if isinstance(problem, SphereQP) else 2, dtype=torch.float64,
                    generator=torch.Generator().manual_seed(6))
    grads, outputs = [], []
    for reference in (False, True):
        leaf = A.clone().requires_grad_(True)
        if reference:
            X, x = eigh_reference(problem, leaf)
        else:
            solution = OptLayer(problem)(leaf)
            X, x = solution.X, solution.x
        loss = (C * X).sum()
        if x is not None:
            loss = loss + (D[..., : x.shape[-1]] * x.unsqueeze(-1) if x.ndim == 2 else D * x).sum()
        loss.backward()
        grads.append((leaf.grad + leaf.grad.mT) / 2)
        outputs.append((X.detach(), None if x is None else x.detach()))
    assert (outputs[0][0] - outputs[1][0]).abs().max() < 1e-12
    if outputs[0][1] is not None:  # the same sign rule on both sides
        assert (outputs[0][1] - outputs[1][1]).abs().max() < 1e-12
    assert ((grads[0] - grads[1]).norm() / grads[1].norm()).item() < 1e-8


@pytest.mark.parametrize("problem", [SphereQP(0), SphereQP(2), KyFan(2, largest=True),
                                     SphereQP(1, smoothing=0.3)], ids=str)
def test_agrees_with_the_sdp_backend_to_1e_4(problem):
    A = with_spectrum([[-2.0, -1.0, 0.5, 1.5, 3.0]], seed=7)
    C = random_symmetric(1, 5, 5, seed=8)
    grads = []
    for backend in ("eigen", "sdp"):
        leaf = A.clone().requires_grad_(True)
        (C * OptLayer(problem, backend)(leaf).X).sum().backward()
        grads.append(leaf.grad)
    assert ((grads[0] - grads[1]).norm() / grads[1].norm()).item() < 1e-4


def test_sign_rule_is_the_same_on_both_paths():
    A = random_symmetric(8, 6, 6, seed=9)
    xs = [OptLayer(KyFan(3), method=m)(A).x for m in ("kernel", "lapack")]
    assert (xs[0] - xs[1]).abs().max() < 1e-10
    top = xs[0].abs().argmax(-2, keepdim=True)
    assert (xs[0].gather(-2, top) > 0).all()


def test_gap_is_the_distance_to_the_rest_of_the_spectrum():
    A = with_spectrum([[-2.0, -1.0, 0.5, 1.5, 3.0]], seed=10)
    assert OptLayer(SphereQP(2))(A).gap.item() == pytest.approx(1.0)
    assert OptLayer(SphereQP(0))(A).gap.item() == pytest.approx(1.0)
    assert OptLayer(KyFan(2, largest=True))(A).gap.item() == pytest.approx(1.0)
    assert OptLayer(KyFan(3))(A).gap.item() == pytest.approx(1.0)
    assert OptLayer(SphereQP(3, smoothing=0.5))(A).gap.item() == pytest.approx(1.0)
    assert OptLayer(KyFan(1))(A).gap.item() == pytest.approx(1.0)
    assert spectral_gap(torch.tensor([[1.0, 2.0]]), 0, 2).isinf().all()
    batched = OptLayer(SphereQP(0))(A.expand(2, 3, 5, 5))
    assert batched.gap.shape == (2, 3)


@pytest.mark.parametrize("problem", [SphereQP(1), KyFan(2)], ids=str)
def test_exact_tie_across_the_selection_raises_a_named_error(problem):
    A = with_spectrum([[-1.0, 0.5, 0.5, 2.0]], seed=11).requires_grad_(True)
    solution = OptLayer(problem)(A)
    assert solution.gap.item() < 1e-12
    with pytest.raises(ValueError, match="Solution.X.*gap"):
        solution.X.sum().backward()


def test_tie_inside_a_ky_fan_set_leaves_the_projector_differentiable():
    """The projector onto a set holding a whole cluster is smooth: only x fails."""
    A = with_spectrum([[0.5, 0.5, 1.0, 2.0]], seed=12)
    C = random_symmetric(1, 4, 4, seed=13)
    leaf = A.clone().requires_grad_(True)
    (C * OptLayer(KyFan(2))(leaf).X).sum().backward()
    reference = A.clone().requires_grad_(True)
    mu, Q = torch.linalg.eigh(reference)
    (C * (Q[..., 2:] @ Q[..., 2:].mT)).sum().backward()  # I − P: eigh is fine on the upper pair
    assert (leaf.grad + (reference.grad + reference.grad.mT) / 2).norm() < 1e-8
    with pytest.raises(ValueError, match="Solution.x"):
        OptLayer(KyFan(2))(A.clone().requires_grad_(True)).x.sum().backward()


def test_smoothed_X_is_differentiable_at_an_exact_tie():
    A = with_spectrum([[-1.0, 0.5, 0.5, 2.0]], seed=14).requires_grad_(True)
    C = random_symmetric(1, 4, 4, seed=15)
    layer = OptLayer(SphereQP(1, smoothing=0.3))
    assert torch.autograd.gradcheck(lambda A: (C * layer(A).X).sum(), (A,))


def test_value_only_calls_do_not_build_the_solution_function():
    A = random_symmetric(2, 4, 4, seed=16).requires_grad_(True)
    solution = OptLayer(SphereQP(0))(A)
    assert type(solution.value.grad_fn).__name__ == "_DenseValueBackward"
    assert solution._lift is not None  # nothing computed for X/x until they are asked for


@pytest.mark.parametrize("structure", ["dense", "tridiagonal"])
def test_layers_compute_in_float32_under_cpu_autocast(structure):
    from optneuron import SpectralLayer

    torch.manual_seed(17)
    layer = SpectralLayer(3, 2, 4, structure=structure)
    z = torch.randn(5, 3)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        hidden = torch.nn.functional.linear(z, torch.eye(3))  # a bf16 activation
        assert hidden.dtype == torch.bfloat16
        out = layer(hidden)
        A = torch.randn(5, 4, 4).to(torch.bfloat16).requires_grad_(True)
        solution = OptLayer(SphereQP(0))(A)
    assert out.dtype == torch.float32 and solution.value.dtype == torch.float32
    torch.testing.assert_close(out, layer(hidden.float()))
    (out.sum() + solution.value.sum() + solution.X.sum()).backward()
    assert A.grad.dtype == torch.bfloat16 and torch.isfinite(A.grad.float()).all()


def test_verify_reports_solution_derivatives_with_their_gap():
    from optneuron import verify

    A = with_spectrum([[-2.0, -1.0, 0.5, 1.5], [-1.0, 0.0, 1.0, 3.0]], seed=18)
    report = verify(KyFan(2), A)
    d = report.solution_derivative
    assert report.ok and d.rows == 2 and d.gap == pytest.approx(1.0 / 3.0)
    assert d.errors["eigen"] < 1e-8 and d.errors["sdp"] < 1e-4
    assert d.finite_difference_error < 1e-6
    assert "solution derivative" in str(report)
    tie = verify(SphereQP(1), with_spectrum([[-1.0, 0.5, 0.5, 2.0]], seed=19), backends=("eigen",))
    assert tie.solution_derivative.rows == 0 and tie.ok


@pytest.mark.parametrize("structure,n", [("dense", 5), ("dense", 6), ("dense", 12),
                                         ("tridiagonal", 6)])
def test_eigenvector_kernel_and_torch_paths_agree(structure, n):
    """The compiled O(n)/O(n²) adjoint (method="kernel") against the dense LU of the torch path
    (method="lapack"), float64, several k, with a nearly repeated pair (gap 1e-6); dense n = 6
    and 12 take the value's Householder reduction (ReductionCache), n = 5 the tiny kernel's
    value (kernels.JACOBI_MAX_N)."""
    mu = torch.tensor([([-1.0, 0.0, 1e-6, 1.0, 2.0, 3.0] + [4.0 + i for i in range(n - 6)])[:n]],
                      dtype=torch.float64).expand(2, n)
    A = with_spectrum(mu, seed=20)
    if structure == "tridiagonal":
        from scipy.linalg import hessenberg

        T = torch.from_numpy(np.stack([hessenberg(a) for a in A.numpy()]))
        tensors = (torch.diagonal(T, dim1=-2, dim2=-1), torch.diagonal(T, 1, dim1=-2, dim2=-1))
    else:
        tensors = (A,)
    D = torch.randn(2, n, dtype=torch.float64, generator=torch.Generator().manual_seed(21))
    for k in (0, 1, 4, -1):
        grads = []
        for method in ("kernel", "lapack"):
            leaves = [t.clone().requires_grad_(True) for t in tensors]
            M = SymTridiagonal(*leaves) if structure == "tridiagonal" else leaves[0]
            solution = OptLayer(SphereQP(k), method=method)(M)
            fn = solution.x.grad_fn
            while "Eigenvector" not in type(fn).__name__:  # past the reshape's view
                fn = fn.next_functions[0][0]
            assert ("Kernel" in type(fn).__name__) == (method == "kernel")
            ((D * solution.x).sum() + (solution.X ** 2).sum()).backward()
            grads.append(torch.cat([leaf.grad.flatten() for leaf in leaves]))
        assert ((grads[0] - grads[1]).norm() / grads[1].norm()).item() < 1e-8


def test_x_after_the_value_reduces_a_dense_batch_once(monkeypatch):
    # reading Solution.x after the value reuses the value's Householder reduction: one call of
    # kernels.checked_dense_eigenvector (the backend's entry) for both, and the same x and
    # gradient as a fresh reduction
    from optneuron import kernels
    from optneuron.backends import eigen_solution

    A = random_symmetric(4, 12, 12, seed=23)
    D = torch.randn(4, 12, dtype=torch.float64, generator=torch.Generator().manual_seed(24))
    calls = []
    reduce = kernels.checked_dense_eigenvector

    def counted(*args, **kwargs):
        calls.append(1)
        return reduce(*args, **kwargs)

    monkeypatch.setattr(kernels, "checked_dense_eigenvector", counted)
    results = []
    for shared in (True, False):
        if not shared:  # what the eigenvector Function does without the value's reduction
            monkeypatch.setattr(eigen_solution.ReductionCache, "take", lambda self: (None, None))
        leaf = A.clone().requires_grad_(True)
        solution = OptLayer(SphereQP(2), method="kernel")(leaf)
        calls.clear()
        ((D * solution.x).sum() + solution.value.sum()).backward()
        results.append((len(calls), solution.x.detach(), leaf.grad))
    assert results[0][0] == 0 and results[1][0] == 1
    assert torch.equal(results[0][1], results[1][1]) and torch.equal(results[0][2], results[1][2])


def test_X_of_an_exact_sphere_qp_is_formed_from_x_only_when_read():
    A = random_symmetric(3, 5, 5, seed=22).requires_grad_(True)
    solution = OptLayer(SphereQP(1))(A)
    x = solution.x
    assert callable(solution._X)  # x's Function returned x alone; X not built yet
    X = solution.X
    assert torch.equal(X, x.unsqueeze(-1) * x.unsqueeze(-2)) and solution.X is X


@pytest.mark.parametrize("method", ["kernel", "lapack"])
def test_tridiagonal_tie_raises_on_both_paths(method):
    d = torch.tensor([[1.0, 2.0, 1.0, 2.0]], dtype=torch.float64, requires_grad=True)
    e = torch.tensor([[0.5, 0.0, 0.5]], dtype=torch.float64, requires_grad=True)
    solution = OptLayer(SphereQP(1), method=method)(SymTridiagonal(d, e))  # λ_0 = λ_1
    with pytest.raises(ValueError, match="Solution.x.*gap"):
        solution.x.sum().backward()
