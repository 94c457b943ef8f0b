"""A trained spectral model as a cvxpy expression of its input (``to_cvxpy``).

A neuron's value is a signed sum of Ky Fan terms of ``A(z) = A_0 + Σ_i z_i A_i``
(``problem.fantope_terms(n)``, see ``optneuron.problems``). Each term has a curvature in ``z``
and an exact cvxpy form:

* ``F_m(A)`` (sum of the ``m`` smallest) is concave: ``cp.lambda_sum_smallest(A, m)``;
* ``E_m(A)`` (sum of the ``m`` largest) is convex: ``cp.lambda_sum_largest(A, m)``;
* ``F_n = E_n = tr A`` is affine;
* smoothed, the Moreau envelopes ``F^α_m(A) = max_B F_m(B) − ‖A − B‖²_F/(2α)`` (concave) and
  ``E^α_m(A) = min_B E_m(B) + ‖A − B‖²_F/(2α)`` (convex) become cvxpy partial optimizations
  over an auxiliary symmetric ``B`` (``cvxpy.transforms.partial_optimize``): still one DCP
  expression of ``z``, evaluated by a small SDP, plus the constant alignment of
  ``smoothing.envelope_shift``; aligned, ``F^α_n = E^α_n = tr A``.

Sorting the signed terms into a concave part ``f`` and a concave part ``g`` subtracted gives
``value = f − g`` (theory/decisions.md): when ``g`` vanishes (``λ_0``, smallest Ky Fan sums,
smoothed ``λ_0``) the export is a concave expression, when ``f`` is affine (``λ_{−1}``) a
convex one, and otherwise (middle eigenvalues) a ``DifferenceOfConcave`` holding both parts
and their tangent planes, which is what the convex–concave procedure
(``optneuron.decisions.optimize_inputs``) needs.

Inputs may be any cvxpy expression of shape ``(in_features,)``. An affine ``z`` goes straight
into the pencil. A concave or convex ``z`` is allowed where DCP composition holds, and that is
where monotone features matter: a concave term of ``A(z)`` is nondecreasing in ``z_i`` for a
PSD ``A_i`` (``monotone={i: +1}``), so it may take a concave ``z_i``; it is exported as
``max { term(A(s)) : s_i ≤ z_i }`` (a partial optimization), which equals ``term(A(z))``
by monotonicity. ``nn.Sequential`` compositions of ``nn.Linear``, ``nn.Identity``,
``nn.ReLU`` and spectral modules follow the same rules; a step that breaks them raises a
``ValueError`` that names the step and the rule.

The spectral modules are read duck-typed (``module.pencil``, ``module.solver.problem``,
``module.out_features``), so this module sits below ``optneuron.nn`` and never imports it;
any neuron whose problem lists ``fantope_terms`` is exported by the same code, and so is a
module with its own ``fantope_terms()`` (one tuple of terms per neuron, as
``nn.SpectralMixture``, whose coefficients are its mixing weights' differences). cvxpy and
scipy are imported inside the functions: ``import optneuron`` stays light.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import torch

from .smoothing import capped_simplex_projection, envelope_shift

__all__ = [
    "to_cvxpy",
    "to_difference_of_concave",
    "DifferenceOfConcave",
    "ExportError",
    "input_size",
]


class ExportError(ValueError):
    """The module, or a step of it, has no exact DCP / difference-of-concave export."""


class DifferenceOfConcave:
    """``f − g`` with ``f`` and ``g`` concave cvxpy expressions of one shape.

    The exact form of a middle eigenvalue ``λ_k = F_{k+1} − F_k`` and of anything built from
    it. ``f_tangent()`` and ``g_tangent()`` return affine expressions that majorize ``f`` and
    ``g`` everywhere and touch them at the variables' current values (supergradient planes,
    ``⟨A(z), X*⟩`` for a Ky Fan term with optimal ``X*``), so
    ``f − g_tangent()`` is a concave minorant of the value, tight at the current point
    (maximize it to improve), and ``f_tangent() − g`` a convex majorant (minimize it).
    ``tangents_available`` is False when some part went through a nonaffine input, where
    no tangent plane is formed.
    """

    def __init__(self, f, g, f_tangent, g_tangent):
        if tuple(f.shape) != tuple(g.shape):
            raise ValueError(f"f and g must have one shape, got {f.shape} and {g.shape}")
        if not (f.is_concave() and g.is_concave()):
            raise ValueError("f and g must both be concave cvxpy expressions")
        self.f = f
        self.g = g
        self._f_tangent = f_tangent
        self._g_tangent = g_tangent

    @property
    def shape(self) -> tuple:
        return tuple(self.f.shape)

    @property
    def value(self):
        """``f.value − g.value`` at the variables' current values (None if unset)."""
        f, g = self.f.value, self.g.value
        return None if f is None or g is None else f - g

    @property
    def tangents_available(self) -> bool:
        return self._f_tangent is not None and self._g_tangent is not None

    def f_tangent(self):
        """Affine majorant of ``f``, equal to ``f`` at the variables' current values."""
        return self._tangent(self._f_tangent, "f")

    def g_tangent(self):
        """Affine majorant of ``g``, equal to ``g`` at the variables' current values."""
        return self._tangent(self._g_tangent, "g")

    def _tangent(self, make, name):
        if make is None:
            raise ExportError(
                f"no tangent plane for {name}: part of it composes a spectral term with a "
                "nonaffine input, where only the DCP value is exported"
            )
        return make()

    def variables(self):
        return list({v.id: v for v in self.f.variables() + self.g.variables()}.values())

    def __getitem__(self, key):
        return _DC.of(self)[key].export()

    def __repr__(self) -> str:
        return (
            f"DifferenceOfConcave(shape={self.shape}, f={self.f.curvature}, "
            f"g={self.g.curvature})"
        )


# The smoothed terms are evaluated by solving their inner problem; Clarabel's default gaps
# (1e-8) leave ~1e-6 in the value, tighter ones reach the closed form to ~1e-9.
_PARTIAL_SOLVE = {
    "solver": "CLARABEL", "tol_gap_abs": 1e-11, "tol_gap_rel": 1e-11, "tol_feas": 1e-11,
}


def _negated(make):
    """The tangent maker of ``−e`` from that of ``e``."""
    return lambda: -make()


def _constant(expr):
    """A tangent maker for an affine ``expr``: its own tangent plane."""
    return lambda: expr


# --------------------------------------------------------------------------------------------
# Internal representation: value = f − g, f and g concave, each with a tangent maker.


@dataclass
class _DC:
    f: object  # concave (or affine) cvxpy expression
    g: object | None  # concave cvxpy expression, None for 0
    f_tan: object  # callable → affine majorant of f, or None
    g_tan: object  # callable → affine majorant of g, or None

    @staticmethod
    def of(value) -> _DC:
        if isinstance(value, DifferenceOfConcave):
            return _DC(value.f, value.g, value._f_tangent, value._g_tangent)
        if value.is_affine():
            return _DC(value, None, _constant(value), None)
        if value.is_concave():
            return _DC(value, None, None, None)
        if value.is_convex():
            import cvxpy as cp

            zero = cp.Constant(np.zeros(value.shape))
            return _DC(zero, -value, _constant(zero), None)
        raise ExportError(f"expression is neither concave nor convex: {value.curvature}")

    def __getitem__(self, key) -> _DC:
        f, g = self.f[key], None if self.g is None else self.g[key]
        f_tan = None if self.f_tan is None else (lambda: self.f_tan()[key])
        g_tan = None if self.g_tan is None else (lambda: self.g_tan()[key])
        return _DC(f, g, f_tan, g_tan)

    def export(self):
        """A cvxpy expression when one side is affine, else a ``DifferenceOfConcave``."""
        if self.g is None:
            return self.f
        if self.f.is_affine():
            return self.f - self.g
        return DifferenceOfConcave(self.f, self.g, self.f_tan, self.g_tan)


def _stack(parts: list[_DC], scalar: bool) -> _DC:
    import cvxpy as cp

    if scalar:
        return parts[0]

    def stack(exprs):
        return cp.hstack([cp.reshape(e, (1,), order="C") for e in exprs])

    def stack_tan(makers):
        if any(m is None for m in makers):
            return None
        return lambda: stack([m() for m in makers])

    zero = cp.Constant(0.0)
    has_g = any(p.g is not None for p in parts)
    g = stack([p.g if p.g is not None else zero for p in parts]) if has_g else None
    g_tan = (
        stack_tan([p.g_tan if p.g is not None else (lambda: zero) for p in parts])
        if has_g
        else None
    )
    return _DC(stack([p.f for p in parts]), g, stack_tan([p.f_tan for p in parts]), g_tan)


# --------------------------------------------------------------------------------------------
# One spectral module.


def _check_input(z, in_features: int):
    import cvxpy as cp

    if isinstance(z, (np.ndarray, list, tuple, float, int)):
        z = cp.Constant(np.asarray(z, dtype=np.float64))
    if not isinstance(z, cp.Expression):
        raise TypeError(
            f"z must be a cvxpy expression of shape ({in_features},), got {type(z).__name__}"
        )
    if tuple(z.shape) != (in_features,):
        raise ValueError(f"z must have shape ({in_features},), got {tuple(z.shape)}")
    if not z.is_dcp():
        raise ExportError("z is not a DCP expression (cvxpy cannot tell its curvature)")
    return z


def _is_spectral(module) -> bool:
    return all(hasattr(module, a) for a in ("pencil", "solver", "out_features"))


def _pencil_data(module):
    """Float64 numpy ``A_0 (out, n, n)``, ``A_i (out, d, n, n)`` (``out = 1`` for a neuron)."""
    with torch.no_grad():
        A0 = module.pencil.offset_matrix().detach().to("cpu", torch.float64).numpy()
        Ai = module.pencil.feature_matrices().detach().to("cpu", torch.float64).numpy()
    if module.out_features is None:
        A0, Ai = A0[None], Ai[None]
    return A0, Ai


def _matrix_expression(A0, Ai, z, structured: bool):
    """``A_0 + Σ_i z_i A_i`` as an ``(n, n)`` cvxpy expression (sparse data when structured)."""
    import cvxpy as cp
    import scipy.sparse as sp

    d, n, _ = Ai.shape
    M = sp.csr_matrix(Ai.reshape(d, n * n).T)  # zeros outside the band are not stored
    offset = sp.csr_matrix(A0) if structured else A0
    return offset + cp.reshape(M @ z, (n, n), order="C")


def _fantope_optimum(S: np.ndarray, m: int, alpha: float | None) -> np.ndarray:
    """Minimizer ``X*`` of ``<S, X> (+ (α/2)‖X‖²)`` over the Fantope ``{tr X = m, 0 ⪯ X ⪯ I}``."""
    mu, Q = np.linalg.eigh((S + S.T) / 2)
    if alpha is None:
        w = np.zeros_like(mu)
        w[:m] = 1.0
    else:
        w = capped_simplex_projection(torch.from_numpy(-(mu - mu.mean()) / alpha), float(m))
        w = w.numpy()
    return (Q * w) @ Q.T


class _Term:
    """``sign · T(A)`` for one Ky Fan term ``T`` (``F_m`` or ``E_m``, maybe smoothed)."""

    def __init__(self, count: int, largest: bool, alpha: float | None, n: int):
        self.count, self.largest, self.alpha, self.n = count, largest, alpha, n

    @property
    def concave(self) -> bool:  # F-terms are concave in A, E-terms convex
        return not self.largest

    @property
    def affine(self) -> bool:  # F_n = E_n = tr A: the Fantope is the single point I
        return self.count == self.n

    def trace_form(self, A0, Ai, z):
        """``tr A(z)`` of an affine term (aligned envelopes of ``m = n`` are exactly the trace),
        linear in ``z`` with coefficients ``tr A_i``."""
        return np.trace(A0) + np.trace(Ai, axis1=-2, axis2=-1) @ z

    def atom(self, A):
        """Exact cvxpy form of ``T(A)`` for an affine matrix expression ``A``."""
        import cvxpy as cp
        from cvxpy.transforms.partial_optimize import partial_optimize

        m, n, alpha = self.count, self.n, self.alpha
        exact = cp.lambda_sum_largest if self.largest else cp.lambda_sum_smallest
        if alpha is None:
            return exact(A, m)
        B = cp.Variable((n, n), symmetric=True)
        # Moreau: E^α_m(A) = min_B E_m(B) + ‖A − B‖²/(2α); F^α_m(A) = max_B F_m(B) − ‖A − B‖²/(2α).
        if self.largest:
            inner = cp.Minimize(exact(B, m) + cp.sum_squares(A - B) / (2 * alpha))
        else:
            inner = cp.Maximize(exact(B, m) - cp.sum_squares(A - B) / (2 * alpha))
        shift = envelope_shift(m, self.largest, alpha)
        return partial_optimize(cp.Problem(inner), opt_vars=[B], **_PARTIAL_SOLVE) + shift

    def tangent(self, A):
        """Affine ``<A, X*> ± (α/2)‖X*‖²`` with ``X*`` optimal at ``A.value``: equal to ``T``
        there, above it everywhere for an F-term (concave), below for an E-term (convex)."""
        import cvxpy as cp

        if A.value is None:
            raise ExportError("tangent needs the input variables' values (set z.value first)")
        S = np.asarray(A.value, dtype=np.float64)
        sign = -1.0 if self.largest else 1.0
        X = _fantope_optimum(sign * S, self.count, self.alpha)
        offset = 0.0 if self.alpha is None else (
            -sign * self.alpha / 2 * float(np.sum(X * X))
            - envelope_shift(self.count, self.largest, self.alpha))
        return cp.sum(cp.multiply(A, X)) - offset


def _composed_input(z, monotone: dict, concave_term: bool, where: str):
    """For a nonaffine ``z``: a variable ``s`` and constraints with ``term(A(s))`` optimized
    over them equal to ``term(A(z))``, or ``ExportError`` naming the feature whose DCP
    composition rule fails."""
    import cvxpy as cp

    s = cp.Variable(z.shape[0])
    constraints = []
    for i in range(z.shape[0]):
        zi = z[i]
        sign = monotone.get(i, 0)
        if zi.is_affine():
            constraints.append(s[i] == zi)
            continue
        up = zi.is_concave()  # else convex
        # Hypograph of a concave term (maximized over s): s_i ≤ a concave z_i needs the term
        # nondecreasing in z_i, s_i ≥ a convex z_i nonincreasing; an epigraph (convex term,
        # minimized over s) needs the reverse. The constraint s_i ≤ z_i (≥) is convex in both.
        needed = 1 if up == concave_term else -1
        c = s[i] <= zi if up else s[i] >= zi
        if sign != needed:
            shape = "concave" if concave_term else "convex"
            wanted = "nondecreasing (monotone +1)" if needed == 1 else "nonincreasing (monotone -1)"
            raise ExportError(
                f"{where}: input {i} is {'concave' if up else 'convex'}, so the {shape} "
                f"spectral term must be {wanted} in it (DCP composition rule), but "
                f"monotone[{i}] is {sign if sign else 'not set'}"
            )
        constraints.append(c)
    return s, constraints


def _spectral(module, z, where: str) -> _DC:
    import cvxpy as cp
    from cvxpy.transforms.partial_optimize import partial_optimize

    problem = module.solver.problem
    own_terms = getattr(module, "fantope_terms", None)  # a mixture's depend on its weights
    if own_terms is None and not hasattr(problem, "fantope_terms"):
        raise ExportError(
            f"{where}: {type(module).__name__} solves {type(problem).__name__}, which is not a "
            "signed sum of Ky Fan terms (no fantope_terms); it has no cvxpy export"
        )
    pencil = module.pencil
    z = _check_input(z, pencil.in_features)
    A0, Ai = _pencil_data(module)
    n = A0.shape[-1]
    structured = getattr(pencil, "structure", "dense") != "dense"
    alpha = getattr(problem, "smoothing", None)
    neuron_terms = own_terms() if own_terms is not None else [problem.fantope_terms(n)] * len(A0)
    monotone = dict(getattr(pencil, "monotone", {}) or {})
    affine = z.is_affine()
    parts = []
    for j in range(A0.shape[0]):
        f, g = [], []
        if affine:
            A = _matrix_expression(A0[j], Ai[j], z, structured)
        for t in neuron_terms[j]:
            term = _Term(t.count, t.largest, alpha, n)
            coef = float(t.coef)
            if term.affine:  # tr A(z): no auxiliary variables, cvxpy judges curvature
                expr = coef * term.trace_form(A0[j], Ai[j], z)
                if expr.is_concave():
                    f.append((1.0, expr, _constant(expr) if affine else None))
                elif expr.is_convex():
                    g.append((1.0, -expr, None))
                else:
                    raise ExportError(f"{where}: the trace term is not DCP in this input")
                continue
            if affine:
                expr = term.atom(A)
                tan = functools.partial(term.tangent, A)
            else:
                s, cons = _composed_input(z, monotone, term.concave, where)
                As = _matrix_expression(A0[j], Ai[j], s, structured)
                goal = cp.Maximize if term.concave else cp.Minimize
                expr = partial_optimize(
                    cp.Problem(goal(term.atom(As)), cons), opt_vars=[s], **_PARTIAL_SOLVE
                )
                tan = None
            # coef · T is concave when (coef > 0) == (T concave); it then joins f, else its
            # negative joins g. Either way the piece is |coef| · (±T) with ±T concave, and the
            # majorant of −T (T convex) is −(T's minorant plane).
            piece = expr if term.concave else -expr
            piece_tan = tan if (tan is None or term.concave) else _negated(tan)
            (f if (coef > 0) == term.concave else g).append((abs(coef), piece, piece_tan))
        parts.append(_combine(f, g))
    return _stack(parts, module.out_features is None)


def _weighted_sum(terms):
    """``Σ w·e`` and its tangent maker (None if a piece has none) for ``(w, e, tangent)``."""
    import cvxpy as cp

    expr = sum((w * e for w, e, _ in terms), cp.Constant(0.0))
    if any(t is None for _, _, t in terms):
        return expr, None
    return expr, (lambda: sum((w * t() for w, _, t in terms), cp.Constant(0.0)))


def _combine(f_terms, g_terms) -> _DC:
    f, f_tan = _weighted_sum(f_terms)
    if not g_terms:
        return _DC(f, None, f_tan, None)
    g, g_tan = _weighted_sum(g_terms)
    if not f_terms:
        f_tan = _constant(f)  # f is the constant 0
    return _DC(f, g, f_tan, g_tan)


# --------------------------------------------------------------------------------------------
# Compositions.


def _linear(layer, dc: _DC, where: str) -> _DC:
    """``W (f − g) + b = (W⁺f + W⁻g + b) − (W⁺g + W⁻f)`` with ``W = W⁺ − W⁻``, ``W^± ≥ 0``:
    nonnegative combinations of concave functions are concave."""
    import cvxpy as cp

    W = layer.weight.detach().to("cpu", torch.float64).numpy()
    b = 0.0 if layer.bias is None else layer.bias.detach().to("cpu", torch.float64).numpy()
    if tuple(dc.f.shape) != (W.shape[1],):
        raise ExportError(f"{where}: nn.Linear expects {W.shape[1]} inputs, got shape {dc.f.shape}")
    Wp, Wm = np.maximum(W, 0), np.maximum(-W, 0)
    zero = cp.Constant(np.zeros(W.shape[1]))
    F, G = dc.f, (zero if dc.g is None else dc.g)
    Ft, Gt = dc.f_tan, _constant(zero) if dc.g is None else dc.g_tan
    f = Wp @ F + Wm @ G + b
    g = Wp @ G + Wm @ F
    ft = gt = None
    if Ft is not None and Gt is not None:

        def ft():
            return Wp @ Ft() + Wm @ Gt() + b

        def gt():
            return Wp @ Gt() + Wm @ Ft()

    if g.is_affine():  # e.g. a nonnegative readout of concave outputs: one concave expression
        out = f - g
        return _DC(out, None, _constant(out) if out.is_affine() else None, None)
    if f.is_affine():
        ft = _constant(f)
    return _DC(f, g, ft, gt)


def _relu(dc: _DC, where: str) -> _DC:
    import cvxpy as cp

    if not dc.f.is_affine():
        raise ExportError(
            f"{where}: nn.ReLU is max(0, ·), which preserves convexity only; its input must be "
            "convex or affine, got a concave or difference-of-concave expression"
        )
    h = dc.f if dc.g is None else dc.f - dc.g
    out = cp.pos(h)
    if out.is_affine():
        return _DC(out, None, _constant(out), None)
    zero = cp.Constant(np.zeros(out.shape))
    return _DC(zero, -out, _constant(zero), None)


def _module(module, z_dc: _DC, where: str) -> _DC:
    from torch import nn

    if _is_spectral(module):
        z = z_dc.export()
        if isinstance(z, DifferenceOfConcave):
            raise ExportError(
                f"{where}: a spectral module's input must be affine, concave or convex; "
                "it got a difference of concave functions (no DCP composition rule applies)"
            )
        return _spectral(module, z, where)
    if isinstance(module, nn.Sequential):
        for i, child in enumerate(module):
            z_dc = _module(child, z_dc, f"{where}[{i}] ({type(child).__name__})")
        return z_dc
    if isinstance(module, nn.Linear):
        return _linear(module, z_dc, where)
    if isinstance(module, nn.Identity):
        return z_dc
    if isinstance(module, nn.ReLU):
        return _relu(z_dc, where)
    raise ExportError(
        f"{where}: {type(module).__name__} has no cvxpy export; supported: spectral modules "
        "(SpectralNeuron, SpectralLayer, …), nn.Sequential of them with nn.Linear, "
        "nn.Identity and nn.ReLU"
    )


def input_size(module) -> int:
    """``in_features`` of a spectral module, ``nn.Linear`` or the first such child."""
    from torch import nn

    if _is_spectral(module):
        return int(module.pencil.in_features)
    if isinstance(module, nn.Linear):
        return int(module.in_features)
    if isinstance(module, nn.Sequential):
        for child in module:
            if isinstance(child, (nn.Identity, nn.ReLU)):
                continue
            return input_size(child)
    raise ExportError(f"cannot tell the input size of {type(module).__name__}")


def to_cvxpy(module, z):
    """The module's output as an exact cvxpy function of the input expression ``z``.

    ``z``: a cvxpy expression of shape ``(in_features,)`` (a numpy array is taken as a
    constant). Returns a cvxpy ``Expression`` (concave for ``λ_0`` and smallest Ky Fan sums,
    convex for ``λ_{−1}``; shape ``()`` for a neuron, ``(out_features,)`` for a layer) whose
    value equals the module's output wherever ``z`` has a value, or a ``DifferenceOfConcave``
    ``f − g`` where no single curvature exists (middle eigenvalues). ``ExportError`` (a
    ``ValueError``) names the step that cannot be exported and the rule it breaks;
    ``TypeError``/``ValueError`` for a bad ``z``.
    """
    return _export(module, z).export()


def _export(module, z) -> _DC:
    from torch import nn

    if not isinstance(module, nn.Module):
        raise TypeError(f"module must be a torch.nn.Module, got {type(module).__name__}")
    z = _check_input(z, input_size(module))
    return _module(module, _DC.of(z), type(module).__name__)


def to_difference_of_concave(module, z) -> DifferenceOfConcave:
    """``to_cvxpy(module, z)`` always in the form ``f − g`` (``f``, ``g`` concave).

    A concave export comes back with ``g = 0``, a convex one with ``f = 0``; this is the form
    the convex–concave procedure iterates on whatever the curvature.
    """
    import cvxpy as cp

    dc = _export(module, z)
    if dc.g is None:
        zero = cp.Constant(np.zeros(dc.f.shape))
        return DifferenceOfConcave(dc.f, zero, dc.f_tan, _constant(zero))
    return DifferenceOfConcave(dc.f, dc.g, dc.f_tan, dc.g_tan)
