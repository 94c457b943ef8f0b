"""benchmarks/trust_region.py runs at tiny size and both sides agree (times are not checked)."""

import importlib.util
from pathlib import Path


def test_trust_region_benchmark_runs_small(capsys):
    path = Path(__file__).parent.parent / "benchmarks" / "trust_region.py"
    spec = importlib.util.spec_from_file_location("trust_region_bench", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    rows = bench.main(["--small", "--repeats", "1"])
    assert [r["structure"] for r in rows] == ["dense", "tridiagonal"]
    assert all(r["value_gap"] <= 1e-12 for r in rows)
    assert "| dense |" in capsys.readouterr().out
