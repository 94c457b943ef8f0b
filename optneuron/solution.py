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
    first access.
    """

    def __init__(
        self,
        value: torch.Tensor,
        X: torch.Tensor | None = None,
        x: torch.Tensor | None = None,
        lift: Callable[[], tuple[torch.Tensor, torch.Tensor | None]] | None = None,
    ):
        self.value = value
        self._X = X
        self._x = x
        self._lift = lift

    def _materialize(self) -> None:
        if self._lift is not None:
            self._X, self._x = self._lift()
            self._lift = None

    @property
    def X(self) -> torch.Tensor | None:
        self._materialize()
        return self._X

    @property
    def x(self) -> torch.Tensor | None:
        self._materialize()
        return self._x

    def __repr__(self) -> str:
        return f"Solution(value={self.value!r})"
