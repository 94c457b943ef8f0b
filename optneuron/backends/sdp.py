"""The SDP backend: each problem solved as its tight convex relaxation (cvxpy + cvxpylayers).

A problem is a signed sum of Ky Fan terms (``problem.fantope_terms``); each term is one
Fantope SDP

    F^α_m(S) = min { <S, X> + (α/2)‖X‖²_F : tr X = m, 0 ⪯ X ⪯ I }     (α = 0 if exact)

with ``S = A`` for a smallest-sum term and ``S = −A`` for a largest-sum one
(``E^α_m(A) = −F^α_m(−A)``). For ``m = 1`` the constraint ``X ⪯ I`` is implied and
dropped (the spectraplex). One DPP problem per ``(n, m, smoothed)`` is compiled once and
cached; cvxpylayers solves a whole batch and differentiates ``X`` w.r.t. ``A``.

The value's gradient is the optimal ``X`` (Danskin: ``∂/∂A min_X <A, X> = X*``): for one Ky Fan
term any optimal ``X`` lies in the (Clarke) subdifferential, also at repeated eigenvalues where
the solution map is not differentiable; for a middle index, ``X*_{k+1} − X*_k`` from two solves
is a member because the interior-point solver returns the central (rotation-invariant) optimum,
not by Danskin alone (theory/clarke.md, "Caveat"). ``Solution.X`` stays differentiable
through cvxpylayers.

Each matrix is divided by its spectral radius ``s`` before the solve (and ``α`` by the
same ``s``: ``F^α_m(S) = s·F^{α/s}_m(S/s)`` with the same optimal ``X``), because the
solver's tolerances are absolute: unscaled, any feasible ``X`` passes them when ``‖A‖`` is
below ~1e-8.

diffcp does not report Clarabel's status (a solve stopped by ``max_iter`` or
``time_limit`` comes back as if it were optimal), so every returned ``X`` is certified:

- feasible: finite, ``|tr X − m|`` and the eigenvalues of ``X`` outside ``[0, 1]`` within
  ``feasibility_tol``;
- optimal: its objective exceeds the optimum ``F^α_m(S)`` — computed from LAPACK's
  ``eigvalsh`` of ``S`` in float64 (the closed form of docs/design.md, not the eigen backend's
  kernels) — by at most ``optimality_tol · max(1, m) · max(‖S‖₂, α)``.

A point that fails raises ``SDPSolverError`` naming the status it amounts to.

``TrustRegion`` and ``GeneralizedSphereQP`` have their own formulations (``sdp_forms``), found
like the Fantope one through the ``dispatch.SDP`` table.
"""

from __future__ import annotations

import functools

import torch

from ..matrices import SymTridiagonal
from ..problems import KyFan, SphereQP
from ..smoothing import fantope_envelope
from ..solution import Solution
from . import sdp_forms  # noqa: F401  (its @solves register the non-spectral problems)
from .dispatch import SDP
from .sdp_errors import SDPSolverError

__all__ = ["SDPBackend", "SDPSolverError"]

# Clarabel's default gaps (1e-8) leave ~1e-4 error in the smoothed problems' X (an error δ
# in a strongly convex objective moves X by ~(2δ/α)^½); 1e-12 costs no measurable time here.
DEFAULT_SOLVER_ARGS = {
    "solve_method": "Clarabel",
    "tol_gap_abs": 1e-12,
    "tol_gap_rel": 1e-12,
    "tol_feas": 1e-12,
}


@functools.cache
def _fantope_layer(n: int, m: int, smoothed: bool):
    """CvxpyLayer for ``min <S, X> (+ (α/2)‖X‖²) s.t. tr X = m, 0 ⪯ X ⪯ I``, params ``S[, α]``."""
    import cvxpy as cp
    import numpy as np
    from cvxpylayers.torch import CvxpyLayer

    S = cp.Parameter((n, n), symmetric=True)
    X = cp.Variable((n, n), symmetric=True)
    constraints = [X >> 0, cp.trace(X) == m]
    if m > 1:
        constraints.append(np.eye(n) - X >> 0)
    objective = cp.sum(cp.multiply(S, X))
    params = [S]
    if smoothed:
        alpha = cp.Parameter(nonneg=True)
        objective = objective + alpha / 2 * cp.sum_squares(X)
        params.append(alpha)
    problem = cp.Problem(cp.Minimize(objective), constraints)
    assert problem.is_dpp()
    return CvxpyLayer(problem, parameters=params, variables=[X])


class SDPBackend:
    """Solve problems as Fantope / spectraplex SDPs with cvxpylayers (Clarabel via diffcp).

    ``solver_args`` go to diffcp and on to the solver's settings (default: Clarabel with gap
    and feasibility tolerances 1e-12 — values then agree with ``eigvalsh`` to ~1e-9; SCS's
    defaults only to ~2e-5, so SCS needs a looser ``optimality_tol``). ``feasibility_tol``
    bounds the accepted violation of ``tr X = m`` and ``0 ⪯ X ⪯ I``; ``optimality_tol`` the
    accepted objective gap, relative to ``max(1, m) · max(‖S‖₂, α)`` (module docstring).
    """

    name = "sdp"

    def __init__(
        self,
        solver_args: dict | None = None,
        feasibility_tol: float = 1e-6,
        optimality_tol: float = 1e-6,
    ):
        if solver_args is not None and not isinstance(solver_args, dict):
            raise TypeError(f"solver_args must be a dict or None, got {type(solver_args).__name__}")
        if not feasibility_tol > 0:
            raise ValueError(f"feasibility_tol must be positive, got {feasibility_tol!r}")
        if not optimality_tol > 0:
            raise ValueError(f"optimality_tol must be positive, got {optimality_tol!r}")
        self.solver_args = dict(DEFAULT_SOLVER_ARGS if solver_args is None else solver_args)
        self.feasibility_tol = float(feasibility_tol)
        self.optimality_tol = float(optimality_tol)

    def solve(self, problem, *data) -> Solution:
        """``problem`` on its validated data, by the solve registered for its class."""
        return SDP.lookup(problem)(self, problem, *data)

    def solve_spectral(self, problem, A) -> Solution:
        """A signed sum of Fantope terms (module docstring) for a batch ``A``."""
        if isinstance(A, SymTridiagonal):
            A = A.to_dense()
        n = A.shape[-1]
        batch = A.shape[:-2]
        flat = A.reshape(-1, n, n)
        alpha = problem.smoothing
        value = flat.new_zeros(flat.shape[0])
        X_total = torch.zeros_like(flat)
        for term in problem.fantope_terms(n):
            S = -flat if term.largest else flat
            X = self._solve_term(S, term.count, alpha)
            Xd = X.detach()
            sign = -1.0 if term.largest else 1.0
            term_value = (flat * Xd).sum((-2, -1))
            if alpha is not None:
                term_value = term_value + sign * (alpha / 2) * (Xd * Xd).sum((-2, -1))
            value = value + term.coef * term_value
            X_total = X_total + term.coef * X
        return Solution(value.reshape(batch), X_total.reshape(*batch, n, n), None)

    def _solve_term(self, S: torch.Tensor, m: int, alpha: float | None) -> torch.Tensor:
        """Optimal ``X`` of ``F^α_m(S)`` for a flat batch ``S (B, n, n)``."""
        B, n, _ = S.shape
        if m == n or B == 0:
            # The Fantope with tr X = n is the single point I (an SDP solver would see
            # no strictly feasible point); an empty batch has nothing to solve.
            return torch.eye(n, dtype=S.dtype, device=S.device).expand(B, n, n).clone()
        S64 = S.to("cpu", torch.float64)
        S_ref = S64.detach()
        mu = torch.linalg.eigvalsh(S_ref)
        # Spectral radius as the scale (1 for S = 0); detached, because X(S/s, α/s) equals
        # X(S, α) for every s > 0, so s carries no derivative.
        radius = mu.abs().amax(-1)
        scale = torch.where(radius > 0, radius, torch.ones_like(radius))
        params = [S64 / scale[:, None, None]]
        if alpha is not None:
            params.append(alpha / scale)
        layer = _fantope_layer(n, m, alpha is not None)
        try:
            (X,) = layer(*params, solver_args=self.solver_args)
        except Exception as err:  # diffcp/clarabel failures carry their status in the message
            raise SDPSolverError(
                f"SDP solve failed for a Fantope problem (n={n}, m={m}): "
                f"status: {type(err).__name__}: {err}"
            ) from err
        Xd = X.detach()
        self._check_feasible(Xd, m)
        self._check_optimal(S_ref, Xd, mu, radius, m, alpha)
        return X.to(S.device, S.dtype)

    def _check_feasible(self, X: torch.Tensor, m: int) -> None:
        if not bool(torch.isfinite(X).all()):
            raise SDPSolverError(f"SDP solver returned a non-finite X (status: failure, m={m})")
        tol = self.feasibility_tol * max(1, m)
        trace_gap = (X.diagonal(dim1=-2, dim2=-1).sum(-1) - m).abs().max().item()
        eig = torch.linalg.eigvalsh((X + X.mT) / 2)
        low, high = eig.min().item(), eig.max().item()
        if trace_gap > tol or low < -tol or high > 1 + tol:
            raise SDPSolverError(
                f"SDP solver returned an infeasible X (status: infeasible/inaccurate, m={m}): "
                f"|tr X - m| = {trace_gap:.2e}, eigenvalues of X in [{low:.3e}, {high:.3e}], "
                f"tolerance {tol:.1e}"
            )

    def _check_optimal(
        self,
        S: torch.Tensor,
        X: torch.Tensor,
        mu: torch.Tensor,
        radius: torch.Tensor,
        m: int,
        alpha: float | None,
    ) -> None:
        """Objective of ``X`` minus the closed-form optimum (from the eigenvalues ``mu`` of
        ``S``, spectral radius ``radius``), against ``optimality_tol``."""
        objective = (S * X).sum((-2, -1))
        if alpha is None:
            optimum = mu[:, :m].sum(-1)
        else:
            objective = objective + (alpha / 2) * (X * X).sum((-2, -1))
            optimum, _ = fantope_envelope(mu, m, largest=False, alpha=alpha)
        scale = radius.clamp_min(alpha or 0.0)
        gap = (objective - optimum) / scale.clamp_min(torch.finfo(torch.float64).tiny)
        worst = gap.abs().max().item()
        if worst > self.optimality_tol * max(1, m):
            raise SDPSolverError(
                f"SDP solver returned a feasible but not optimal X (status: not optimal, m={m}): "
                f"objective gap {worst:.2e} relative to max(‖S‖₂, α), "
                f"tolerance {self.optimality_tol * max(1, m):.1e}; the solver likely stopped "
                f"early (max_iter/time_limit) or its tolerances are loose"
            )

    def __repr__(self) -> str:
        return f"SDPBackend(solver_args={self.solver_args!r})"


SDP.solves(SphereQP, KyFan)(SDPBackend.solve_spectral)
