"""The trust-region problem: a nonconvex QP on the sphere (or ball) solved exactly."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from .base import Problem, broadcast_data, check_size

__all__ = ["TrustRegion"]


@dataclass(frozen=True)
class TrustRegion(Problem):
    """``min { xᵀAx + 2bᵀx : ‖x‖ = 1 }`` (``ball=True``: ``‖x‖ ≤ 1``).

    Data ``A (..., n, n)`` (dense or ``SymTridiagonal``) and ``b (..., n)``, batch
    dimensions broadcast. Optimality (theory/trust-region.md): ``x`` is a minimizer iff
    ``(A − μI)x = −b`` and ``A − μI ⪰ 0`` for some ``μ`` (ball: also ``μ ≤ 0`` and
    ``μ(‖x‖ − 1) = 0``). ``μ < λ_min`` solves the secular equation ``‖(A − μI)⁻¹b‖ = 1``;
    in the *hard case* (``b ⟂`` the bottom eigenspace and ``‖(A − λ_min I)⁺b‖ < 1``)
    ``μ = λ_min`` and a bottom eigenvector completes ``x`` to the sphere; with ``b = 0`` the
    value is ``λ_min`` (ball: ``min(λ_min, 0)``).

    Value: the minimum, concave in ``(A, b)`` (a minimum of affine functions). Gradient
    (Danskin): ``∂/∂A = x xᵀ``, ``∂/∂b = 2x``. ``Solution.x`` the minimizer ``(..., n)``,
    ``Solution.X = x xᵀ`` (the SDP backend: its optimal ``X``), both differentiable away from
    the hard case: ``dx = −M⁻¹(dA x + db) + dμ M⁻¹x`` with ``M = A − μI``,
    ``dμ = xᵀM⁻¹(dA x + db)/xᵀM⁻¹x`` (ball interior: ``dx = −A⁻¹(dA x + db)``;
    theory/solution-derivatives.md, section 5).

    SDP form (S-lemma; tight): ``min ⟨A, X⟩ + 2bᵀx`` over ``[[X, x], [xᵀ, 1]] ⪰ 0`` with
    ``tr X = 1`` (ball: ``tr X ≤ 1``).
    """

    ball: bool = False
    data_names: ClassVar[tuple[str, ...]] = ("A", "b")

    def __post_init__(self):
        if not isinstance(self.ball, bool):
            raise TypeError(f"ball must be a bool, got {self.ball!r}")

    def check_size(self, n: int) -> int:
        return check_size(n)

    def validate_extra(self, A, b) -> tuple:
        return broadcast_data(A, "b", b, trailing=1)
