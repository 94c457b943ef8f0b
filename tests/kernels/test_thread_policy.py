"""kernels.threads: the thread count per call (work size and caps) and the chunk pool."""

from __future__ import annotations

import threading

import pytest

from optneuron.kernels import threads as pool


@pytest.fixture(autouse=True)
def _automatic(monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(pool, "CPUS", 8)
    pool.set_num_threads(None)
    yield
    pool.set_num_threads(None)


def test_small_work_runs_on_the_calling_thread():
    assert pool.plan_threads(pool.MIN_WORK_PER_THREAD - 1, batch=4096) == 1
    # a batch-64 training step of the tridiagonal dim-45 neuron (one eigenpair) is small work
    assert pool.plan_threads(pool.tridiagonal_work(64, 45, 1, True), batch=64) == 1


def test_large_work_uses_every_allowed_thread():
    assert pool.plan_threads(1e12, batch=4096) == 8
    assert pool.plan_threads(pool.dense_work(4096, 16, 1, True), batch=4096) == 8
    # no more threads than chunks of MIN_CHUNK matrices
    assert pool.plan_threads(1e12, batch=3 * pool.MIN_CHUNK) == 3


def test_caps_user_omp_and_caller(monkeypatch):
    pool.set_num_threads(3)
    assert pool.get_num_threads() == 3
    assert pool.plan_threads(1e12, batch=4096) == 3
    assert pool.plan_threads(1e12, batch=4096, max_threads=2) == 2
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    assert pool.get_num_threads() == 2
    pool.set_num_threads(None)
    assert pool.get_num_threads() == 2
    monkeypatch.setenv("OMP_NUM_THREADS", "not a number")
    assert pool.get_num_threads() == 8


def test_set_num_threads_validates():
    with pytest.raises(ValueError, match="n must be a positive int or None, got 0"):
        pool.set_num_threads(0)
    with pytest.raises(TypeError, match="n must be a positive int or None"):
        pool.set_num_threads(2.0)
    with pytest.raises(TypeError, match="n must be a positive int or None"):
        pool.set_num_threads(True)


@pytest.mark.parametrize("threads", [1, 2, 5])
@pytest.mark.parametrize("batch", [1, pool.MIN_CHUNK, 7 * pool.MIN_CHUNK + 3, 4096])
def test_run_chunks_covers_each_chunk_once(threads, batch):
    seen = []
    workers = set()
    lock = threading.Lock()

    def kernel(c0, c1, nchunks):
        with lock:
            seen.extend((c, nchunks) for c in range(c0, c1))
            workers.add(threading.get_ident())

    pool.run_chunks(kernel, batch, threads)
    nchunks = {n for _, n in seen}
    assert len(nchunks) == 1
    (total,) = nchunks
    assert sorted(c for c, _ in seen) == list(range(total))
    assert total <= pool.CHUNKS_PER_THREAD * threads
    assert total == 1 or total * pool.MIN_CHUNK <= batch + pool.MIN_CHUNK


def test_run_chunks_raises_a_workers_error():
    def kernel(c0, c1, nchunks):
        if c0 == nchunks - 1:
            raise RuntimeError("chunk failed")

    with pytest.raises(RuntimeError, match="chunk failed"):
        pool.run_chunks(kernel, 4096, 2)


def test_package_level_names_are_the_kernels_own():
    import optneuron

    assert optneuron.set_num_threads is pool.set_num_threads
    assert optneuron.get_num_threads is pool.get_num_threads
