"""The SDP backend's solve for ``EigenvalueMixture``: a signed sum of Fantope programs.

``φ = Σ_{m=1}^{n} c_{m−1} K_m(A)`` (``EigenvalueMixture.ky_fan_coefficients``: ``K = F`` for
the exact mixture, ``K = E^α`` smoothed; ``K_n`` is ``tr A``, smoothed ``tr A − αn/2``).
Each ``K_m`` with ``m < n`` is one Fantope SDP solved, certified and differentiated by
``SDPBackend._solve_term``; the value is
``Σ c_{m−1} (⟨A, X_m⟩ ∓ (α/2)‖X_m‖²)`` at the detached optima (Danskin in ``A``, linear in
``w``), and ``Solution.X = Σ c_{m−1} X_m`` (``X_n = I``) (differentiable where each ``X_m`` is).
A term whose coefficient is zero in every row is skipped unless ``w`` requires grad (its value
is then ``∂φ/∂c``).
The smoothed terms carry ``−(α/2)‖X‖²`` (``E^α``) as in ``sdp.SDPBackend.solve_spectral``.
"""

from __future__ import annotations

import torch

from ..matrices import SymTridiagonal
from ..problems import EigenvalueMixture
from ..smoothing import envelope_shift
from ..solution import Solution
from .dispatch import SDP

__all__ = ["solve_mixture_sdp"]


@SDP.solves(EigenvalueMixture)
def solve_mixture_sdp(backend, problem, A, w) -> Solution:
    """``⟨w, λ(A)⟩`` as signed Fantope terms (module docstring) for a batch."""
    if isinstance(A, SymTridiagonal):
        A = A.to_dense()
    n = A.shape[-1]
    batch = A.shape[:-2]
    flat, w_flat = A.reshape(-1, n, n), w.reshape(-1, n)
    coefs, largest = problem.ky_fan_coefficients(w_flat)
    alpha = problem.smoothing
    sign = -1.0 if largest else 1.0
    value = flat.new_zeros(flat.shape[0])
    X_total = torch.zeros_like(flat)
    for m in range(1, n + 1):  # m = n: X = I, the term tr A (aligned smoothing keeps it exact)
        c = coefs[:, m - 1]
        if not w.requires_grad and not bool((c != 0).any()):
            continue
        X = backend._solve_term(-flat if largest else flat, m, alpha)
        Xd = X.detach()
        term = (flat * Xd).sum((-2, -1))
        if alpha is not None:  # the Moreau term, then the alignment (smoothing.envelope_shift)
            term = (term + sign * (alpha / 2) * (Xd * Xd).sum((-2, -1))
                    + envelope_shift(m, largest, alpha))
        value = value + c * term
        X_total = X_total + c[:, None, None] * X
    return Solution(value.reshape(batch), X_total.reshape(*batch, n, n), None)
