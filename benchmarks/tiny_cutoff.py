"""Where the Jacobi kernel stops paying: ``kernels.checked_tiny_eigenpairs`` (cyclic Jacobi over
lanes of matrices) against ``kernels.checked_dense_eigenpairs`` (Householder reduction, then the
tridiagonal solve) on the same matrices, for every n the Jacobi kernel serves.

    python -m benchmarks.tiny_cutoff [--batch 4096] [--repeats 9]

One thread, the middle eigenvalue with and without its vector, float32 and float64, random
symmetric matrices. Prints microseconds per call, the ratio Householder / Jacobi (above 1: Jacobi
is faster) and the largest n at which Jacobi won every case, which is what
``kernels.JACOBI_MAX_N`` should be.
"""

from __future__ import annotations

import argparse
import json

import numpy as np

from benchmarks.bench import interleaved_medians
from optneuron import kernels


def case(n: int, batch: int, dtype, vectors: bool, repeats: int) -> dict:
    A = np.random.default_rng(n).standard_normal((batch, n, n))
    A = (A + A.transpose(0, 2, 1)).astype(dtype)
    k = n // 2
    jacobi, householder = (
        kernels.checked_tiny_eigenpairs(A, k, k + 1, vectors, 1),
        kernels.checked_dense_eigenpairs(A, k, k + 1, vectors, 1))
    assert np.allclose(jacobi[0], householder[0], rtol=1e-5, atol=1e-5)
    t = interleaved_medians({
        "jacobi": lambda: kernels.checked_tiny_eigenpairs(A, k, k + 1, vectors, 1),
        "householder": lambda: kernels.checked_dense_eigenpairs(A, k, k + 1, vectors, 1)},
        repeats)
    return {"n": n, "dtype": np.dtype(dtype).name, "vectors": vectors,
            "jacobi (µs)": round(t["jacobi"] * 1e6, 1),
            "householder (µs)": round(t["householder"] * 1e6, 1),
            "householder / jacobi": round(t["householder"] / t["jacobi"], 2)}


def main(argv=None) -> list[dict]:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.tiny_cutoff", description=__doc__)
    parser.add_argument("--batch", type=int, default=4096)
    parser.add_argument("--repeats", type=int, default=9)
    args = parser.parse_args(argv)
    kernels.warm_up()
    rows = [case(n, args.batch, dtype, vectors, args.repeats)
            for n in range(2, kernels.TINY_MAX_N + 1)
            for dtype in (np.float32, np.float64) for vectors in (False, True)]
    for row in rows:
        print(json.dumps(row, ensure_ascii=False))
    print(f"Jacobi wins every case up to n = {jacobi_cutoff(rows)}; kernels.JACOBI_MAX_N = "
          f"{kernels.JACOBI_MAX_N}")
    return rows


def jacobi_cutoff(rows: list[dict]) -> int:
    """The largest n such that Jacobi was faster in every row of every size from 2 to n (1 if
    it lost at n = 2)."""
    n = 1
    while any(r["n"] == n + 1 for r in rows) and all(
            r["householder / jacobi"] > 1 for r in rows if r["n"] == n + 1):
        n += 1
    return n


if __name__ == "__main__":
    main()
