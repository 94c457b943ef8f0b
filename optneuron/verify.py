"""Cross-checks of the backends against LAPACK and against each other.

For a batch of data, every backend is measured against an independent float64 reference
(``numpy.linalg.eigh`` for spectral problems; see ``verify_extra`` for ``TrustRegion`` and
``GeneralizedSphereQP``, whose references are ``scipy`` root finding and
``scipy.linalg.eigh(A, B)``):

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

Between backends the report also gives the largest value gap and, on rows whose solution is
unique (no cluster, no trust-region hard case), the largest gradient gap relative to
``max(1, ‖G‖)``. ``sweep_cases`` lists the random and hard cases of the non-spectral problems
for a sweep such as ``optneuron verify``.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field

import numpy as np
import torch

from .layer import OptLayer
from .matrices import SymTridiagonal
from .problems import EigenvalueMixture, GeneralizedSphereQP, TrustRegion
from .verify_references import (
    Reference,
    hard_trust_region_data,
    reference_for,
    subdifferential_distance,
)

__all__ = [
    "verify",
    "VerificationReport",
    "BackendCheck",
    "subdifferential_distance",
    "sweep_cases",
]

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
            f"{self.clustered} with a non-unique solution (repeated eigenvalues, hard case)"
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


def _flat_data(problem, data) -> tuple:
    """Validated, dense, detached data with one flat batch dimension."""
    data = problem.validate(*data)
    A = data[0].to_dense() if isinstance(data[0], SymTridiagonal) else data[0]
    n = A.shape[-1]
    flat = [A.detach().reshape(-1, n, n)]
    for datum in data[1:]:
        trailing = datum.shape[A.ndim - 2:]
        flat.append(datum.detach().reshape(-1, *trailing))
    return tuple(flat)


def _check_backend(name, problem, flat, options, reference, tols) -> tuple:
    """One backend's ``BackendCheck``, its values and gradients (numpy), and its failures."""
    layer = OptLayer(problem, name, **options)
    leaves = [datum.clone().requires_grad_(True) for datum in flat]
    start = time.perf_counter()
    solution = layer(*leaves)
    solution.value.sum().backward()
    seconds = time.perf_counter() - start
    value = solution.value.detach().cpu().double().numpy()
    # a datum the backend does not differentiate gets a zero gradient, which then fails
    grads = tuple((torch.zeros_like(leaf) if leaf.grad is None else leaf.grad).cpu().double()
                  .numpy() for leaf in leaves)
    X = solution.X.detach().cpu().double().numpy()
    x = None if solution.x is None else solution.x.detach().cpu().double().numpy()
    check = BackendCheck(
        backend=name,
        value_error=float((np.abs(value - reference.value) / reference.scale).max(initial=0.0)),
        gradient_error=reference.gradient_distance(grads),
        solution_error=reference.solution_distance(X, x),
        seconds=seconds,
    )
    value_tol, grad_tol = tols
    failures = []
    if not check.value_error <= value_tol:
        failures.append(f"{name} value error {check.value_error:.2e}")
    if not check.gradient_error <= grad_tol:
        failures.append(f"{name} gradient error {check.gradient_error:.2e}")
    if not check.solution_error <= grad_tol:
        failures.append(f"{name} X error {check.solution_error:.2e}")
    return check, value, grads, failures


def _gaps(values: dict, grads: dict, reference: Reference) -> tuple[float, float]:
    """Largest value gap between consecutive backends (relative to the reference's scale) and
    largest gradient gap on the rows whose solution is unique, relative to ``max(1, ‖G‖)``
    (a generalized eigenvector ``x`` with ``xᵀBx = 1`` is as large as ``‖B⁻¹‖^½``)."""
    names = list(values)
    value_gap = gradient_gap = 0.0
    unique = ~reference.clustered
    for a, b in zip(names, names[1:]):
        value_gap = max(value_gap, float(
            (np.abs(values[a] - values[b]) / reference.scale).max(initial=0.0)))
        if unique.any():
            for ga, gb in zip(grads[a], grads[b]):
                rows = int(unique.sum())
                diff = np.linalg.norm((ga[unique] - gb[unique]).reshape(rows, -1), axis=-1)
                size = np.maximum(1.0, np.linalg.norm(ga[unique].reshape(rows, -1), axis=-1))
                gradient_gap = max(gradient_gap, float((diff / size).max()))
    return value_gap, gradient_gap


def verify(
    problem,
    data,
    backends=("eigen", "sdp"),
    *,
    value_tol: float | None = None,
    grad_tol: float | None = None,
    cluster_tol: float = 1e-6,
    backend_options: dict | None = None,
) -> VerificationReport:
    """Solve ``problem`` on ``data`` with each backend and check values, gradients and
    lifted solutions against an independent float64 reference and against each other.

    ``data`` is ``A`` for single-matrix problems and the tuple of the problem's data
    otherwise (``(A, b)`` for ``TrustRegion``, ``(A, B)`` for ``GeneralizedSphereQP``).
    Tolerances default to ``1e-6`` (value) and ``1e-5`` (gradient, ``X``) in float64 and
    ``1e-4`` / ``1e-3`` in float32; ``backend_options`` maps a backend name to its options.
    """
    data = data if isinstance(data, tuple) else (data,)
    flat = _flat_data(problem, data)
    default_value_tol, default_grad_tol = _DEFAULT_TOLS[flat[0].dtype]
    value_tol = default_value_tol if value_tol is None else value_tol
    grad_tol = default_grad_tol if grad_tol is None else grad_tol
    reference = reference_for(problem, tuple(d.cpu().double().numpy() for d in flat), cluster_tol)

    checks, values, grads, failures = [], {}, {}, []
    options = backend_options or {}
    for name in backends:
        check, values[name], grads[name], failed = _check_backend(
            name, problem, flat, options.get(name, {}), reference, (value_tol, grad_tol))
        checks.append(check)
        failures += failed
    value_gap, gradient_gap = _gaps(values, grads, reference)
    if value_gap > value_tol:
        failures.append(f"value gap between backends {value_gap:.2e}")
    if gradient_gap > grad_tol:
        failures.append(f"gradient gap between backends {gradient_gap:.2e}")

    return VerificationReport(
        problem=repr(problem),
        shape=(flat[0].shape[0], flat[0].shape[-1]),
        dtype=str(flat[0].dtype).replace("torch.", ""),
        clustered=int(reference.clustered.sum()),
        checks=checks,
        value_gap=value_gap,
        gradient_gap=gradient_gap,
        value_tol=value_tol,
        grad_tol=grad_tol,
        failures=failures,
    )


def sweep_cases(n: int, batch: int, generator: torch.Generator, quick: bool = False):
    """``(label, problem, data)`` for the problems beyond the spectral ones, on random and hard
    data of size ``n``, for a sweep to pass to ``verify(problem, data)``: ``TrustRegion`` (sphere
    and ball; generic, hard case, ``b = 0``) and ``GeneralizedSphereQP`` (several indices and
    a smoothed one; generic and a repeated generalized spectrum) and ``EigenvalueMixture``
    (random weights, a window on a repeated spectrum, smoothed)."""
    def randn(*shape):
        return torch.randn(*shape, generator=generator, dtype=torch.float64)

    A = randn(batch, n, n)
    A = (A + A.mT) / 2
    b = randn(batch, n)
    hard_A, hard_b = hard_trust_region_data(n, batch, generator)
    cases = []
    for ball in (False, True):
        problem = TrustRegion(ball=ball)
        cases += [("generic", problem, (A, b)), ("hard case", problem, (hard_A, hard_b)),
                  ("b = 0", problem, (A, torch.zeros_like(b)))]
    M = randn(batch, n, n)
    B = M @ M.mT / n + 0.1 * torch.eye(n, dtype=torch.float64)
    L = torch.linalg.cholesky(B)
    repeated = L @ hard_A @ L.mT  # λ(A, B) = λ(hard_A), whose bottom eigenvalue is repeated
    indices = [0, -1] if quick else sorted({0, n // 2, -1})
    for k in indices:
        cases += [("generic", GeneralizedSphereQP(k), (A, B)),
                  ("repeated", GeneralizedSphereQP(k), (repeated, B))]
    cases.append(("generic", GeneralizedSphereQP(n // 2, smoothing=0.1), (A, B)))
    w = randn(batch, n)
    window = EigenvalueMixture.window(n, n // 2, 1, dtype=torch.float64)
    cases += [("generic", EigenvalueMixture(), (A, w)),
              ("repeated, window", EigenvalueMixture(), (hard_A, window)),
              ("generic", EigenvalueMixture(smoothing=0.1), (A, w))]
    return cases

