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

* **solution derivative** (``SphereQP``/``KyFan``): the gradient of ``⟨C, X(A)⟩`` (a seeded
  random symmetric ``C``) on each backend against ``torch.linalg.eigh``'s backward of the same
  ``X = Σ coef · Q diag(w) Qᵀ`` (relative Frobenius error), and that reference against central
  finite differences of ``X`` along a random symmetric direction; reported with the smallest
  ``gap`` of the batch (``Solution.gap``: the derivative scales as ``1/gap``). Rows with an
  exact tie (gap ≤ 1e-12·scale) are not differentiable and are left out, as are rows where
  eigh's backward itself is unusable (eigenvalues inside the selection, or any two when
  smoothed, closer than 1e-8·scale, though ``X`` is smooth there); only rows with
  ``gap ≥ 1e-3·scale`` can fail (eigen beyond ``grad_tol``; SDP beyond 1e-2 where ``gap ≥ 0.1``,
  solver accuracy / gap).

* **solution derivative** (``TrustRegion``, exact ``GeneralizedSphereQP``): each backend's
  gradient of ``⟨C, X⟩`` w.r.t. all data against the numpy formulas of
  theory/solution-derivatives.md (sections 5, 6) at the reference solvers' points
  (``verify_references.qp_derivative_reference``), those against central differences of the
  reference solvers, with the smallest conditioning of the batch (trust region: ``λ_min − μ``,
  the ball's ``−μ`` or ``1 − ‖x‖``; generalized: the gap), the same pass rules as above; hard
  cases and ties are left out (both backends raise there).

Between backends the report also gives the largest value gap and, on rows whose solution is
unique (no cluster, no trust-region hard case), the largest gradient gap relative to
``max(1, ‖G‖)``. ``sweep_cases`` lists the random and hard cases of the non-spectral problems
for a sweep such as ``optneuron verify``.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import asdict, dataclass, field

import numpy as np
import torch

from .layer import OptLayer
from .matrices import SymTridiagonal
from .problems import EigenvalueMixture, GeneralizedSphereQP, KyFan, SphereQP, TrustRegion
from .smoothing import fantope_envelope
from .verify_references import (
    Reference,
    hard_trust_region_data,
    qp_derivative_reference,
    reference_for,
    subdifferential_distance,
)

__all__ = [
    "verify",
    "VerificationReport",
    "BackendCheck",
    "subdifferential_distance",
    "sweep_cases",
    "SolutionDerivativeCheck",
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
class SolutionDerivativeCheck:
    """Errors of ``∂⟨C, X⟩/∂A`` (relative to ``torch.linalg.eigh``'s backward) per backend, of
    central differences against that reference, and the smallest gap of the batch."""

    errors: dict[str, float]
    finite_difference_error: float
    gap: float
    rows: int
    reference: str = "eigh backward"


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
    solution_derivative: SolutionDerivativeCheck | None = None

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
        if self.solution_derivative is not None:
            d = self.solution_derivative
            errs = ", ".join(f"{k} {v:.2e}" for k, v in d.errors.items()) or "no rows"
            lines.append(f"solution derivative d<C,X>/d(data) vs {d.reference}: {errs}; finite "
                         f"differences {d.finite_difference_error:.2e}; min gap {d.gap:.1e} "
                         f"({d.rows} differentiable rows)")
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


def _check_backend(name, problem, flat, options, reference, tols, C=None) -> tuple:
    """One backend's ``BackendCheck``, its values and gradients (numpy), its failures, and its
    gradient of ``⟨C, X⟩`` (numpy; None without ``C`` or at an exact tie)."""
    layer = OptLayer(problem, name, **options)
    leaves = [datum.clone().requires_grad_(True) for datum in flat]
    start = time.perf_counter()
    solution = layer(*leaves)
    solution.value.sum().backward(retain_graph=C is not None)
    seconds = time.perf_counter() - start
    value = solution.value.detach().cpu().double().numpy()
    # a datum the backend does not differentiate gets a zero gradient, which then fails
    grads = tuple((torch.zeros_like(leaf) if leaf.grad is None else leaf.grad).cpu().double()
                  .numpy() for leaf in leaves)
    X = solution.X.detach().cpu().double().numpy()
    x = None if solution.x is None else solution.x.detach().cpu().double().numpy()
    dX = None if C is None else _solution_gradient(solution, leaves, C)
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
    return check, value, grads, failures, dX


def _solution_gradient(solution, leaves, C):
    """``∂⟨C, X⟩/∂(data)`` (numpy, one array per datum, symmetrized), or None where ``X`` is not
    differentiable (an exact tie, the trust-region hard case)."""
    if not solution.X.requires_grad:
        return None
    try:
        grads = torch.autograd.grad((C * solution.X).sum(), leaves, allow_unused=True)
    except ValueError:  # both backends refuse a point with no derivative, naming why
        return None
    out = []
    for leaf, grad in zip(leaves, grads):
        grad = torch.zeros_like(leaf) if grad is None else grad
        grad = (grad + grad.mT) / 2 if grad.ndim == 3 else grad
        out.append(grad.cpu().double().numpy())
    return tuple(out)


def _eigh_solution(problem, A: torch.Tensor) -> torch.Tensor:
    """``X(A) = Σ coef · Q diag(w) Qᵀ`` by ``torch.linalg.eigh`` (differentiable through it)."""
    n = A.shape[-1]
    mu, Q = torch.linalg.eigh(A)
    X = torch.zeros_like(A)
    for term in problem.fantope_terms(n):
        if problem.smoothing is None:
            w = torch.zeros_like(mu)
            w[..., (n - term.count if term.largest else 0):][..., :term.count] = 1
        else:
            w = fantope_envelope(mu, term.count, term.largest, problem.smoothing)[1]
        X = X + term.coef * (Q * w.unsqueeze(-2)) @ Q.mT
    return X


def _solution_derivative(problem, A, C, dXs: dict, grad_tol: float) -> tuple:
    """``SolutionDerivativeCheck`` of the backends' ``∂⟨C, X⟩/∂A`` and its failures."""
    n = A.shape[-1]
    mu = torch.linalg.eigvalsh(A)
    lo, hi = dataclasses.replace(problem, smoothing=None).eigen_range(n)
    below = mu[:, lo] - mu[:, lo - 1] if lo > 0 else torch.full_like(mu[:, 0], np.inf)
    above = mu[:, hi] - mu[:, hi - 1] if hi < n else torch.full_like(mu[:, 0], np.inf)
    scale = mu.abs().amax(-1).clamp_min(1.0)
    gap = (torch.minimum(below, above) / scale).numpy()
    # eigh's backward divides by every difference it meets — inside the selection, or all of
    # them when smoothed — even where the function is smooth: leave such rows to the other checks
    inner = mu if problem.smoothing is not None else mu[:, lo:hi]
    inner_gap = (inner.diff(dim=-1).amin(-1) / scale).numpy() if inner.shape[-1] > 1 else \
        np.full_like(gap, np.inf)
    rows = (gap > 1e-12 if problem.smoothing is None else np.ones_like(gap, dtype=bool)) & \
        (inner_gap > 1e-8)
    leaf = A.clone().requires_grad_(True)
    (C * _eigh_solution(problem, leaf)).sum().backward()
    ref = ((leaf.grad + leaf.grad.mT) / 2).numpy()
    E = torch.randn(A.shape, generator=torch.Generator().manual_seed(1), dtype=A.dtype)
    E = (E + E.mT) / 2
    h = 1e-6
    fd = ((C * (_eigh_solution(problem, A + h * E) - _eigh_solution(problem, A - h * E)))
          .sum((-2, -1)) / (2 * h)).numpy()
    directional = (ref * E.numpy()).sum((-2, -1))
    fd_err = np.abs(fd - directional) / np.maximum(1.0, np.abs(directional))
    norm = np.maximum(np.linalg.norm(ref.reshape(len(ref), -1), axis=-1), 1e-300)
    errors, failures = {}, []
    for name, dX in dXs.items():
        if dX is None or not rows.any():
            continue
        err = np.linalg.norm((dX[0] - ref).reshape(len(ref), -1), axis=-1) / norm
        errors[name] = float(err[rows].max())
        limit = grad_tol if name == "eigen" else 1e-2
        strict = rows & (gap >= (1e-3 if name == "eigen" else 0.1))
        if strict.any() and err[strict].max() > limit:
            failures.append(f"{name} solution derivative error {err[strict].max():.2e}")
    check = SolutionDerivativeCheck(
        errors=errors, finite_difference_error=float(fd_err[rows].max(initial=0.0)),
        gap=float(gap[rows].min(initial=np.inf)), rows=int(rows.sum()))
    return check, failures


def _qp_solution_derivative(problem, flat, C, dXs: dict, grad_tol: float) -> tuple:
    """``SolutionDerivativeCheck`` for ``TrustRegion`` / exact ``GeneralizedSphereQP``: each
    backend's ``∂⟨C, X⟩/∂(data)`` against ``verify_references.qp_derivative_reference``,
    relative to ``max(1, ‖G‖)``."""
    ref = qp_derivative_reference(problem, tuple(d.cpu().double().numpy() for d in flat),
                                  C.cpu().double().numpy())
    if ref is None:
        return None, []

    def flat_rows(arrays):
        return np.concatenate([a.reshape(len(a), -1) for a in arrays], axis=-1)

    expected = flat_rows(ref.grads)
    # relative to max(1, ‖G‖): at n = 1 the sphere's x = ±1 is locally constant (G = 0)
    norm = np.maximum(np.linalg.norm(expected, axis=-1), 1.0)
    errors, failures = {}, []
    for name, dX in dXs.items():
        if dX is None or not ref.rows.any():
            continue
        err = np.linalg.norm(flat_rows(dX) - expected, axis=-1) / norm
        errors[name] = float(err[ref.rows].max())
        limit = grad_tol if name == "eigen" else 1e-2
        strict = ref.rows & (ref.gap >= (1e-3 if name == "eigen" else 0.1))
        if strict.any() and err[strict].max() > limit:
            failures.append(f"{name} solution derivative error {err[strict].max():.2e}")
    check = SolutionDerivativeCheck(
        errors=errors, finite_difference_error=float(ref.fd_error[ref.rows].max(initial=0.0)),
        gap=float(ref.gap[ref.rows].min(initial=np.inf)), rows=int(ref.rows.sum()),
        reference="numpy KKT formula")
    return check, failures


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
    derivatives: bool = True,
) -> VerificationReport:
    """Solve ``problem`` on ``data`` with each backend and check values, gradients and
    lifted solutions against an independent float64 reference and against each other.

    ``data`` is ``A`` for single-matrix problems and the tuple of the problem's data
    otherwise (``(A, b)`` for ``TrustRegion``, ``(A, B)`` for ``GeneralizedSphereQP``).
    Tolerances default to ``1e-6`` (value) and ``1e-5`` (gradient, ``X``) in float64 and
    ``1e-4`` / ``1e-3`` in float32; ``backend_options`` maps a backend name to its options.
    ``derivatives`` adds the solution-derivative check (float64; ``SphereQP``, ``KyFan``,
    ``TrustRegion`` and exact ``GeneralizedSphereQP``).
    """
    data = data if isinstance(data, tuple) else (data,)
    flat = _flat_data(problem, data)
    default_value_tol, default_grad_tol = _DEFAULT_TOLS[flat[0].dtype]
    value_tol = default_value_tol if value_tol is None else value_tol
    grad_tol = default_grad_tol if grad_tol is None else grad_tol
    reference = reference_for(problem, tuple(d.cpu().double().numpy() for d in flat), cluster_tol)

    checks, values, grads, failures, dXs = [], {}, {}, [], {}
    options = backend_options or {}
    derivatives = derivatives and flat[0].dtype == torch.float64
    spectral = derivatives and isinstance(problem, (SphereQP, KyFan))
    qp = derivatives and (isinstance(problem, TrustRegion) or (
        isinstance(problem, GeneralizedSphereQP) and problem.smoothing is None))
    C = None
    if spectral or qp:
        C = torch.randn(flat[0].shape, generator=torch.Generator().manual_seed(0),
                        dtype=flat[0].dtype)
        C = (C + C.mT) / 2
    for name in backends:
        check, values[name], grads[name], failed, dXs[name] = _check_backend(
            name, problem, flat, options.get(name, {}), reference, (value_tol, grad_tol), C)
        checks.append(check)
        failures += failed
    derivative = None
    if spectral:
        derivative, failed = _solution_derivative(problem, flat[0].cpu(), C.cpu(), dXs, grad_tol)
        failures += failed
    elif qp:
        derivative, failed = _qp_solution_derivative(problem, flat, C, dXs, grad_tol)
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
        solution_derivative=derivative,
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

