"""SpectralMixture(Layer): weights, shapes for every parameter value, monotone features, the
certificate, the layer form, and gap diagnostics (issue 16)."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from optneuron import certify
from optneuron.diagnostics import eigenvalue_gaps, gap_quantiles
from optneuron.nn import SpectralLayer, SpectralMixture, SpectralMixtureLayer, SpectralNeuron
from optneuron.problems import EigenvalueMixture


def _randomize(module, seed):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=g, dtype=p.dtype))


def test_initial_weights():
    h = SpectralMixture(3, 9, dtype=torch.float64).mixing_weights()
    assert torch.allclose(h, EigenvalueMixture.haversine(9, dtype=torch.float64))
    u = SpectralMixture(3, 5, "uniform", dtype=torch.float64).mixing_weights()
    assert torch.allclose(u, torch.full((5,), 0.2, dtype=torch.float64))
    w = SpectralMixture(3, 7, "window", half_width=2, dtype=torch.float64).mixing_weights()
    assert torch.allclose(w, torch.tensor([0, 1, 1, 1, 1, 1, 0], dtype=torch.float64) / 5)
    t = torch.tensor([0.5, -1.0, 2.0], dtype=torch.float64)
    assert torch.equal(SpectralMixture(2, 3, t, dtype=torch.float64).mixing_weights(), t)
    c = SpectralMixture(2, 3, t, shape="concave", dtype=torch.float64).mixing_weights()
    assert torch.allclose(c, torch.tensor([2.0, 0.5, -1.0], dtype=torch.float64))
    with pytest.raises(ValueError, match=r"weights must have shape \(4,\)"):
        SpectralMixture(2, 4, t)
    with pytest.raises(ValueError, match="weights must be one of"):
        SpectralMixture(2, 4, "gaussian")
    with pytest.raises(ValueError, match="shape must be one of"):
        SpectralMixture(2, 4, shape="linear")
    with pytest.raises(ValueError, match="half_width"):
        SpectralMixture(2, 4, "window", half_width=-1)


def test_value_is_the_mixture_of_the_pencils_eigenvalues_and_trains():
    net = SpectralMixture(4, 6, structure="tridiagonal", dtype=torch.float64)
    _randomize(net, 0)
    z = torch.randn(10, 4, dtype=torch.float64)
    A = net.pencil(z).to_dense()
    expected = (torch.linalg.eigvalsh(A) * net.mixing_weights()).sum(-1)
    assert torch.allclose(net(z), expected, atol=1e-12)
    net(z).sum().backward()
    assert net.weight_params.grad is not None and net.pencil.weight.grad is not None
    assert "weights='haversine'" in repr(net)


def test_layer_is_independent_mixtures_in_one_batch():
    layer = SpectralMixtureLayer(3, 4, 5, weights="uniform", dtype=torch.float64)
    _randomize(layer, 1)
    z = torch.randn(7, 3, dtype=torch.float64)
    out = layer(z)
    assert out.shape == (7, 4)
    A = layer.pencil(z)  # (7, 4, 5, 5)
    expected = (torch.linalg.eigvalsh(A) * layer.mixing_weights()).sum(-1)
    assert torch.allclose(out, expected, atol=1e-12)
    assert layer.feature_bounds().shape == (4, 3)
    with pytest.raises(ValueError, match="out_features"):
        SpectralMixtureLayer(3, None, 5)


def _midpoint_gap(net, z1, z2):
    """f((z1+z2)/2) − (f(z1)+f(z2))/2: ≥ 0 for concave f, ≤ 0 for convex f."""
    with torch.no_grad():
        return net((z1 + z2) / 2) - (net(z1) + net(z2)) / 2


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10_000), shape=st.sampled_from(["concave", "convex"]),
       structure=st.sampled_from(["dense", "tridiagonal"]), dim=st.integers(2, 6))
def test_shapes_hold_for_every_parameter_value(seed, shape, structure, dim):
    net = SpectralMixture(3, dim, shape=shape, structure=structure, dtype=torch.float64)
    _randomize(net, seed)  # any parameter value, not only the initial one
    w = net.mixing_weights()
    steps = w[:-1] - w[1:]
    assert bool((steps >= 0).all()) if shape == "concave" else bool((steps <= 0).all())
    g = torch.Generator().manual_seed(seed)
    z1, z2 = (3 * torch.randn(64, 3, generator=g, dtype=torch.float64) for _ in range(2))
    gap = _midpoint_gap(net, z1, z2)
    tol = 1e-10 * (1 + net(z1).abs().max())
    assert bool((gap >= -tol).all()) if shape == "concave" else bool((gap <= tol).all())


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10_000), shape=st.sampled_from([None, "concave", "convex"]),
       sign=st.sampled_from([1, -1]))
def test_monotone_features_with_nonnegative_weights(seed, shape, sign):
    net = SpectralMixture(3, 5, shape=shape, monotone={1: sign}, dtype=torch.float64)
    _randomize(net, seed)
    assert bool((net.mixing_weights() >= 0).all())
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(64, 3, generator=g, dtype=torch.float64)
    step = torch.zeros(3, dtype=torch.float64)
    step[1] = 0.5
    with torch.no_grad():
        change = sign * (net(z + step) - net(z))
    assert bool((change >= -1e-10 * (1 + net(z).abs().max())).all())


@pytest.mark.parametrize("weights", ["haversine", "uniform", "random"])
def test_certificate_holds_and_is_sharper_than_the_l1_weyl_bound(weights):
    g = torch.Generator().manual_seed(5)
    w = torch.randn(6, generator=g, dtype=torch.float64) if weights == "random" else weights
    net = SpectralMixture(4, 6, w, dtype=torch.float64)
    _randomize(net, 7)
    if weights != "random":
        net.reset_parameters(torch.Generator().manual_seed(1))
    s = net.feature_bounds()
    weyl = net.mixing_weights().abs().sum() * net.pencil.operator_norms()
    assert bool((s <= weyl + 1e-12).all())
    z = torch.randn(500, 4, generator=g, dtype=torch.float64)
    eps = torch.randn(500, 4, generator=g, dtype=torch.float64)
    with torch.no_grad():
        change = (net(z + eps) - net(z)).abs()
    assert bool((change <= eps.abs() @ s + 1e-10).all())
    if weights == "uniform":  # ⟨1/n, λ⟩ = tr A / n: the bound is |tr A_i| / n, attained
        tr = net.pencil.feature_matrices().diagonal(dim1=-2, dim2=-1).sum(-1).abs() / 6
        assert torch.allclose(s, tr, atol=1e-12)
    assert certify.lipschitz_bound(net, "linf") == pytest.approx(s.sum().item())
    assert torch.allclose(certify.feature_bounds(net), s)


def test_eigenvalue_gaps_and_quantiles_against_numpy():
    mu = torch.tensor([[0.0, 0.1, 1.0, 3.0]], dtype=torch.float64)
    assert eigenvalue_gaps(mu).tolist() == [[0.1, 0.1, 0.9, 2.0]]
    neuron = SpectralNeuron(3, 5, index=2, dtype=torch.float64)
    _randomize(neuron, 3)
    z = torch.randn(200, 3, dtype=torch.float64)
    mu = np.linalg.eigvalsh(neuron.pencil(z).detach().numpy())
    gap = np.minimum(mu[:, 2] - mu[:, 1], mu[:, 3] - mu[:, 2])
    got = gap_quantiles(neuron, z, (0.1, 0.5))
    np.testing.assert_allclose(got.numpy(), np.quantile(gap, [0.1, 0.5]), rtol=1e-12)
    mix = SpectralMixture(3, 5, "window", half_width=1, structure="tridiagonal",
                          dtype=torch.float64)
    mu = np.linalg.eigvalsh(mix.pencil(z).to_dense().detach().numpy())
    all_gaps = eigenvalue_gaps(torch.from_numpy(mu)).numpy()[:, 1:4].min(-1)
    np.testing.assert_allclose(gap_quantiles(mix, z, (0.5,)).numpy(),
                               np.quantile(all_gaps, [0.5]), rtol=1e-12)
    layer = SpectralLayer(3, 2, 5, dtype=torch.float64)
    assert gap_quantiles(layer, z).shape == (3, 2)
    with pytest.raises(ValueError, match="q must be"):
        gap_quantiles(neuron, z, (1.5,))
    with pytest.raises(ValueError, match="z must be"):
        gap_quantiles(neuron, z[0])
    with pytest.raises(TypeError, match="spectral module"):
        gap_quantiles(torch.nn.Linear(3, 1), z)


@pytest.mark.parametrize("shape", ["concave", "convex", None])
def test_to_cvxpy_export_matches_and_has_the_shape(shape):
    cp = pytest.importorskip("cvxpy")
    from optneuron.export import DifferenceOfConcave, to_difference_of_concave

    net = SpectralMixture(2, 4, shape=shape, dtype=torch.float64)
    _randomize(net, 11)
    z_val = np.array([0.3, -0.7])
    z = cp.Variable(2)
    z.value = z_val
    expr = net.to_cvxpy(z)
    expected = net(torch.from_numpy(z_val)).item()
    if shape == "concave":
        assert expr.is_concave() and not expr.is_affine()
    elif shape == "convex":
        assert expr.is_convex() and not expr.is_affine()
    else:
        assert isinstance(expr, DifferenceOfConcave)
        expr = expr.f - expr.g
    assert abs(expr.value - expected) < 1e-6 * (1 + abs(expected))
    dc = to_difference_of_concave(net, z)
    assert abs((dc.f - dc.g).value - expected) < 1e-6 * (1 + abs(expected))
    layer = SpectralMixtureLayer(2, 3, 4, dtype=torch.float64)
    _randomize(layer, 12)
    out = layer.to_cvxpy(z)
    out = out.f - out.g if isinstance(out, DifferenceOfConcave) else out
    np.testing.assert_allclose(out.value, layer(torch.from_numpy(z_val)).detach().numpy(),
                               atol=1e-6)


@pytest.mark.parametrize("shape", ["concave", None])
def test_smoothed_mixture_to_cvxpy_matches_the_aligned_envelopes(shape):
    """A smoothed mixture exports as its signed sum of aligned Moreau envelopes: the cvxpy
    value equals the module's (both add smoothing.envelope_shift per term), the shape survives,
    and the value differs from the exact mixture's (so the smoothing is really exported)."""
    cp = pytest.importorskip("cvxpy")
    from optneuron.export import DifferenceOfConcave

    net = SpectralMixture(2, 4, shape=shape, smoothing=0.7, dtype=torch.float64)
    _randomize(net, 13)
    exact = SpectralMixture(2, 4, shape=shape, dtype=torch.float64)
    exact.load_state_dict(net.state_dict())
    z_val = np.array([0.4, 0.2])
    z = cp.Variable(2)
    z.value = z_val
    expr = net.to_cvxpy(z)
    if shape == "concave":
        assert expr.is_concave() and not expr.is_affine()
    else:
        assert isinstance(expr, DifferenceOfConcave)
        expr = expr.f - expr.g
    expected = net(torch.from_numpy(z_val)).item()
    assert abs(expr.value - expected) < 1e-6 * (1 + abs(expected))
    assert abs(exact(torch.from_numpy(z_val)).item() - expected) > 1e-4
