"""Generalized eigenvalues of a symmetric-definite pair ``(A, B)``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ..validation import check_index, check_int
from .base import Problem, broadcast_data, check_size
from .spectral import SphereQP, check_smoothing

__all__ = ["GeneralizedSphereQP"]


@dataclass(frozen=True)
class GeneralizedSphereQP(Problem):
    """The k-th generalized eigenvalue ``λ_k(A, B)`` of ``Ax = λBx``, ``B ≻ 0``.

    Courant–Fischer with ``B``-orthogonality (theory/generalized-courant-fischer.md):
    ``λ_0(A, B) = min { xᵀAx : xᵀBx = 1 }`` and ``λ_k(A, B) = λ_k(C)`` with the Cholesky
    factor ``B = LLᵀ`` and ``C = L⁻¹AL⁻ᵀ``. Indices as in ``SphereQP`` (negative from the
    top); ``smoothing=α`` smooths ``λ_k(C)`` exactly as ``SphereQP(index, smoothing=α)``.

    Data ``A (..., n, n)`` (dense or ``SymTridiagonal``) and ``B (..., n, n)`` symmetric
    positive definite (symmetrized as ``(B + Bᵀ)/2``; not positive definite → ``ValueError``
    naming ``B``), batch dimensions broadcast. With ``x = L⁻ᵀq_k`` (so ``xᵀBx = 1``) the
    gradients are ``∂/∂A = x xᵀ`` and ``∂/∂B = −λ x xᵀ``; smoothed: ``Σ_j w_j x_j x_jᵀ`` and
    ``−Σ_j w_j λ_j x_j x_jᵀ``. ``Solution.x = x`` (exact problems; its largest-magnitude
    component positive), ``Solution.X = x xᵀ``, both differentiable w.r.t. ``A`` and ``B`` away
    from ties (theory/solution-derivatives.md, section 6); ``Solution.gap`` is the reduced
    matrix's.

    SDP form: index 0 is ``min { ⟨A, X⟩ : ⟨B, X⟩ = 1, X ⪰ 0 }``; other indices are the
    difference of two ``B``-Fantope programs ``min { ⟨A, X⟩ : ⟨B, X⟩ = m, 0 ⪯ L ᵀXL ⪯ I }``.
    """

    index: int = 0
    smoothing: float | None = None
    data_names: ClassVar[tuple[str, ...]] = ("A", "B")

    def __post_init__(self):
        object.__setattr__(self, "index", check_int("index", self.index))
        object.__setattr__(self, "smoothing", check_smoothing(self.smoothing))

    @property
    def reduced(self) -> SphereQP:
        """The same eigenvalue problem for the reduced matrix ``C = L⁻¹AL⁻ᵀ``."""
        return SphereQP(self.index, smoothing=self.smoothing)

    def check_size(self, n: int) -> int:
        n = check_size(n)
        check_index("index", self.index, n, what="matrices")
        return n

    def validate_extra(self, A, B) -> tuple:
        A, B = broadcast_data(A, "B", B, trailing=2)
        return A, B / 2 + B.mT / 2
