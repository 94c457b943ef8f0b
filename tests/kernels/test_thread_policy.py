"""kernels.threads: the thread count per call (work size and caps) and the chunk pool."""

from __future__ import annotations

import threading
import time

import pytest

from optneuron.kernels import threads as pool


@pytest.fixture(autouse=True)
def _automatic(monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(pool, "CPUS", 8)
    monkeypatch.setattr(pool, "contention", pool.Contention())
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

    own, reported, _ = pool.run_chunks(kernel, batch, threads)
    nchunks = {n for _, n in seen}
    assert len(nchunks) == 1
    (total,) = nchunks
    assert reported == total and 0 <= own <= total
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


def _kernel_with_helpers_late(delay: float, threads_seen: list):
    """A chunk kernel whose chunks take ~1 ms, and ``delay`` s longer on a helper thread."""
    caller = threading.get_ident()

    def kernel(c0, c1, nchunks):
        threads_seen.append(threading.get_ident())
        time.sleep(0.001 + (delay if threading.get_ident() != caller else 0.0))

    return kernel


def test_late_helpers_send_the_next_calls_to_the_calling_thread():
    seen = []
    work = 1e12  # earns every allowed thread
    # first call: the helper's chunk takes 30 ms more than the caller's 1 ms ones: late
    record = pool.contention.size_class("test", work)
    pool.run_planned(_kernel_with_helpers_late(0.03, seen), 4096, work, "test", max_threads=2)
    assert len(set(seen)) == 2
    assert record.penalty == 1
    # the next call runs alone (one chunk, on the calling thread) and times itself
    seen.clear()
    pool.run_planned(_kernel_with_helpers_late(0.03, seen), 4096, work, "test", max_threads=2)
    assert seen == [threading.get_ident()]
    assert record.alone_seconds_per_unit is not None
    # calls of another size, or of another kernel, still get helpers
    for other_work, kind in ((work / 4, "test"), (work, "other")):
        seen.clear()
        pool.run_planned(_kernel_with_helpers_late(0.0, seen), 4096, other_work, kind,
                         max_threads=2)
        assert set(seen) - {threading.get_ident()}
    # helpers late again: twice as many calls alone
    pool.run_planned(_kernel_with_helpers_late(0.03, seen), 4096, work, "test", max_threads=2)
    assert record.penalty == 2 and record.alone_left == 2


def test_helpers_that_pay_keep_the_calls_parallel():
    seen = []
    for _ in range(3):
        pool.run_planned(_kernel_with_helpers_late(0.0, seen), 4096, 1e12, "test", max_threads=2)
    # eight 1 ms chunks on two threads take ~4 ms, against ~8 ms alone
    record = pool.contention.size_class("test", 1e12)
    assert record.penalty == 0 and record.alone_left == 0
    assert set(seen) - {threading.get_ident()}  # helpers ran chunks


def test_the_penalty_is_capped():
    record = pool.SizeClass()
    for _ in range(20):
        record.record_parallel(seconds=2.0, work=1.0, own_seconds=1.0, own_chunks=1, nchunks=1)
    assert record.penalty == pool.MAX_ALONE_RUN
    record.record_parallel(seconds=0.5, work=1.0, own_seconds=0.25, own_chunks=1, nchunks=4)
    assert record.penalty == 0


def test_a_users_thread_count_is_kept_even_when_helpers_are_late():
    pool.set_num_threads(2)
    seen = []
    pool.run_planned(_kernel_with_helpers_late(0.01, seen), 4096, 1e12, "test")
    seen.clear()
    pool.run_planned(_kernel_with_helpers_late(0.01, seen), 4096, 1e12, "test")
    assert pool.contention.size_class("test", 1e12).penalty == 0
    assert set(seen) - {threading.get_ident()}  # the second call used a helper too


@pytest.mark.parametrize("user_threads", [None, 2])
@pytest.mark.parametrize("work", [1.0, 1e12])
def test_run_planned_returns_the_sum_of_the_kernel_calls_counts(user_threads, work):
    # each call "flags" the rows of its chunks whose index is divisible by 7: a serial call,
    # the user's thread count and the automatic choice with helpers all give the batch's
    # total; a kernel that returns None (one that counts nothing) gives 0
    from optneuron.kernels._compiled import chunk_bounds

    pool.set_num_threads(user_threads)
    batch = 4096

    def kernel(c0, c1, nchunks):
        total = 0
        for c in range(c0, c1):
            b0, b1 = chunk_bounds(c, nchunks, batch)
            total += sum(1 for b in range(b0, b1) if b % 7 == 0)
        return total

    assert pool.run_planned(kernel, batch, work, "test") == len(range(0, batch, 7))
    assert pool.run_planned(lambda c0, c1, nchunks: None, batch, work, "test") == 0
