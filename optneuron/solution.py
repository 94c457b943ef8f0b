"""``Solution``: what a layer returns — value, lifted solution ``X``, minimizer ``x``."""

from __future__ import annotations

from collections.abc import Callable

import torch

__all__ = ["Solution"]


class Solution:
    """The result of solving a batch of problems.

    ``value`` has the batch shape and is differentiable w.r.t. every datum (Danskin's
    theorem: the gradient w.r.t. ``A`` is the lifted solution ``X``; the problem's docstring
    states the others, e.g. ``2x`` w.r.t. ``b`` for ``TrustRegion``). ``X (..., n, n)`` is the
    lifted primal solution — ``q qᵀ`` for ``SphereQP``, the projector ``U Uᵀ`` for ``KyFan``,
    ``x xᵀ`` for ``TrustRegion`` and ``GeneralizedSphereQP``, or the SDP's optimal ``X``. ``x``
    holds the minimizer ``(..., n)`` (``SphereQP``, ``TrustRegion``, ``GeneralizedSphereQP``
    with ``xᵀBx = 1``) or the orthonormal minimizers ``(..., n, m)`` (``KyFan``) where the
    backend produces them, else ``None``. A backend may compute ``X`` and ``x`` lazily, on
    first access (``lift`` returns ``(X, x)``; its ``X`` may itself be a zero-argument
    callable, called when ``X`` is first read). On the eigen backend ``X`` and ``x`` of
    ``SphereQP``/``KyFan`` are differentiable w.r.t. ``A`` (exact away from ties, smoothed
    everywhere; theory/solution-derivatives.md), those of ``TrustRegion`` w.r.t. ``A`` and ``b``
    (away from the hard case) and of ``GeneralizedSphereQP`` w.r.t. ``A`` and ``B``; ``x``'s
    sign makes its largest-magnitude component positive (``TrustRegion``'s ``x`` has no sign
    freedom outside the hard case). The SDP backend's ``X`` is differentiable too, through the
    SDP's KKT system.

    ``gap`` (batch shape, or ``None`` where the backend does not provide it) is the distance
    from the selected eigenvalue(s) to the nearest eigenvalue outside the selection —
    ``min(λ_k − λ_{k−1}, λ_{k+1} − λ_k)`` for ``SphereQP(k)``, ``λ_m − λ_{m−1}`` for
    ``KyFan(m)``, of the reduced matrix ``L⁻¹AL⁻ᵀ`` for ``GeneralizedSphereQP`` — of the exact
    problem (also for a smoothed one). ``‖dx‖ ≤ ‖dA‖/gap``: the
    solution's derivative scales as ``1/gap`` and does not exist at ``gap = 0``.
    """

    def __init__(
        self,
        value: torch.Tensor,
        X: torch.Tensor | None = None,
        x: torch.Tensor | None = None,
        lift: Callable[[], tuple[torch.Tensor | Callable[[], torch.Tensor], torch.Tensor | None]]
        | None = None,
        gap: torch.Tensor | Callable[[], torch.Tensor] | None = None,
    ):
        self.value = value
        self._X = X
        self._x = x
        self._lift = lift
        self._gap = gap

    def _materialize(self) -> None:
        if self._lift is not None:
            self._X, self._x = self._lift()
            self._lift = None

    @property
    def X(self) -> torch.Tensor | None:
        self._materialize()
        if callable(self._X):  # a lift may defer X further, e.g. X = x xᵀ formed from x
            self._X = self._X()
        return self._X

    @property
    def x(self) -> torch.Tensor | None:
        self._materialize()
        return self._x

    @property
    def gap(self) -> torch.Tensor | None:
        if callable(self._gap):
            self._gap = self._gap()
        return self._gap

    def __repr__(self) -> str:
        return f"Solution(value={self.value!r})"
