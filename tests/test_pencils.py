"""Pencils: exact affine maps, structure, isometry, PSD parametrization of monotone features."""

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from optneuron.layer import OptLayer
from optneuron.matrices import SymTridiagonal
from optneuron.pencils import BandedPencil, DensePencil, Pencil, TridiagonalPencil, make_pencil
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
    coords = torch.cat([p.offset_coordinates().unsqueeze(0), p.weight])
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


# --- the structure registry and the pencil's own norms ------------------------------------------


def test_registry_lists_the_structures_and_the_unknown_error_names_them():
    from optneuron.pencils import pencil_structures

    assert pencil_structures() == {
        "dense": DensePencil, "tridiagonal": TridiagonalPencil, "banded": BandedPencil,
    }
    with pytest.raises(ValueError, match="'dense', 'tridiagonal', 'banded'.*'sparse'"):
        make_pencil(3, 4, structure="sparse")
    with pytest.raises(TypeError, match="base class"):
        Pencil(3, 4)


def test_a_new_structure_is_one_class(monkeypatch):
    import optneuron.pencils as pencils
    from optneuron import SpectralNeuron

    monkeypatch.setattr(pencils, "_STRUCTURES", dict(pencils._STRUCTURES))

    class DiagonalPencil(Pencil):
        structure = "diagonal-test"

        @classmethod
        def resolve_bandwidth(cls, bandwidth, dim):
            return 0

    assert pencils.pencil_structures()["diagonal-test"] is DiagonalPencil
    p = make_pencil(2, 3, structure="diagonal-test", dtype=F64)
    A = p(torch.randn(5, 2, dtype=F64))
    torch.testing.assert_close(A, torch.diag_embed(torch.diagonal(A, dim1=-2, dim2=-1)))
    neuron = SpectralNeuron(2, 3, index=0, structure="diagonal-test", dtype=F64)
    z = torch.randn(4, 2, dtype=F64)
    torch.testing.assert_close(neuron(z), torch.linalg.eigvalsh(neuron.pencil(z))[..., 0])
    with pytest.raises(ValueError, match="already registered"):
        type("Again", (Pencil,), {"structure": "diagonal-test"})


@pytest.mark.parametrize("structure, kw", [("dense", {}), ("tridiagonal", {}),
                                           ("banded", {"bandwidth": 2})])
def test_operator_norms_match_numpy(structure, kw):
    p = make_pencil(3, 5, structure=structure, monotone={1: -1}, out_features=2, dtype=F64,
                    **kw)
    norms = p.operator_norms()
    A = p.feature_matrices().detach().numpy()
    assert norms.shape == (2, 3)
    np.testing.assert_allclose(norms.detach().numpy(), np.linalg.norm(A, ord=2, axis=(-2, -1)),
                               rtol=1e-12)
    norms.sum().backward()  # differentiable: the spectral penalty trains through it
    assert p.weight.grad is not None


def test_lipschitz_bound_is_the_matrix_norm_of_the_bounds():
    from optneuron.pencils import bound_matrix_norm

    p = DensePencil(4, 3, out_features=2, dtype=F64)
    B = p.operator_norms().detach().numpy()
    assert p.lipschitz_bound("l2") == pytest.approx(np.linalg.norm(B, 2), rel=1e-12)
    assert p.lipschitz_bound("linf") == pytest.approx(np.abs(B).sum(1).max(), rel=1e-12)
    row = torch.tensor([3.0, 4.0], dtype=F64)
    assert bound_matrix_norm(row, "l2") == pytest.approx(5.0)
    assert bound_matrix_norm(row, "linf") == pytest.approx(7.0)
    with pytest.raises(ValueError, match="norm"):
        bound_matrix_norm(row, "l1")


@FAST
@given(st.integers(1, 7), st.sampled_from([None, 3]), st.integers(0, 2**31 - 1))
def test_dense_offset_is_an_increasing_diagonal(dim, out, seed):
    """A_0 = diag(μ) with μ_0 = bias_0, μ_i = μ_0 + Σ_{j≤i} log(1 + e^{bias_j}) (numpy), strictly
    increasing for any parameter value, and gradients reach every raw parameter."""
    p = DensePencil(2, dim, out_features=out, dtype=F64)
    _randomize(p, seed, scale=3.0)
    raw = p.bias.detach().numpy()
    mu = raw[..., :1] + np.concatenate(
        [np.zeros(raw.shape[:-1] + (1,)), np.cumsum(np.logaddexp(0, raw[..., 1:]), -1)], -1)
    A0 = p.offset_matrix().detach()
    np.testing.assert_allclose(A0.numpy(), np.vectorize(np.diag, signature="(n)->(n,n)")(mu),
                               rtol=1e-12, atol=1e-12)
    assert bool((torch.diff(torch.diagonal(A0, dim1=-2, dim2=-1), dim=-1) > 0).all())
    z = torch.randn(4, 2, dtype=F64, generator=torch.Generator().manual_seed(seed))
    torch.autograd.gradcheck(lambda b: torch.func.functional_call(p, {"bias": b}, (z,)),
                             (p.bias.detach().clone().requires_grad_(),), fast_mode=True)


@pytest.mark.parametrize("dim", [1, 2, 5, 9])
@pytest.mark.parametrize("out", [None, 4])
def test_dense_offset_costs_dim_parameters(dim, out):
    """Per dense neuron A_0 costs n parameters (it cost n(n+1)/2: n(n−1)/2 fewer); the other
    structures keep their A_0 coordinates (2n−1 tridiagonal, the band for banded)."""
    d, neurons = 3, 1 if out is None else out
    dense = DensePencil(d, dim, out_features=out)
    full = dim * (dim + 1) // 2
    assert dense.bias.shape == ((dim,) if out is None else (out, dim))
    assert sum(q.numel() for q in dense.parameters()) == neurons * (dim + d * full)
    assert neurons * (full + d * full) - sum(q.numel() for q in dense.parameters()) \
        == neurons * dim * (dim - 1) // 2
    tri = TridiagonalPencil(d, dim, out_features=out)
    assert tri.bias.shape[-1] == 2 * dim - 1
    band = BandedPencil(d, dim, 1, out_features=out)
    assert band.bias.shape[-1] == 2 * dim - 1


def test_dense_state_dict_round_trips_the_diagonal_offset():
    p = DensePencil(3, 5, out_features=2, monotone={1: 1}, dtype=F64)
    _randomize(p, 7)
    q = DensePencil(3, 5, out_features=2, monotone={1: 1}, dtype=F64)
    q.load_state_dict(p.state_dict())
    assert set(p.state_dict()) == {"bias", "weight"}
    z = torch.randn(4, 3, dtype=F64)
    assert torch.equal(p(z), q(z)) and torch.equal(p.offset_matrix(), q.offset_matrix())


@pytest.mark.parametrize("out_features", [None, 3])
@pytest.mark.parametrize("monotone", [None, {1: 1, 2: -1}])
def test_a_dense_checkpoint_from_before_diagonal_offsets_loads_with_the_same_eigenvalues(
        out_features, monotone):
    """An old checkpoint (dense A_0 coordinates in `bias`) loads into today's DensePencil, and
    A(z) has the same eigenvalues as the old pencil's for every z (numpy's eigvalsh of the old
    matrices built by hand); monotone features stay PSD/NSD factors."""
    n, d = 5, 3
    pencil = DensePencil(d, n, monotone=monotone, out_features=out_features,
                         dtype=torch.float64)
    g = torch.Generator().manual_seed(7)
    lead = () if out_features is None else (out_features,)
    size = n * (n + 1) // 2
    old = {"bias": torch.randn(*lead, size, generator=g, dtype=torch.float64),
           "weight": torch.randn(*lead, d, size, generator=g, dtype=torch.float64)}
    pattern = pencil._pattern
    A0 = pattern.symmetric(old["bias"]).numpy()
    Ai = pattern.symmetric(old["weight"]).numpy()
    for i, sign in (monotone or {}).items():  # the old parametrization: A_i = ±L Lᵀ
        L = pattern.lower_factor(old["weight"][..., i, :]).numpy()
        Ai[..., i, :, :] = sign * L @ np.swapaxes(L, -1, -2)
    pencil.load_state_dict(old)
    assert pencil.bias.shape == (*lead, n)
    z = torch.randn(6, d, generator=g, dtype=torch.float64)
    A_old = A0 + np.einsum("bi,...ijk->b...jk", z.numpy(), Ai)
    with torch.no_grad():
        got = torch.linalg.eigvalsh(pencil(z)).numpy()
    np.testing.assert_allclose(got, np.linalg.eigvalsh(A_old), atol=1e-12, rtol=0)
    for i, sign in (monotone or {}).items():
        M = pencil.feature_matrices()[..., i, :, :]
        assert bool((sign * torch.linalg.eigvalsh(M) >= -1e-12).all())

