"""The README's speed table in two minutes: the five headline rows of ``optneuron bench``, at one
thread and at the automatic thread choice.

    python -m benchmarks.headline [--repeats 5]

Same cases and baselines as ``benchmarks/bench.py`` (``dense_case``, ``tridiagonal_case``,
``training_case``; NumPy/SciPy's BLAS on one thread); prints ratios baseline / ours.
"""

from __future__ import annotations

import argparse
import json

import torch
from threadpoolctl import threadpool_limits

from benchmarks.bench import dense_case, training_case, tridiagonal_case
from optneuron import kernels


def rows(repeats: int) -> dict:
    """``{setting: {row: ratio}}`` for ``threads=1`` and ``threads=auto``."""
    kernels.warm_up()
    out = {}
    with threadpool_limits(1, user_api="blas"):
        for threads in (1, None):
            kernels.set_num_threads(threads)
            torch.set_num_threads(threads or torch.get_num_interop_threads() or 2)
            d16 = dense_case(16, 4096, torch.float32, repeats, False)["forward_backward"]
            d45 = dense_case(45, 1024, torch.float32, repeats, False)["forward_backward"]
            tri = tridiagonal_case(45, 1024, torch.float64, repeats)["forward_backward"]
            # as many repeats as optneuron bench gives it: with two, a single slow SciPy epoch
            # moved the row's median (README, "Speed", gives the row's spread over runs)
            epoch = training_case("tridiagonal", 45, 64, repeats=repeats)["epoch"]
            out[f"threads={threads or 'auto'}"] = {
                "dense f32 n=16 B=4096 vs torch.eigvalsh": d16["torch.eigvalsh"] / d16["ours"],
                "dense f32 n=45 B=1024 vs torch.eigvalsh": d45["torch.eigvalsh"] / d45["ours"],
                "tridiagonal n=45 B=1024 vs dense torch": tri["torch.eigvalsh (dense)"]
                / tri["ours"],
                "tridiagonal n=45 B=1024 vs SciPy": tri["scipy.eigh_tridiagonal"] / tri["ours"],
                "epoch tridiagonal dim=45 batch 64 vs SciPy": epoch["scipy.eigh_tridiagonal"]
                / epoch["ours"],
            }
    kernels.set_num_threads(None)
    return out


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.headline", description=__doc__)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    out = rows(args.repeats)
    print(json.dumps(out, indent=1))
    return out


if __name__ == "__main__":
    main()
