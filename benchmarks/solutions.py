"""Solution-derivative speed: forward + backward of ``⟨x, C x⟩`` against ``torch.linalg.eigh``.

    python -m benchmarks.solutions [--repeats 7] [--small]

Both sides compute the same float32 function of a batch of matrices and its gradient:
``⟨x(A), C x(A)⟩`` with ``x`` the bottom unit eigenvector (``SphereQP(0)``), ``C`` a fixed
symmetric matrix (diagonal for tridiagonal input, so both sides need only ``d``/``e``):

* baseline: ``torch.linalg.eigh`` of the dense matrices and its autograd backward;
* ours: ``OptLayer(SphereQP(0)).x`` on the eigen backend (``method="auto"``) and its solution
  derivative (``backends/eigen_solution.py``).

Targets from issue 11: tridiagonal n = 45, B = 1024 at least 10× and dense n = 16, B = 4096 at
least 3× the baseline. Times are medians of interleaved runs (``benchmarks/bench.py``); take them
on a quiet machine. ``--small`` runs tiny sizes (what the test suite does: it checks that the
code runs and both sides agree, not the times).
"""

from __future__ import annotations

import argparse

import torch

from benchmarks.bench import interleaved_medians
from optneuron import OptLayer, SphereQP, SymTridiagonal

CASES = {"tridiagonal": (45, 1024), "dense": (16, 4096)}
SMALL = {"tridiagonal": (5, 8), "dense": (4, 8)}
TARGETS = {"tridiagonal": 10.0, "dense": 3.0}


def _data(structure: str, n: int, batch: int, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    if structure == "tridiagonal":
        tensors = (torch.randn(batch, n, generator=g), torch.randn(batch, n - 1, generator=g))
        C = torch.diag(torch.randn(n, generator=g))
    else:
        A = torch.randn(batch, n, n, generator=g)
        tensors = ((A + A.mT) / 2,)
        M = torch.randn(n, n, generator=g)
        C = (M + M.mT) / 2
    return tensors, C


def _observable(x, C):
    return torch.einsum("bi,ij,bj->b", x, C, x).sum()


def _ours(structure, tensors, C):
    leaves = [t.detach().requires_grad_(True) for t in tensors]
    A = SymTridiagonal(*leaves) if structure == "tridiagonal" else leaves[0]
    _observable(OptLayer(SphereQP(0))(A).x, C).backward()
    return [leaf.grad for leaf in leaves]


def _baseline(structure, tensors, C):
    leaves = [t.detach().requires_grad_(True) for t in tensors]
    A = SymTridiagonal(*leaves).to_dense() if structure == "tridiagonal" else leaves[0]
    _observable(torch.linalg.eigh(A)[1][..., 0], C).backward()
    return [leaf.grad for leaf in leaves]


def run(structure: str, n: int, batch: int, repeats: int) -> dict:
    """Times (seconds) of baseline and ours, the speedup, and their largest gradient gap
    relative to the gradient's largest entry."""
    tensors, C = _data(structure, n, batch)
    gap = max(float((a - b).abs().max() / b.abs().max()) for a, b in
              zip(_ours(structure, tensors, C), _baseline(structure, tensors, C)))
    times = interleaved_medians(
        {"baseline": lambda: _baseline(structure, tensors, C),
         "ours": lambda: _ours(structure, tensors, C)},
        repeats,
    )
    return {"structure": structure, "n": n, "batch": batch, **times,
            "speedup": times["baseline"] / max(times["ours"], 1e-12),
            "gradient_gap": gap, "target": TARGETS[structure]}


def table(rows: list[dict]) -> str:
    lines = ["| structure | n | batch | eigh fwd+bwd (ms) | ours (ms) | speedup | target | "
             "relative gradient gap |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(
            f"| {r['structure']} | {r['n']} | {r['batch']} | {1e3 * r['baseline']:.2f} | "
            f"{1e3 * r['ours']:.2f} | {r['speedup']:.1f}x | {r['target']:.0f}x | "
            f"{r['gradient_gap']:.1e} |")
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
