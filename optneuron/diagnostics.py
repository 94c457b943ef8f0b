"""Training diagnostics for spectral modules: how close the eigenvalues they use come to their
neighbours.

The derivative of one eigenvalue is ``q_k q_kᵀ``, and the derivative of ``q_k`` scales with
``1/gap`` (gap: the distance from ``λ_k`` to its nearest other eigenvalue), so gaps that
collapse during training make the gradient of a single-eigenvalue neuron erratic. A mixture
``⟨w, λ⟩`` depends on the gaps only through the divided differences
``(w_i − w_j)/(λ_i − λ_j)`` (theory/mixture-sensitivity.md), which smooth weights keep small.
``gap_quantiles`` reports the distribution of the smallest gap over a batch of inputs, once per
epoch for a training history (``optneuron.plot.gap_history`` draws it beside the loss).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from .matrices import SymTridiagonal

__all__ = ["eigenvalue_gaps", "used_eigenvalues", "gap_quantiles", "matrix_gap_quantiles"]


def eigenvalue_gaps(eigenvalues: torch.Tensor) -> torch.Tensor:
    """``gap_k = min(λ_k − λ_{k−1}, λ_{k+1} − λ_k)`` for ascending ``eigenvalues (..., n)``
    (one-sided at the ends; ``inf`` for ``n = 1``)."""
    inf = torch.full_like(eigenvalues[..., :1], float("inf"))
    diff = eigenvalues.diff(dim=-1)
    return torch.minimum(torch.cat([inf, diff], -1), torch.cat([diff, inf], -1))


def used_eigenvalues(module) -> torch.Tensor:
    """Boolean mask ``([out_features,] n)`` of the eigenvalues the module's output depends on:
    ``index`` for a ``SpectralNeuron``/``SpectralLayer``, the nonzero mixing weights of a
    ``SpectralMixture``/``SpectralMixtureLayer``."""
    n = getattr(module, "dim", None)
    if hasattr(module, "mixing_weights"):
        with torch.no_grad():
            return module.mixing_weights() != 0
    index = getattr(module, "index", None)
    if n is None or index is None or not hasattr(module, "pencil"):
        raise TypeError(
            "module must be a spectral module (SpectralNeuron, SpectralLayer, SpectralMixture, "
            f"SpectralMixtureLayer), got {type(module).__name__}"
        )
    mask = torch.zeros(n, dtype=torch.bool)
    mask[index] = True
    out = module.out_features
    return mask if out is None else mask.expand(out, n)


def gap_quantiles(module, z: torch.Tensor, q: Sequence[float] = (0.1, 0.5, 0.9)) -> torch.Tensor:
    """Quantiles ``q`` over the inputs ``z (N, in_features)`` of the smallest gap among the
    eigenvalues ``module`` uses (``used_eigenvalues``) of ``A(z)``: ``(len(q),)`` for one neuron,
    ``(len(q), out_features)`` for a layer. float64, detached; ``eigvalsh`` of the dense matrix.

    ``min_{k used} gap_k(A(z))`` with ``gap_k`` of ``eigenvalue_gaps``.
    """
    mask = used_eigenvalues(module)
    if not isinstance(z, torch.Tensor) or z.ndim != 2 or z.shape[0] == 0:
        shape = tuple(z.shape) if isinstance(z, torch.Tensor) else type(z).__name__
        raise ValueError(f"z must be a non-empty (N, in_features) tensor, got {shape}")
    with torch.no_grad():
        return matrix_gap_quantiles(module.pencil(z), mask, q)


def matrix_gap_quantiles(A, used: torch.Tensor, q: Sequence[float] = (0.1, 0.5, 0.9)
                         ) -> torch.Tensor:
    """``gap_quantiles`` for given matrices: quantiles ``q`` over the first dimension of
    ``min_{k: used[..., k]} gap_k(A)`` for ``A (N, [out,] n, n)`` (dense or ``SymTridiagonal``)
    and a mask ``used ([out,] n)``: ``(len(q), [out])``, float64, detached.

    For a model whose matrices are not a module's ``pencil(z)`` alone (the estimators add
    category matrices to the pencil's coordinates).
    """
    q = torch.as_tensor(q, dtype=torch.float64)
    if q.ndim != 1 or q.numel() == 0 or not bool(((q >= 0) & (q <= 1)).all()):
        raise ValueError(f"q must be a non-empty sequence of numbers in [0, 1], got {q.tolist()}")
    with torch.no_grad():
        dense = A.to_dense() if isinstance(A, SymTridiagonal) else A
        gaps = eigenvalue_gaps(torch.linalg.eigvalsh(dense.to(torch.float64)))
        gaps = torch.where(used.to(gaps.device), gaps, torch.full_like(gaps, float("inf")))
        smallest = gaps.amin(-1)  # (N,) or (N, out)
        return torch.quantile(smallest, q.to(smallest.device), dim=0)
