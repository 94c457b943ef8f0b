"""The tridiagonal kernel call of this checkout against the same call of another commit, side
by side in one process (rounds interleaved; the median of the per-round ratios).

    python -m benchmarks.kernel_ab BASE [--batch 64] [--n 45] [--rounds 15]

``BASE`` is any commit (``git archive`` takes its ``optneuron/`` package, imported here as
``optneuron_base``; its kernels compile once into ``~/.cache/optneuron-kernel-ab/<commit>``).
The call is the eigen backend's on a training step: ``tridiagonal_eigenpairs`` for the middle
eigenvalue with its derivatives and without storing the vectors, float32, one thread, on the
first batch of ``benchmarks.laguerre_start``'s training matrices (random ones for other sizes).
Prints both medians (µs) and the ratio this / base, and whether the results are bit-equal.
"""

from __future__ import annotations

import argparse
import importlib
import pathlib
import re
import subprocess
import sys
import time

import numpy as np

from benchmarks.laguerre_start import matrix_sets

_CACHE = pathlib.Path.home() / ".cache" / "optneuron-kernel-ab"


def rewrite_imports(text: str) -> str:
    """The package's absolute references to itself (the backends' table, the compiling child's
    import) pointed at the copy, ``optneuron_base``; relative imports need nothing."""
    return re.sub(r"\boptneuron\.(kernels|backends)\b", r"optneuron_base.\1", text)


def base_kernels(commit: str):
    """``optneuron_base.kernels`` from ``commit``'s package (archived once per commit)."""
    sha = subprocess.run(["git", "rev-parse", commit], check=True, capture_output=True,
                         text=True).stdout.strip()
    root = _CACHE / sha
    package = root / "optneuron_base"
    if not package.exists():
        root.mkdir(parents=True, exist_ok=True)
        archive = subprocess.run(["git", "archive", sha, "optneuron"], check=True,
                                 capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(root)], input=archive, check=True)
        (root / "optneuron").rename(package)
        for path in package.rglob("*.py"):
            path.write_text(rewrite_imports(path.read_text()))
    sys.path.insert(0, str(root))
    return importlib.import_module("optneuron_base.kernels")


def _inputs(batch: int, n: int):
    if (batch, n) == (64, 45):
        pairs = matrix_sets()["training batch, n=45"]
        d, e = np.array([p[0] for p in pairs]), np.array([p[1] for p in pairs])
    else:
        rng = np.random.default_rng(0)
        d, e = rng.standard_normal((batch, n)), rng.standard_normal((batch, n - 1))
    return np.ascontiguousarray(d, np.float32), np.ascontiguousarray(e, np.float32)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.kernel_ab", description=__doc__)
    parser.add_argument("base")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--n", type=int, default=45)
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args(argv)
    from optneuron import kernels

    base = base_kernels(args.base)
    for k in (kernels, base):
        k.warm_up()
        k.set_num_threads(1)
    d, e = _inputs(args.batch, args.n)
    lo = args.n // 2

    def call(k):
        return k.tridiagonal_eigenpairs(d, e, lo, lo + 1, vectors=False, derivatives=True)

    same = all(np.array_equal(a, b) for a, b in zip(call(kernels), call(base)) if a is not None)
    reps = max(20, 20_000 // args.batch)
    times = {"this": [], "base": []}
    for _ in range(args.rounds):
        for label, k in (("this", kernels), ("base", base)):
            start = time.perf_counter()
            for _ in range(reps):
                call(k)
            times[label].append((time.perf_counter() - start) / reps * 1e6)
    out = {"this us": float(np.median(times["this"])), "base us": float(np.median(times["base"])),
           "this / base": float(np.median(np.array(times["this"]) / np.array(times["base"]))),
           "bit-equal": bool(same)}
    print(out)
    return out


if __name__ == "__main__":
    main()
