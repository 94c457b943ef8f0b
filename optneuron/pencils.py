"""Affine matrix pencils ``z ↦ A(z) = A_0 + Σ_i z_i A_i`` as PyTorch modules.

A pencil holds each matrix by its *coordinates* in a structure (the lower-triangle entries the
structure allows) and maps ``z (..., in_features)`` to the coordinates of ``A(z)`` with one
linear map, then unpacks them symmetrically:

* ``"dense"``: packed lower triangle, ``n(n+1)/2`` coordinates, isometric — an off-diagonal
  coordinate ``c`` becomes ``c/√2`` in both triangles, so ``‖coordinates‖₂ = ‖A‖_F``; ``A_0``
  is ``diag(μ)`` with ``μ`` increasing, ``n`` parameters (``DensePencil``: nothing is lost);
* ``"tridiagonal"``: diagonal ``(n)`` and off-diagonal ``(n−1)`` as two linear maps, output a
  ``SymTridiagonal`` (entries as they are: ``∂λ_k/∂e_i = 2 q_i q_{i+1}``);
* ``"banded"`` (``bandwidth=b``): the ``b+1`` lower bands, isometric like dense, dense output.

``monotone={feature: +1 | -1}`` makes that feature's matrix ``±L Lᵀ`` with ``L`` lower
triangular within the structure (dense: any lower ``L``; tridiagonal: lower bidiagonal;
banded: lower banded), so ``A_i ⪰ 0`` (``⪯ 0``) for *every* parameter value and each
eigenvalue of ``A(z)`` is nondecreasing (nonincreasing) in ``z_i``. This is a parametrization
(geotorch style, the small module ``MonotoneFeatures``): for a monotone feature the parameter
``pencil.weight`` stores ``L``'s coordinates, and ``pencil.feature_coordinates()`` reads the
coordinates of ``A_i`` through the parametrization. It is applied in ``forward`` rather than
registered with ``torch.nn.utils.parametrize``, so whole models stay picklable
(``torch.save(model)``); ``state_dict`` keys are ``bias`` and ``weight`` for every pencil.

With ``out_features=m`` a pencil produces ``m`` independent matrices per input,
``(..., m, n, n)``, from one batched linear map.

Structures are registered, not listed: a subclass of ``Pencil`` that sets ``structure = "name"``
is registered under that name by ``Pencil.__init_subclass__``, and ``make_pencil(structure=...)``,
``SpectralNeuron(structure=...)`` and the estimators look it up in ``pencil_structures()``. A
new structure is one class: its ``structure`` name, whether its coordinates are ``isometric``,
``resolve_bandwidth`` (which lower bands it stores) and, if its matrices are not dense,
``to_matrix``.
"""

from __future__ import annotations

import math
from typing import ClassVar

import torch
from torch import nn

from .matrices import SymTridiagonal
from .validation import check_index, check_int

__all__ = [
    "Pencil",
    "DensePencil",
    "TridiagonalPencil",
    "BandedPencil",
    "MonotoneFeatures",
    "make_pencil",
    "pencil_structures",
    "bound_matrix_norm",
]

# structure name → Pencil subclass, filled by Pencil.__init_subclass__.
_STRUCTURES: dict[str, type[Pencil]] = {}
_NORMS = ("l2", "linf")


class _Pattern:
    """Which lower-triangle entries a structure stores, and their isometric scales.

    Coordinates are ordered band by band (diagonal first, then sub-diagonal 1, …), so the
    tridiagonal layout is ``[diag (n), off (n−1)]``.
    """

    def __init__(self, dim: int, bandwidth: int, isometric: bool):
        self.dim = dim
        self.bandwidth = bandwidth
        rows, cols = [], []
        for k in range(bandwidth + 1):
            for j in range(dim - k):
                rows.append(j + k)
                cols.append(j)
        rows = torch.tensor(rows, dtype=torch.long)
        cols = torch.tensor(cols, dtype=torch.long)
        self.size = len(rows)
        off = rows != cols
        self.lower = rows * dim + cols  # flat index of (row, col), row >= col
        upper = (cols * dim + rows)[off]
        # c / √2 in both triangles keeps ‖c‖₂ = ‖A‖_F (so weight decay is a Frobenius penalty).
        scale = torch.ones(self.size, dtype=torch.float64)
        if isometric:
            scale[off] = 1 / math.sqrt(2)
        self.scale = scale
        # Unpacking is a gather: flat entry j of the matrix reads coordinate index[j], where
        # index ``size`` points at an appended zero (entries outside the pattern); one
        # index_select forward, one scatter-add backward.
        coordinate = torch.arange(self.size)
        symmetric = torch.full((dim * dim,), self.size, dtype=torch.long)
        symmetric[self.lower] = coordinate
        symmetric[upper] = coordinate[off]
        self.symmetric_index = symmetric
        lower = torch.full((dim * dim,), self.size, dtype=torch.long)
        lower[self.lower] = coordinate
        self.lower_index = lower

    def _unpack(self, values: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
        n = self.dim
        padded = torch.cat([values, values.new_zeros(*values.shape[:-1], 1)], dim=-1)
        flat = padded.index_select(-1, index.to(values.device))
        return flat.reshape(*values.shape[:-1], n, n)

    def _scale(self, like: torch.Tensor) -> torch.Tensor:
        return self.scale.to(dtype=like.dtype, device=like.device)

    def symmetric(self, coords: torch.Tensor) -> torch.Tensor:
        """Dense symmetric ``(..., n, n)`` from coordinates ``(..., size)``."""
        return self._unpack(coords * self._scale(coords), self.symmetric_index)

    def pack(self, A: torch.Tensor) -> torch.Tensor:
        """Coordinates ``(..., size)`` of a symmetric ``A (..., n, n)``; inverts ``symmetric``."""
        n = self.dim
        flat = A.reshape(*A.shape[:-2], n * n)
        return flat[..., self.lower.to(A.device)] / self._scale(A)

    def lower_factor(self, coords: torch.Tensor) -> torch.Tensor:
        """Lower-triangular ``L (..., n, n)`` with the structure's pattern, entries = coords."""
        return self._unpack(coords, self.lower_index)


class MonotoneFeatures(nn.Module):
    """Parametrization of a pencil's ``weight (…, in_features, size)``: PSD/NSD feature matrices.

    ``forward(weight)`` returns the coordinates of the feature matrices ``A_i``.
    For each listed feature ``i`` with sign ``s_i``, the stored coordinates are read as a lower
    factor ``L`` (within the structure) and replaced by the coordinates of ``s_i · L Lᵀ``,
    which stays inside the structure (a lower ``b``-banded ``L`` gives a ``b``-banded
    ``L Lᵀ``). Other features pass through unchanged.
    """

    def __init__(self, pattern: _Pattern, features: list[int], signs: list[int]):
        super().__init__()
        self.pattern = pattern
        self.register_buffer("features", torch.tensor(features, dtype=torch.long), persistent=False)
        self.register_buffer("signs", torch.tensor(signs, dtype=torch.float64), persistent=False)

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        L = self.pattern.lower_factor(weight.index_select(-2, self.features))
        signs = self.signs.to(weight.dtype).unsqueeze(-1)
        psd = self.pattern.pack(L @ L.mT) * signs
        return weight.index_copy(-2, self.features, psd)

    def extra_repr(self) -> str:
        pairs = ", ".join(
            f"{int(f)}: {int(s):+d}" for f, s in zip(self.features.tolist(), self.signs.tolist())
        )
        return "{" + pairs + "}"


def _check_monotone(monotone, in_features: int) -> dict[int, int]:
    if monotone is None:
        return {}
    if not isinstance(monotone, dict):
        raise TypeError(
            f"monotone must be a dict {{feature: +1 | -1}} or None, got {type(monotone).__name__}"
        )
    out = {}
    for feature, sign in monotone.items():
        check_index("monotone feature", feature, in_features, what="in_features")
        if isinstance(sign, bool) or sign not in (1, -1):
            raise ValueError(f"monotone[{feature}] must be +1 or -1, got {sign!r}")
        key = int(feature) % in_features
        if key in out and out[key] != sign:
            raise ValueError(f"monotone feature {feature} is given both signs")
        out[key] = int(sign)
    return dict(sorted(out.items()))


class Pencil(nn.Module):
    """``A(z) = A_0 + Σ_i z_i A_i`` with ``A_0, A_i`` in a structure (see the module docstring).

    ``forward(z (..., in_features))`` returns ``(..., [out_features,] n, n)`` matrices: a dense
    tensor, or a ``SymTridiagonal`` for ``structure="tridiagonal"``. Parameters: ``bias``
    (coordinates of ``A_0``, ``([out,] size)``; for ``DensePencil`` the ``n`` parameters of
    ``A_0 = diag(μ)``, read through ``offset_coordinates``) and ``weight`` (coordinates of the
    ``A_i``, ``([out,] in_features, size)``; for monotone features the coordinates of their factor
    ``L``). ``feature_constraint`` maps ``weight`` to the coordinates of the ``A_i``:
    ``MonotoneFeatures`` when ``monotone`` is given, else the identity.

    ``reset_parameters`` starts near affine: ``A_0 = diag(j − (n−1)/2)`` (unit gaps, sorted, so
    every eigenvalue is simple and ``λ_k(A(z)) ≈ (A_0)_kk + Σ z_i (A_i)_kk`` to first order),
    feature coordinates ``~ U(±1/√(in_features·n))`` so that ``‖Σ z_i A_i‖_op = O(1)`` for
    standardized ``z`` whatever ``in_features`` and ``n`` (a random symmetric matrix with entry
    scale ``σ`` has ``‖·‖_op ≈ 2σ√n``): the perturbation is of the order of the gaps, so the
    function starts nearly affine yet its off-diagonal parameters get gradient from the start.
    Monotone features start at ``L`` with entries ``~ U(±β)``, ``β`` chosen so that ``L Lᵀ``
    has the same entry scale. Randomness comes from torch's global RNG or ``generator``.
    """

    structure: ClassVar[str]
    isometric: ClassVar[bool] = True  # off-diagonal coordinates scaled by 1/√2 (see _Pattern)
    has_bandwidth_option: ClassVar[bool] = False  # the user chooses it: shown in repr

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        name = cls.__dict__.get("structure")
        if name is not None:  # a subclass that names a structure registers it
            if name in _STRUCTURES and _STRUCTURES[name] is not cls:
                raise ValueError(
                    f"pencil structure {name!r} is already registered by "
                    f"{_STRUCTURES[name].__name__}"
                )
            _STRUCTURES[name] = cls

    def __init__(
        self,
        in_features: int,
        dim: int,
        *,
        bandwidth: int | None = None,
        monotone: dict | None = None,
        out_features: int | None = None,
        device=None,
        dtype=None,
    ):
        if getattr(type(self), "structure", None) is None:
            raise TypeError(
                "Pencil is the base class; use make_pencil(structure=...) or one of "
                f"{', '.join(c.__name__ for c in _STRUCTURES.values())}"
            )
        super().__init__()
        self.in_features = check_int("in_features", in_features, low=1)
        self.dim = check_int("dim", dim, low=1)
        self.out_features = (
            None if out_features is None else check_int("out_features", out_features, low=1)
        )
        self.bandwidth = self.resolve_bandwidth(bandwidth, self.dim)
        self.monotone = _check_monotone(monotone, self.in_features)
        self._pattern = _Pattern(self.dim, self.bandwidth, isometric=self.isometric)

        factory = {"device": device, "dtype": dtype}
        lead = () if self.out_features is None else (self.out_features,)
        size = self._pattern.size
        self.bias = nn.Parameter(torch.empty(*lead, self.offset_parameter_size(), **factory))
        self.weight = nn.Parameter(torch.empty(*lead, self.in_features, size, **factory))
        self.feature_constraint = (
            MonotoneFeatures(self._pattern, list(self.monotone), list(self.monotone.values()))
            if self.monotone
            else nn.Identity()
        )
        self.reset_parameters()

    @classmethod
    def resolve_bandwidth(cls, bandwidth: int | None, dim: int) -> int:
        """The number of stored sub-diagonals for the requested ``bandwidth`` (per structure)."""
        raise NotImplementedError(f"{cls.__name__} must define resolve_bandwidth")

    def offset_parameter_size(self) -> int:
        """Length of ``bias`` per neuron: the coordinates of ``A_0`` (structures that
        parametrize ``A_0`` otherwise, like ``DensePencil``, override this and
        ``offset_coordinates``)."""
        return self._pattern.size

    def offset_coordinates(self) -> torch.Tensor:
        """Coordinates of ``A_0``: ``([out,] size)`` (differentiable)."""
        return self.bias

    def _reset_offset(self) -> None:
        """``A_0 = diag(j − (n−1)/2)`` (see the class docstring)."""
        n = self.dim
        bias = torch.zeros(self._pattern.size, dtype=torch.float64)
        bias[:n] = torch.arange(n, dtype=torch.float64) - (n - 1) / 2
        self.bias.copy_(bias.to(self.bias.dtype).expand_as(self.bias))

    @property
    def num_coordinates(self) -> int:
        """Coordinates per matrix (``n(n+1)/2`` dense, ``2n−1`` tridiagonal)."""
        return self._pattern.size

    @torch.no_grad()
    def reset_parameters(self, generator: torch.Generator | None = None) -> None:
        """Near-affine initialization (see the class docstring)."""
        n = self.dim
        self._reset_offset()
        bound = 1 / math.sqrt(self.in_features * n)
        weight = self.weight
        w = torch.rand(weight.shape, generator=generator, dtype=torch.float64) * 2 - 1
        w = w * bound
        if self.monotone:
            # (L Lᵀ)_ij sums ~width products of entries ~U(±β) (variance β²/3 each), so
            # β = √(3·bound/width) gives L Lᵀ entries of about the scale `bound`.
            width = (self.bandwidth + 2) / 2
            beta = math.sqrt(3 * bound / width)
            idx = torch.tensor(list(self.monotone), dtype=torch.long)
            w[..., idx, :] = w[..., idx, :] / bound * beta
        weight.copy_(w.to(weight.dtype))

    def feature_coordinates(self) -> torch.Tensor:
        """Coordinates of the feature matrices ``A_i``: ``([out,] in_features, size)``."""
        return self.feature_constraint(self.weight)

    def _check_input(self, z) -> torch.Tensor:
        if not isinstance(z, torch.Tensor):
            raise TypeError(f"z must be a torch.Tensor, got {type(z).__name__}")
        if z.ndim < 1 or z.shape[-1] != self.in_features:
            raise ValueError(
                f"z must have shape (..., {self.in_features}), got {tuple(z.shape)}"
            )
        if z.dtype != self.bias.dtype:
            raise TypeError(
                f"z has dtype {z.dtype} but the pencil's parameters are {self.bias.dtype}"
            )
        return z

    def coordinates(self, z: torch.Tensor) -> torch.Tensor:
        """Coordinates of ``A(z)``: ``(..., [out_features,] size)``, one matmul."""
        z = self._check_input(z)
        W = self.feature_coordinates()
        offset = self.offset_coordinates()
        if self.out_features is None:
            return offset + z @ W
        m, size = self.out_features, self._pattern.size
        # (out, in, size) → (in, out·size): all neurons in one matmul.
        flat = z @ W.transpose(0, 1).reshape(self.in_features, m * size)
        return offset + flat.reshape(*z.shape[:-1], m, size)

    def to_matrix(self, coords: torch.Tensor):
        """Unpack coordinates ``(..., size)`` into the structure's matrix type (dense here)."""
        return self._pattern.symmetric(coords)

    def forward(self, z: torch.Tensor):
        return self.to_matrix(self.coordinates(z))

    def feature_matrices(self) -> torch.Tensor:
        """Dense ``A_i``: ``([out_features,] in_features, n, n)`` (differentiable)."""
        return self._pattern.symmetric(self.feature_coordinates())

    def offset_matrix(self) -> torch.Tensor:
        """Dense ``A_0``: ``([out_features,] n, n)`` (differentiable)."""
        return self._pattern.symmetric(self.offset_coordinates())

    def operator_norms(self) -> torch.Tensor:
        """Differentiable ``‖A_i‖_op = max_j |λ_j(A_i)|``: ``([out_features,] in_features)``.

        Exact for every structure (``eigvalsh`` of the assembled dense ``A_i``). By Weyl,
        ``|λ_k(A(z + ε)) − λ_k(A(z))| ≤ Σ_i |ε_i| ‖A_i‖_op`` for every ``k``, ``z`` and ``ε``.
        """
        return torch.linalg.eigvalsh(self.feature_matrices()).abs().amax(-1)

    def lipschitz_bound(self, norm: str = "l2") -> float:
        """Certified Lipschitz constant of ``z ↦ λ_k(A(z))`` (any ``k``) w.r.t. ``norm``.

        ``bound_matrix_norm`` of the (detached) ``operator_norms``: ``(Σ_i ‖A_i‖²_op)^{1/2}``
        (``"l2"``) or ``Σ_i ‖A_i‖_op`` (``"linf"``) for one neuron; for ``out_features``
        neurons the matrix norm of the bounds ``B (out, in)``.
        """
        with torch.no_grad():
            return bound_matrix_norm(self.operator_norms(), norm)

    def extra_repr(self) -> str:
        s = f"in_features={self.in_features}, dim={self.dim}"
        if self.out_features is not None:
            s += f", out_features={self.out_features}"
        if self.has_bandwidth_option:
            s += f", bandwidth={self.bandwidth}"
        if self.monotone:
            s += f", monotone={self.monotone}"
        return s


class DensePencil(Pencil):
    """Dense symmetric pencil: packed isometric lower-triangle coordinates for the ``A_i``, and
    ``A_0 = diag(μ)`` with ``μ`` increasing (see ``Pencil``).

    Eigenvalues are invariant under ``A ↦ QᵀAQ``, so any dense pencil ``(A_0, A_i)`` has the
    same spectral function as ``(QᵀA_0Q, QᵀA_iQ)`` with ``Q`` the eigenvectors of ``A_0``: a
    sorted diagonal ``A_0`` loses nothing (theory/diagonal-offset.md) and removes the
    ``n(n−1)/2`` redundant directions of a dense ``A_0``. ``bias ([out,] n)`` holds ``μ``
    without constraints: ``μ_0 = bias_0`` and ``μ_i = μ_0 + Σ_{1≤j≤i} softplus(bias_j)``, so
    ``μ`` is strictly increasing for every parameter value (equal entries only as a limit).
    ``reset_parameters`` starts at unit gaps, ``μ = j − (n−1)/2`` as for every structure.
    """

    structure = "dense"

    # softplus⁻¹(1) = log(e − 1): the raw gap that gives a unit gap
    _UNIT_GAP = math.log(math.e - 1)

    def offset_parameter_size(self) -> int:
        return self.dim

    def offset_diagonal(self) -> torch.Tensor:
        """``μ ([out,] n)``, ascending: ``μ_0 = bias_0``, ``μ_i = μ_0 + Σ_{1≤j≤i} softplus(bias_j)``
        (the cumulative sum of positive gaps)."""
        gaps = torch.nn.functional.softplus(self.bias[..., 1:])
        return torch.cat([self.bias[..., :1], self.bias[..., :1] + gaps.cumsum(-1)], dim=-1)

    def offset_coordinates(self) -> torch.Tensor:
        """Coordinates of ``A_0 = diag(μ)``: ``μ`` on the diagonal (the first ``n``), zeros off
        it."""
        mu = self.offset_diagonal()
        off = mu.new_zeros(*mu.shape[:-1], self._pattern.size - self.dim)
        return torch.cat([mu, off], dim=-1)

    def _reset_offset(self) -> None:
        n = self.dim
        raw = torch.full((n,), self._UNIT_GAP, dtype=torch.float64)
        raw[0] = -(n - 1) / 2
        self.bias.copy_(raw.to(self.bias.dtype).expand_as(self.bias))

    @classmethod
    def resolve_bandwidth(cls, bandwidth, dim):
        if bandwidth is not None:
            raise ValueError("bandwidth applies only to structure='banded'")
        return dim - 1

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        # A checkpoint from before A_0 = diag(μ) stores A_0's n(n+1)/2 coordinates in `bias`;
        # rotate it into the current form instead of failing on the size (see
        # `convert_dense_offset`). Like torch's own BatchNorm upgrade, this edits state_dict.
        bias, weight = state_dict.get(prefix + "bias"), state_dict.get(prefix + "weight")
        if (bias is not None and weight is not None and self.dim > 1
                and bias.shape[-1] == self._pattern.size):
            state_dict[prefix + "bias"], state_dict[prefix + "weight"] = \
                self.convert_dense_offset(bias, weight)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    @torch.no_grad()
    def convert_dense_offset(self, bias: torch.Tensor, weight: torch.Tensor):
        """``(bias, weight)`` of this pencil from a dense ``A_0``'s coordinates ``bias ([out,]
        n(n+1)/2)`` and ``weight`` as stored before ``A_0 = diag(μ)``: the same spectral
        function.

        With ``A_0 = V diag(μ) Vᵀ`` (ascending), ``V ᵀA(z) V = diag(μ) + Σ_i z_i VᵀA_iV`` has the
        eigenvalues of ``A(z)`` for every ``z``. So ``μ`` becomes the new ``bias`` (``μ_0`` and
        ``softplus⁻¹`` of the gaps; a zero gap is raised to ``eps·max|μ|``, the only rounding)
        and every ``A_i`` becomes ``VᵀA_iV``. A monotone feature stores a lower factor ``L``:
        ``VᵀL`` is not lower, but with ``(VᵀL)ᵀ = QR``, ``L' = Rᵀ`` is, and
        ``L'L'ᵀ = VᵀLLᵀV``.
        """
        pattern = self._pattern
        A0 = pattern.symmetric(bias.to(torch.float64))
        mu, V = torch.linalg.eigh(A0)
        tiny = torch.finfo(torch.float64).eps * mu.abs().amax(-1, keepdim=True).clamp_min(1)
        gaps = mu.diff(dim=-1).clamp_min(tiny)
        raw = torch.cat([mu[..., :1], gaps + torch.log(-torch.expm1(-gaps))], dim=-1)
        W = weight.to(torch.float64)
        Vi = V.unsqueeze(-3)  # one rotation per neuron, shared by its features
        rotated = pattern.pack(Vi.mT @ pattern.symmetric(W) @ Vi)
        if self.monotone:
            idx = torch.tensor(list(self.monotone), dtype=torch.long)
            VL = Vi.mT @ pattern.lower_factor(W[..., idx, :])
            R = torch.linalg.qr(VL.mT).R
            L = R.mT.reshape(*R.shape[:-2], -1)[..., pattern.lower]
            rotated[..., idx, :] = L
        return raw.to(bias.dtype), rotated.to(weight.dtype)


class TridiagonalPencil(Pencil):
    """Symmetric tridiagonal pencil; ``forward`` returns a ``SymTridiagonal``.

    Coordinates are ``[diag (n), off (n−1)]``, two linear maps of ``z`` held in one weight,
    entries as they are (not isometric: ``∂λ_k/∂e_i = 2 q_i q_{i+1}``). A monotone feature
    is ``±L Lᵀ`` with ``L`` lower bidiagonal.
    """

    structure = "tridiagonal"
    isometric = False

    @classmethod
    def resolve_bandwidth(cls, bandwidth, dim):
        if bandwidth not in (None, 1):
            raise ValueError(f"a tridiagonal pencil has bandwidth 1, got bandwidth={bandwidth}")
        return 1

    def to_matrix(self, coords: torch.Tensor) -> SymTridiagonal:
        n = self.dim
        return SymTridiagonal(coords[..., :n], coords[..., n:])


class BandedPencil(Pencil):
    """Symmetric banded pencil (``bandwidth`` sub-diagonals), isometric coordinates, dense output.

    A monotone feature is ``±L Lᵀ`` with ``L`` lower banded (same bandwidth). A bandwidth of
    ``dim − 1`` or more stores the full lower triangle.
    """

    structure = "banded"
    has_bandwidth_option = True

    def __init__(self, in_features, dim, bandwidth, *, monotone=None, out_features=None,
                 device=None, dtype=None):
        super().__init__(in_features, dim, bandwidth=bandwidth, monotone=monotone,
                         out_features=out_features, device=device, dtype=dtype)

    @classmethod
    def resolve_bandwidth(cls, bandwidth, dim):
        if bandwidth is None:
            raise ValueError("structure='banded' needs bandwidth=b (a non-negative int)")
        return min(check_int("bandwidth", bandwidth, low=0), dim - 1)


def pencil_structures() -> dict[str, type[Pencil]]:
    """The registered structures: name → ``Pencil`` subclass (a copy; register by subclassing)."""
    return dict(_STRUCTURES)


def make_pencil(
    in_features: int,
    dim: int,
    structure: str = "dense",
    bandwidth: int | None = None,
    monotone: dict | None = None,
    out_features: int | None = None,
    device=None,
    dtype=None,
) -> Pencil:
    """The pencil of the registered ``structure`` (see ``pencil_structures()``)."""
    if structure not in _STRUCTURES:
        raise ValueError(
            f"structure must be one of the registered pencil structures "
            f"{tuple(_STRUCTURES)}, got {structure!r}"
        )
    return _STRUCTURES[structure](
        in_features, dim, bandwidth=bandwidth, monotone=monotone, out_features=out_features,
        device=device, dtype=dtype,
    )


def bound_matrix_norm(bounds: torch.Tensor, norm: str = "l2") -> float:
    """``‖B‖₂`` (largest singular value, ``"l2"``) or ``‖B‖_∞`` (largest row sum, ``"linf"``).

    A 1-d ``bounds`` is one row. For a layer ``|f(z+ε) − f(z)| ≤ B |ε|`` entrywise, so this is
    its Lipschitz constant for that norm — the same operator norm as for an ``nn.Linear``
    weight ``B``.
    """
    if norm not in _NORMS:
        raise ValueError(f"norm must be one of {_NORMS}, got {norm!r}")
    if bounds.ndim == 1:
        bounds = bounds.unsqueeze(0)
    if norm == "l2":
        return torch.linalg.matrix_norm(bounds, ord=2).item()
    return bounds.abs().sum(-1).max().item()
