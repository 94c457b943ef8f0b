"""Pencils: exact affine maps, structure, isometry, PSD parametrization of monotone features."""

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from optneuron.layer import OptLayer
from optneuron.matrices import SymTridiagonal
from optneuron.pencils import BandedPencil, DensePencil, TridiagonalPencil, make_pencil
from optneuron.problems import SphereQP

F64 = torch.float64
FAST = settings(max_examples=25, deadline=None)
structures = st.sampled_from([("dense", None), ("tridiagonal", None), ("banded", 2)])


def _dense(A):
    return A.to_dense() if isinstance(A, SymTridiagonal) else A


def _randomize(module, seed, scale=1.0):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=g, dtype=p.dtype) * scale)


@FAST
@given(structures, st.integers(1, 6), st.integers(1, 4), st.sampled_from([None, 3]),
       st.integers(0, 2**31 - 1))
def test_forward_is_the_affine_pencil(struct, dim, in_features, out, seed):
    structure, bandwidth = struct
    p = make_pencil(in_features, dim, structure, bandwidth=bandwidth, out_features=out, dtype=F64)
    _randomize(p, seed)
    z = torch.randn(5, in_features, dtype=F64, generator=torch.Generator().manual_seed(seed))
    A = p(z)
    if structure == "tridiagonal":
        assert isinstance(A, SymTridiagonal)
    lead = () if out is None else (out,)
    assert _dense(A).shape == (5, *lead, dim, dim)
    expected = p.offset_matrix() + torch.einsum("bi,...inm->b...nm", z, p.feature_matrices())
    torch.testing.assert_close(_dense(A), expected)
    torch.testing.assert_close(_dense(A), _dense(A).mT)


@FAST
@given(st.integers(1, 7), st.integers(0, 2**31 - 1))
def test_dense_pencil_is_isometric(dim, seed):
    """‖coordinates‖₂ = ‖A‖_F for every matrix of the pencil, and pack inverts unpack."""
    p = DensePencil(3, dim, dtype=F64)
    _randomize(p, seed)
    coords = torch.cat([p.bias.unsqueeze(0), p.weight])
    mats = torch.cat([p.offset_matrix().unsqueeze(0), p.feature_matrices()])
    torch.testing.assert_close(coords.norm(dim=-1), torch.linalg.matrix_norm(mats))
    torch.testing.assert_close(p._pattern.pack(mats), coords)
    assert p.num_coordinates == dim * (dim + 1) // 2


@pytest.mark.parametrize("bandwidth", [0, 1, 2])
def test_banded_pencil_stays_in_band(bandwidth):
    p = BandedPencil(3, 6, bandwidth, monotone={0: 1}, dtype=F64)
    _randomize(p, 0)
    i, j = torch.meshgrid(torch.arange(6), torch.arange(6), indexing="ij")
    outside = (i - j).abs() > bandwidth
    A = p(torch.randn(4, 3, dtype=F64))
    assert bool((A[..., outside] == 0).all())
    assert bool((p.feature_matrices()[..., outside] == 0).all())


def test_banded_with_bandwidth_one_matches_tridiagonal_values():
    z = torch.randn(8, 2, dtype=F64)
    tri = TridiagonalPencil(2, 5, dtype=F64)
    band = BandedPencil(2, 5, 1, dtype=F64)
    with torch.no_grad():
        # banded off-diagonal coordinates are isometric (×√2 relative to entries)
        scale = torch.ones(9, dtype=F64)
        scale[5:] = math.sqrt(2)
        band.bias.copy_(tri.bias * scale)
        band.weight.copy_(tri.weight * scale)
    torch.testing.assert_close(band(z), tri(z).to_dense())


@FAST
@given(structures, st.integers(1, 6), st.sampled_from([None, 2]), st.integers(0, 2**31 - 1),
       st.floats(0.01, 100.0))
def test_monotone_features_are_psd_or_nsd_for_any_parameters(struct, dim, out, seed, scale):
    structure, bandwidth = struct
    p = make_pencil(4, dim, structure, bandwidth=bandwidth, monotone={0: 1, -1: -1},
                    out_features=out, dtype=F64)
    _randomize(p, seed, scale)  # overwrites the stored factor L with arbitrary values
    F = p.feature_matrices()
    tol = 1e-10 * (1 + F.abs().amax().item())
    assert torch.linalg.eigvalsh(F[..., 0, :, :]).min() >= -tol
    assert torch.linalg.eigvalsh(F[..., 3, :, :]).max() <= tol
    if structure != "dense":  # L Lᵀ keeps the band
        i, j = torch.meshgrid(torch.arange(dim), torch.arange(dim), indexing="ij")
        assert bool((F[..., (i - j).abs() > p.bandwidth] == 0).all())


def test_monotone_parametrization_is_applied_and_trainable():
    p = DensePencil(3, 4, monotone={1: -1})
    assert set(dict(p.named_parameters())) == {"bias", "weight"}
    # weight stores L for the monotone feature; feature_coordinates reads -L Lᵀ
    L = p._pattern.lower_factor(p.weight[1])
    torch.testing.assert_close(p.feature_matrices()[1], -(L @ L.mT))
    torch.testing.assert_close(p.feature_coordinates()[[0, 2]], p.weight[[0, 2]])
    loss = p(torch.randn(6, 3)).square().sum()
    loss.backward()
    assert p.weight.grad[1].abs().sum() > 0


def test_pencil_feeds_optlayer_in_an_encoder():
    """Pencils are usable on their own: an encoder predicts matrices for OptLayer."""
    torch.manual_seed(0)
    encoder = torch.nn.Sequential(torch.nn.Linear(5, 8), torch.nn.Tanh())
    pencil = TridiagonalPencil(8, 6, out_features=3)
    layer = OptLayer(SphereQP(-1))
    x = torch.randn(10, 5)
    value = layer(pencil(encoder(x))).value
    assert value.shape == (10, 3)
    value.sum().backward()
    assert encoder[0].weight.grad is not None


def test_initialization_is_near_affine_and_seeded():
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    p, q = DensePencil(10, 7), DensePencil(10, 7)
    p.reset_parameters(generator=g1)
    q.reset_parameters(generator=g2)
    torch.testing.assert_close(p.weight, q.weight)
    A0 = p.offset_matrix()
    torch.testing.assert_close(A0, torch.diag(torch.arange(7.0) - 3))
    # typical perturbation is O(1): comparable to the unit gaps, not ≫
    z = torch.randn(200, 10, generator=torch.Generator().manual_seed(0))
    E = p(z) - A0
    assert torch.linalg.matrix_norm(E, ord=2).median() < 3


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(structure="sparse"), ValueError, "structure"),
        (dict(structure="banded"), ValueError, "bandwidth"),
        (dict(structure="banded", bandwidth=-1), ValueError, "bandwidth"),
        (dict(structure="dense", bandwidth=2), ValueError, "bandwidth"),
        (dict(structure="tridiagonal", bandwidth=2), ValueError, "bandwidth"),
        (dict(monotone={5: 1}), ValueError, "monotone feature 5"),
        (dict(monotone={0: 2}), ValueError, r"monotone\[0\]"),
        (dict(monotone=[0]), TypeError, "monotone"),
        (dict(out_features=0), ValueError, "out_features"),
    ],
)
def test_bad_arguments_are_named(kwargs, error, match):
    with pytest.raises(error, match=match):
        make_pencil(3, 4, **kwargs)


def test_bad_input_is_named():
    p = DensePencil(3, 4)
    with pytest.raises(ValueError, match="z must have shape"):
        p(torch.randn(2, 4))
    with pytest.raises(TypeError, match="z has dtype"):
        p(torch.randn(2, 3, dtype=F64))
    with pytest.raises(TypeError, match="z must be a torch.Tensor"):
        p([1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="dim"):
        DensePencil(3, 0)
