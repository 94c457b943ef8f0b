"""Trust-region layer speed: ours against ``torch.linalg.eigh`` + the vectorized secular solve.

    python -m benchmarks.trust_region [--repeats 7] [--small]

Both sides compute the same thing — value and the Danskin gradient (forward + backward) of
``OptLayer(TrustRegion())(A, b)`` — and differ only in how the eigen backend gets there:

* baseline: ``method="lapack"``: the full ``torch.linalg.eigh`` of each (dense) matrix, then the
  batched torch secular solve of ``backends/secular.py``;
* ours: ``method="auto"``: the compiled path of ``optneuron/kernels/trust_region.py`` — dense
  input is first reduced to tridiagonal ``T`` (the kernels' Householder reduction); then the
  bottom eigenpair of ``T`` by the tridiagonal eigen-kernel and O(n)-per-step ``LDLᵀ`` secular
  iterations, and ``x = Q x_T``.

Targets from issue 12: dense n = 16, B = 4096 at least 3× and tridiagonal n = 45, B = 1024 at
least 10× the baseline. Times are medians of interleaved runs (``benchmarks/bench.py``); take them
on a quiet machine. ``--small`` runs tiny sizes (what the test suite does: it checks that the
code runs and both sides agree, not the times).
"""

from __future__ import annotations

import argparse

import torch

from benchmarks.bench import interleaved_medians
from optneuron import OptLayer, SymTridiagonal, TrustRegion

CASES = {"dense": (16, 4096), "tridiagonal": (45, 1024)}
SMALL = {"dense": (4, 8), "tridiagonal": (5, 8)}
TARGETS = {"dense": 3.0, "tridiagonal": 10.0}


def _data(structure: str, n: int, batch: int, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    b = torch.randn(batch, n, generator=g, dtype=torch.float64)
    if structure == "tridiagonal":
        d = torch.randn(batch, n, generator=g, dtype=torch.float64)
        e = torch.randn(batch, n - 1, generator=g, dtype=torch.float64)
        return (d, e), b
    A = torch.randn(batch, n, n, generator=g, dtype=torch.float64)
    return ((A + A.mT) / 2,), b


def _step(method: str, structure: str, tensors, b):
    """One forward + backward; returns the value (for the agreement check)."""
    leaves = [t.detach().requires_grad_(True) for t in tensors]
    A = SymTridiagonal(*leaves) if structure == "tridiagonal" else leaves[0]
    value = OptLayer(TrustRegion(), method=method)(A, b.detach().requires_grad_(True)).value
    value.sum().backward()
    return value.detach()


def run(structure: str, n: int, batch: int, repeats: int) -> dict:
    """Times (seconds) of baseline and ours, the speedup, and their largest value gap."""
    tensors, b = _data(structure, n, batch)
    gap = (_step("lapack", structure, tensors, b) - _step("auto", structure, tensors, b))
    times = interleaved_medians(
        {"baseline": lambda: _step("lapack", structure, tensors, b),
         "ours": lambda: _step("auto", structure, tensors, b)},
        repeats,
    )
    return {"structure": structure, "n": n, "batch": batch, **times,
            "speedup": times["baseline"] / max(times["ours"], 1e-12),
            "value_gap": float(gap.abs().max()), "target": TARGETS[structure]}


def table(rows: list[dict]) -> str:
    lines = ["| structure | n | batch | baseline (ms) | ours (ms) | speedup | target | value gap |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(
            f"| {r['structure']} | {r['n']} | {r['batch']} | {1e3 * r['baseline']:.2f} | "
            f"{1e3 * r['ours']:.2f} | {r['speedup']:.1f}x | {r['target']:.0f}x | "
            f"{r['value_gap']:.1e} |")
    return "\n".join(lines)


def main(argv=None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--small", action="store_true", help="tiny sizes (a smoke test)")
    args = parser.parse_args(argv)
    sizes = SMALL if args.small else CASES
    rows = [run(s, n, batch, args.repeats) for s, (n, batch) in sizes.items()]
    print(table(rows))
    return rows


if __name__ == "__main__":
    main()
