"""``OptLayer``: the one interface — a problem, solved by a backend, as a PyTorch module."""

from __future__ import annotations

import torch

from .backends import get_backend
from .matrices import as_symmetric, matrix_size
from .problems import KyFan, SphereQP
from .solution import Solution

__all__ = ["OptLayer", "Solution"]

_PROBLEMS = (SphereQP, KyFan)


class OptLayer(torch.nn.Module):
    """Solve ``problem`` for a batch of symmetric matrices with the backend ``backend``.

    ``layer(A)`` takes a dense ``(..., n, n)`` tensor (symmetrized as ``(A + Aᵀ)/2``) or a
    ``SymTridiagonal`` and returns a ``Solution``: ``.value`` with the batch shape,
    differentiable w.r.t. ``A`` on every backend (gradient = the lifted solution ``X``);
    ``.X`` the lifted solution ``(..., n, n)``; ``.x`` the minimizer(s) or ``None``.
    ``options`` go to the backend (eigen: ``method``; sdp: ``solver_args``,
    ``feasibility_tol``, ``optimality_tol``).
    """

    def __init__(self, problem, backend: str = "eigen", **options):
        super().__init__()
        if not isinstance(problem, _PROBLEMS):
            raise TypeError(
                f"problem must be a SphereQP or KyFan, got {type(problem).__name__}"
            )
        self.problem = problem
        self.backend = get_backend(backend, **options)

    def forward(self, A) -> Solution:
        A = as_symmetric(A, check_finite=not getattr(self.backend, "checks_finite", False))
        n = matrix_size(A)
        self.problem.eigen_range(n)  # index / count against n: raises ValueError
        return self.backend.solve(self.problem, A)

    def extra_repr(self) -> str:
        return f"problem={self.problem}, backend={self.backend!r}"
