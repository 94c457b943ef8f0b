"""Aligned Moreau envelopes of Ky Fan sums in closed form (docs/design.md, "Smoothing"; proofs
in theory/smoothing.md).

For eigenvalues ``μ`` of ``A`` (eigenvectors ``Q``), the envelope of the sum of the ``m``
largest eigenvalues,

    E^α_m(A) = max { <A, X> − (α/2)‖X‖²_F : tr X = m, 0 ⪯ X ⪯ I },

is ``<w, μ> − (α/2)‖w‖²`` with ``w`` the Euclidean projection of ``μ/α`` onto the capped
simplex ``{0 ≤ w ≤ 1, Σ w = m}``; its gradient is ``Q diag(w) Qᵀ``. The smallest-sum
envelope is ``F^α_m(A) = −E^α_m(−A)``.

The package's smoothed terms are *aligned*: ``Ê^α_m = E^α_m + αm/2`` and
``F̂^α_m = F^α_m − αm/2`` (``envelope_shift``). The shift is a constant, so gradients and the
optimal ``X`` are unchanged; it makes a term exact whenever the ``m``-th and ``(m+1)``-th
eigenvalues (counted from its side) are more than ``α`` apart, and so makes the smoothed
``λ_k = Ê^α_{p+1} − Ê^α_p`` exact where both its gaps exceed ``α``, within ``α/2`` always.
Every smoothed problem that sums terms from ``fantope_envelope`` is aligned by construction;
code that evaluates a term another way (an SDP's objective, a cvxpy form) adds
``envelope_shift`` itself.
"""

from __future__ import annotations

import torch

__all__ = ["capped_simplex_projection", "envelope_shift", "fantope_envelope"]


def capped_simplex_projection(v: torch.Tensor, total: float) -> torch.Tensor:
    """Euclidean projection of ``v (..., n)`` onto ``{w : 0 ≤ w ≤ 1, Σ w = total}``.

    The projection is ``w_i = clip(v_i − τ, 0, 1)`` where ``g(τ) = Σ clip(v_i − τ, 0, 1)``
    equals ``total``; ``g`` is piecewise linear with breakpoints ``v_i`` and ``v_i − 1``,
    so ``τ`` is found exactly by evaluating ``g`` at every breakpoint and interpolating
    (``O(n²)`` per vector, vectorized: the sizes here are small).
    """
    n = v.shape[-1]
    if not 0 <= total <= n:
        raise ValueError(f"total must lie in [0, {n}] for vectors of length {n}, got {total}")
    breaks = torch.cat([v, v - 1], dim=-1).sort(dim=-1).values
    g = (v.unsqueeze(-2) - breaks.unsqueeze(-1)).clamp(0, 1).sum(-1)  # nonincreasing
    j = ((g >= total).sum(-1, keepdim=True) - 1).clamp(0, 2 * n - 2)
    b0, b1 = breaks.gather(-1, j), breaks.gather(-1, j + 1)
    g0, g1 = g.gather(-1, j), g.gather(-1, j + 1)
    drop = g0 - g1
    safe = torch.where(drop > 0, drop, torch.ones_like(drop))
    tau = torch.where(drop > 0, b0 + (g0 - total) * (b1 - b0) / safe, b0)
    return (v - tau).clamp(0, 1)


def envelope_shift(count: int, largest: bool, alpha: float) -> float:
    """The alignment ``+αm/2`` of a largest-sum term ``E^α_m`` (``−αm/2`` for ``F^α_m``).

    ``E_m − E^α_m = αm/2`` exactly when the top ``m`` eigenvalues are separated from the rest
    by at least ``α`` (the projection is then the 0/1 indicator, ``‖w‖² = m``), so
    ``E^α_m + αm/2`` equals ``E_m`` there; in general
    ``−αm(n−m)/(2n) ≤ E_m − (E^α_m + αm/2) ≤ 0`` (theory/smoothing.md, 3).
    """
    return (1.0 if largest else -1.0) * alpha * count / 2


def fantope_envelope(
    eigenvalues: torch.Tensor, count: int, largest: bool, alpha: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Value and eigenvalue weights of the aligned ``E^α_count + α·count/2`` (``largest``) or
    ``F^α_count − α·count/2``.

    ``eigenvalues (..., n)`` ascending; returns ``(value (...), w (..., n))`` with the
    gradient of the value w.r.t. ``A`` equal to ``Q diag(w) Qᵀ``. The value is
    ``<w, μ> ∓ (α/2)(‖w‖² − count)``.
    """
    sign = 1.0 if largest else -1.0
    # The projection is invariant to shifting v by a constant; centring and working in
    # float64 keep the weights accurate when α ≪ ‖A‖ (in float32, μ/α would carry an
    # absolute error eps·‖A‖/α into w and break the α bounds of the envelope).
    mu = eigenvalues.to(torch.float64)
    v = sign * (mu - mu.mean(-1, keepdim=True)) / alpha
    w = capped_simplex_projection(v, float(count)).to(eigenvalues.dtype)
    # −(α/2)‖w‖² + αm/2 as one factor: exactly 0 when w is 0/1, so the aligned value is the
    # exact Ky Fan sum to rounding where the spectrum is separated at the cut.
    value = (w * eigenvalues).sum(-1) - sign * (alpha / 2) * ((w * w).sum(-1) - count)
    return value, w
