"""The trust-region minimizer from an eigendecomposition: the safeguarded secular solve.

For ``A = Q diag(λ) Qᵀ`` (ascending ``λ``) and ``β = Qᵀb``, the minimizer of
``xᵀAx + 2bᵀx`` on ``‖x‖ = 1`` is ``x = Q y`` with ``y_i = −β_i / (λ_i − μ)`` and
``μ < λ_0`` the root of the secular equation ``‖y(μ)‖ = 1`` — or, in the hard case
(``β`` vanishes on the bottom eigenspace and ``‖(A − λ_0 I)⁺b‖ ≤ 1``), ``μ = λ_0`` and
``y = −(Λ − λ_0)⁺β + τ e_0`` with ``τ = (1 − ‖(Λ − λ_0)⁺β‖²)^½`` (theory/trust-region.md).

Writing ``t = λ_0 − μ > 0`` and ``d_i = λ_i − λ_0``, ``h(t) = 1/‖y(t)‖ − 1`` is increasing
and concave (Moré & Sorensen 1983), so Newton steps from either side of the root end up on
its left and then climb monotonically; the bracket ``‖β_C‖ ≤ t ≤ ‖b‖`` (``C`` the bottom
eigenspace) is kept and a step leaving it is replaced by bisection, so every row converges.
Everything is batched: one vectorized iteration serves all rows, converged rows stay put.
"""

from __future__ import annotations

import torch

__all__ = ["trust_region_coordinates"]

_MAX_STEPS = 200  # Newton normally needs < 10; bisection alone halves a bracket in ≤ ~110


def _secular_root(beta2, d, c2, lo, hi, eps, active):
    """Root ``t`` of ``h(t) = 1/‖y(t)‖ − 1`` with ``‖y(t)‖² = Σ β_i²/(d_i + t)² + c2/t²``.

    ``beta2, d`` ``(B, n)`` (``d_i = 0`` rows of the bottom eigenspace carry ``β_i² = 0``
    here: their mass is ``c2``), bracket ``lo ≤ t ≤ hi`` ``(B,)`` with ``h(lo) ≤ 0 ≤ h(hi)``;
    rows outside ``active`` are left at ``hi``.
    """
    t = hi.clone()
    for _ in range(_MAX_STEPS):
        if not bool(active.any()):
            break
        # terms without mass contribute nothing (and 1/d is inf on the bottom eigenspace)
        inv = torch.where(beta2 > 0, 1.0 / (d + t[:, None]), torch.zeros_like(d))
        safe_t = torch.where(t > 0, t, torch.ones_like(t))
        norm2 = (beta2 * inv * inv).sum(-1) + c2 / (safe_t * safe_t)
        slope = (beta2 * inv**3).sum(-1) + c2 / safe_t**3
        norm = norm2.sqrt()
        h = 1.0 / norm - 1.0
        lo = torch.where(h <= 0, t, lo)
        hi = torch.where(h >= 0, t, hi)
        done = (h.abs() <= 4 * eps) | (hi - lo <= 4 * eps * hi)
        active = active & ~done
        step = t - h * norm**3 / slope
        inside = (step > lo) & (step < hi) & torch.isfinite(step)
        step = torch.where(inside, step, (lo + hi) / 2)
        t = torch.where(active, step, t)
    return t


def trust_region_coordinates(lam: torch.Tensor, beta: torch.Tensor, ball: bool) -> torch.Tensor:
    """The minimizer's coordinates ``y = Qᵀx`` ``(B, n)`` from ascending eigenvalues ``lam``
    and ``beta = Qᵀb`` (both ``(B, n)``), for the sphere (``ball=False``) or the ball.

    Eigenvalues within ``16·n·ε·s`` of ``λ_0`` (``s = max(|λ|, ‖b‖)``) count as the bottom
    eigenspace, and ``β`` below that size on it counts as zero (the hard case): the value
    then moves by ``O(n·ε·s)``, within the accuracy of the eigenvalues themselves.
    """
    n = lam.shape[-1]
    eps = torch.finfo(lam.dtype).eps
    bnorm = beta.norm(dim=-1)
    scale = torch.maximum(lam.abs().amax(-1), bnorm).clamp_min(torch.finfo(lam.dtype).tiny)
    tol = (16 * n * eps) * scale
    d = lam - lam[:, :1]
    bottom = d <= tol[:, None]
    d = torch.where(bottom, torch.zeros_like(d), d)
    c2 = (beta * beta * bottom).sum(-1)
    beta2 = beta * beta * ~bottom
    # the hard case: no mass on the bottom eigenspace and (Λ − λ_0)⁺β inside the sphere
    safe_d = torch.where(bottom, torch.ones_like(d), d)
    y_pinv = torch.where(bottom, torch.zeros_like(d), -beta / safe_d)
    hard = (c2.sqrt() <= tol) & ((y_pinv * y_pinv).sum(-1) <= 1)

    lo = torch.where(hard, torch.zeros_like(bnorm), c2.sqrt())
    hi = torch.where(hard, torch.ones_like(bnorm), torch.maximum(bnorm, lo))
    t = _secular_root(beta2, d, c2, lo, hi, eps, ~hard)  # hard rows: t = 1, replaced below
    y = -beta / (d + t[:, None])
    y = y / y.norm(dim=-1, keepdim=True).clamp_min(torch.finfo(lam.dtype).tiny)

    tau = (1 - (y_pinv * y_pinv).sum(-1)).clamp_min(0).sqrt()
    # the bottom eigenvector's sign is free; against β_0 it is the better one when β_0 ≠ 0
    sign = torch.where(beta[:, 0] > 0, -torch.ones_like(tau), torch.ones_like(tau))
    y_hard = y_pinv.clone()
    y_hard[:, 0] = sign * tau
    y = torch.where(hard[:, None], y_hard, y)

    if ball:
        positive = lam[:, 0] > tol
        safe_lam = torch.where(positive[:, None], lam, torch.ones_like(lam))
        y_inner = -beta / safe_lam
        interior = positive & ((y_inner * y_inner).sum(-1) <= 1)
        y = torch.where(interior[:, None], y_inner, y)
    return y
