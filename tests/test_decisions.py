"""optneuron.decisions: optimize_inputs and output_range against random sampling.

Reference: the module's own forward at 20,000 random feasible points (and at the box's
vertices); the exact side of output_range against optimize_inputs' certified optimum.
"""

import numpy as np
import pytest
import torch
from torch import nn

import optneuron as on
from optneuron.decisions import optimize_inputs, output_range
from optneuron.nn import SpectralLayer, SpectralNeuron

cp = pytest.importorskip("cvxpy")


def _neuron(index, structure="dense", d=3, n=5, seed=0, **kw):
    m = SpectralNeuron(d, n, index=index, structure=structure, dtype=torch.float64, **kw)
    m.reset_parameters(torch.Generator().manual_seed(seed))
    with torch.no_grad():
        m.pencil.weight.mul_(4.0)
    return m


def _forward(module, Z):
    with torch.no_grad():
        return module(torch.tensor(Z)).numpy()


def _box_samples(d, count=20_000, seed=0, low=-1.0, high=1.0):
    return np.random.default_rng(seed).uniform(low, high, (count, d))


@pytest.mark.parametrize("structure", ["dense", "tridiagonal"])
def test_concave_neuron_over_a_box_is_certified_and_beats_sampling(structure):
    module = _neuron(0, structure)
    result = optimize_inputs(module, lower=-1, upper=1)
    assert result.certified and result.method == "convex program"
    assert result.status == "optimal"
    assert np.all(result.z >= -1 - 1e-8) and np.all(result.z <= 1 + 1e-8)
    assert result.value == pytest.approx(float(_forward(module, result.z[None])[0]), abs=1e-12)
    assert result.value >= _forward(module, _box_samples(3)).max() - 1e-9


def test_concave_neuron_with_a_budget_constraint():
    module = _neuron(0, monotone={0: 1, 1: 1, 2: 1})  # nondecreasing: the budget binds
    result = optimize_inputs(module, constraints=lambda z: [cp.sum(z) <= 1], lower=-1, upper=1)
    assert result.certified and result.z.sum() <= 1 + 1e-7
    Z = _box_samples(3)
    Z = Z[Z.sum(1) <= 1]
    assert result.value >= _forward(module, Z).max() - 1e-9


def test_minimizing_a_convex_neuron_is_certified():
    module = _neuron(-1, "tridiagonal")
    result = optimize_inputs(module, lower=-1, upper=1, maximize=False)
    assert result.certified
    assert result.value <= _forward(module, _box_samples(3)).min() + 1e-9


def test_maximizing_a_convex_neuron_over_a_small_box_enumerates_vertices():
    module = _neuron(-1)
    result = optimize_inputs(module, lower=[-1, 0, -2], upper=[1, 0.5, 2])
    assert result.certified and result.method == "vertex enumeration"
    Z = np.random.default_rng(1).uniform([-1, 0, -2], [1, 0.5, 2], (20_000, 3))
    assert result.value >= _forward(module, Z).max() - 1e-12


@pytest.mark.parametrize("index", [1, 2])
def test_middle_index_ccp_is_feasible_and_beats_its_starts(index):
    module = _neuron(index, "tridiagonal", seed=index)
    starts = np.random.default_rng(3).uniform(-1, 1, (6, 3)) * [1, 1, 0.4]
    budget = lambda z: [cp.norm1(z) <= 1.5]  # noqa: E731
    result = optimize_inputs(module, constraints=budget, lower=-1, upper=1, starts=starts)
    assert not result.certified and result.method == "convex-concave procedure"
    assert np.abs(result.z).sum() <= 1.5 + 1e-7 and np.all(np.abs(result.z) <= 1 + 1e-8)
    feasible = starts[np.abs(starts).sum(1) <= 1.5]
    assert result.value >= _forward(module, feasible).max() - 1e-9
    assert all(b >= a - 1e-9 for a, b in zip(result.history, result.history[1:]))
    assert result.value == pytest.approx(float(_forward(module, result.z[None])[0]), abs=1e-12)


def test_middle_index_random_starts_are_seeded():
    module = _neuron(2)
    kw = dict(constraints=lambda z: [], lower=-1, upper=1, starts=2, max_iter=4, seed=5)
    a, b = optimize_inputs(module, **kw), optimize_inputs(module, **kw)
    assert a.value == b.value and np.array_equal(a.z, b.z)


def test_multi_output_needs_an_output():
    layer = SpectralLayer(2, 3, 4, index=0, dtype=torch.float64)
    with pytest.raises(ValueError, match="3 outputs: pass output=j"):
        optimize_inputs(layer, lower=-1, upper=1)
    result = optimize_inputs(layer, lower=-1, upper=1, output=2)
    assert result.value >= _forward(layer, _box_samples(2, 2000))[:, 2].max() - 1e-9


def test_bad_arguments_are_named():
    module = _neuron(0)
    with pytest.raises(ValueError, match="lower must be ≤ upper"):
        optimize_inputs(module, lower=1, upper=0)
    with pytest.raises(ValueError, match=r"lower must be a scalar or have shape \(3,\)"):
        optimize_inputs(module, lower=[0, 0], upper=1)
    with pytest.raises(TypeError, match="constraints must be a function"):
        optimize_inputs(module, constraints=[], lower=0, upper=1)
    with pytest.raises(ValueError, match="upper is required"):
        output_range(module, -1, None)
    unbounded = _neuron(0, monotone={0: 1})
    with pytest.raises(ValueError, match="status: unbounded"):
        optimize_inputs(unbounded)


@pytest.mark.parametrize("index", [0, -1, 2])
def test_output_range_contains_every_sample_and_exact_sides_match(index):
    module = _neuron(index, "tridiagonal", seed=7)
    lo, hi = np.array([-1.0, -0.5, 0.0]), np.array([1.0, 0.5, 2.0])
    r = output_range(module, lo, hi, max_boxes=32)
    values = _forward(module, np.random.default_rng(2).uniform(lo, hi, (20_000, 3)))
    assert r.lower[0] <= values.min() and values.max() <= r.upper[0]
    assert r.weyl_lower[0] <= values.min() and values.max() <= r.weyl_upper[0]
    assert r.lower[0] <= r.lower_attained[0] and r.upper_attained[0] <= r.upper[0]
    assert r.weyl_lower[0] <= r.lower[0] and r.upper[0] <= r.weyl_upper[0]
    if index == 0:
        assert r.upper_exact[0] and r.lower_exact[0]  # max: SDP; min: at a vertex
        best = optimize_inputs(module, lower=lo, upper=hi)
        assert r.upper[0] == pytest.approx(best.value, abs=1e-6)
        vertices = np.array(np.meshgrid(*zip(lo, hi))).reshape(3, -1).T
        assert r.lower[0] == pytest.approx(_forward(module, vertices).min(), abs=1e-12)
    elif index == -1:
        assert r.lower_exact[0] and r.upper_exact[0]
        best = optimize_inputs(module, lower=lo, upper=hi, maximize=False)
        assert r.lower[0] == pytest.approx(best.value, abs=1e-6)
    else:
        assert not r.lower_exact[0] and not r.upper_exact[0]


def test_output_range_without_vertices_uses_branch_and_bound():
    module = _neuron(0, d=3, seed=8)
    r = output_range(module, -1, 1, vertex_limit=0, max_boxes=16)
    assert r.upper_exact[0] and not r.lower_exact[0]
    values = _forward(module, _box_samples(3, seed=4))
    assert r.lower[0] <= values.min() and r.lower[0] >= r.weyl_lower[0]


def test_output_range_of_a_layer_and_a_composition():
    torch.manual_seed(0)
    layer = SpectralLayer(2, 3, 4, index=1, structure="banded", bandwidth=1, dtype=torch.float64)
    r = output_range(layer, -1, 1, max_boxes=8)
    values = _forward(layer, _box_samples(2))
    assert np.all(r.lower <= values.min(0)) and np.all(values.max(0) <= r.upper)
    model = nn.Sequential(nn.Linear(2, 3).double(),
                          SpectralLayer(3, 2, 4, index=0, dtype=torch.float64),
                          nn.Linear(2, 1).double())
    with torch.no_grad():
        model[2].weight.abs_()
    r = output_range(model, -1, 1)
    values = _forward(model, _box_samples(2))
    assert r.upper_exact[0] and r.lower[0] <= values.min() and values.max() <= r.upper[0]


def test_public_names():
    assert on.optimize_inputs is optimize_inputs and on.output_range is output_range
