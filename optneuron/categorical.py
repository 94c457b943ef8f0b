"""Categorical features as matrices: ``A(z, c) = A_0 + Σ_i z_i A_i + Σ_f E_f[c_f]``.

A categorical field ``f`` with ``n_f`` categories owns a table of matrices ``E_f[0 … n_f]`` in
the structure of the pencil it joins (the same coordinates: packed isometric lower triangle
for dense, ``[diag, off]`` for tridiagonal, bands for banded), one per neuron of a
``SpectralLayer``. Row ``n_f`` of each table is the field's *unknown* category: the code
``-1`` (or any code ``≥ n_f`` without hashing) reads it; ``unknown="learned"`` trains it like
any other row (it starts at zero), ``unknown="zero"`` pins it at the zero matrix.

All fields live in one ``torch.nn.EmbeddingBag`` (``mode="sum"``): a row of codes
``(c_1 … c_F)`` reads ``F`` rows of the joint table and sums them, which *is*
``Σ_f E_f[c_f]`` in coordinates; ``sparse=True`` gives sparse gradients (then train with an
optimizer that takes them, e.g. ``torch.optim.SparseAdam`` or ``SGD``).

Memory: a field given ``hash_buckets=b`` (instead of a cardinality) keeps ``b`` rows whatever
its number of categories; its codes are taken modulo ``b`` (``b`` is the bound; distinct
categories may share a row). The table holds ``Σ_f (rows_f + 1) · out · size`` numbers.

Certificate (Weyl): changing field ``f`` from ``c`` to ``c'`` changes ``A(z, ·)`` by
``E_f[c'] − E_f[c]``, so every eigenvalue moves by at most ``‖E_f[c] − E_f[c']‖_op``
(``jump_bounds``), whatever ``z`` and the other fields are.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

__all__ = ["CategoricalMatrices", "CategoricalSpectral", "field_matrices", "operator_norm"]

_UNKNOWN = ("learned", "zero")


class CategoricalMatrices(nn.Module):
    """The term ``Σ_f E_f[c_f]`` in a pencil's coordinates (see the module docstring).

    ``cardinalities[f]`` is the number of categories of field ``f`` (``hash_buckets[f]``, if
    given and not ``None``, replaces it by that many hashed rows). ``size`` is the pencil's
    number of coordinates per matrix, ``out_features`` its number of neurons (``None``: one).
    ``forward(codes (..., F) long)`` returns coordinates ``(..., [out,] size)``.
    """

    def __init__(self, cardinalities: Sequence[int], size: int, out_features: int | None = None,
                 *, hash_buckets: Sequence[int | None] | None = None, unknown: str = "learned",
                 sparse: bool = False, device=None, dtype=None):
        super().__init__()
        cardinalities = [int(c) for c in cardinalities]
        if not cardinalities or any(c < 1 for c in cardinalities):
            raise ValueError(f"cardinalities must be a non-empty list of ints >= 1, "
                             f"got {cardinalities!r}")
        if hash_buckets is None:
            hash_buckets = [None] * len(cardinalities)
        if len(hash_buckets) != len(cardinalities):
            raise ValueError(f"hash_buckets must have one entry per field "
                             f"({len(cardinalities)}), got {len(hash_buckets)}")
        if any(b is not None and int(b) < 1 for b in hash_buckets):
            raise ValueError(f"hash_buckets must be ints >= 1 or None, got {hash_buckets!r}")
        if unknown not in _UNKNOWN:
            raise ValueError(f"unknown must be one of {_UNKNOWN}, got {unknown!r}")
        self.hashed = [b is not None for b in hash_buckets]
        self.rows = [int(b) if b is not None else c for b, c in zip(hash_buckets, cardinalities)]
        self.size, self.out_features, self.unknown = int(size), out_features, unknown
        offsets = torch.tensor([0] + [r + 1 for r in self.rows[:-1]]).cumsum(0)
        self.register_buffer("offsets", offsets, persistent=False)
        self.register_buffer("n_rows", torch.tensor(self.rows), persistent=False)
        self.register_buffer("hash_mask", torch.tensor(self.hashed), persistent=False)
        width = self.size * (1 if out_features is None else int(out_features))
        total = sum(r + 1 for r in self.rows)
        self.table = nn.EmbeddingBag(total, width, mode="sum", sparse=sparse,
                                     device=device, dtype=dtype)
        self.reset_parameters()

    @property
    def n_fields(self) -> int:
        return len(self.rows)

    @torch.no_grad()
    def reset_parameters(self) -> None:
        """Zero matrices: the categories start without effect (the term is linear in ``E``,
        so every row that occurs gets gradient from the first step)."""
        self.table.weight.zero_()

    def rows_of(self, codes: torch.Tensor) -> torch.Tensor:
        """Row of the joint table read by each code: ``(..., F)`` long.

        Hashed fields take ``code mod buckets``; elsewhere a code outside ``0 … n_f − 1``
        (``-1`` by convention) reads the unknown row.
        """
        if codes.dtype != torch.long:
            codes = codes.long()
        if codes.shape[-1] != self.n_fields:
            raise ValueError(f"codes must have shape (..., {self.n_fields}), "
                             f"got {tuple(codes.shape)}")
        hashed = torch.remainder(codes, self.n_rows)
        known = (codes >= 0) & (codes < self.n_rows)
        local = torch.where(self.hash_mask, hashed, torch.where(known, codes, self.n_rows))
        return local + self.offsets

    def forward(self, codes: torch.Tensor) -> torch.Tensor:
        flat = self.rows_of(codes).reshape(-1, self.n_fields)
        weights = None
        if self.unknown == "zero":  # the unknown rows are read with weight 0
            weights = (flat != self.offsets + self.n_rows).to(self.table.weight.dtype)
        out = self.table(flat, per_sample_weights=weights)
        lead = codes.shape[:-1]
        if self.out_features is None:
            return out.reshape(*lead, self.size)
        return out.reshape(*lead, self.out_features, self.size)

    def field_coordinates(self, field: int) -> torch.Tensor:
        """Coordinates of ``E_f[0 … rows_f]`` (last row: unknown): ``(rows_f + 1, [out,] size)``."""
        if not 0 <= field < self.n_fields:
            raise ValueError(f"field must be in 0..{self.n_fields - 1}, got {field}")
        start = int(self.offsets[field])
        block = self.table.weight[start:start + self.rows[field] + 1]
        if self.unknown == "zero":
            block = torch.cat([block[:-1], torch.zeros_like(block[-1:])])
        if self.out_features is None:
            return block
        return block.reshape(-1, self.out_features, self.size)

    def extra_repr(self) -> str:
        return (f"rows={self.rows}, size={self.size}, out_features={self.out_features}, "
                f"unknown={self.unknown!r}, hashed={self.hashed}")


class CategoricalSpectral(nn.Module):
    """A spectral module (``SpectralNeuron`` or ``SpectralLayer``, any structure) plus
    categorical fields: ``forward(z, codes) = λ_k(A_0 + Σ_i z_i A_i + Σ_f E_f[c_f])``.

    ``spectral`` keeps its own pencil and solver (``certify`` still finds it: its ``A_i``
    carry the numeric features' certificates); ``categories`` is a ``CategoricalMatrices`` in
    the pencil's coordinates. Keyword arguments go to ``CategoricalMatrices``.
    """

    def __init__(self, spectral: nn.Module, cardinalities: Sequence[int], **options):
        super().__init__()
        pencil = spectral.pencil
        self.spectral = spectral
        self.categories = CategoricalMatrices(
            cardinalities, pencil.num_coordinates, pencil.out_features,
            device=pencil.bias.device, dtype=pencil.bias.dtype, **options)

    def matrices(self, z: torch.Tensor, codes: torch.Tensor):
        """``A(z, codes)`` in the pencil's matrix type (dense or ``SymTridiagonal``)."""
        pencil = self.spectral.pencil
        return pencil.to_matrix(pencil.coordinates(z) + self.categories(codes))

    def forward(self, z: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
        return self.spectral.solver(self.matrices(z, codes)).value

    def field_matrices(self, field: int) -> torch.Tensor:
        """Dense ``E_f[c]`` for every row of field ``f``: ``(rows_f + 1, [out,] n, n)``."""
        return field_matrices(self.spectral.pencil, self.categories, field)

    def jump_bounds(self, field: int, a=None, b=None) -> torch.Tensor:
        """``‖E_f[a] − E_f[b]‖_op`` (detached): ``([out,])`` for two rows ``a``, ``b``; with
        ``a = b = None`` every pair, ``(rows_f + 1, rows_f + 1, [out])``.

        Weyl: changing field ``f`` from ``a`` to ``b`` moves every eigenvalue of ``A(z, ·)`` by
        at most this much, for every ``z`` and every value of the other fields.
        """
        with torch.no_grad():
            E = self.field_matrices(field)
            if a is not None or b is not None:
                return operator_norm(E[a] - E[b])
            return operator_norm(E.unsqueeze(0) - E.unsqueeze(1))

    def spread_bounds(self, field: int) -> torch.Tensor:
        """``s_c = ‖E_f[c] − Ē_f‖_op`` per row, ``Ē_f`` the mean of the known rows:
        ``(rows_f + 1, [out])``. ``‖E_f[a] − E_f[b]‖_op ≤ s_a + s_b`` (triangle inequality),
        so ``s`` certifies every jump in ``O(rows)`` operator norms instead of ``O(rows²)``."""
        with torch.no_grad():
            E = self.field_matrices(field)
            return operator_norm(E - E[:-1].mean(0, keepdim=True))


def field_matrices(pencil, categories: CategoricalMatrices, field: int) -> torch.Tensor:
    """Dense ``E_f[c]`` of ``categories`` read in ``pencil``'s structure:
    ``(rows_f + 1, [out,] n, n)`` (differentiable)."""
    A = pencil.to_matrix(categories.field_coordinates(field))
    return A if isinstance(A, torch.Tensor) else A.to_dense()


def operator_norm(A: torch.Tensor) -> torch.Tensor:
    """``‖A‖_op = max_j |λ_j(A)|`` of symmetric ``A (..., n, n)``: ``(...)``."""
    return torch.linalg.eigvalsh(A).abs().amax(-1)
