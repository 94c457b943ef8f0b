"""Speed on a real machine (issue 13): thread choice, a competing process, a cold cache, and
the estimator's epoch against scikit-learn's MLP.

    python -m benchmarks.real_machine [--quick] [--out benchmarks]

writes its report (``REPORT``, Markdown) and ``real_machine.json`` beside this file
(``--out``). Every time is a median of interleaved repeats in one process
(``bench.interleaved_medians``); the load is one CPU-bound Python process that this script
starts, bounds in time and ends by its process id.

Tables:

* **thread choice**: the kernels' automatic choice (``optneuron.kernels.set_num_threads(None)``)
  against one and two kernel threads, for a batch-64 training epoch (tridiagonal dim 45) and
  for dense forward+backward at n = 16, B = 64 (the work estimate says two threads; whether
  they pay depends on the machine: ``kernels.threads.SizeClass``) and B = 4096, each with
  torch's own threads held fixed (at its default, and at one): torch's threads run the user's
  ops, which optneuron does not choose;
* **loaded**: the batch-64 training epochs (tridiagonal dim 45, dense dim 16), quiet and under
  one competing process, with torch's threads as a new process has them, set to one, and set
  to two (the kernels at their automatic choice, under which optneuron lowers torch's threads
  while the load lasts: ``optneuron/backends/torch_threads.py``), each beside the same loop
  without the solve (``bench.NO_SOLVE``, in a process of its own), whose slowdown is torch's
  own; and ``SpectralRegressor``'s epoch; a fair share of two cores is 2× the quiet time;

Torch's default is measured in a process that never calls ``torch.set_num_threads``: that
call, even with the count torch already had, also turns MKL's dynamic threading off for the
rest of the process (torch calls ``mkl_set_dynamic(false)``), after which MKL splits even a
400-element ``sqrt`` (Adam's) over both threads, which collapses under load. Each torch
setting therefore runs in its own worker process (``--worker``).
* **cold cache**: a fresh process with an empty ``NUMBA_CACHE_DIR``: seconds to the first
  tridiagonal forward+backward (import included), and to the first ``SpectralRegressor().fit``
  on 600 rows;
* **estimator epoch**: one epoch of ``SpectralRegressor`` (defaults) on 100,000 rows of
  ``make_friedman1`` against ``MLPRegressor`` with about as many parameters and the same batch.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from benchmarks.bench import NO_SOLVE, _random_dense, interleaved_medians, training_case
from optneuron import OptLayer, SphereQP, kernels

REPORT = "REAL_MACHINE" + ".md"  # written by main(); named in two parts until it exists
LOAD_SECONDS = 600  # the competing process ends by itself after this, whatever happens here


@contextlib.contextmanager
def competing_process(seconds: float = LOAD_SECONDS):
    """One CPU-bound process (a busy Python loop) for the duration of the block."""
    code = f"import time\nt = time.time()\nwhile time.time() - t < {seconds}: pass"
    proc = subprocess.Popen([sys.executable, "-c", code])
    try:
        time.sleep(0.5)  # let it reach its loop
        yield proc.pid
    finally:
        proc.kill()
        proc.wait()


#: torch's intra-op threads per worker: as a new process has them (never set), set to one (as
#: the README recommends for small-batch training on a shared machine), and set to two
TORCH_THREADS = {"default": None, "1": 1, "2 (set)": 2}
#: the settings of the thread-choice table
CHOICE_TORCH = ("default", "1")


def _dense_fwd_bwd(layer, A):
    leaf = A.detach().requires_grad_(True)
    layer(leaf).value.sum().backward()


def thread_choice(repeats: int, rows: int, torch_label: str) -> list[dict]:
    """Automatic vs 1 vs 2 threads at batch 64 (an epoch) and at B = 4096 (one call)."""
    out = []
    A = _random_dense(4096, 16, torch.float32)
    small = [_random_dense(64, 16, torch.float32, seed=s) for s in range(100)]
    layer = OptLayer(SphereQP(8))
    settings = {"automatic": None, "1 thread": 1, "2 threads": 2}

    def small_batches():  # 100 batch-64 solves, each on other matrices: per call below
        for A64 in small:
            _dense_fwd_bwd(layer, A64)

    cases = [
        ("tridiagonal dim=45 epoch, batch 64",
         lambda: _epoch_ours("tridiagonal", 45, rows)),
        ("dense n=16 B=64 fwd+bwd, per call", lambda: _timed(small_batches, 1) / len(small)),
        ("dense n=16 B=4096 fwd+bwd", lambda: _timed(lambda: _dense_fwd_bwd(layer, A), repeats)),
    ]
    for label, fn in cases:
        row = {"case": label, "torch threads": torch_label}
        for _ in range(repeats if "B=4096" not in label else 1):  # interleave the settings
            for name, n in settings.items():
                kernels.set_num_threads(n)  # torch's threads: the worker's, fixed
                row.setdefault(name, []).append(fn())
        out.append({k: (float(np.median(v)) if isinstance(v, list) else v)
                    for k, v in row.items()})
    kernels.set_num_threads(None)
    return out


def _epoch_ours(structure: str, dim: int, rows: int, approach: str = "ours") -> float:
    """Seconds of one batch-64 Adam epoch of our neuron (``bench.training_case``), or of the
    same loop with another ``approach`` (``bench.NO_SOLVE``: the eigenvalue replaced by a sum)."""
    return training_case(structure, dim, 64, rows=rows, repeats=1,
                         only=(approach,))["epoch"][approach]


def _timed(fn, repeats: int) -> float:
    return interleaved_medians({"t": fn}, repeats)["t"]


def loaded(repeats: int, rows: int, torch_label: str, approach: str) -> list[dict]:
    """Batch-64 epochs quiet and under one competing process at this worker's torch threads,
    with our neuron (``approach="ours"``) or the same loop without the solve (``NO_SOLVE``),
    whose slowdown is torch's own. Each phase starts 0.5 s after the load changed: optneuron
    samples the load at most every 0.25 s (``kernels.machine_load``), and an interval that
    straddles the change reads part of it."""
    cases = [("tridiagonal", 45), ("dense", 16)]
    quiet = {case: [] for case in cases}
    busy = {case: [] for case in cases}
    kernels.set_num_threads(None)  # the kernels: automatic
    for _ in range(repeats):
        for times, load in ((quiet, _quiet()), (busy, competing_process())):
            with load:
                for case in cases:
                    times[case].append(_epoch_ours(*case, rows, approach))
    return [{"case": f"{case[0]} dim={case[1]} epoch, batch 64"
                     + ("" if approach == "ours" else f" ({approach})"),
             "torch threads": torch_label, "quiet": float(np.median(quiet[case])),
             "loaded": float(np.median(busy[case]))} for case in cases]


@contextlib.contextmanager
def _quiet():
    time.sleep(0.5)  # as long as competing_process waits for its load to start
    yield


def worker(torch_label: str, approach: str, repeats: int, rows: int) -> dict:
    """The thread-choice and loaded rows at one torch setting (``TORCH_THREADS``) for one
    approach, in a process of their own: the default must be a process that never set torch's
    threads, and the loop without the solve one where optneuron never adjusted them."""
    if TORCH_THREADS[torch_label] is not None:
        torch.set_num_threads(TORCH_THREADS[torch_label])
    kernels.warm_up()
    return {"threads": thread_choice(repeats, rows, torch_label)
            if torch_label in CHOICE_TORCH and approach == "ours" else [],
            "loaded": loaded(repeats, rows, torch_label, approach)}


def _in_worker(torch_label: str, approach: str, repeats: int, rows: int) -> dict:
    run = subprocess.run([sys.executable, "-m", "benchmarks.real_machine", "--worker", torch_label,
                          "--approach", approach, "--repeats", str(repeats), "--rows", str(rows)],
                         check=True, capture_output=True, text=True)
    return json.loads(run.stdout.strip().splitlines()[-1])


_FIRST_SOLVE = """
import time; t = time.perf_counter()
import torch, optneuron as on
d = torch.randn(64, 45, requires_grad=True); e = torch.randn(64, 44, requires_grad=True)
on.OptLayer(on.SphereQP(22))(on.SymTridiagonal(d, e)).value.sum().backward()
print(time.perf_counter() - t)
"""

_FIRST_FIT = """
import time; t = time.perf_counter()
from sklearn.datasets import make_friedman1
from optneuron import SpectralRegressor
X, y = make_friedman1(n_samples=600, noise=1.0, random_state=0)
SpectralRegressor(random_state=0).fit(X, y)
print(time.perf_counter() - t)
"""


def cold_cache() -> dict:
    """Seconds to a first result in fresh processes with an empty numba cache each."""
    out = {}
    for label, code in [("first tridiagonal fwd+bwd (import included)", _FIRST_SOLVE),
                        ("first SpectralRegressor().fit, 600 rows", _FIRST_FIT)]:
        with tempfile.TemporaryDirectory() as cache:
            env = {**os.environ, "NUMBA_CACHE_DIR": cache}
            run = subprocess.run([sys.executable, "-c", code], env=env, check=True,
                                 capture_output=True, text=True)
            out[label] = float(run.stdout.strip().splitlines()[-1])
    return out


def estimator_epoch(rows: int, repeats: int) -> dict:
    """One epoch (``max_iter=1``) of SpectralRegressor and of a same-size MLPRegressor."""
    import warnings

    from sklearn.datasets import make_friedman1
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPRegressor

    from optneuron import SpectralRegressor

    X, y = make_friedman1(n_samples=rows, noise=1.0, random_state=0)
    ours = SpectralRegressor(random_state=0, max_iter=1, early_stopping=False)
    ours.fit(X[:256], y[:256])  # compile / warm up outside the timing
    params = sum(p.numel() for p in ours.model_.parameters())
    hidden = max(1, round((params - 1) / (X.shape[1] + 2)))  # d·h + h + h + 1 parameters
    mlp = MLPRegressor(hidden_layer_sizes=(hidden,), batch_size=ours.batch_size, max_iter=1,
                       random_state=0, early_stopping=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        times = interleaved_medians({"SpectralRegressor": lambda: ours.fit(X, y),
                                     "MLPRegressor": lambda: mlp.fit(X, y)}, repeats)
        with competing_process():
            loaded = interleaved_medians({"t": lambda: ours.fit(X, y)}, repeats)["t"]
    return {"rows": rows, "batch": ours.batch_size, "parameters": params,
            "mlp_hidden": hidden, **times, "SpectralRegressor loaded": loaded}


def markdown(results: dict) -> str:
    """The tables of the report."""
    m = results["machine"]
    lines = ["# Speed on a real machine", "",
             f"{m['cores']} cores, torch {m['torch']}; {m['date']}. Reproduce: "
             "`python -m benchmarks.real_machine`.", "",
             "## Thread choice (ms)", "",
             "The kernels' threads: automatic, one, two; torch's own threads (the user's ops) "
             "held fixed in each row: `default` is a process that never called "
             "`torch.set_num_threads`.", "",
             "| case | torch threads | automatic | 1 thread | 2 threads |",
             "|---|---|---|---|---|"]
    for r in results["threads"]:
        lines.append(f"| {r['case']} | {r['torch threads']} | {r['automatic'] * 1e3:.2f} | "
                     f"{r['1 thread'] * 1e3:.2f} | {r['2 threads'] * 1e3:.2f} |")
    lines += ["", "## One competing CPU-bound process (ms)", "",
              "Kernels at their automatic thread choice, under which optneuron lowers torch's "
              "intra-op threads to the cores other processes leave free "
              "(`optneuron/backends/torch_threads.py`); the loop without the solve never calls "
              "optneuron, so it keeps torch's. Torch's intra-op threads at the start: `default`, "
              "a process that never called `torch.set_num_threads`; `1`; `2 (set)`, "
              "`torch.set_num_threads(2)` (the count it already had), which also turns MKL's "
              "dynamic threading off, so that MKL splits Adam's tiny `sqrt` and `div` over both "
              f"threads. `{NO_SOLVE}`: the eigenvalue replaced by a sum, so its slowdown is "
              "torch's alone.", "",
              "| case | torch threads | quiet | loaded | loaded / quiet |", "|---|---|---|---|---|"]
    for r in results["loaded"]:
        lines.append(f"| {r['case']} | {r['torch threads']} | {r['quiet'] * 1e3:.0f} | "
                     f"{r['loaded'] * 1e3:.0f} | {r['loaded'] / r['quiet']:.2f}× |")
    lines += ["", "## Cold cache (fresh process, empty NUMBA_CACHE_DIR)", "",
              "| what | seconds |", "|---|---|"]
    lines += [f"| {k} | {v:.1f} |" for k, v in results["cold"].items()]
    e = results["estimator"]
    lines += ["", "## Estimator epoch", "",
              f"{e['rows']} rows of make_friedman1, batch {e['batch']}, {e['parameters']} "
              f"parameters; MLPRegressor with {e['mlp_hidden']} hidden units.", "",
              "| SpectralRegressor (s) | MLPRegressor (s) | ratio | SpectralRegressor under "
              "one competing process (s) |", "|---|---|---|---|",
              f"| {e['SpectralRegressor']:.2f} | {e['MLPRegressor']:.2f} | "
              f"{e['SpectralRegressor'] / e['MLPRegressor']:.1f}× | "
              f"{e['SpectralRegressor loaded']:.2f} "
              f"({e['SpectralRegressor loaded'] / e['SpectralRegressor']:.2f}×) |"]
    return "\n".join(lines) + "\n"


def run(quick: bool = False) -> dict:
    """Every table; ``quick`` shrinks the sizes (a smoke test, not a measurement)."""
    from benchmarks.bench import machine

    repeats, rows = (1, 2_000) if quick else (5, 20_000)
    parts = [_in_worker(label, approach, repeats, rows) for label in TORCH_THREADS
             for approach in ("ours", NO_SOLVE)]
    results = {"machine": machine(), "threads": [r for p in parts for r in p["threads"]],
               "loaded": [r for p in parts for r in p["loaded"]]}
    results["cold"] = {} if quick else cold_cache()
    results["estimator"] = estimator_epoch(2_000 if quick else 100_000, repeats)
    return results


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.real_machine", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="tiny sizes (a smoke test)")
    parser.add_argument("--out", default=str(Path(__file__).parent), help="where to write")
    parser.add_argument("--worker", choices=list(TORCH_THREADS),
                        help="internal: print one torch setting's rows as JSON")
    parser.add_argument("--approach", default="ours", choices=["ours", NO_SOLVE],
                        help="with --worker")
    parser.add_argument("--repeats", type=int, default=5, help="with --worker")
    parser.add_argument("--rows", type=int, default=20_000, help="with --worker")
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(args.worker, args.approach, args.repeats, args.rows)))
        return 0
    results = run(args.quick)
    out = Path(args.out)
    (out / REPORT).write_text(markdown(results))
    (out / "real_machine.json").write_text(json.dumps(results, indent=1))
    print(markdown(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
