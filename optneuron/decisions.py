"""Decisions with a trained spectral model: best inputs and certified output ranges.

``optimize_inputs`` solves ``max (or min) f(z) s.t. lower ≤ z ≤ upper, constraints(z)`` for a
module ``f`` exported by ``optneuron.export.to_cvxpy``:

* one convex program when the curvature allows it (maximizing a concave export, minimizing a
  convex one): the answer is the global optimum (``certified=True``);
* otherwise the convex–concave procedure on ``f = p − q`` (``p``, ``q`` concave): at ``z_t``
  replace ``q`` by its tangent plane ``q̂_t ≥ q`` (tight at ``z_t``) and solve
  ``z_{t+1} = argmax p − q̂_t``; then ``f(z_{t+1}) ≥ p(z_{t+1}) − q̂_t(z_{t+1}) ≥ f(z_t)``, so
  values never decrease (theory/decisions.md). It stops at a local solution; several
  random feasible starts (seeded) and the best one kept (``certified=False``); over a plain
  small box, a convex objective's maximum is found exactly among the vertices instead.

``output_range`` bounds ``f`` over a box with sound certificates on both sides:

* Weyl: ``|f(z) − f(c)| ≤ Σ_i |z_i − c_i| ‖A_i‖_op`` around the centre ``c`` (a spectral
  module; for a composition, ``L_∞ · max_i |z_i − c_i|`` with ``certify.lipschitz_bound``);
  refined by branch and bound (split the worst box along its widest weighted side);
* the convex side exactly: the maximum of a concave output (the minimum of a convex one) is
  one convex program, and the minimum of a concave function over a box is attained at a
  vertex (exact enumeration while ``in_features ≤ vertex_limit``).
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass

import numpy as np
import torch

from .export import DifferenceOfConcave, input_size, to_cvxpy, to_difference_of_concave

__all__ = ["optimize_inputs", "InputOptimum", "output_range", "OutputRange"]

_OK = ("optimal", "optimal_inaccurate")
_SOLVER_ARGS = {"tol_gap_abs": 1e-10, "tol_gap_rel": 1e-10, "tol_feas": 1e-10}


@dataclass(frozen=True)
class InputOptimum:
    """Result of ``optimize_inputs``.

    ``z``: the input found (numpy, float64); ``value``: the module's own forward at ``z``;
    ``status``: the solver status of the last convex solve; ``certified``: True when ``z``
    solves the problem globally (one convex program), False for a local solution of the
    convex–concave procedure; ``method``; ``starts`` and ``iterations`` (convex solves);
    ``history``: the module's values along the winning run (nondecreasing when maximizing).
    """

    z: np.ndarray
    value: float
    status: str
    certified: bool
    method: str
    starts: int
    iterations: int
    history: tuple = ()


@dataclass(frozen=True)
class OutputRange:
    """Certified ``lower ≤ f(z) ≤ upper`` for every ``z`` in the box (arrays, one per output).

    ``lower_exact``/``upper_exact``: the bound is the optimum itself (up to the convex solver's
    tolerance, see ``output_range``); ``lower_attained``/``upper_attained``: the smallest and
    largest outputs actually seen at points of the box, so the true extremes lie in
    ``[lower, lower_attained]`` and ``[upper_attained, upper]``; ``weyl_lower``/``weyl_upper``:
    the one-shot Weyl interval around the centre.
    """

    lower: np.ndarray
    upper: np.ndarray
    lower_exact: np.ndarray
    upper_exact: np.ndarray
    lower_attained: np.ndarray
    upper_attained: np.ndarray
    weyl_lower: np.ndarray
    weyl_upper: np.ndarray


# --------------------------------------------------------------------------------------------
# Shared helpers.


def _param_dtype(module) -> torch.dtype:
    for p in module.parameters():
        return p.dtype
    return torch.float64


def _forward(module, Z: np.ndarray) -> np.ndarray:
    """The module's own outputs ``(batch, outputs)`` at inputs ``Z (batch, d)``."""
    with torch.no_grad():
        out = module(torch.as_tensor(Z, dtype=_param_dtype(module)))
    out = out.detach().to("cpu", torch.float64).numpy()
    return out.reshape(Z.shape[0], -1)


def _bounds(lower, upper, d: int, required: bool):
    def one(name, value, fill):
        if value is None:
            if required:
                raise ValueError(f"{name} is required: a box lower ≤ z ≤ upper")
            return np.full(d, fill)
        arr = np.asarray(value, dtype=np.float64)
        if arr.ndim == 0:
            arr = np.full(d, float(arr))
        if arr.shape != (d,):
            raise ValueError(f"{name} must be a scalar or have shape ({d},), got {arr.shape}")
        if np.isnan(arr).any() or (required and not np.isfinite(arr).all()):
            raise ValueError(f"{name} must be finite, got {arr}")
        return arr

    lo, hi = one("lower", lower, -np.inf), one("upper", upper, np.inf)
    if np.any(lo > hi):
        raise ValueError(f"lower must be ≤ upper in every coordinate, got {lo} and {hi}")
    return lo, hi


def _select(expr, output, size_name="output"):
    """The scalar output ``output`` of an exported expression (or the only one)."""
    shape = tuple(expr.shape)
    if shape == ():
        if output not in (None, 0):
            raise ValueError(f"{size_name} must be None or 0 for a scalar module, got {output!r}")
        return expr
    count = int(np.prod(shape))
    if output is None:
        if count != 1:
            raise ValueError(f"the module has {count} outputs: pass output=j to choose one")
        output = 0
    if isinstance(output, bool) or not isinstance(output, (int, np.integer)):
        raise TypeError(f"output must be an int, got {type(output).__name__}")
    if not -count <= output < count:
        raise ValueError(f"output {output} is out of range for {count} outputs")
    return expr[int(output)]


def _solve(problem, solver):
    problem.solve(solver=solver, **(_SOLVER_ARGS if solver == "CLARABEL" else {}))
    return problem.status


# --------------------------------------------------------------------------------------------
# optimize_inputs.


def optimize_inputs(
    module,
    constraints=None,
    lower=None,
    upper=None,
    maximize: bool = True,
    *,
    output: int | None = None,
    vertex_limit: int = 10,
    starts=4,
    max_iter: int = 30,
    tol: float = 1e-7,
    seed: int = 0,
    solver: str = "CLARABEL",
) -> InputOptimum:
    """Best input ``z`` for ``max f(z)`` (``maximize=False``: ``min``) over the feasible set.

    The feasible set is ``lower ≤ z ≤ upper`` (scalars or ``(in_features,)`` arrays; None:
    unbounded) intersected with ``constraints(z)``, a function of the cvxpy variable
    ``z (in_features,)`` returning a list of cvxpy constraints. ``output`` picks one output of
    a multi-output module. Exact (``certified=True``) when ``f`` has the right curvature, and
    for the wrong curvature over a plain box with ``in_features ≤ vertex_limit`` (a convex
    function's maximum over a box is at one of its ``2^d`` vertices, all evaluated);
    otherwise the convex–concave procedure (module docstring) from ``starts`` random
    feasible points drawn with ``numpy.random.default_rng(seed)`` (or from the rows of an
    array ``starts (k, in_features)``, projected onto the feasible set), each run until its value
    improves by less than ``tol·(1 + |value|)`` or ``max_iter`` solves. ``ValueError`` when the
    problem is infeasible or unbounded, naming the solver status.
    """
    import cvxpy as cp

    d = input_size(module)
    lo, hi = _bounds(lower, upper, d, required=False)
    if constraints is not None and not callable(constraints):
        raise TypeError("constraints must be a function of the cvxpy variable z, or None")
    given = _given_starts(starts, d)
    if not isinstance(max_iter, int) or max_iter < 1:
        raise ValueError(f"max_iter must be a positive int, got {max_iter!r}")
    z = cp.Variable(d, name="z")
    feasible = [] if constraints is None else list(constraints(z))
    feasible += [z[i] >= lo[i] for i in range(d) if np.isfinite(lo[i])]
    feasible += [z[i] <= hi[i] for i in range(d) if np.isfinite(hi[i])]

    expr = _select(to_cvxpy(module, z), output)
    sense = cp.Maximize if maximize else cp.Minimize
    if not isinstance(expr, DifferenceOfConcave) and (
        expr.is_concave() if maximize else expr.is_convex()
    ):
        problem = cp.Problem(sense(expr), feasible)
        status = _check_status(_solve(problem, solver))
        zv = np.asarray(z.value, dtype=np.float64)
        value = float(_forward(module, zv[None])[0, _out_index(output)])
        return InputOptimum(
            zv, value, status, status == "optimal", "convex program", 1, 1, (value,)
        )

    if (
        constraints is None
        and not isinstance(expr, DifferenceOfConcave)
        and np.isfinite(lo).all()
        and np.isfinite(hi).all()
        and d <= vertex_limit
    ):  # a convex function's maximum (concave's minimum) over a box is at a vertex
        return _best_vertex(module, lo, hi, maximize, output)
    dc = _select_dc(to_difference_of_concave(module, z), output)
    count = starts if given is None else given.shape[0]
    rng = np.random.default_rng(seed)
    best, solves = None, 0
    for k in range(count):
        raw = None if given is None else given[k]
        z0 = _feasible_start(z, feasible, lo, hi, rng, solver, raw)
        run = _ccp(module, z, dc, feasible, z0, maximize, max_iter, tol, solver, output)
        solves += run[3]
        last = run[1][-1]
        if best is None or (last > best[1][-1] if maximize else last < best[1][-1]):
            best = run
    zv, history, status, _ = best
    return InputOptimum(
        zv, history[-1], status, False, "convex-concave procedure", count, solves, history
    )


def _best_vertex(module, lo, hi, maximize: bool, output) -> InputOptimum:
    """The best of the ``2^d`` vertices of the box ``[lo, hi]``, by the module's forward."""
    vertices = _vertices(lo, hi)
    values = _forward(module, vertices)[:, _out_index(output)]
    k = int(np.argmax(values) if maximize else np.argmin(values))
    return InputOptimum(
        vertices[k], float(values[k]), "optimal", True, "vertex enumeration", 1, 0,
        (float(values[k]),),
    )


def _given_starts(starts, d: int):
    """``None`` for a count of random starts, else the ``(k, d)`` array of given starts."""
    if isinstance(starts, (int, np.integer)) and not isinstance(starts, bool):
        if starts < 1:
            raise ValueError(f"starts must be a positive int or a (k, {d}) array, got {starts}")
        return None
    given = np.asarray(starts, dtype=np.float64)
    if given.ndim != 2 or given.shape[1] != d or given.shape[0] < 1:
        raise ValueError(
            f"starts must be a positive int or a (k, {d}) array, got shape {given.shape}"
        )
    return given


def _out_index(output) -> int:
    return 0 if output is None else int(output)


def _select_dc(dc: DifferenceOfConcave, output):
    if dc.shape == ():
        return dc
    if output is None and int(np.prod(dc.shape)) == 1:
        return dc[0]
    _select(dc.f, output)  # validates output
    return dc[int(output)]


def _check_status(status: str) -> str:
    if status not in _OK:
        raise ValueError(
            f"the convex program did not solve (status: {status}); check that the feasible set "
            "is nonempty and bounded (give lower/upper or constraints)"
        )
    return status


def _feasible_start(z, feasible, lo, hi, rng, solver, raw=None):
    """``raw`` or a random point of the box (standard normal where unbounded), projected onto
    the feasible set."""
    import cvxpy as cp

    d = z.shape[0]
    if raw is None:
        raw = rng.standard_normal(d)
        box = np.isfinite(lo) & np.isfinite(hi)
        raw[box] = lo[box] + rng.random(int(box.sum())) * (hi[box] - lo[box])
    raw = np.clip(raw, lo, hi)
    problem = cp.Problem(cp.Minimize(cp.sum_squares(z - raw)), feasible)
    _check_status(_solve(problem, solver))
    return np.asarray(z.value, dtype=np.float64)


def _ccp(module, z, dc, feasible, z0, maximize, max_iter, tol, solver, output):
    """One run of the convex–concave procedure from ``z0``: (z, values, status, solves)."""
    import cvxpy as cp

    j = _out_index(output)
    zv = z0
    value = float(_forward(module, zv[None])[0, j])
    history = [value]
    status = "optimal"
    solves = 0
    for _ in range(max_iter):
        z.value = zv
        if maximize:  # f − ĝ ≤ f − g: a concave minorant, tight at zv
            surrogate = cp.Maximize(dc.f - dc.g_tangent())
        else:  # f̂ − g ≥ f − g: a convex majorant, tight at zv
            surrogate = cp.Minimize(dc.f_tangent() - dc.g)
        problem = cp.Problem(surrogate, feasible)
        status = _check_status(_solve(problem, solver))
        solves += 1
        candidate = np.asarray(z.value, dtype=np.float64)
        new = float(_forward(module, candidate[None])[0, j])
        gain = new - value if maximize else value - new
        if gain < 0:  # only solver round-off can make the surrogate step worse: keep zv
            break
        zv, value = candidate, new
        history.append(value)
        if gain <= tol * (1 + abs(value)):
            break
    return zv, tuple(history), status, solves


# --------------------------------------------------------------------------------------------
# output_range.


def _spread_function(module, outputs: int):
    """``r (d,) ↦ (outputs,)``: a bound on ``|f_j(z) − f_j(c)|`` over ``|z − c| ≤ r``."""
    if all(hasattr(module, a) for a in ("pencil", "solver")):
        with torch.no_grad():
            A = module.pencil.feature_matrices().detach().to("cpu", torch.float64)
            norms = torch.linalg.eigvalsh(A).abs().amax(-1).numpy()  # ‖A_i‖_op
        norms = norms.reshape(-1, norms.shape[-1])  # (outputs, d)
        return lambda r: norms @ r
    from .certify import lipschitz_bound

    constant = lipschitz_bound(module, norm="linf")
    return lambda r: np.full(outputs, constant * float(np.max(r)))


def output_range(
    module,
    lower,
    upper,
    *,
    vertex_limit: int = 10,
    max_boxes: int = 64,
    solver: str = "CLARABEL",
) -> OutputRange:
    """Certified bounds of the module's outputs over the box ``lower ≤ z ≤ upper``.

    Per output: the Weyl interval around the box centre; a concave output's maximum and a
    convex output's minimum solved exactly as one convex program (``*_exact``; the bound
    adds ``1e-8·(1 + |value|)``, above the solver's tolerances, so that it stays sound; a
    solve reported inaccurate falls back to branch and bound); the
    other side exact by vertex enumeration while ``in_features ≤ vertex_limit``, else — and
    on both sides of a difference of concave functions — Weyl bounds refined by branch and
    bound over at most ``max_boxes`` splits.
    """
    import cvxpy as cp

    d = input_size(module)
    lo, hi = _bounds(lower, upper, d, required=True)
    centre, radius = (lo + hi) / 2, (hi - lo) / 2
    f_centre = _forward(module, centre[None])[0]
    outputs = f_centre.shape[0]
    spread = _spread_function(module, outputs)
    weyl = spread(radius)
    z = cp.Variable(d)
    box = [z >= lo, z <= hi]
    exported = to_cvxpy(module, z)
    vertices = _vertices(lo, hi) if d <= vertex_limit else None
    f_vertices = None if vertices is None else _forward(module, vertices)

    res = {k: np.zeros(outputs) for k in ("lower", "upper", "la", "ua")}
    exact = {"lower": np.zeros(outputs, bool), "upper": np.zeros(outputs, bool)}
    for j in range(outputs):
        e = exported if outputs == 1 and tuple(exported.shape) == () else exported[j]
        dc = isinstance(e, DifferenceOfConcave)
        concave, convex = (not dc and e.is_concave()), (not dc and e.is_convex())
        for side, sense, sign in (("upper", cp.Maximize, 1.0), ("lower", cp.Minimize, -1.0)):
            seen = f_centre[j] if f_vertices is None else np.append(f_vertices[:, j], f_centre[j])
            attained = sign * np.max(sign * seen)
            solved = False
            if (side == "upper" and concave) or (side == "lower" and convex):
                problem = cp.Problem(sense(e), box)
                # An inaccurate solve gives no sound bound: fall back to branch and bound.
                solved = _check_status(_solve(problem, solver)) == "optimal"
                zv = np.clip(np.asarray(z.value, dtype=np.float64), lo, hi)
                at = float(_forward(module, zv[None])[0, j])
                attained = sign * max(sign * attained, sign * at)
            if solved:
                optimum = sign * max(sign * float(problem.value), sign * at)
                bound, is_exact = optimum + sign * 1e-8 * (1 + abs(optimum)), True
            elif f_vertices is not None and (
                (side == "lower" and concave) or (side == "upper" and convex)
            ):
                bound, is_exact = attained, True  # a concave minimum is at a vertex
            else:
                bound, attained = _branch_and_bound(
                    module, spread, lo, hi, j, sign, max_boxes, attained
                )
                is_exact = False
            res[side][j] = bound
            res["ua" if side == "upper" else "la"][j] = attained
            exact[side][j] = is_exact
    return OutputRange(
        res["lower"], res["upper"], exact["lower"], exact["upper"], res["la"], res["ua"],
        f_centre - weyl, f_centre + weyl,
    )


def _vertices(lo, hi) -> np.ndarray:
    d = lo.shape[0]
    bits = (np.arange(2**d)[:, None] >> np.arange(d)[None, :]) & 1
    return np.where(bits == 1, hi, lo)


def _branch_and_bound(module, spread, lo, hi, j, sign, max_boxes, attained):
    """Sound bound ``sign · max_box sign · f_j`` by Weyl bounds on split boxes; also the best
    value seen.

    With ``g = sign · f_j``, a box ``[a, b]`` with centre ``c`` has ``g ≤ g(c) + spread_j((b −
    a)/2)`` (Weyl). The box with the largest bound is split in two along the side with the
    largest weighted half-width, until ``max_boxes`` splits or its bound meets the best value.
    """
    d = lo.shape[0]
    eye = np.eye(d)

    def evaluate(a, b):
        g = sign * float(_forward(module, ((a + b) / 2)[None])[0, j])
        return g, g + float(spread((b - a) / 2)[j])

    best = sign * attained
    g, bound = evaluate(lo, hi)
    best = max(best, g)
    heap = [(-bound, 0, lo, hi)]
    for count in range(1, max_boxes + 1):
        top = -heap[0][0]
        if top - best <= 1e-12 * (1 + abs(best)):
            break
        _, _, a, b = heapq.heappop(heap)
        half = (b - a) / 2
        i = int(np.argmax([spread(half * eye[k])[j] for k in range(d)]))
        mid = (a[i] + b[i]) / 2
        left_b, right_a = b.copy(), a.copy()
        left_b[i], right_a[i] = mid, mid
        for na, nb in ((a, left_b), (right_a, b)):
            g, bound = evaluate(na, nb)
            best = max(best, g)
            heapq.heappush(heap, (-bound, 2 * count + (na is a), na, nb))
    return sign * -heap[0][0], sign * best
