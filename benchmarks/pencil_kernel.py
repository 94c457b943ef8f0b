"""The estimators' eigen-kernel alone: ``kernels.pencil_eigenvalue`` (lam_k and its gradient in
packed coordinates, Jacobi over lanes) against LAPACK on the same matrices.

    python -m benchmarks.pencil_kernel [--repeats 7]

One thread for both. Cases: ``n`` = 4 (the estimators' default ``dim``) and 8 (the largest
the tiny kernel serves), ``B`` = 512 (a batch of 64 rows through 8 neurons: one training
step) and 4096, random coordinates. The baseline is ``numpy.linalg.eigh`` on the assembled
matrices plus the gradient ``q qᵀ`` read back into coordinates, as ``fused._solve`` does for
the rows the kernel flags. Prints microseconds per call and the ratio LAPACK / ours.
"""

from __future__ import annotations

import argparse
import json

import numpy as np
import torch
from threadpoolctl import threadpool_limits

from benchmarks.bench import interleaved_medians
from optneuron import kernels
from optneuron.fused import FusedPlan
from optneuron.pencils import DensePencil


def _lapack(C, plan):
    """lam_k and its coordinate gradient by ``numpy.linalg.eigh`` (the fused path's fallback)."""
    padded = np.concatenate([C, np.zeros((len(C), 1))], axis=1)
    A = (padded * np.append(plan.scale, 0.0))[:, plan.index].reshape(-1, plan.n, plan.n)
    w, Q = np.linalg.eigh(A)
    q = Q[:, :, plan.k]
    return w[:, plan.k], (q[:, :, None] * q[:, None, :]).reshape(len(C), -1) @ plan.gather


def case(n: int, B: int, repeats: int) -> dict:
    plan = FusedPlan(DensePencil(10, n, out_features=8, dtype=torch.float64), n // 2)
    C = np.random.default_rng(0).standard_normal((B, plan.size))
    ours = kernels.pencil_eigenvalue(C, plan.index, plan.scale, n, plan.k, 1)
    ref = _lapack(C, plan)
    ok = ~ours[2]
    assert np.allclose(ours[0][ok], ref[0][ok], atol=1e-12)
    assert np.allclose(ours[1][ok], ref[1][ok], atol=1e-10)
    t = interleaved_medians({
        "ours": lambda: kernels.pencil_eigenvalue(C, plan.index, plan.scale, n, plan.k, 1),
        "LAPACK": lambda: _lapack(C, plan)}, repeats)
    return {"case": f"n={n} B={B}", "ours (µs)": round(t["ours"] * 1e6, 1),
            "LAPACK (µs)": round(t["LAPACK"] * 1e6, 1), "ratio": round(t["LAPACK"] / t["ours"], 1)}


def main(argv=None) -> list[dict]:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.pencil_kernel",
                                     description=__doc__)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args(argv)
    kernels.warm_up()
    with threadpool_limits(1, user_api="blas"):
        rows = [case(n, B, args.repeats) for n in (4, 8) for B in (512, 4096)]
    for row in rows:
        print(json.dumps(row, ensure_ascii=False))
    return rows


if __name__ == "__main__":
    main()
