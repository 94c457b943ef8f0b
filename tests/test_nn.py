"""Spectral neurons and layers: values, shape guarantees, gradients, batching, smoothing."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from optneuron.matrices import SymTridiagonal
from optneuron.nn import SpectralLayer, SpectralNeuron

F64 = torch.float64
FAST = settings(max_examples=20, deadline=None)
structures = st.sampled_from([("dense", None), ("tridiagonal", None), ("banded", 2)])


def _randomize(module, seed, scale=1.0):
    """Overwrite every parameter with arbitrary values (the guarantees must survive this)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=g, dtype=p.dtype) * scale)


def _dense(A):
    return A.to_dense() if isinstance(A, SymTridiagonal) else A


@FAST
@given(st.integers(2, 9), st.integers(0, 2**31 - 1), st.data())  # n=1: see report
def test_tridiagonal_value_is_the_dense_eigenvalue(dim, seed, data):
    index = data.draw(st.integers(-dim, dim - 1))
    neuron = SpectralNeuron(4, dim, index=index, structure="tridiagonal", dtype=F64)
    _randomize(neuron, seed)
    z = torch.randn(7, 4, dtype=F64, generator=torch.Generator().manual_seed(seed))
    A = neuron.pencil(z)
    assert isinstance(A, SymTridiagonal)
    expected = torch.linalg.eigvalsh(A.to_dense())[..., index]
    torch.testing.assert_close(neuron(z), expected)


def test_one_by_one_tridiagonal_neuron():
    neuron = SpectralNeuron(2, 1, structure="tridiagonal")
    z = torch.randn(3, 2)
    torch.testing.assert_close(neuron(z), neuron.pencil(z).diag[..., 0])


@pytest.mark.parametrize("dim, expected", [(1, 0), (4, 1), (5, 2), (9, 4)])
def test_default_index_is_the_lower_middle(dim, expected):
    assert SpectralNeuron(2, dim).index == expected


@FAST
@given(structures, st.integers(2, 6), st.integers(0, 2**31 - 1), st.sampled_from([None, 0, -1]))
def test_monotone_features_stay_monotone(struct, dim, seed, index):
    structure, bandwidth = struct
    neuron = SpectralNeuron(3, dim, index=index, structure=structure, bandwidth=bandwidth,
                            monotone={0: 1, 2: -1}, dtype=F64)
    _randomize(neuron, seed, scale=2.0)
    g = torch.Generator().manual_seed(seed + 1)
    z = torch.randn(32, 3, dtype=F64, generator=g) * 3
    step = torch.rand(32, dtype=F64, generator=g) * 3
    f = neuron(z)
    up0 = neuron(z + step[:, None] * torch.tensor([1.0, 0, 0], dtype=F64))
    up2 = neuron(z + step[:, None] * torch.tensor([0, 0, 1.0], dtype=F64))
    tol = 1e-9 * (1 + f.abs().max())
    assert bool((up0 >= f - tol).all())
    assert bool((up2 <= f + tol).all())


@FAST
@given(structures, st.integers(2, 6), st.integers(0, 2**31 - 1))
def test_extreme_indices_are_concave_and_convex(struct, dim, seed):
    structure, bandwidth = struct
    low = SpectralNeuron(3, dim, index=0, structure=structure, bandwidth=bandwidth, dtype=F64)
    high = SpectralNeuron(3, dim, index=-1, structure=structure, bandwidth=bandwidth, dtype=F64)
    _randomize(low, seed, 2.0)
    _randomize(high, seed + 1, 2.0)
    g = torch.Generator().manual_seed(seed + 2)
    z1, z2 = torch.randn(2, 32, 3, dtype=F64, generator=g) * 3
    t = torch.rand(32, 1, dtype=F64, generator=g)
    mid = t * z1 + (1 - t) * z2
    t = t[:, 0]
    for neuron, sign in [(low, 1), (high, -1)]:
        chord = t * neuron(z1) + (1 - t) * neuron(z2)
        gap = sign * (neuron(mid) - chord)  # ≥ 0: concave (index 0) / convex (index -1)
        assert bool((gap >= -1e-9 * (1 + chord.abs().max())).all())


@pytest.mark.parametrize("structure, bandwidth", [("dense", None), ("tridiagonal", None),
                                                   ("banded", 2)])
def test_gradcheck_float64(structure, bandwidth):
    torch.manual_seed(0)
    neuron = SpectralNeuron(3, 4, index=1, structure=structure, bandwidth=bandwidth,
                            monotone={1: 1}, dtype=F64)
    z = torch.randn(5, 3, dtype=F64, requires_grad=True)
    params = [p for p in neuron.parameters()]

    def f(z, *values):
        with torch.nn.utils.stateless._reparametrize_module(
            neuron, dict(zip([n for n, _ in neuron.named_parameters()], values))
        ):
            return neuron(z)

    assert torch.autograd.gradcheck(f, (z, *[p.detach().requires_grad_() for p in params]))


def test_layer_equals_independent_neurons():
    torch.manual_seed(1)
    for structure in ["dense", "tridiagonal"]:
        layer = SpectralLayer(3, 4, 5, index=-2, structure=structure, monotone={0: -1},
                              dtype=F64)
        _randomize(layer, 7)
        z = torch.randn(2, 6, 3, dtype=F64)
        out = layer(z)
        assert out.shape == (2, 6, 4)
        raw = layer.pencil.weight
        for j in range(4):
            neuron = SpectralNeuron(3, 5, index=-2, structure=structure, monotone={0: -1},
                                    dtype=F64)
            with torch.no_grad():
                neuron.pencil.bias.copy_(layer.pencil.bias[j])
                neuron.pencil.weight.copy_(raw[j])
            torch.testing.assert_close(neuron(z), out[..., j])


def test_layer_trains():
    torch.manual_seed(0)
    model = torch.nn.Sequential(SpectralLayer(2, 3, 4, structure="tridiagonal"),
                                torch.nn.Linear(3, 1))
    z = torch.randn(64, 2)
    y = (z[:, 0] * z[:, 1]).unsqueeze(-1)
    opt = torch.optim.Adam(model.parameters(), lr=0.05)
    first = None
    for _ in range(60):
        opt.zero_grad()
        loss = (model(z) - y).square().mean()
        first = first if first is not None else loss.item()
        loss.backward()
        opt.step()
    assert loss.item() < 0.5 * first


def test_smoothing_tends_to_exact():
    torch.manual_seed(2)
    exact = SpectralNeuron(3, 5, index=2, dtype=F64)
    z = torch.randn(16, 3, dtype=F64)
    target = exact(z)
    errors = []
    for alpha in [1.0, 1e-1, 1e-2, 1e-3]:
        smooth = SpectralNeuron(3, 5, index=2, smoothing=alpha, dtype=F64)
        smooth.load_state_dict(exact.state_dict())
        err = (smooth(z) - target).abs().max().item()
        assert err <= alpha * 5 / 2 + 1e-12  # the bound stated by SphereQP
        errors.append(err)
    assert errors[-1] < 1e-2 and errors == sorted(errors, reverse=True)


def test_sdp_backend_agrees_with_eigen():
    pytest.importorskip("cvxpylayers")
    torch.manual_seed(3)
    eig = SpectralNeuron(2, 3, index=1, structure="tridiagonal", dtype=F64)
    sdp = SpectralNeuron(2, 3, index=1, structure="tridiagonal", backend="sdp", dtype=F64)
    sdp.load_state_dict(eig.state_dict())
    z = torch.randn(3, 2, dtype=F64)
    torch.testing.assert_close(sdp(z), eig(z), atol=1e-6, rtol=1e-6)


def test_pencil_returns_what_is_solved_and_repr():
    neuron = SpectralNeuron(3, 4, structure="banded", bandwidth=2, monotone={0: 1},
                            smoothing=0.1)
    z = torch.randn(5, 3)
    assert neuron.pencil(z).shape == (5, 4, 4)
    assert neuron.solve(z).X.shape == (5, 4, 4)
    text = repr(neuron)
    for part in ["dim=4", "index=1", "'banded'", "bandwidth=2", "monotone={0: 1}",
                 "smoothing=0.1"]:
        assert part in text
    assert "out_features=2" in repr(SpectralLayer(3, 2, 4))


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(index=4), ValueError, "index 4"),
        (dict(index=-5), ValueError, "index -5"),
        (dict(index=1.0), TypeError, "index"),
        (dict(backend="gpu"), ValueError, "backend"),
        (dict(smoothing=-1.0), ValueError, "smoothing"),
        (dict(structure="banded"), ValueError, "bandwidth"),
    ],
)
def test_bad_arguments_are_named(kwargs, error, match):
    with pytest.raises(error, match=match):
        SpectralNeuron(3, 4, **kwargs)
