"""The batch-64 training step of ``benchmarks/bench.py``'s epoch row with this checkout's layer
against the same step with another commit's, in one process, each step timed alone.

    python -m benchmarks.step_ab BASE [--epochs 3] [--threads 1] [--structure dense]
    python -m benchmarks.step_ab --torch-threads [--epochs 3]

``BASE`` is any commit (its package is archived and imported as ``optneuron_base``, as in
``benchmarks.kernel_ab``). The minibatches go in blocks of 16: each variant runs a block in
turn (the order rotating from block to block), each with its own Adam on the same parameters,
and the medians of the step times are compared, a block's first step left out.

Why blocks rather than epochs: on a shared machine the speed drifts by several percent from
one epoch to the next, so epochs timed in turn resolve 2–3% at best, while blocks a few ms
long see the same drift. Why not single steps interleaved: a step right after another
variant's finds caches and branch predictors set for other code and takes ~1.5× as long,
which an epoch never sees.

The variants are ``this`` and ``base`` (the layer, as the epoch row calls it) and ``floor``
(the same step without the solve). ``--structure dense`` times ``bench.py``'s dense batch-64
row instead (``λ_8`` of symmetrized 16 × 16 matrices ``(M + Mᵀ)/2``, ``M`` linear in the row).
Prints the medians (µs), this / base, and whether both give the same values.
``--torch-threads`` instead times this step, the step without the solve and the SciPy
approach's at one and at two torch threads (the kernels on one): what torch's thread count
costs each, and the SciPy / ours ratio per step at each count, with each variant's mean step
(what an epoch adds up, slow steps included); then the step's two kinds of small matrix
product alone at each count (``product_times``).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np
import torch

from benchmarks.bench import training_data
from benchmarks.kernel_ab import base_kernels


def step_times(variants: dict[str, Callable], params, Z, y, batch: int = 64, epochs: int = 3,
               block: int = 16, seed: int = 0) -> dict[str, np.ndarray]:
    """Seconds of the training steps (forward, squared loss, backward, Adam step) of each
    variant ``z -> prediction``: the minibatches go in blocks of ``block``, each variant runs
    a whole block in turn (the order rotating from block to block), and a block's first step
    is not kept, so that every kept step follows a step of its own variant, as in an epoch."""
    names = list(variants)
    opts = {name: torch.optim.Adam(params, lr=1e-3) for name in names}
    times = {name: [] for name in names}
    g = torch.Generator().manual_seed(seed)
    turn = 0
    for _ in range(epochs):
        order = torch.randperm(len(Z), generator=g)
        starts = range(0, len(Z) - batch + 1, batch)
        for first in range(0, len(starts), block):
            data = [(Z[order[s:s + batch]], y[order[s:s + batch]])
                    for s in starts[first:first + block]]
            turn += 1
            for name in names[turn % len(names):] + names[:turn % len(names)]:
                for i, (zb, yb) in enumerate(data):
                    begin = time.perf_counter()
                    loss = ((variants[name](zb) - yb) ** 2).mean()
                    opts[name].zero_grad()
                    loss.backward()
                    opts[name].step()
                    if i > 0:
                        times[name].append(time.perf_counter() - begin)
    return {name: np.array(t) for name, t in times.items()}


def _training_data():
    """``bench.training_data``'s tridiagonal data: ``(Z with a ones column, y, W_d, W_e)``."""
    Z1, y, (W_d, W_e) = training_data("tridiagonal", 45)
    return Z1, y, W_d, W_e


def _variants(packages: dict, structure: str):
    """``({name: z -> prediction}, params, Z, y)``: each package's layer on ``structure``'s
    step (``"tridiagonal"`` or ``"dense"``) and ``floor``, the same step without the solve."""
    if structure == "dense":
        dim = 16
        Z1, y, params = training_data("dense", dim)
        (W,) = params

        def matrices(z):
            M = (z @ W).reshape(-1, dim, dim)
            return (M + M.mT) / 2

        def layer_of(package):
            layer = package.OptLayer(package.SphereQP(dim // 2))
            return lambda z: layer(matrices(z)).value

        def floor(z):
            return matrices(z).sum((-1, -2))

    else:
        Z1, y, params = training_data("tridiagonal", 45)
        W_d, W_e = params

        def layer_of(package):
            layer = package.OptLayer(package.SphereQP(W_d.shape[1] // 2))
            return lambda z: layer(package.SymTridiagonal(z @ W_d, z @ W_e)).value

        def floor(z):
            return (z @ W_d).sum(-1) + (z @ W_e).sum(-1)

    variants = {name: layer_of(package) for name, package in packages.items()}
    return {**variants, "floor": floor}, params, Z1, y


def at_torch_threads(threads: int, predict: Callable) -> Callable:
    """``predict`` run with torch on ``threads`` intra-op threads (set when it is not: a
    block's first step, which ``step_times`` does not keep)."""
    def run(z):
        if torch.get_num_threads() != threads:
            torch.set_num_threads(threads)
        return predict(z)
    return run


def _report(times: dict, ratios: dict) -> dict:
    med = {name: float(np.median(t)) * 1e6 for name, t in times.items()}
    out = {**{f"{name} us": round(m, 1) for name, m in med.items()},
           **{f"{a} / {b}": round(med[a] / med[b], 3) for a, b in ratios.items()}}
    return out


def product_times(threads: int, repeats: int = 2000) -> dict[str, float]:
    """Median µs of the epoch row's two kinds of matrix product at ``threads`` torch threads:
    ``z @ W_d`` (64 × 9 by 9 × 45; the forward's two) and ``zᵀ g`` (9 × 64 by 64 × 45; the
    backward's two), each call after ~10 µs of Python, as between a step's operations."""
    Z1, _, W_d, _ = _training_data()
    z, W, g = Z1[:64], W_d.detach(), torch.ones(64, W_d.shape[1])
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        out = {}
        for name, product in (("z @ W", lambda: z @ W), ("z.T @ g", lambda: z.T @ g)):
            times = []
            for _ in range(repeats):
                sum(range(300))  # the Python between two products of a step
                begin = time.perf_counter()
                product()
                times.append(time.perf_counter() - begin)
            out[f"{name} us @{threads}"] = round(float(np.median(times)) * 1e6, 2)
        return out
    finally:
        torch.set_num_threads(previous)


def threads_ab(epochs: int) -> dict:
    """The step at one and at two torch threads: ours, the loop without the solve, and the
    SciPy approach (``bench._ScipyTridiagonalEig``), the kernels on one thread throughout."""
    import optneuron as this
    from benchmarks.bench import _ScipyTridiagonalEig
    from optneuron import kernels

    kernels.warm_up()
    Z1, y, W_d, W_e = _training_data()
    layer = this.OptLayer(this.SphereQP(W_d.shape[1] // 2))
    predict = {
        "ours": lambda z: layer(this.SymTridiagonal(z @ W_d, z @ W_e)).value,
        "floor": lambda z: (z @ W_d).sum(-1) + (z @ W_e).sum(-1),
        "scipy": lambda z: _ScipyTridiagonalEig.apply(z @ W_d, z @ W_e, W_d.shape[1] // 2),
    }
    variants = {f"{name}@{t}": at_torch_threads(t, f) for name, f in predict.items()
                for t in (1, 2)}
    previous = torch.get_num_threads()
    kernels.set_num_threads(1)
    try:
        times = step_times(variants, [W_d, W_e], Z1, y, epochs=epochs)
    finally:
        torch.set_num_threads(previous)
        kernels.set_num_threads(None)
    out = _report(times, {"scipy@1": "ours@1", "scipy@2": "ours@2", "ours@2": "ours@1",
                          "floor@2": "floor@1"})
    # an epoch sums its steps: the means show the slow steps that the medians leave out
    out.update({f"{name} mean us": round(float(np.mean(t)) * 1e6, 1)
                for name, t in times.items()})
    for threads in (1, 2):  # what a second thread costs one small product (four per step)
        out.update(product_times(threads))
    print(out)
    return out


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.step_ab", description=__doc__)
    parser.add_argument("base", nargs="?", help="the commit to compare with")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1,
                        help="torch's threads; 1 also fixes both packages' kernels to one")
    parser.add_argument("--structure", choices=("tridiagonal", "dense"), default="tridiagonal",
                        help="the epoch row's tridiagonal step (default) or the dense one")
    parser.add_argument("--torch-threads", action="store_true",
                        help="instead of BASE: this step, the loop without the solve and the "
                             "SciPy approach's, each at one and at two torch threads")
    args = parser.parse_args(argv)
    if args.torch_threads:
        return threads_ab(args.epochs)
    if args.base is None:
        parser.error("BASE is needed unless --torch-threads is given")
    import optneuron as this
    import optneuron.kernels  # noqa: F401  (this.kernels below)

    base_kernels(args.base)  # imports optneuron_base.kernels
    import optneuron_base as base

    torch.set_num_threads(args.threads)
    for package in (this, base):
        package.kernels.warm_up()
        if args.threads == 1:
            package.set_num_threads(1)
    variants, params, Z1, y = _variants({"this": this, "base": base}, args.structure)
    same = torch.equal(variants["this"](Z1[:64]), variants["base"](Z1[:64]))
    out = _report(step_times(variants, params, Z1, y, epochs=args.epochs), {"this": "base"})
    out["same values"] = bool(same)
    print(out)
    return out


if __name__ == "__main__":
    main()
