"""The SDP backend: each problem solved as its tight convex relaxation (Clarabel or SCS).

A problem is a signed sum of Ky Fan terms (``problem.fantope_terms``); each term is one
Fantope SDP

    F^α_m(S) = min { <S, X> + (α/2)‖X‖²_F : tr X = m, 0 ⪯ X ⪯ I }     (α = 0 if exact)

with ``S = A`` for a smallest-sum term and ``S = −A`` for a largest-sum one
(``E^α_m(A) = −F^α_m(−A)``); a smoothed term's value then gets the constant alignment
``smoothing.envelope_shift`` (``−αm/2`` for an F-term, ``+αm/2`` for an E-term), which moves
no ``X``. For ``m = 1`` the constraint ``X ⪯ I`` is implied and dropped (the spectraplex).
``fantope_sdp.solve_fantope`` poses it in the solvers' conic standard form and solves a
whole batch; ``fantope_sdp.FantopeKKTDerivative`` differentiates ``X`` w.r.t. ``A`` through
the SDP's KKT system at the solver's primal and dual point (not through diffcp, whose
derivative is wrong for Clarabel and PSD cones of size ≥ 4: docs/sdp-derivative.md).

The value's gradient is the optimal ``X`` (Danskin: ``∂/∂A min_X <A, X> = X*``): for one Ky Fan
term any optimal ``X`` lies in the (Clarke) subdifferential, also at repeated eigenvalues where
the solution map is not differentiable; for a middle index, ``X*_{k+1} − X*_k`` from two solves
is a member because the interior-point solver returns the central (rotation-invariant) optimum,
not by Danskin alone (theory/clarke.md, "Caveat"). ``Solution.X`` is differentiable
where the solution map is: strict complementarity, a gap between the selected eigenvalues and
the rest.

Each matrix is divided by its spectral radius ``s`` before the solve (and ``α`` by the
same ``s``: ``F^α_m(S) = s·F^{α/s}_m(S/s)`` with the same optimal ``X``), because the
solver's tolerances are absolute: unscaled, any feasible ``X`` passes them when ``‖A‖`` is
below ~1e-8.

A solve the solver reports as failed raises ``SDPSolverError`` with its status; every
other returned ``X`` is certified:

- feasible: finite, ``|tr X − m|`` and the eigenvalues of ``X`` outside ``[0, 1]`` within
  ``feasibility_tol``;
- optimal: its objective exceeds the optimum ``F^α_m(S)`` — computed from LAPACK's
  ``eigvalsh`` of ``S`` in float64 (the closed form, ``smoothing.py``'s for ``α > 0``; not
  the eigen backend's kernels) — by at most ``optimality_tol · max(1, m) · max(‖S‖₂, α)``.

A point that fails raises ``SDPSolverError`` naming the status it amounts to.

``TrustRegion`` and ``GeneralizedSphereQP`` have their own formulations (``sdp_forms``), found
like the Fantope one through the ``dispatch.SDP`` table.
"""

from __future__ import annotations

import torch

from ..matrices import SymTridiagonal
from ..problems import KyFan, SphereQP
from ..smoothing import envelope_shift, fantope_envelope
from ..solution import Solution
from . import (
    sdp_forms,  # noqa: F401  (its @solves register the non-spectral problems)
    sdp_mixture,  # noqa: F401  (EigenvalueMixture's signed Fantope terms)
)
from .dispatch import SDP
from .fantope_sdp import FantopeKKTDerivative, solve_fantope, split_solver_args
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




def _rotated(certified_solve, S_scaled, S_ref, mu, radius, m, alpha, alpha_scaled):
    """``certified_solve`` on ``QᵀSQ`` for a fixed orthogonal ``Q``, mapped back: the primal
    and the matrix duals rotate (``X = Q X' Qᵀ``), the trace multiplier does not."""
    n = S_ref.shape[-1]
    G = torch.randn(n, n, generator=torch.Generator().manual_seed(n), dtype=torch.float64)
    Q, _ = torch.linalg.qr(G)

    def turn(M):
        return Q.mT @ M @ Q

    def back(M):
        return None if M is None else Q @ M @ Q.mT

    solved = certified_solve(turn(S_scaled), turn(S_ref), mu, radius, m, alpha, alpha_scaled)
    return solved._replace(X=back(solved.X), Z=back(solved.Z), W=back(solved.W))


class SDPBackend:
    """Solve problems as Fantope / spectraplex SDPs with Clarabel (or SCS).

    ``solver_args``: ``solve_method`` (``"Clarabel"`` or ``"SCS"``) and the solver's own
    settings (default: Clarabel with gap and feasibility tolerances 1e-12 — values then
    agree with ``eigvalsh`` to ~1e-9; SCS's defaults only to ~2e-5, so SCS needs a looser
    ``optimality_tol``). ``feasibility_tol`` bounds the accepted violation of ``tr X = m``
    and ``0 ⪯ X ⪯ I``; ``optimality_tol`` the accepted objective gap, relative to
    ``max(1, m) · max(‖S‖₂, α)`` (module docstring).
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
        split_solver_args(self.solver_args)  # ValueError now, not at the first solve
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
            if alpha is not None:  # the aligned envelope (smoothing.py): + shift, same X
                term_value = (term_value + sign * (alpha / 2) * (Xd * Xd).sum((-2, -1))
                              + envelope_shift(term.count, term.largest, alpha))
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
        # X(S, α) for every s > 0, so s carries no derivative (autograd still applies the
        # 1/s of dX/dS = (1/s)·X'(S/s)).
        radius = mu.abs().amax(-1)
        scale = torch.where(radius > 0, radius, torch.ones_like(radius))
        S_scaled = S64 / scale[:, None, None]
        alpha_scaled = None if alpha is None else alpha / scale
        try:
            solved = self._certified_solve(S_scaled.detach(), S_ref, mu, radius, m, alpha,
                                           alpha_scaled)
        except SDPSolverError:
            # An interior-point solve that stalls short of its tolerances on one orientation of
            # the problem usually does not on another (seen: 1 batch in 60 of random 6×6 at
            # m = 2); the Fantope SDP is orthogonally invariant, so solve QᵀSQ and rotate back.
            solved = _rotated(self._certified_solve, S_scaled.detach(), S_ref, mu, radius, m,
                              alpha, alpha_scaled)
        no_alpha = torch.zeros_like(scale)
        X = FantopeKKTDerivative.apply(
            S_scaled, solved.X, solved.Z, solved.W, no_alpha if alpha is None else alpha_scaled
        )
        return X.to(S.device, S.dtype)

    def _certified_solve(self, S_scaled, S_ref, mu, radius, m, alpha, alpha_scaled):
        """The solver's answer for ``S_scaled``, certified feasible and optimal for ``S_ref``."""
        n = S_ref.shape[-1]
        try:
            solved = solve_fantope(S_scaled, m, alpha_scaled, self.solver_args)
        except Exception as err:  # a solver that raises carries its status in the message
            raise SDPSolverError(
                f"SDP solve failed for a Fantope problem (n={n}, m={m}): "
                f"status: {type(err).__name__}: {err}"
            ) from err
        self._check_status(solved.statuses, m)
        try:
            self._check_feasible(solved.X, m)
            self._check_optimal(S_ref, solved.X, mu, radius, m, alpha)
        except SDPSolverError as err:
            # An inaccurate solve's own words (SCS: "reached max_iters") say why it failed.
            unusual = sorted({s for s in solved.statuses if s.lower() != "solved"})
            if unusual:
                raise SDPSolverError(f"{err} (solver status: {', '.join(unusual)})") from None
            raise
        return solved

    @staticmethod
    def _check_status(statuses: list[str], m: int) -> None:
        """Refuse what the solver itself calls a failure; solves it calls (almost / inaccurately)
        solved go on to the feasibility and optimality certificates."""
        for status in statuses:
            if not status.lower().startswith(("solved", "almostsolved")):
                raise SDPSolverError(
                    f"SDP solver returned no optimal point (status: not optimal: the solver "
                    f"reported {status!r}, m={m})"
                )

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
            # The certificate compares the SDP's own (unshifted) objective: undo the alignment.
            aligned, _ = fantope_envelope(mu, m, largest=False, alpha=alpha)
            optimum = aligned - envelope_shift(m, False, alpha)
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
