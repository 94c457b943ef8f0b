"""How many threads a kernel call uses, and the pool that runs its chunks.

The batch kernels are serial, ``nogil`` numba functions over a range of chunks; this module
splits a batch into chunks and runs them on a small pool of Python threads. Why not numba's
``parallel=True``: its OpenMP workers spin-wait after each parallel region, beside torch's own
OpenMP pool and any other process on the machine. On a busy 2-core machine a batch-64 training
epoch then ran 8.5× slower than on a quiet one (issue 13; ``optneuron bench``'s loaded rows
measure it). The threads here block on a queue when idle, so an idle pool costs nothing, and
a thread that the OS deschedules leaves its chunks to the others (chunks are taken
dynamically, several per thread).

The thread count is chosen per call, smallest of:

* the user's cap, ``set_num_threads(n)`` (``None``: automatic, the default);
* ``OMP_NUM_THREADS`` when set, and the caller's cap (the eigen backend passes
  ``torch.get_num_threads()``);
* ``os.cpu_count()``;
* the work: a call too small to repay a thread hand-off (``MIN_WORK_PER_THREAD``) runs on
  the calling thread alone.

Under the automatic choice, a call also runs on the calling thread alone for a while after
helpers were late for calls of its kind and size (``SizeClass``): a busy machine deschedules
a helper holding a chunk, and the caller waits.

Results never depend on the thread count or the chunking: each matrix is solved by the same
arithmetic whichever chunk holds it (tests/kernels/test_kernels_lanes.py checks the bits).
"""

from __future__ import annotations

import itertools
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor

__all__ = ["set_num_threads", "get_num_threads", "automatic", "plan_threads", "run_chunks",
           "run_planned"]

#: matrices per chunk at least: the kernels advance 32 iterations at once (their lanes)
MIN_CHUNK = 32
#: chunks per thread at most: enough for a descheduled thread's share to be picked up by another
CHUNKS_PER_THREAD = 4
#: estimated work (``work_units``) below which a second thread costs more than it saves; one
#: unit is about a nanosecond of serial kernel time on the CI machine, and handing chunks to
#: the pool and waiting for them costs ~20–40 µs (benchmarks: the bench's thread-choice table)
MIN_WORK_PER_THREAD = 60_000

#: read once: os.cpu_count() costs ~0.1 ms, a tenth of a small training step's kernel call
CPUS = os.cpu_count() or 1

_user_threads: int | None = None
_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def set_num_threads(n: int | None) -> None:
    """Cap the threads the eigen kernels use; ``None`` restores the automatic choice.

    The automatic choice runs small batches on the calling thread and spreads large ones over
    at most ``min(os.cpu_count(), OMP_NUM_THREADS, torch.get_num_threads())`` threads, falling
    back to the calling thread while helpers turn out late (``SizeClass``). Under it, the
    eigen backend also lowers torch's intra-op threads while other processes keep the cores
    busy, and restores them when the cores are free again
    (``optneuron.backends.torch_threads``). With ``n`` set, a call large enough for ``n``
    threads uses them, and torch's thread count is left alone.
    """
    global _user_threads
    if n is not None:
        if isinstance(n, bool) or not isinstance(n, int):
            raise TypeError(f"n must be a positive int or None, got {type(n).__name__} {n!r}")
        if n < 1:
            raise ValueError(f"n must be a positive int or None, got {n}")
    _user_threads = n


def automatic() -> bool:
    """Whether the thread choice is automatic (no ``set_num_threads(n)`` in force)."""
    return _user_threads is None


def get_num_threads() -> int:
    """The most threads a kernel call may use now (before the work-size rule)."""
    caps = [CPUS]
    if _user_threads is not None:
        caps.append(_user_threads)
    omp = _omp_num_threads()
    if omp is not None:
        caps.append(omp)
    return max(1, min(caps))


def _omp_num_threads() -> int | None:
    raw = os.environ.get("OMP_NUM_THREADS")
    if not raw:  # unset, the common case: no parsing (this runs on every kernel call)
        return None
    try:
        n = int(raw.split(",")[0].strip())
    except ValueError:
        return None
    return n if n >= 1 else None


def plan_threads(work: float, batch: int, max_threads: int | None = None) -> int:
    """Threads for a call of estimated serial cost ``work`` (``work_units``) over ``batch``
    matrices: 1 below ``MIN_WORK_PER_THREAD``, else as many as the work and the caps allow."""
    if work < MIN_WORK_PER_THREAD or batch <= MIN_CHUNK:
        return 1  # decided before the caps: a training step's small calls skip reading them
    limit = get_num_threads()
    if max_threads is not None:
        limit = min(limit, max(1, int(max_threads)))
    by_work = int(work // MIN_WORK_PER_THREAD) if MIN_WORK_PER_THREAD > 0 else limit
    by_batch = -(-batch // MIN_CHUNK)
    return max(1, min(limit, by_work, by_batch))


def tridiagonal_work(batch: int, n: int, count: int, vectors: bool) -> float:
    """Estimated serial cost (units of ``plan_threads``) of ``count`` eigenpairs per matrix."""
    # ~8 Sturm passes of n steps per eigenvalue; a vector adds ~3 passes' worth
    return batch * n * count * (8 + 3 * vectors) * 1.5


def dense_work(batch: int, n: int, count: int, vectors: bool) -> float:
    """Estimated serial cost of the dense kernel: the Householder reduction dominates."""
    return batch * (0.7 * n**3 + 2 * n * n * count * vectors) + tridiagonal_work(
        batch, n, count, vectors
    )


#: the longest run of calls on the calling thread alone after a late parallel call
MAX_ALONE_RUN = 1024


class SizeClass:
    """When to stop handing chunks to helper threads for one kind of kernel call at one size
    (work within a factor of 2; ``Contention`` keeps one per kind and size): they were late.

    Helpers can cost more than they save, in two ways the work estimate cannot see: a busy
    machine deschedules a helper holding a chunk for a scheduler time slice (milliseconds)
    while the calling thread, done with its own chunks, waits for it; and on some machines
    (virtual ones) waking an idle thread and sharing the core's caches costs more than the
    ~20–40 µs that ``MIN_WORK_PER_THREAD`` assumes. So each parallel call is timed: it was
    *late* when it took longer than the calling thread alone takes for that much work (the
    class's measured time per work unit, or before there is one, the call's own time per chunk
    times the chunks). After a late call the next ``penalty`` calls of the class run on the
    calling thread alone (timed, to keep the time per unit current); the penalty doubles with
    each late call in a row, up to ``MAX_ALONE_RUN``, and is forgotten when helpers pay off.
    Under lasting load one call in up to ``MAX_ALONE_RUN`` tries helpers; where they pay, none
    is late. Results do not depend on it (nor on the thread count).

    Calls from several threads share a record: a lost update costs one call's choice.
    """

    __slots__ = ("penalty", "alone_left", "alone_seconds_per_unit")

    def __init__(self):
        self.penalty = 0
        self.alone_left = 0
        self.alone_seconds_per_unit: float | None = None

    def run_alone(self) -> bool:
        """Whether this call stays on the calling thread (and counts it)."""
        if self.alone_left > 0:
            self.alone_left -= 1
            return True
        return False

    def record_alone(self, seconds: float, work: float) -> None:
        """A call of ``work`` units that ran on the calling thread alone in ``seconds``."""
        rate = seconds / max(work, 1.0)
        old = self.alone_seconds_per_unit
        self.alone_seconds_per_unit = rate if old is None else 0.75 * old + 0.25 * rate

    def record_parallel(self, seconds: float, work: float, own_seconds: float,
                        own_chunks: int, nchunks: int) -> None:
        """A parallel call of ``work`` units: ``seconds`` in all, ``own_seconds`` of them on the
        calling thread's ``own_chunks`` of ``nchunks`` chunks."""
        if self.alone_seconds_per_unit is not None:
            alone = self.alone_seconds_per_unit * work
        elif own_chunks > 0:
            alone = own_seconds / own_chunks * nchunks
        else:
            return
        if seconds > alone:
            self.penalty = min(MAX_ALONE_RUN, 2 * self.penalty or 1)
            self.alone_left = self.penalty
        else:
            self.penalty = 0


class Contention:
    """The ``SizeClass`` records of this process, by kernel kind and size."""

    def __init__(self):
        self.classes: dict[tuple[str, int], SizeClass] = {}

    def size_class(self, kind: str, work: float) -> SizeClass:
        """The record of ``kind`` calls of about ``work`` units."""
        key = (kind, int(work).bit_length())
        record = self.classes.get(key)
        if record is None:
            record = self.classes[key] = SizeClass()
        return record


contention = Contention()


def run_planned(kernel, batch: int, work: float, kind: str, max_threads: int | None = None) -> int:
    """``run_chunks`` on ``plan_threads(work, batch, max_threads)`` threads; under the automatic
    choice (no ``set_num_threads(n)``), on the calling thread alone while ``contention`` says
    helpers have lately been late. ``kind`` names the kernel (its time per work unit is kept
    apart from the others'). Returns the sum of the kernel calls' returns: the rows they
    flagged, for the batch kernels that count them (0 for a kernel that returns None)."""
    threads = plan_threads(work, batch, max_threads)
    if threads <= 1:  # plan_threads gives 1 for a batch of one chunk or less
        return kernel(0, 1, 1) or 0
    counts = []

    def counted(c0, c1, nchunks):
        counts.append(kernel(c0, c1, nchunks))  # list.append is atomic under the GIL

    if _user_threads is not None:  # the user's count: as many threads as it and the work allow
        run_chunks(counted, batch, threads)
        return sum(c for c in counts if c)
    record = contention.size_class(kind, work)
    start = time.perf_counter()
    if record.run_alone():
        flagged = kernel(0, 1, 1)
        record.record_alone(time.perf_counter() - start, work)
        return flagged or 0
    own_chunks, nchunks, own_seconds = run_chunks(counted, batch, threads)
    record.record_parallel(time.perf_counter() - start, work, own_seconds, own_chunks, nchunks)
    return sum(c for c in counts if c)


def run_chunks(kernel, batch: int, threads: int) -> tuple[int, int, float]:
    """Call ``kernel(c0, c1, nchunks)`` so that chunks ``0 .. nchunks-1`` of a batch are each
    run exactly once, on ``threads`` threads (the calling thread is one of them). Returns
    ``(chunks the calling thread ran, nchunks, seconds until it had run them)``."""
    start = time.perf_counter()
    if threads <= 1 or batch <= MIN_CHUNK:
        kernel(0, 1, 1)
        return 1, 1, time.perf_counter() - start
    nchunks = max(1, min(-(-batch // MIN_CHUNK), CHUNKS_PER_THREAD * threads))
    threads = min(threads, nchunks)
    taken = itertools.count()  # next() on a count is atomic under the GIL

    def work():
        done = 0
        while (c := next(taken)) < nchunks:
            kernel(c, c + 1, nchunks)
            done += 1
        return done

    futures = [_get_pool().submit(work) for _ in range(threads - 1)]
    try:
        own_chunks = work()
        own_seconds = time.perf_counter() - start
    finally:
        # a helper that has not started finds no chunk left: drop it instead of waiting for
        # a pool thread (another caller may be using them)
        for f in futures:
            if not f.cancel():
                f.result()
    return own_chunks, nchunks, own_seconds


def _get_pool() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(
                max_workers=max(1, CPUS - 1),
                thread_name_prefix="optneuron-kernels",
            )
        return _pool
