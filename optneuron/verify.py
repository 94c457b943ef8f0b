"""Cross-checks of the backends against LAPACK and against each other.

For a batch of matrices, every backend is measured against an independent float64 reference
(``numpy.linalg.eigh``):

* **value error**: ``max |value − value_ref| / max(1, ‖A‖₂)``;
* **gradient error**: the Frobenius distance of the autograd gradient from the Clarke
  subdifferential of the problem at ``A``. Eigenvalues closer than ``cluster_tol·max(1, ‖A‖₂)``
  are treated as one repeated eigenvalue ``μ`` with eigenspace basis ``U_C``; if the problem's
  index range holds ``c`` of its ``|C|`` copies, the subdifferential's block on that eigenspace
  is ``{W : 0 ⪯ W ⪯ I, tr W = c}`` (``I`` when ``c = |C|``, ``0`` when ``c = 0``), and every
  cross block is zero. The distance is computed exactly (a Frobenius projection onto a spectral
  set projects the eigenvalues). On a simple spectrum the set is the single true gradient, so
  the distance *is* the gradient error. Smoothed problems are differentiable: their set is the
  closed-form gradient ``Q diag(w) Qᵀ``.
* **solution error**: the same distance for the lifted solution ``X``.

Between backends the report also gives the largest value gap and, on matrices with no
cluster, the largest gradient gap.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field

import numpy as np
import torch

from .layer import OptLayer
from .matrices import as_symmetric
from .smoothing import capped_simplex_projection, fantope_envelope

__all__ = ["verify", "VerificationReport", "BackendCheck", "subdifferential_distance"]

_DEFAULT_TOLS = {torch.float64: (1e-6, 1e-5), torch.float32: (1e-4, 1e-3)}


@dataclass
class BackendCheck:
    """Errors of one backend against the float64 LAPACK reference (see module docstring)."""

    backend: str
    value_error: float
    gradient_error: float
    solution_error: float
    seconds: float


@dataclass
class VerificationReport:
    """Result of ``verify``: per-backend errors, cross-backend gaps, and ``ok``."""

    problem: str
    shape: tuple
    dtype: str
    clustered: int
    checks: list[BackendCheck]
    value_gap: float
    gradient_gap: float
    value_tol: float
    grad_tol: float
    failures: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures

    def to_dict(self) -> dict:
        out = asdict(self)
        out["ok"] = self.ok
        return out

    def __str__(self) -> str:
        head = (
            f"{self.problem} on {self.shape[0]} matrices of size {self.shape[1]} ({self.dtype}); "
            f"{self.clustered} with repeated eigenvalues"
        )
        columns = f"{'backend':<8} {'value err':>10} {'grad err':>10} {'X err':>10} {'time':>8}"
        lines = [head, columns]
        for c in self.checks:
            lines.append(
                f"{c.backend:<8} {c.value_error:10.2e} {c.gradient_error:10.2e} "
                f"{c.solution_error:10.2e} {c.seconds:7.3f}s"
            )
        if len(self.checks) > 1:
            lines.append(
                f"between backends: value gap {self.value_gap:.2e}, gradient gap "
                f"(simple spectra) {self.gradient_gap:.2e}"
            )
        lines.append(
            f"tolerances: value {self.value_tol:.0e}, gradient {self.grad_tol:.0e} -> "
            + ("OK" if self.ok else "FAILED: " + "; ".join(self.failures))
        )
        return "\n".join(lines)


def _clusters(mu: np.ndarray, tol: float) -> list[np.ndarray]:
    """Index groups of consecutive eigenvalues whose neighbour gaps are at most ``tol``."""
    breaks = np.flatnonzero(np.diff(mu) > tol) + 1
    return np.split(np.arange(len(mu)), breaks)


def _project_capped_spectraplex(W: np.ndarray, c: int) -> np.ndarray:
    """Frobenius projection of symmetric ``W`` onto ``{0 ⪯ V ⪯ I, tr V = c}``."""
    s, V = np.linalg.eigh((W + W.T) / 2)
    p = capped_simplex_projection(torch.from_numpy(s), float(c)).numpy()
    return (V * p) @ V.T


def subdifferential_distance(
    G: np.ndarray, Q: np.ndarray, mu: np.ndarray, lo: int, hi: int, tol: float
) -> float:
    """Distance of ``G`` from the Clarke subdifferential of ``Σ_{lo≤j<hi} λ_j``.

    The matrix is ``Q diag(mu) Qᵀ``; eigenvalues within ``tol`` of a neighbour are repeated.
    """
    Gt = Q.T @ ((G + G.T) / 2) @ Q
    target = np.zeros_like(Gt)
    for C in _clusters(mu, tol):
        c = int(np.count_nonzero((C >= lo) & (C < hi)))
        if c == len(C):
            target[np.ix_(C, C)] = np.eye(len(C))
        elif c > 0:
            target[np.ix_(C, C)] = _project_capped_spectraplex(Gt[np.ix_(C, C)], c)
    return float(np.linalg.norm(Gt - target))


def _reference(problem, A64: np.ndarray):
    """Per matrix: value, eigenvalues, eigenvectors, and smoothed weights (or None)."""
    mu, Q = np.linalg.eigh(A64)
    n = A64.shape[-1]
    lo, hi = problem.eigen_range(n)
    if problem.smoothing is None:
        return mu[:, lo:hi].sum(-1), mu, Q, None
    mu_t = torch.from_numpy(mu)
    value = torch.zeros(mu.shape[0], dtype=torch.float64)
    w = torch.zeros_like(mu_t)
    for term in problem.fantope_terms(n):
        v, wt = fantope_envelope(mu_t, term.count, term.largest, problem.smoothing)
        value, w = value + term.coef * v, w + term.coef * wt
    return value.numpy(), mu, Q, w.numpy()


def verify(
    problem,
    A,
    backends=("eigen", "sdp"),
    *,
    value_tol: float | None = None,
    grad_tol: float | None = None,
    cluster_tol: float = 1e-6,
    backend_options: dict | None = None,
) -> VerificationReport:
    """Solve ``problem`` on the matrices ``A`` with each backend and check values, gradients
    and lifted solutions against LAPACK (float64) and against each other.

    Tolerances default to ``1e-6`` (value) and ``1e-5`` (gradient, ``X``) in float64 and
    ``1e-4`` / ``1e-3`` in float32; ``backend_options`` maps a backend name to its options.
    """
    A = as_symmetric(A)
    A = A.to_dense() if not isinstance(A, torch.Tensor) else A
    A = A.detach()
    n = A.shape[-1]
    flat = A.reshape(-1, n, n)
    default_value_tol, default_grad_tol = _DEFAULT_TOLS[A.dtype]
    value_tol = default_value_tol if value_tol is None else value_tol
    grad_tol = default_grad_tol if grad_tol is None else grad_tol
    lo, hi = problem.eigen_range(n)

    A64 = flat.cpu().double().numpy()
    ref_value, mu, Q, w = _reference(problem, A64)
    scale = np.maximum(1.0, np.abs(mu).max(-1)) if mu.size else np.ones(0)
    clustered = np.array(
        [len(_clusters(m, cluster_tol * s)) < n for m, s in zip(mu, scale)], dtype=bool
    )

    def distance(G):
        if w is not None:
            targets = (Q * w[:, None, :]) @ Q.transpose(0, 2, 1)
            return float(np.linalg.norm(G - targets, axis=(-2, -1)).max(initial=0.0))
        return max(
            (
                subdifferential_distance(G[b], Q[b], mu[b], lo, hi, cluster_tol * scale[b])
                for b in range(len(G))
            ),
            default=0.0,
        )

    checks, values, grads, failures = [], {}, {}, []
    options = backend_options or {}
    for name in backends:
        layer = OptLayer(problem, name, **options.get(name, {}))
        leaf = flat.clone().requires_grad_(True)
        start = time.perf_counter()
        solution = layer(leaf)
        solution.value.sum().backward()
        seconds = time.perf_counter() - start
        value = solution.value.detach().cpu().double().numpy()
        G = leaf.grad.cpu().double().numpy()
        X = solution.X.detach().cpu().double().numpy()
        values[name], grads[name] = value, G
        check = BackendCheck(
            backend=name,
            value_error=float((np.abs(value - ref_value) / scale).max(initial=0.0)),
            gradient_error=distance(G),
            solution_error=distance(X),
            seconds=seconds,
        )
        checks.append(check)
        if not check.value_error <= value_tol:
            failures.append(f"{name} value error {check.value_error:.2e}")
        if not check.gradient_error <= grad_tol:
            failures.append(f"{name} gradient error {check.gradient_error:.2e}")
        if not check.solution_error <= grad_tol:
            failures.append(f"{name} X error {check.solution_error:.2e}")

    names = list(values)
    value_gap = gradient_gap = 0.0
    for a, b in zip(names, names[1:]):
        value_gap = max(value_gap, float((np.abs(values[a] - values[b]) / scale).max(initial=0.0)))
        simple = ~clustered
        if simple.any():
            diff = np.linalg.norm(grads[a][simple] - grads[b][simple], axis=(-2, -1))
            gradient_gap = max(gradient_gap, float(diff.max()))
    if value_gap > value_tol:
        failures.append(f"value gap between backends {value_gap:.2e}")
    if gradient_gap > grad_tol:
        failures.append(f"gradient gap between backends {gradient_gap:.2e}")

    return VerificationReport(
        problem=repr(problem),
        shape=(flat.shape[0], n),
        dtype=str(A.dtype).replace("torch.", ""),
        clustered=int(clustered.sum()),
        checks=checks,
        value_gap=value_gap,
        gradient_gap=gradient_gap,
        value_tol=value_tol,
        grad_tol=grad_tol,
        failures=failures,
    )
