"""``SpectralObservables``: ⟨x(z), C_j x(z)⟩ against an eigh reference, every structure."""

import pytest
import torch

from optneuron import SpectralObservables, certify
from optneuron.backends.eigenpairs import fix_signs


@pytest.mark.parametrize("structure", ["dense", "tridiagonal", "banded"])
@pytest.mark.parametrize("smoothing", [None, 0.3])
def test_outputs_and_gradients_match_an_eigh_reference(structure, smoothing):
    torch.manual_seed(0)
    kwargs = {"bandwidth": 2} if structure == "banded" else {}
    module = SpectralObservables(3, 5, 2, index=1, structure=structure, smoothing=smoothing,
                                 dtype=torch.float64, **kwargs)
    z = torch.randn(4, 3, dtype=torch.float64)
    y = module(z)
    assert y.shape == (4, 2)
    A = module.matrices(z)
    A = A.to_dense() if hasattr(A, "to_dense") else A
    mu, Q = torch.linalg.eigh(A)
    C = module.observable_matrices()
    if smoothing is None:
        q = fix_signs(Q)[..., 1]
        reference = torch.einsum("bi,oij,bj->bo", q, C, q)
    else:
        reference = torch.einsum("bij,oij->bo", module.solver(A).X, C)
    torch.testing.assert_close(y, reference, rtol=1e-10, atol=1e-10)
    assert (y.abs() <= torch.linalg.eigvalsh(C).abs().amax(-1) + 1e-12).all()
    zz = z.clone().requires_grad_(True)
    assert torch.autograd.gradcheck(lambda z: module(z), (zz,))


def test_batch_shapes_repr_and_named_errors():
    module = SpectralObservables(2, 4, 3)
    assert module(torch.randn(5, 6, 2)).shape == (5, 6, 3)
    assert "observables=3" in repr(module)
    with pytest.raises(ValueError, match="observables"):
        SpectralObservables(2, 4, 0)
    with pytest.raises(ValueError, match="index"):
        SpectralObservables(2, 4, 1, index=4)


def test_certify_does_not_take_it_for_a_spectral_neuron():
    module = SpectralObservables(2, 4, 1)
    assert not certify._is_spectral(module)
