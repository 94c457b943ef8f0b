"""TrustRegionNeuron / TrustRegionLayer: concave, certified per feature, monotone on request."""

import pytest
import torch

from optneuron import OptLayer, TrustRegion, TrustRegionLayer, TrustRegionNeuron

F64 = torch.float64


def _neuron(structure="dense", out=None, **kw):
    torch.manual_seed(0)
    if out is None:
        return TrustRegionNeuron(3, 5, structure=structure, dtype=F64, **kw)
    return TrustRegionLayer(3, out, 5, structure=structure, dtype=F64, **kw)


@pytest.mark.parametrize("structure", ["dense", "tridiagonal", "banded"])
@pytest.mark.parametrize("ball", [False, True])
def test_concave_in_z(structure, ball):
    kw = {"bandwidth": 2} if structure == "banded" else {}
    f = _neuron(structure, ball=ball, **kw)
    g = torch.Generator().manual_seed(1)
    z1, z2 = torch.randn(50, 3, generator=g, dtype=F64), torch.randn(50, 3, generator=g, dtype=F64)
    t = torch.rand(50, 1, generator=g, dtype=F64)
    with torch.no_grad():
        mid = f(t * z1 + (1 - t) * z2)
        chord = t[:, 0] * f(z1) + (1 - t[:, 0]) * f(z2)
    assert bool((mid >= chord - 1e-12).all())


@pytest.mark.parametrize("out", [None, 4])
def test_feature_sensitivity_bounds_every_change(out):
    f = _neuron(out=out)
    s = f.feature_bounds()
    assert s.shape == ((3,) if out is None else (4, 3))
    g = torch.Generator().manual_seed(2)
    z = torch.randn(200, 3, generator=g, dtype=F64)
    eps = torch.randn(200, 3, generator=g, dtype=F64) * torch.rand(200, 1, generator=g,
                                                                    dtype=F64) * 3
    with torch.no_grad():
        change = (f(z + eps) - f(z)).abs()
    bound = eps.abs() @ s.T if out is not None else eps.abs() @ s
    assert bool((change <= bound + 1e-12).all())
    # the bound is attained in the limit along one feature when A_i, b_i dominate: not vacuous
    assert float((change / bound).max()) > 0.2


def test_feature_sensitivity_is_differentiable_and_bounds_are_detached():
    f = _neuron()
    f.feature_sensitivity().sum().backward()
    assert f.b_weight.grad is not None and f.pencil.weight.grad is not None
    assert not f.feature_bounds().requires_grad


@pytest.mark.parametrize("sign", [1, -1])
def test_monotone_feature(sign):
    f = _neuron(monotone={0: sign})
    z = torch.randn(30, 3, dtype=F64)
    steps = torch.linspace(-2, 2, 9, dtype=F64)
    with torch.no_grad():
        values = torch.stack([f(z + torch.tensor([s, 0, 0], dtype=F64)) for s in steps])
    assert bool((sign * values.diff(dim=0) >= -1e-12).all())
    assert f.feature_vectors()[0].abs().max() == 0


def test_layer_is_independent_neurons_on_the_pencil_and_linear_term():
    f = _neuron(out=4)
    z = torch.randn(6, 3, dtype=F64)
    A = f.pencil(z)
    b = f.linear_term(z)
    assert A.shape == (6, 4, 5, 5) and b.shape == (6, 4, 5)
    for j in range(4):
        direct = OptLayer(TrustRegion())(A[:, j], b[:, j]).value
        torch.testing.assert_close(f(z)[:, j], direct)
    manual = f.offset_vector() + torch.einsum("bi,oin->bon", z, f.feature_vectors())
    torch.testing.assert_close(b, manual)


def test_trains_and_sdp_backend_agrees():
    f = _neuron()
    z = torch.randn(4, 3, dtype=F64)
    f(z).sum().backward()
    assert all(p.grad is not None for p in f.parameters())
    sdp = TrustRegionNeuron(3, 5, backend="sdp", dtype=F64)
    sdp.load_state_dict(f.state_dict())
    with torch.no_grad():
        torch.testing.assert_close(sdp(z), f(z), atol=1e-6, rtol=0)


def test_bad_arguments():
    with pytest.raises(ValueError, match="out_features"):
        TrustRegionLayer(3, None, 5)
    with pytest.raises(ValueError, match="z must have shape"):
        _neuron()(torch.randn(2, 4, dtype=F64))
    assert "ball=True" in repr(_neuron(ball=True))
