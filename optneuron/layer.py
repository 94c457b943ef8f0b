"""``OptLayer``: the one interface — a problem, solved by a backend, as a PyTorch module."""

from __future__ import annotations

import torch

from .backends import get_backend
from .matrices import SymTridiagonal
from .problems import Problem
from .solution import Solution

__all__ = ["OptLayer", "Solution", "full_precision"]

_HALF = (torch.float16, torch.bfloat16)


def full_precision(datum):
    """``datum`` in float32 if it is a half-precision tensor (float16/bfloat16), else as is."""
    if isinstance(datum, torch.Tensor) and datum.dtype in _HALF:
        return datum.float()
    return datum


def _autocast_device(datum) -> str | None:
    """The device type of ``datum`` (a tensor or a ``SymTridiagonal``) if an autocast region is
    active for it, else None (also for types autocast does not know: nothing to turn off)."""
    tensor = datum.diag if isinstance(datum, SymTridiagonal) else datum
    # a tensor's CPU flag before its device: .device builds an object on every call
    device = "cpu" if tensor.is_cpu else tensor.device.type
    try:
        return device if torch.is_autocast_enabled(device) else None
    except RuntimeError:
        return None


class OptLayer(torch.nn.Module):
    """Solve ``problem`` for a batch of data with the backend ``backend``.

    ``layer(*data)`` takes the problem's data (``problem.data_names``): ``layer(A)`` for
    ``SphereQP``/``KyFan``, ``layer(A, b)`` for ``TrustRegion``, ``layer(A, B)`` for
    ``GeneralizedSphereQP``. ``A`` is a dense ``(..., n, n)`` tensor (symmetrized as
    ``(A + Aᵀ)/2``) or a ``SymTridiagonal``; batch dimensions of all data broadcast as in
    torch. Returns a ``Solution``: ``.value`` with the batch shape, differentiable w.r.t. every
    datum on every backend (the gradient contract is in the problem's docstring); ``.X`` the
    lifted solution ``(..., n, n)``; ``.x`` the minimizer(s) or ``None``. ``options`` go to the
    backend (eigen: ``method``; sdp: ``solver_args``, ``feasibility_tol``, ``optimality_tol``).

    Mixed precision: half-precision data (``float16``/``bfloat16``, e.g. activations under
    ``torch.autocast``) is solved in float32 with autocast off, and the solution is float32:
    eigenvalues and their derivatives lose all accuracy in 8–11-bit mantissas.
    """

    def __init__(self, problem, backend: str = "eigen", **options):
        super().__init__()
        if not isinstance(problem, Problem):
            raise TypeError(
                "problem must be an optneuron.problems.Problem (SphereQP, KyFan, TrustRegion, "
                f"GeneralizedSphereQP, ...), got {type(problem).__name__}"
            )
        self.problem = problem
        self.backend = get_backend(backend, **options)
        # a backend that tests nan/inf itself (the eigen backend) spares validation the test
        self._check_finite = not getattr(self.backend, "checks_finite", False)

    def forward(self, *data) -> Solution:
        data = self.problem.validate(*map(full_precision, data), check_finite=self._check_finite)
        device = _autocast_device(data[0])
        if device is not None:
            with torch.autocast(device, enabled=False):
                return self.backend.solve(self.problem, *data)
        # no autocast region is active: entering a disabled one would change nothing, and a
        # context manager per call is a visible share of a small training step
        return self.backend.solve(self.problem, *data)

    def extra_repr(self) -> str:
        return f"problem={self.problem}, backend={self.backend!r}"
