"""benchmarks/real_machine.py runs end to end at tiny size (numbers are not checked: no timing
assertions in tests), and its competing process is ended when the block exits."""

import os

import pytest

pytest.importorskip("sklearn")


def test_real_machine_benchmark_runs_small(tmp_path):
    from benchmarks import real_machine

    assert real_machine.main(["--quick", "--out", str(tmp_path)]) == 0
    text = (tmp_path / real_machine.REPORT).read_text()
    for heading in ("Thread choice", "competing CPU-bound process", "Estimator epoch"):
        assert heading in text
    for torch_setting in real_machine.TORCH_THREADS:  # each from its own worker process
        assert f"| {torch_setting} |" in text


def test_competing_process_is_ended():
    from benchmarks.real_machine import competing_process

    with competing_process(seconds=30) as pid:
        os.kill(pid, 0)  # alive inside the block
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
