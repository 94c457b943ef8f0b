"""Cost of the SDP backend against a bare CvxpyLayer of the same Fantope SDP, forward + backward.

    python -m benchmarks.sdp_cost [--sizes 4 8] [--batch 16] [--repeats 7] [--threads T]

(from the repo root; ``--threads`` sets torch's intra-op threads, default torch's own).

For each case (n, m, exact or smoothed) both sides solve the same batch of Fantope SDPs

    min { <S, X> (+ (α/2)‖X‖²_F) : tr X = m, 0 ⪯ X ⪯ I }      (X ⪯ I dropped for m = 1)

with Clarabel at the backend's tolerances (``sdp.DEFAULT_SOLVER_ARGS``), then backpropagate
``<C, X>`` to ``S``. "backend" is ``SDPBackend._solve_term`` (scaling, solve, certificates,
KKT backward); "cvxpylayer" is ``CvxpyLayer`` over the cvxpy formulation above (diffcp's
derivative, which is wrong for n ≥ 4 — docs/sdp-derivative.md — but costs what it costs).
The two run interleaved, ``repeats`` times each; the table gives the median wall-clock
seconds of each and their ratio (backend / cvxpylayer; the issue's bound is ratio ≤ 1.25),
and the same ratio of process CPU time (all threads), which a busy machine disturbs less.
Wall-clock timings are only meaningful on a quiet machine.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from optneuron.backends.sdp import DEFAULT_SOLVER_ARGS, SDPBackend


def cvxpy_fantope_layer(n: int, m: int, smoothed: bool):
    """``CvxpyLayer`` of the Fantope SDP, parameters ``S`` (symmetric) and ``α`` if smoothed."""
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
    return CvxpyLayer(problem, parameters=params, variables=[X])


def _batch(n: int, batch: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    S = torch.randn(batch, n, n, generator=g, dtype=torch.float64)
    C = torch.randn(batch, n, n, generator=g, dtype=torch.float64)
    S = (S + S.mT) / 2
    return S / torch.linalg.matrix_norm(S, ord=2)[:, None, None], (C + C.mT) / 2


def case(n: int, m: int, alpha: float | None, batch: int, repeats: int) -> dict:
    """Median forward+backward seconds of the backend and of the bare layer, and their ratio."""
    S, C = _batch(n, batch, seed=n * 100 + m)
    backend = SDPBackend()
    layer = cvxpy_fantope_layer(n, m, alpha is not None)

    def run_backend():
        leaf = S.clone().requires_grad_(True)
        (C * backend._solve_term(leaf, m, alpha)).sum().backward()

    def run_layer():
        leaf = S.clone().requires_grad_(True)
        params = [leaf] if alpha is None else [leaf, torch.tensor(alpha, dtype=S.dtype)]
        (X,) = layer(*params, solver_args=dict(DEFAULT_SOLVER_ARGS))
        (C * X).sum().backward()

    wall = {"backend": [], "cvxpylayer": []}
    cpu = {"backend": [], "cvxpylayer": []}
    run_backend(), run_layer()  # warm-up: imports, caches, thread pools
    for _ in range(repeats):
        for name, fn in (("backend", run_backend), ("cvxpylayer", run_layer)):
            start, start_cpu = time.perf_counter(), time.process_time()
            fn()
            wall[name].append(time.perf_counter() - start)
            cpu[name].append(time.process_time() - start_cpu)
    backend_s = statistics.median(wall["backend"])
    layer_s = statistics.median(wall["cvxpylayer"])
    cpu_ratio = statistics.median(cpu["backend"]) / statistics.median(cpu["cvxpylayer"])
    return {"n": n, "m": m, "alpha": alpha, "batch": batch, "backend_s": backend_s,
            "cvxpylayer_s": layer_s, "ratio": backend_s / layer_s, "cpu_ratio": cpu_ratio}


def run(sizes=(4, 8), batch: int = 16, repeats: int = 7) -> list[dict]:
    """All cases: m = 1 and m = 2, exact and smoothed (α = 0.3), for each n in ``sizes``."""
    return [case(n, m, alpha, batch, repeats)
            for n in sizes for m in (1, 2) for alpha in (None, 0.3)]


def main(argv=None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[4, 8])
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    rows = run(tuple(args.sizes), args.batch, args.repeats)
    header = ("n", "m", "alpha", "B", "backend s", "cvxpylayer s", "ratio", "cpu ratio")
    print("{:>3} {:>2} {:>6} {:>4} {:>10} {:>13} {:>6} {:>9}".format(*header))
    for r in rows:
        alpha = "-" if r["alpha"] is None else f"{r['alpha']:g}"
        print(f"{r['n']:>3} {r['m']:>2} {alpha:>6} {r['batch']:>4} {r['backend_s']:>10.4f} "
              f"{r['cvxpylayer_s']:>13.4f} {r['ratio']:>6.2f} {r['cpu_ratio']:>9.2f}")
    return rows


if __name__ == "__main__":
    main()
