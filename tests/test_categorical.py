"""optneuron.categorical: category matrices in a pencil's coordinates (gradients, persistence,
unknown categories, hashing, sparse gradients, Weyl jump bounds)."""

from __future__ import annotations

import io

import pytest
import torch

from optneuron.categorical import CategoricalMatrices, CategoricalSpectral
from optneuron.nn import SpectralLayer, SpectralNeuron

D = torch.float64


def _model(structure="dense", seed=0, **options):
    torch.manual_seed(seed)
    layer = SpectralLayer(2, 3, 3, index=-1, structure=structure, dtype=D)
    m = CategoricalSpectral(layer, [4, 3], **options)
    with torch.no_grad():
        m.categories.table.weight.normal_()
    return m


CODES = torch.tensor([[0, 1], [3, 2], [-1, 0], [2, 7], [1, 1]])


@pytest.mark.parametrize("structure", ["dense", "tridiagonal"])
def test_forward_is_the_pencil_plus_the_category_matrices(structure):
    m = _model(structure)
    z = torch.randn(5, 2, dtype=D)
    A = m.matrices(z, CODES)
    A = A if isinstance(A, torch.Tensor) else A.to_dense()
    pencil = m.spectral.pencil
    base = pencil(z)
    base = base if isinstance(base, torch.Tensor) else base.to_dense()
    E0, E1 = m.field_matrices(0), m.field_matrices(1)
    rows0 = torch.tensor([0, 3, 4, 2, 1])  # -1 → unknown row 4
    rows1 = torch.tensor([1, 2, 0, 3, 1])  # 7 → unknown row 3
    expected = base + E0[rows0] + E1[rows1]
    torch.testing.assert_close(A, expected)
    # the value is the largest eigenvalue of that matrix (independent reference: eigvalsh)
    torch.testing.assert_close(m(z, CODES), torch.linalg.eigvalsh(expected)[..., -1])


@pytest.mark.parametrize("structure", ["dense", "tridiagonal"])
def test_gradients_match_finite_differences(structure):
    m = _model(structure, seed=1)
    z = torch.randn(5, 2, dtype=D)
    weight = m.categories.table.weight

    def f(w):
        with torch.no_grad():
            weight.copy_(w)
        return m(z, CODES).sum()

    w0 = weight.detach().clone()
    loss = m(z, CODES).sum()
    (grad,) = torch.autograd.grad(loss, weight)
    g = torch.Generator().manual_seed(0)
    for _ in range(3):
        d = torch.randn(w0.shape, generator=g, dtype=D)
        h = 1e-6
        fd = (f(w0 + h * d) - f(w0 - h * d)) / (2 * h)
        torch.testing.assert_close(fd, (grad * d).sum(), rtol=1e-5, atol=1e-7)


def test_unknown_zero_pins_the_unknown_row_and_learned_trains_it():
    z = torch.randn(5, 2, dtype=D)
    zero = _model(unknown="zero")
    learned = _model(unknown="learned")
    assert torch.all(zero.field_matrices(0)[-1] == 0)
    # a code -1 under "zero" reads nothing: same as the pencil alone plus the other field
    one = zero.matrices(z[2:3], CODES[2:3])
    ref = zero.spectral.pencil(z[2:3]) + zero.field_matrices(1)[0]
    torch.testing.assert_close(one, ref)
    loss = learned(z, CODES).sum()
    loss.backward()
    unknown_row = int(learned.categories.offsets[0]) + 4
    assert learned.categories.table.weight.grad[unknown_row].abs().sum() > 0


def test_hashing_bounds_the_table_and_wraps_codes():
    layer = SpectralLayer(2, 8, 4, dtype=D)
    m = CategoricalSpectral(layer, [10**5, 5], hash_buckets=[64, None])
    # 10⁵ categories in 64 (+1) rows: the memory does not grow with the categories
    assert m.categories.table.weight.shape == (65 + 6, 8 * layer.pencil.num_coordinates)
    rows = m.categories.rows_of(torch.tensor([[99_999, 0], [99_999 % 64, 9]]))
    assert rows[0, 0] == rows[1, 0] == 99_999 % 64
    assert rows[1, 1] == 65 + 5  # field 1, code 9 ≥ 5 → unknown row


def test_persistence_state_dict_and_torch_save():
    m = _model(seed=3)
    z = torch.randn(5, 2, dtype=D)
    buffer = io.BytesIO()
    torch.save(m, buffer)
    buffer.seek(0)
    loaded = torch.load(buffer, weights_only=False)
    torch.testing.assert_close(loaded(z, CODES), m(z, CODES))
    fresh = _model(seed=4)
    fresh.load_state_dict(m.state_dict())
    torch.testing.assert_close(fresh(z, CODES), m(z, CODES))


def test_sparse_gradients_train_with_sgd():
    torch.manual_seed(0)
    m = CategoricalSpectral(SpectralNeuron(2, 3, index=-1, dtype=D), [50], sparse=True)
    z = torch.randn(8, 2, dtype=D)
    codes = torch.randint(0, 5, (8, 1))
    loss = (m(z, codes) - 1).pow(2).mean()
    loss.backward()
    assert m.categories.table.weight.grad.is_sparse
    before = loss.item()
    opt = torch.optim.SGD(m.parameters(), lr=0.1)
    for _ in range(20):
        opt.zero_grad()
        loss = (m(z, codes) - 1).pow(2).mean()
        loss.backward()
        opt.step()
    assert loss.item() < before


def test_jump_bounds_certify_category_changes_by_sampling():
    m = _model(seed=5)
    J = m.jump_bounds(0)  # (5, 5, 3)
    s = m.spread_bounds(0)
    assert torch.all(J <= s[:, None] + s[None, :] + 1e-12)  # triangle bound holds
    torch.testing.assert_close(m.jump_bounds(0, 1, 3), J[1, 3])
    z = 3 * torch.randn(400, 2, dtype=D)
    other = torch.randint(-1, 3, (400,))
    for a in range(5):
        for b in range(5):
            ca = torch.stack([torch.full((400,), a if a < 4 else -1), other], 1)
            cb = torch.stack([torch.full((400,), b if b < 4 else -1), other], 1)
            change = (m(z, ca) - m(z, cb)).abs()
            assert torch.all(change <= J[a, b] * (1 + 1e-9) + 1e-12)


def test_errors_name_the_argument():
    with pytest.raises(ValueError, match="cardinalities"):
        CategoricalMatrices([], 6)
    with pytest.raises(ValueError, match="unknown"):
        CategoricalMatrices([3], 6, unknown="mean")
    with pytest.raises(ValueError, match="hash_buckets"):
        CategoricalMatrices([3], 6, hash_buckets=[0])
    with pytest.raises(ValueError, match="codes"):
        CategoricalMatrices([3, 2], 6)(torch.zeros(4, 3, dtype=torch.long))
