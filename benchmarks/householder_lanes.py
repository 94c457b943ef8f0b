"""The dense kernels' Householder reduction, one matrix at a time against 64 at once.

    python -m benchmarks.householder_lanes [--batch 4096] [--repeats 11]

``householder_tridiagonal`` over the batch, one matrix after the other, against
``reduce_queued`` (``householder_lanes`` on groups of ``HH_LANES`` matrices, with its copies
into and out of the lane block), on the same scaled float64 matrices, one thread, for n from 4
to 28. The lane path serves n <= ``HH_LANES_MAX_N``; this is the measurement that sets it.
Prints microseconds per matrix and the ratio one-at-a-time / lanes (above 1: lanes faster).
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
from numba import njit

from optneuron.kernels import _compiled as C


@njit(cache=False)
def _one_at_a_time(W, dS, eS, tau):
    n = W.shape[1]
    p = np.empty(n)
    vn = np.empty(2 * n)
    for i in range(W.shape[0]):
        C.householder_tridiagonal(W[i], n, dS[i], eS[i], tau[i], p, vn)


@njit(cache=False)
def _in_lanes(W, dS, eS, tau):
    n = W.shape[1]
    lanes = C.lanes_scratch(n, n)  # lane arrays at any n, above HH_LANES_MAX_N too
    C.reduce_queued(W, tau, 0, n, np.arange(W.shape[0]), W.shape[0], dS, eS, lanes)


def _median_per_matrix(fn, A, repeats: int) -> float:
    """Median µs per matrix of ``fn`` on fresh copies of ``A`` (the reduction works in place)."""
    n = A.shape[1]
    out = np.zeros((len(A), n)), np.zeros((len(A), n)), np.zeros((len(A), n))
    times = []
    for _ in range(repeats + 1):
        W = A.copy()
        start = time.perf_counter()
        fn(W, *out)
        times.append(time.perf_counter() - start)
    return float(np.median(times[1:])) * 1e6 / len(A)


def case(n: int, batch: int, repeats: int) -> dict:
    A = np.random.default_rng(n).standard_normal((batch, n, n))
    A = (A + A.transpose(0, 2, 1)) / 4
    ref, lanes = [np.zeros((batch, n)) for _ in range(3)], [np.zeros((batch, n)) for _ in range(3)]
    _one_at_a_time(A.copy(), *ref)
    _in_lanes(A.copy(), *lanes)
    # same steps, so the tridiagonals agree to rounding (reassociated sums: not to the bit)
    assert np.allclose(ref[0], lanes[0], atol=1e-9) and np.allclose(abs(ref[1]), abs(lanes[1]),
                                                                   atol=1e-9)
    one, many = (_median_per_matrix(fn, A, repeats) for fn in (_one_at_a_time, _in_lanes))
    return {"n": n, "one at a time (µs)": round(one, 3), "lanes (µs)": round(many, 3),
            "ratio": round(one / many, 2)}


def main(argv=None) -> list[dict]:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.householder_lanes",
                                     description=__doc__)
    parser.add_argument("--batch", type=int, default=4096)
    parser.add_argument("--repeats", type=int, default=11)
    args = parser.parse_args(argv)
    rows = [case(n, args.batch, args.repeats) for n in (4, 8, 12, 16, 18, 20, 22, 24, 28)]
    for row in rows:
        print(json.dumps(row, ensure_ascii=False))
    print(f"kernels/_compiled.HH_LANES_MAX_N = {C.HH_LANES_MAX_N}")
    return rows


if __name__ == "__main__":
    main()
