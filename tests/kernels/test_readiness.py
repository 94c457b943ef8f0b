"""kernels.readiness: a cold cache never makes the caller wait silently."""

from __future__ import annotations

import sys
import threading
import time

import numpy as np
import pytest

from optneuron.kernels import readiness

_real_compile_in_child = readiness._compile_in_child


@pytest.fixture
def fresh(monkeypatch):
    """readiness with no kernel loaded and a stand-in for the compile step."""
    compiled = []
    release = threading.Event()

    def run_once(kind, dtype):
        release.wait(10)
        compiled.append((kind, np.dtype(dtype).name))

    monkeypatch.setattr(readiness, "_ready", set())
    monkeypatch.setattr(readiness, "_background", None)
    monkeypatch.setattr(readiness, "_announced", False)
    monkeypatch.setattr(readiness, "_run_once", run_once)
    monkeypatch.setattr(readiness, "_child", None)
    # no child process unless a test starts one: the thread compiles here (the fallback)
    monkeypatch.setattr(readiness, "_compile_in_child", lambda order: order)
    return compiled, release


def _child_printing(lines: list[str], then_sleep: float = 0.0):
    """A stand-in child command: prints ``lines`` (kind:dtype reports), then sleeps."""
    code = (f"import sys, time\nfor line in {lines!r}: print(line, flush=True)\n"
            f"time.sleep({then_sleep})")
    return lambda order: [sys.executable, "-c", code]


def test_cold_cache_compiles_in_the_background(fresh, monkeypatch):
    compiled, release = fresh
    monkeypatch.setattr(readiness, "is_cached", lambda kind, dtype: False)
    assert readiness.ensure_ready("tridiagonal", np.float64) is False
    assert readiness.ensure_ready("dense", np.float32) is False  # still compiling: no wait
    release.set()
    assert readiness.wait_until_ready(timeout=10)
    # the specialization asked for first is compiled first, then the rest
    assert compiled[0] == ("tridiagonal", "float64")
    assert sorted(compiled) == sorted({
        (k, "float64" if k in readiness._FLOAT64_ONLY else d)
        for k in readiness.KINDS for d in ("float32", "float64")})
    assert readiness.ensure_ready("dense", np.float32) is True
    assert readiness.is_ready("dense", "float32")


def test_exit_stops_the_background_compile_after_its_current_kernel(fresh, monkeypatch,
                                                                   capsys):
    # at interpreter exit (atexit) the compile thread may not be left running into
    # finalization: it finishes the kernel it is on, compiles no other, and is joined
    compiled, release = fresh
    monkeypatch.setattr(readiness, "_stop", threading.Event())
    monkeypatch.setattr(readiness, "is_cached", lambda kind, dtype: False)
    assert readiness.ensure_ready("dense", np.float64) is False
    thread = readiness._background
    deadline = time.monotonic() + 10
    while not readiness._compile_lock.locked():  # the thread is inside its first compile
        assert time.monotonic() < deadline
        time.sleep(0.001)
    threading.Timer(0.2, release.set).start()  # which takes 0.2 s more
    readiness._stop_at_exit()
    assert not thread.is_alive()
    assert compiled == [("dense", "float64")]
    assert "finishing the kernel being compiled" in capsys.readouterr().err  # not silently


def test_exit_with_nothing_compiling_returns_at_once(fresh, monkeypatch, capsys):
    monkeypatch.setattr(readiness, "_stop", threading.Event())
    readiness._stop_at_exit()  # no background thread: nothing to wait for, nothing said
    assert not readiness._stop.is_set() and capsys.readouterr().err == ""


def test_blocking_compile_says_so_once(fresh, monkeypatch, capsys):
    compiled, release = fresh
    release.set()
    monkeypatch.setattr(readiness, "is_cached", lambda kind, dtype: False)
    assert readiness.ensure_ready("dense", np.float64, block=True) is True
    assert readiness.ensure_ready("tridiagonal", np.float64, block=True) is True
    err = capsys.readouterr().err
    assert err.count("optneuron: compiling the eigen kernels") == 1
    assert compiled == [("dense", "float64"), ("tridiagonal", "float64")]


def test_cached_kernels_load_at_once_without_a_message(fresh, monkeypatch, capsys):
    compiled, release = fresh
    release.set()
    monkeypatch.setattr(readiness, "is_cached", lambda kind, dtype: True)
    assert readiness.ensure_ready("tridiagonal", np.float32) is True
    assert compiled == [("tridiagonal", "float32")]
    assert readiness._background is None
    assert capsys.readouterr().err == ""


def test_is_cached_reads_numbas_index():
    # the session fixture compiled (or loaded) every specialization into the disk cache
    for kind in readiness.KINDS:
        for dtype in (np.float32, np.float64):
            assert readiness.is_cached(kind, dtype)


def test_bad_arguments():
    with pytest.raises(ValueError, match="kind must be one of"):
        readiness.ensure_ready("banded", np.float64)


def test_float64_only_kinds_share_one_specialization():
    assert readiness._key("dense_spectrum", np.float32) == ("dense_spectrum", np.float64)
    assert readiness._key("dense", np.float32) == ("dense", np.float32)
    with pytest.raises(TypeError, match="dtype must be float32 or float64"):
        readiness.ensure_ready("dense", np.int64)


def test_the_child_compiles_in_order_and_reports_each(fresh, monkeypatch, capsys):
    compiled, release = fresh
    release.set()
    monkeypatch.setattr(sys, "argv", ["-c", "dense:float32", "tridiagonal:float64"])
    readiness._child_main()
    assert compiled == [("dense", "float32"), ("tridiagonal", "float64")]
    assert capsys.readouterr().out.split() == ["dense:float32", "tridiagonal:float64"]


def test_kernels_the_child_reports_are_loaded_and_the_rest_compiled_here(fresh, monkeypatch):
    compiled, release = fresh
    release.set()
    monkeypatch.setattr(readiness, "is_cached", lambda kind, dtype: False)
    monkeypatch.setattr(readiness, "_compile_in_child", _real_compile_in_child)
    # a child that delivers two specializations and then fails
    monkeypatch.setattr(readiness, "_child_command",
                        _child_printing(["dense:float32", "tiny:float64"]))
    assert readiness.ensure_ready("dense", np.float32) is False
    assert readiness.wait_until_ready(timeout=10)
    assert compiled[:2] == [("dense", "float32"), ("tiny", "float64")]
    assert sorted(compiled) == sorted({
        (k, "float64" if k in readiness._FLOAT64_ONLY else d)
        for k in readiness.KINDS for d in ("float32", "float64")})


def test_exit_ends_the_child_without_waiting_for_it(fresh, monkeypatch, capsys):
    compiled, release = fresh
    release.set()
    monkeypatch.setattr(readiness, "_stop", threading.Event())
    monkeypatch.setattr(readiness, "is_cached", lambda kind, dtype: False)
    monkeypatch.setattr(readiness, "_compile_in_child", _real_compile_in_child)
    monkeypatch.setattr(readiness, "_child_command", _child_printing(["dense:float64"], 60.0))
    assert readiness.ensure_ready("dense", np.float64) is False
    deadline = time.monotonic() + 10
    while compiled != [("dense", "float64")]:  # the first report was loaded
        assert time.monotonic() < deadline
        time.sleep(0.01)
    start = time.monotonic()
    readiness._stop_at_exit()
    assert time.monotonic() - start < 5  # not the child's 60 s
    assert readiness._child.poll() is not None
    assert not readiness._background.is_alive()
    assert compiled == [("dense", "float64")]  # nothing compiled here after the stop
    assert capsys.readouterr().err == ""
