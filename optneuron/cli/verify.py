"""``optneuron verify``: the randomized eigen-vs-SDP sweep over ``optneuron.verify.verify``.

For every size ``n`` in the sweep it draws three kinds of float64 batches — a generic
spectrum, exactly repeated eigenvalues, and pairs ``1e-9`` apart — and runs ``verify`` on
every index ``SphereQP(k)``, every Ky Fan count (smallest and largest), and smoothed
variants, each on both backends; then ``verify.sweep_cases`` adds ``TrustRegion`` (sphere and
ball; generic, hard case, ``b = 0``) and ``GeneralizedSphereQP`` on random and hard data.
"""

from __future__ import annotations

import json
import sys
import time

import torch

from ..problems import KyFan, SphereQP
from ..verify import sweep_cases, verify

SPECTRA = ("generic", "repeated", "near-repeated")


def random_symmetric(
    n: int, batch: int, spectrum: str, generator: torch.Generator
) -> torch.Tensor:
    """A batch of float64 matrices ``Q diag(μ) Qᵀ`` with a random orthogonal ``Q``.

    ``generic``: ``μ`` standard normal; ``repeated``: every eigenvalue doubled;
    ``near-repeated``: doubled, then split by ``1e-9``.
    """
    if spectrum not in SPECTRA:
        raise ValueError(f"spectrum must be one of {SPECTRA}, got {spectrum!r}")
    G = torch.randn(batch, n, n, generator=generator, dtype=torch.float64)
    Q, R = torch.linalg.qr(G)
    Q = Q * torch.sign(torch.diagonal(R, dim1=-2, dim2=-1)).unsqueeze(-2)
    mu = torch.randn(batch, n, generator=generator, dtype=torch.float64)
    if spectrum != "generic":
        half = mu[:, : (n + 1) // 2]
        mu = half.repeat_interleave(2, dim=-1)[:, :n]
        if spectrum == "near-repeated":
            mu = mu + 1e-9 * (torch.arange(n, dtype=torch.float64) % 2)
    return (Q * mu.unsqueeze(-2)) @ Q.mT


def problems_for(n: int, quick: bool) -> list:
    """Every index, every Ky Fan count (both ends), and smoothed variants, for size ``n``."""
    problems = [SphereQP(k) for k in range(n)]
    counts = range(1, n) if not quick else sorted({1, n // 2, n - 1} - {0})
    for m in counts:
        problems.append(KyFan(m))
        problems.append(KyFan(m, largest=True))
    problems.append(SphereQP(n // 2, smoothing=0.1))
    problems.append(KyFan(max(1, n // 2), smoothing=0.1))
    return problems


def add_arguments(parser) -> None:
    """The ``optneuron verify`` options."""
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--quick", action="store_true", help="smaller sweep, under a minute")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument("--batch", type=int, default=3, help="matrices per check (default 3)")
    parser.add_argument(
        "--sizes", type=int, nargs="+", default=None, help="matrix sizes (default 2..10)"
    )


def run(args) -> int:
    """Run the sweep; print a summary table (or JSON); return 1 on any mismatch."""
    from tqdm import tqdm

    sizes = args.sizes or (list(range(2, 11)) if not args.quick else [2, 3, 4, 6, 8, 10])
    if any(n < 1 for n in sizes):
        raise SystemExit(f"--sizes must be positive, got {sizes}")
    generator = torch.Generator().manual_seed(args.seed)
    jobs = [
        (n, spectrum, problem)
        for n in sizes
        for spectrum in SPECTRA
        for problem in problems_for(n, args.quick)
        if not (spectrum != "generic" and args.quick and problem.smoothing is not None)
    ]
    start = time.perf_counter()
    summary: dict[tuple[str, str], dict] = {}
    reports = []
    for n, spectrum, problem in tqdm(jobs, desc="verify", file=sys.stderr, disable=args.json):
        A = random_symmetric(n, args.batch, spectrum, generator)
        # --quick: exactly repeated spectra have (almost) no differentiable rows to report
        quiet = {"derivatives": False} if args.quick and spectrum == "repeated" else {}
        _record(summary, reports, n, spectrum, problem, verify(problem, A, **quiet))
    for n in sizes:  # TrustRegion and GeneralizedSphereQP on random and hard data
        for label, problem, data in sweep_cases(n, args.batch, generator, args.quick):
            _record(summary, reports, n, label, problem, verify(problem, data))
    failed = sum(row["failed"] for row in summary.values())
    elapsed = time.perf_counter() - start
    if args.json:
        print(json.dumps({"ok": failed == 0, "seconds": elapsed, "checks": reports}, indent=1))
    else:
        print(_table(summary, sizes, args.batch, elapsed))
    return 1 if failed else 0


def _record(summary: dict, reports: list, n: int, spectrum: str, problem, report) -> None:
    """Add one ``verify`` report to the JSON list and to its (problem, data kind) summary row."""
    reports.append({"n": n, "spectrum": spectrum, **report.to_dict()})
    kind = type(problem).__name__ + (" (smoothed)" if getattr(problem, "smoothing", None) else "")
    if getattr(problem, "ball", False):
        kind += " (ball)"
    row = summary.setdefault(
        (kind, spectrum),
        {"checks": 0, "failed": 0, "value": 0.0, "grad": 0.0, "X": 0.0, "gap": 0.0,
         "dX": {}, "fd": 0.0, "min_gap": float("inf")},
    )
    sdp = report.checks[-1]
    row["checks"] += 1
    row["failed"] += not report.ok
    row["value"] = max(row["value"], max(c.value_error for c in report.checks))
    row["grad"] = max(row["grad"], max(c.gradient_error for c in report.checks))
    row["X"] = max(row["X"], sdp.solution_error)
    row["gap"] = max(row["gap"], report.value_gap)
    derivative = report.solution_derivative
    if derivative is not None and derivative.rows:
        for name, err in derivative.errors.items():
            row["dX"][name] = max(row["dX"].get(name, 0.0), err)
        row["fd"] = max(row["fd"], derivative.finite_difference_error)
        row["min_gap"] = min(row["min_gap"], derivative.gap)


def _cell(value) -> str:
    return f"{value:10.1e}" if value is not None and value != float("inf") else f"{'-':>10}"


def _table(summary: dict, sizes, batch: int, elapsed: float) -> str:
    lines = [
        f"optneuron verify: eigen vs SDP vs LAPACK, float64, sizes {sizes}, {batch} matrices/check",
        "errors: value / ||A||, gradient and X as distance to the Clarke subdifferential",
        "dX: d<C,X>/dA relative to torch.linalg.eigh's backward (eigen, SDP) and eigh's against "
        "central differences (FD), over differentiable rows; min gap / max(1, |lambda|) ('-': "
        "exact ties only, not differentiable)",
        "",
        f"{'problem':<20} {'spectrum':<14} {'checks':>6} {'failed':>6} {'value err':>10} "
        f"{'grad err':>10} {'SDP X err':>10} {'value gap':>10} {'dX eigen':>10} {'dX SDP':>10} "
        f"{'dX FD':>10} {'min gap':>10}",
    ]
    for (kind, spectrum), row in summary.items():
        lines.append(
            f"{kind:<20} {spectrum:<14} {row['checks']:>6} {row['failed']:>6} "
            f"{row['value']:10.1e} {row['grad']:10.1e} {row['X']:10.1e} {row['gap']:10.1e} "
            f"{_cell(row['dX'].get('eigen'))} {_cell(row['dX'].get('sdp'))} "
            f"{_cell(row['fd'] if row['dX'] else None)} {_cell(row['min_gap'])}"
        )
    total = sum(row["checks"] for row in summary.values())
    failed = sum(row["failed"] for row in summary.values())
    verdict = "all passed" if not failed else f"{failed} FAILED"
    lines += [
        "",
        f"{total} checks, {verdict} in {elapsed:.1f} s (tolerances: value 1e-6, gradient 1e-5)",
    ]
    return "\n".join(lines)
