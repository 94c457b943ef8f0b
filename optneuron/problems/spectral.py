"""Spectral problems: eigenvalues and Ky Fan sums of one symmetric matrix ``A``.

A problem says *what* is computed from a symmetric matrix ``A`` (n × n); a backend
says *how*. Eigenvalues are ascending and indices 0-based; a negative index counts
from the top, exactly like ``torch.linalg.eigvalsh(A)[..., index]``.

Every problem here is a signed sum of Ky Fan terms (theory/ky-fan.md):

* ``F_m(A)   = min { <A, X> : tr X = m, 0 ⪯ X ⪯ I }``   (sum of the m smallest eigenvalues)
* ``E_m(A)   = max { <A, X> : tr X = m, 0 ⪯ X ⪯ I }``   (sum of the m largest)

and ``λ_k = F_{k+1} − F_k = E_{n−k} − E_{n−k−1}``. With ``smoothing=alpha`` each
term becomes its *aligned* Moreau envelope, ``F̂^α_m(A) = min <A, X> + (α/2)‖X‖²_F − αm/2``
and ``Ê^α_m(A) = max <A, X> − (α/2)‖X‖²_F + αm/2`` over the same Fantope (the constant
makes a term exact where the spectrum is separated by more than ``α`` at its cut;
``smoothing.envelope_shift``); ``fantope_terms`` lists the terms, so both backends solve the
same mathematical object.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from ..validation import check_index, check_int, check_optional_real
from .base import Problem, check_size

__all__ = ["SphereQP", "KyFan", "FantopeTerm"]


class FantopeTerm(NamedTuple):
    """One signed Ky Fan term ``coef · F_count`` (``largest=False``) or ``coef · E_count``."""

    coef: int
    count: int
    largest: bool


def check_smoothing(smoothing) -> float | None:
    """``None`` or a positive finite float (the Moreau envelope's ``α``)."""
    return check_optional_real("smoothing", smoothing, low=0.0, low_open=True)


@dataclass(frozen=True)
class SphereQP(Problem):
    """The k-th eigenvalue as a quadratic program on the unit sphere (Courant–Fischer).

    Data ``A (..., n, n)``. Value ``λ_k(A)``; gradient ``q_k q_kᵀ`` (a Clarke
    subgradient at a repeated eigenvalue); ``Solution.x`` the unit eigenvector ``q_k``,
    ``Solution.X = q_k q_kᵀ``. SDP form: the signed Fantope terms of ``fantope_terms``.

    ``λ_k(A) = min { xᵀ A x : ‖x‖ = 1, x ⟂ q_0, …, q_{k−1} }``; ``index=0`` is
    ``min xᵀAx`` on the sphere (concave in A), ``index=-1`` the maximum (convex).
    With ``smoothing=α`` the value is the aligned
    ``λ^α_k = Ê^α_{n−k}(A) − Ê^α_{n−k−1}(A) = E^α_{n−k}(A) − E^α_{n−k−1}(A) + α/2``, smooth
    everywhere, with ``|λ_k − λ^α_k| ≤ α/2`` uniformly in ``n`` and ``A``, and
    ``λ^α_k = λ_k`` wherever both neighbours of ``λ_k`` are more than ``α`` away
    (theory/smoothing.md). Its gradient is that of the unaligned envelopes.
    """

    index: int = 0
    smoothing: float | None = None

    def __post_init__(self):
        object.__setattr__(self, "index", check_int("index", self.index))
        object.__setattr__(self, "smoothing", check_smoothing(self.smoothing))

    def resolve_index(self, n: int) -> int:
        """The 0-based ascending index for size ``n``; ValueError if out of range."""
        # answers by matrix size, made on first use (not a field: equality, hash and repr
        # ignore it). Validation and eigen_range both resolve the index on every layer call,
        # and on a training step's path Python calls are what to count (docs/design.md).
        try:
            resolved = self._resolved
        except AttributeError:
            resolved = {}
            object.__setattr__(self, "_resolved", resolved)
        if type(n) is int and n in resolved:  # a size this problem already checked
            return resolved[n]
        n = check_size(n)
        k = check_index("index", self.index, n, what="matrices") % n
        resolved[n] = k
        return k

    def check_size(self, n: int) -> int:
        self.resolve_index(n)
        return n

    def eigen_range(self, n: int) -> tuple[int, int]:
        """Half-open range ``[lo, hi)`` of ascending eigenvalue indices the value depends on."""
        if self.smoothing is not None:
            self.resolve_index(n)
            return 0, n
        k = self.resolve_index(n)
        return k, k + 1

    def fantope_terms(self, n: int) -> tuple[FantopeTerm, ...]:
        """Ky Fan terms whose signed sum is the value (the fewest for the exact problem)."""
        k = self.resolve_index(n)
        top = n - 1 - k
        if self.smoothing is None and k <= top:
            terms = (FantopeTerm(1, k + 1, False), FantopeTerm(-1, k, False))
        else:
            terms = (FantopeTerm(1, top + 1, True), FantopeTerm(-1, top, True))
        return tuple(t for t in terms if t.count > 0)


@dataclass(frozen=True)
class KyFan(Problem):
    """Sum of the ``count`` smallest eigenvalues (or largest, ``largest=True``).

    Data ``A (..., n, n)``. Gradient and ``Solution.X``: the projector ``U Uᵀ`` onto the
    eigenvectors ``U (..., n, count)`` (``Solution.x``). SDP form: one Fantope program.

    ``F_m(A) = min { tr(UᵀAU) : UᵀU = I_m } = min { <A, X> : tr X = m, 0 ⪯ X ⪯ I }``;
    with ``largest=True``, ``E_m(A)`` = the max over the same sets. With ``smoothing=α``
    the aligned Moreau envelope of docs/design.md, ``F^α_m − α·m/2`` (``E^α_m + α·m/2``): it
    equals the exact sum where the ``count`` selected eigenvalues are more than ``α`` from the
    rest, and ``0 ≤ F_m − F̂^α_m ≤ α·m(n−m)/(2n)``, ``0 ≤ Ê^α_m − E_m ≤ α·m(n−m)/(2n)``
    everywhere (so ``≤ α·m/2``; exact for ``m = n``; theory/smoothing.md).
    """

    count: int = 1
    largest: bool = False
    smoothing: float | None = None

    def __post_init__(self):
        count = check_int("count", self.count, low=1)
        if not isinstance(self.largest, bool):
            raise TypeError(f"largest must be a bool, got {self.largest!r}")
        object.__setattr__(self, "count", count)
        object.__setattr__(self, "smoothing", check_smoothing(self.smoothing))

    def check_size(self, n: int) -> int:
        """``n`` if ``count ≤ n``, else ``ValueError`` naming ``count``."""
        n = check_size(n)
        if self.count > n:
            raise ValueError(f"count {self.count} is out of range for {n}x{n} matrices (1 .. {n})")
        return n

    def eigen_range(self, n: int) -> tuple[int, int]:
        """Half-open range ``[lo, hi)`` of ascending eigenvalue indices the value depends on."""
        n = self.check_size(n)
        if self.smoothing is not None:
            return 0, n
        return (n - self.count, n) if self.largest else (0, self.count)

    def fantope_terms(self, n: int) -> tuple[FantopeTerm, ...]:
        """The single Ky Fan term of this problem."""
        self.check_size(n)
        return (FantopeTerm(1, self.count, self.largest),)
