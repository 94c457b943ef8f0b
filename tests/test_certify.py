"""Certificates: exact per-feature operator norms, Weyl bounds, composed Lipschitz constants."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from optneuron.certify import feature_bounds, lipschitz_bound, spectral_penalty
from optneuron.nn import SpectralLayer, SpectralNeuron

F64 = torch.float64
FAST = settings(max_examples=20, deadline=None)
structures = st.sampled_from([("dense", None), ("tridiagonal", None), ("banded", 1)])


def _randomize(module, seed, scale=1.0):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=g, dtype=p.dtype) * scale)


@FAST
@given(structures, st.integers(2, 6), st.sampled_from([None, 3]), st.integers(0, 2**31 - 1))
def test_feature_bounds_are_exact_operator_norms(struct, dim, out, seed):
    structure, bandwidth = struct
    kwargs = dict(structure=structure, bandwidth=bandwidth, monotone={1: 1}, dtype=F64)
    module = (SpectralNeuron(4, dim, **kwargs) if out is None
              else SpectralLayer(4, out, dim, **kwargs))
    _randomize(module, seed)
    bounds = module.feature_bounds()
    assert bounds.shape == ((4,) if out is None else (out, 4))
    expected = torch.linalg.matrix_norm(module.pencil.feature_matrices(), ord=2)
    torch.testing.assert_close(bounds, expected)
    torch.testing.assert_close(feature_bounds(module), bounds)


@FAST
@given(structures, st.integers(2, 6), st.integers(0, 2**31 - 1), st.floats(1e-3, 10.0))
def test_per_feature_bounds_hold_after_arbitrary_parameter_changes(struct, dim, seed, size):
    structure, bandwidth = struct
    neuron = SpectralNeuron(3, dim, index=None, structure=structure, bandwidth=bandwidth,
                            monotone={0: -1}, dtype=F64)
    _randomize(neuron, seed, 2.0)
    g = torch.Generator().manual_seed(seed + 1)
    z = torch.randn(64, 3, dtype=F64, generator=g) * 3
    eps = torch.randn(64, 3, dtype=F64, generator=g) * size
    change = (neuron(z + eps) - neuron(z)).abs()
    b = neuron.feature_bounds()
    slack = 1e-9 * (1 + neuron(z).abs().max())
    assert bool((change <= eps.abs() @ b + slack).all())  # Σ |ε_i| ‖A_i‖
    assert bool((change <= eps.norm(dim=-1) * neuron.lipschitz_bound("l2") + slack).all())
    linf = neuron.lipschitz_bound("linf")
    assert bool((change <= eps.abs().amax(-1) * linf + slack).all())
    assert linf == pytest.approx(b.sum().item())
    assert neuron.lipschitz_bound() == pytest.approx(b.norm().item())


def _sequential(seed):
    torch.manual_seed(seed)
    model = torch.nn.Sequential(
        torch.nn.Linear(4, 5),
        torch.nn.Tanh(),
        SpectralLayer(5, 3, 4, structure="tridiagonal"),
        torch.nn.ReLU(),
        torch.nn.Sequential(torch.nn.Linear(3, 3), torch.nn.Identity()),
        SpectralLayer(3, 2, 3, index=-1, monotone={0: 1}),
        torch.nn.Linear(2, 2),
    ).double()
    _randomize(model, seed)
    return model


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("norm", ["l2", "linf"])
def test_sequential_bound_holds_on_random_finite_differences(seed, norm):
    model = _sequential(seed)
    L = lipschitz_bound(model, norm=norm)
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(500, 4, dtype=F64, generator=g) * 2
    sizes = torch.logspace(-4, 1, 500, dtype=F64)[:, None]
    dx = torch.randn(500, 4, dtype=F64, generator=g) * sizes
    with torch.no_grad():
        dy = model(x + dx) - model(x)
    order = 2 if norm == "l2" else float("inf")
    ratio = torch.linalg.vector_norm(dy, ord=order, dim=-1) / torch.linalg.vector_norm(
        dx, ord=order, dim=-1
    )
    assert ratio.max().item() <= L * (1 + 1e-9)


def test_sequential_bound_is_the_product_of_layer_constants():
    model = _sequential(0)
    for norm in ["l2", "linf"]:
        product = 1.0
        for layer in [model[0], model[2], model[4][0], model[5], model[6]]:
            product *= lipschitz_bound(layer, norm=norm) if not isinstance(
                layer, torch.nn.Linear
            ) else (torch.linalg.matrix_norm(layer.weight, ord=2).item() if norm == "l2"
                    else layer.weight.abs().sum(-1).max().item())
        assert lipschitz_bound(model, norm=norm) == pytest.approx(product)


def test_layer_constant_is_the_norm_of_its_bound_matrix():
    layer = SpectralLayer(3, 4, 5, dtype=F64)
    B = layer.feature_bounds()
    assert layer.lipschitz_bound("l2") == pytest.approx(torch.linalg.matrix_norm(B, 2).item())
    assert layer.lipschitz_bound("linf") == pytest.approx(B.sum(-1).max().item())


def test_spectral_penalty_is_differentiable_and_sums_bounds():
    torch.manual_seed(0)
    neuron = SpectralNeuron(3, 4, structure="tridiagonal", monotone={2: 1}, dtype=F64)
    penalty = neuron.spectral_penalty()
    assert penalty.item() == pytest.approx(neuron.feature_bounds().sum().item())
    penalty.backward()
    assert all(p.grad is not None for p in neuron.parameters() if p is not neuron.pencil.bias)
    model = _sequential(1)
    expected = model[2].spectral_penalty() + model[5].spectral_penalty()
    torch.testing.assert_close(spectral_penalty(model), expected)
    # minimizing the penalty shrinks the certified constant
    opt = torch.optim.SGD(neuron.parameters(), lr=0.05)
    before = neuron.lipschitz_bound()
    for _ in range(20):
        opt.zero_grad()
        neuron.spectral_penalty().backward()
        opt.step()
    assert neuron.lipschitz_bound() < before


def test_errors_name_the_problem():
    with pytest.raises(TypeError, match="Sigmoid"):
        lipschitz_bound(torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Sigmoid()))
    with pytest.raises(ValueError, match="norm"):
        lipschitz_bound(SpectralNeuron(2, 3), norm="l1")
    with pytest.raises(TypeError, match="Linear"):
        feature_bounds(torch.nn.Linear(2, 2))
    with pytest.raises(TypeError, match="no SpectralNeuron"):
        spectral_penalty(torch.nn.Sequential(torch.nn.Linear(2, 2)))
