"""Mixtures of eigenvalues: ``⟨w, λ(A)⟩`` with the weights ``w`` as data."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import torch

from ..validation import check_index, check_int
from .base import Problem, broadcast_data, check_size
from .spectral import check_smoothing

__all__ = ["EigenvalueMixture"]


@dataclass(frozen=True)
class EigenvalueMixture(Problem):
    """``φ(A, w) = ⟨w, λ(A)⟩ = Σ_k w_k λ_k(A)``, eigenvalues ascending.

    Data ``A (..., n, n)`` (dense or ``SymTridiagonal``) and weights ``w (..., n)`` (finite,
    ``A``'s dtype and device; batch dimensions broadcast; a wrong length or a non-finite entry
    is a ``ValueError`` naming ``w``). Gradients: ``∂φ/∂A = Q diag(w) Qᵀ`` (tridiagonal:
    ``Σ_k w_k q_ik²`` on the diagonal, ``2 Σ_k w_k q_ik q_{i+1,k}`` off it) and
    ``∂φ/∂w = λ(A)``; at a repeated eigenvalue ``Q diag(w) Qᵀ`` with any orthonormal basis of
    the eigenspace is a Clarke subgradient, and the gradient wherever ``w`` is constant on
    the cluster. ``Solution.X = Q diag(w) Qᵀ`` (the SDP backend: its signed sum of Fantope
    solutions), ``Solution.x = None``.

    SDP form (theory/eigenvalue-mixtures.md): a signed sum of Ky Fan terms,

        ``φ = Σ_{m=1}^{n−1} (w_{m−1} − w_m) F_m(A) + w_{n−1} tr A``,

    one Fantope program per ``m`` whose coefficient is nonzero (or whose derivative in ``w``
    is asked for). Nonincreasing ``w`` (all coefficients ``≥ 0``) makes ``φ`` concave in
    ``A``, nondecreasing ``w`` convex; otherwise ``φ`` is a difference of the concave
    positive part and the concave negative part.

    With ``smoothing=α`` each eigenvalue becomes the smoothed one of ``SphereQP(k,
    smoothing=α)``: ``φ^α = Σ_k w_k λ^α_k`` with ``λ^α_k = E^α_{n−k} − E^α_{n−k−1}`` (the
    Moreau envelopes of ``smoothing.py``), i.e. ``Σ_{j=1}^{n−1} (w_{n−j} − w_{n−1−j})
    E^α_j(A) + w_0 E^α_n(A)`` with ``E^α_n = tr A − αn/2``; ``∂φ^α/∂w = λ^α(A)``.
    """

    smoothing: float | None = None
    data_names: ClassVar[tuple[str, ...]] = ("A", "w")

    def __post_init__(self):
        object.__setattr__(self, "smoothing", check_smoothing(self.smoothing))

    def check_size(self, n: int) -> int:
        return check_size(n)

    def validate_extra(self, A, w) -> tuple:
        return broadcast_data(A, "w", w, trailing=1)

    def eigen_range(self, n: int) -> tuple[int, int]:
        """Every eigenvalue: ``(0, n)``."""
        return 0, check_size(n)

    def ky_fan_coefficients(self, w: torch.Tensor) -> tuple[torch.Tensor, bool]:
        """``(c (..., n), largest)`` with ``φ = Σ_{m=1}^{n} c_{m−1} K_m(A)``, ``K = F``
        (exact: ``c_{m−1} = w_{m−1} − w_m``, ``c_{n−1} = w_{n−1}``) or ``K = E^α``
        (smoothed, ``largest=True``: ``c_{j−1} = w_{n−j} − w_{n−1−j}``, ``c_{n−1} = w_0``);
        ``K_n`` is ``tr A`` (``E^α_n = tr A − αn/2``). Differentiable in ``w``."""
        if self.smoothing is None:
            return w - torch.nn.functional.pad(w[..., 1:], (0, 1)), False
        flipped = w.flip(-1)
        return flipped - torch.nn.functional.pad(flipped[..., 1:], (0, 1)), True

    @staticmethod
    def window(n: int, index: int, half_width: int, *, dtype=None, device=None) -> torch.Tensor:
        """Weights ``(n,)`` equal to 1 on ``index − h … index + h`` (clipped to ``0 … n−1``),
        0 elsewhere: the Ky Fan window ``Σ_{|k − index| ≤ h} λ_k``. ``index`` may be negative
        (from the top)."""
        n = check_size(n)
        k = check_index("index", index, n, what="matrices") % n
        h = check_int("half_width", half_width, low=0)
        w = torch.zeros(n, dtype=dtype or torch.get_default_dtype(), device=device)
        w[max(0, k - h): k + h + 1] = 1.0
        return w

    @staticmethod
    def haversine(n: int, *, dtype=None, device=None) -> torch.Tensor:
        """Weights ``(n,)`` with ``w_i ∝ 1 + cos(π(i − s)/s)``, ``s = (n − 1)/2`` the middle,
        normalized to ``Σ w = 1`` (``n = 1``: ``[1]``): smooth, heaviest in the middle, zero
        at both ends."""
        n = check_size(n)
        if n == 1:
            return torch.ones(1, dtype=dtype or torch.get_default_dtype(), device=device)
        s = (n - 1) / 2
        i = torch.arange(n, dtype=torch.float64)
        w = 1 + torch.cos(math.pi * (i - s) / s)
        return (w / w.sum()).to(dtype=dtype or torch.get_default_dtype(), device=device)
