"""benchmarks/solutions.py runs at tiny size and both sides agree (times are not checked)."""

import importlib.util
from pathlib import Path


def test_solutions_benchmark_runs_small(capsys):
    path = Path(__file__).parent.parent / "benchmarks" / "solutions.py"
    spec = importlib.util.spec_from_file_location("solutions_bench", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    rows = bench.main(["--small", "--repeats", "1"])
    assert [r["structure"] for r in rows] == ["tridiagonal", "dense"]
    assert all(r["gradient_gap"] <= 1e-4 for r in rows)  # float32 on both sides
    assert "| dense |" in capsys.readouterr().out
