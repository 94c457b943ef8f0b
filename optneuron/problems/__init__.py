"""Problems: frozen declarations of what a layer solves, with their data and its checks.

Every problem subclasses ``Problem`` (``base.py``): it names its data, validates it, and
states its value / solution / gradient contract and its SDP form. One module per family:

* ``spectral``: ``SphereQP`` (the k-th eigenvalue) and ``KyFan`` (Ky Fan sums), data ``A``;
* ``trust_region``: ``TrustRegion`` (``min xᵀAx + 2bᵀx`` on the sphere or ball), data ``A, b``;
* ``generalized``: ``GeneralizedSphereQP`` (``λ_k(A, B)``, ``B ≻ 0``), data ``A, B``;
* ``mixture``: ``EigenvalueMixture`` (``⟨w, λ(A)⟩``), data ``A, w``.

Adding a problem: docs/problems.md.
"""

from .base import Problem
from .generalized import GeneralizedSphereQP
from .mixture import EigenvalueMixture
from .spectral import FantopeTerm, KyFan, SphereQP
from .trust_region import TrustRegion

__all__ = ["Problem", "SphereQP", "KyFan", "FantopeTerm", "TrustRegion", "GeneralizedSphereQP",
           "EigenvalueMixture"]
