"""benchmarks/sdp_cost.py runs end to end at tiny size (its timings are not asserted)."""

import importlib.util
import math
from pathlib import Path

import torch

from optneuron.backends.sdp import SDPBackend


def _load():
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "sdp_cost.py"
    spec = importlib.util.spec_from_file_location("sdp_cost", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_sdp_cost_benchmark_runs_and_reports_a_ratio_per_case(capsys):
    rows = _load().main(["--sizes", "3", "--batch", "2", "--repeats", "1"])
    assert [(r["n"], r["m"], r["alpha"]) for r in rows] == [
        (3, 1, None), (3, 1, 0.3), (3, 2, None), (3, 2, 0.3)]
    for r in rows:
        assert r["backend_s"] > 0 and r["cvxpylayer_s"] > 0
        assert math.isclose(r["ratio"], r["backend_s"] / r["cvxpylayer_s"])
        assert r["cpu_ratio"] > 0
    assert "ratio" in capsys.readouterr().out


def test_the_baseline_layer_solves_the_same_problem_as_the_backend():
    """Same X from both sides (n = 3, where diffcp's derivative is also right: its wrong
    inverse permutation is the identity there), so the timing compares like with like."""
    module = _load()
    S, C = module._batch(3, 2, seed=5)
    for m, alpha in [(1, None), (2, 0.3)]:
        params = [S] if alpha is None else [S, torch.tensor(alpha, dtype=S.dtype)]
        (X_layer,) = module.cvxpy_fantope_layer(3, m, alpha is not None)(
            *params, solver_args=dict(module.DEFAULT_SOLVER_ARGS))
        X_backend = SDPBackend()._solve_term(S, m, alpha)
        assert (X_layer - X_backend).abs().max() < 1e-6
