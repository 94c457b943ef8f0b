"""Which compiled kernels can run now, and compiling the others without making a caller wait.

Each kernel specialization (tridiagonal or dense, float32 or float64) is compiled by numba on
first use and cached on disk; a later process loads it in about a second. On a cold cache the
compile takes tens of seconds (``optneuron bench``'s cold-start row), which a new user's first
call must not wait for silently. So ``ensure_ready(kind, dtype, block)``:

* returns ``True`` at once for a specialization this process has already loaded;
* loads it (a second or so) and returns ``True`` when numba's disk cache holds it;
* otherwise, with ``block=False``, starts compiling every specialization in the background
  (once per process) and returns ``False``: the caller solves this batch another way (the
  eigen backend uses LAPACK, which meets the same accuracy contract) and switches to the
  kernels when they are ready;
* with ``block=True`` compiles it now, after printing one line to stderr saying so.

The background compile runs in a child process (``_compile_in_child``), which fills numba's
disk cache; a thread here loads each kernel as the child reports it. numba's compiler holds
the GIL for much of a compile, so on a thread of this process it starved the caller's own
Python: a first ``SpectralRegressor().fit`` on a cold cache took 8.2–10.2 s with the compile
on a thread here and 5.5–8.3 s (median 6.3, six runs) with the child (``python -m
benchmarks.real_machine``, cold-cache table, on the same 2-core machine, 2026-12-02); 5.1–6.9 s
(eight runs, 2026-12-03) once torch's threads also made way for the child on the LAPACK path
(``backends/torch_threads.py``). Where no
child can be started, the thread compiles here instead.

At interpreter exit the child is ended (a later process compiles what it had not finished);
a compile on the thread here finishes the specialization it is on first (``_stop_at_exit``).

Results from LAPACK and from the kernels agree to the accuracy contract, not bit for bit; so
a run that must be bit-reproducible from its first call passes ``block=True`` (the eigen
backend does when ``torch.are_deterministic_algorithms_enabled()``), or calls ``warm_up()``.
"""

from __future__ import annotations

import atexit
import os
import subprocess
import sys
import threading

import numpy as np

__all__ = ["ensure_ready", "is_ready", "wait_until_ready", "warm_up", "KINDS"]

KINDS = ("tridiagonal", "dense", "tridiagonal_spectrum", "dense_spectrum", "trust_region",
         "eigenvector_adjoint", "tiny", "tiny_pencil")
_DTYPES = (np.float32, np.float64)
#: kinds whose kernels compute in float64 only (other input is converted around them)
_FLOAT64_ONLY = {"tridiagonal_spectrum", "dense_spectrum", "trust_region", "tiny_pencil"}

_ready: set[tuple[str, type]] = set()
_compile_lock = threading.Lock()  # one compilation at a time (numba serializes them anyway)
_start_lock = threading.Lock()
_background: threading.Thread | None = None
_child: subprocess.Popen | None = None  # the background compile's process, while it runs
_stop = threading.Event()  # set at exit: the background compile stops after its current kernel
_announced = False


def _key(kind: str, dtype) -> tuple[str, type]:
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    dtype = np.dtype(dtype).type
    if dtype not in _DTYPES:
        raise TypeError(f"dtype must be float32 or float64, got {np.dtype(dtype)}")
    return kind, (np.float64 if kind in _FLOAT64_ONLY else dtype)


#: ``_key`` of each kind for the dtype names the eigen backend passes
_KEYS = {(kind, name): _key(kind, name) for kind in KINDS for name in ("float32", "float64")}


def _lookup(kind: str, dtype) -> tuple[str, type]:
    """``_key`` from the table when ``dtype`` is a name in it: no np.dtype per call."""
    return _KEYS.get((kind, dtype)) or _key(kind, dtype)


def _run_once(kind: str, dtype) -> None:
    """One tiny call: compiles the specialization or loads it from numba's cache."""
    from .dense import dense_eigenpairs
    from .eigenvector_adjoint import (
        dense_eigenvector,
        dense_eigenvector_adjoint,
        tridiagonal_eigenvector_adjoint,
    )
    from .spectrum import dense_spectrum, tridiagonal_spectrum
    from .tiny import pencil_eigenvalue, tiny_eigenpairs
    from .tridiagonal import tridiagonal_eigenpairs
    from .trust_region import dense_back_transform, dense_reduction, tridiagonal_trust_region

    diag = np.array([[2.0, 1.0, 3.0]], dtype=dtype)
    off = np.array([[0.5, 0.25]], dtype=dtype)
    A = np.array([[[2.0, 0.5, 0.1], [0.5, 1.0, 0.25], [0.1, 0.25, 3.0]]], dtype=dtype)
    weights = np.array([0.5, 1.0, 2.0])
    if kind == "tridiagonal":
        tridiagonal_eigenpairs(diag, off, 0, 2, vectors=True, derivatives=True)
    elif kind == "dense":
        dense_eigenpairs(A, 1, 3, vectors=True)
    elif kind == "tridiagonal_spectrum":
        tridiagonal_spectrum(diag, off, weights)
    elif kind == "dense_spectrum":
        dense_spectrum(A, weights)
    elif kind == "eigenvector_adjoint":
        r = np.array([[1.0, -1.0, 0.5]], dtype=dtype)
        _, q, _ = tridiagonal_eigenpairs(diag, off, 1, 2, True)
        tridiagonal_eigenvector_adjoint(diag, off, 1, q[:, :, 0], r)
        _, q, _, reflectors = dense_eigenvector(A, 1)
        dense_eigenvector_adjoint(reflectors, 1, q[:, :, 0], r)
    elif kind == "tiny":
        tiny_eigenpairs(A, 1, 3, vectors=True)
    elif kind == "tiny_pencil":
        vals, grads, _ = pencil_eigenvalue(np.array([[2.0, 1.0, 0.5]]), np.array([0, 2, 2, 1]),
                                           np.ones(3), 2, 1)
        _readout_network(vals, grads)
    else:
        b = np.array([[1.0, 0.0, -1.0]])
        lam, q, _ = tridiagonal_eigenpairs(diag, off, 0, 1, True)
        tridiagonal_trust_region(diag, off, b, lam[:, 0], q[:, :, 0])
        d, e, bT, reflectors = dense_reduction(A, b)
        dense_back_transform(reflectors, bT)


def _readout_network(vals, grads):
    """One pass through the readout loops (``tiny.readout_*``) on one row, one 2×2 neuron
    (coordinates ``size`` = 3), one feature, one output: their only signatures."""
    from .tiny import readout_coordinates, readout_gradients, readout_output, softplus_offset

    z, bias, weight = np.ones((1, 1)), np.zeros((1, 2)), np.ones((1, 1, 3))
    mu, slope, C = np.empty((1, 2)), np.empty((1, 2)), np.empty((1, 3))
    softplus_offset(bias, mu, slope)
    readout_coordinates(z, mu, weight, C)
    W, c, V = np.ones((1, 1)), np.zeros(1), np.zeros((1, 1))
    readout_output(vals, z, W, c, V, np.empty((1, 1)))
    flat, g_z = np.empty(2 + 3 + 1 + 1 + 1), np.zeros((1, 1))
    readout_gradients(np.ones((1, 1)), z, vals, grads, W, slope, weight, flat, g_z)


def _dispatchers(kind: str):
    """The compiled batch functions of ``kind`` whose disk cache says whether it is compiled."""
    from . import _compiled, _spectrum, _tiny

    return {
        "tridiagonal": (_compiled._tri_batch,),
        "dense": (_compiled._dense_batch,),
        "tridiagonal_spectrum": (_spectrum._tri_spectrum_batch,),
        "dense_spectrum": (_spectrum._dense_spectrum_batch,),
        "trust_region": (_compiled.tr_batch, _compiled.tr_reduce, _compiled.tr_back),
        "eigenvector_adjoint": (_compiled._tri_adjoint_batch, _compiled._dense_solution_batch,
                                _compiled._dense_adjoint_batch),
        "tiny": (_tiny._tiny_batch,),
        "tiny_pencil": (_tiny._pencil_batch, _tiny.softplus_offset, _tiny.readout_coordinates,
                        _tiny.readout_output, _tiny.readout_gradients),
    }[kind]


def is_cached(kind: str, dtype) -> bool:
    """Whether numba's disk cache holds a current compiled ``kind`` kernel for ``dtype``."""
    kind, dtype = _key(kind, dtype)
    try:  # numba's cache index; any surprise in its private layout means "not cached"
        return all(_holds(f._cache._cache_file._load_index(), dtype) for f in _dispatchers(kind))
    except Exception:
        return False


def _holds(index: dict, dtype) -> bool:
    """Whether a cache index has an entry whose first argument is an array of ``dtype``."""
    return any(key[0] and getattr(key[0][0], "dtype", None) == _numba_type(dtype) for key in index)


def _numba_type(dtype):
    from numba import from_dtype

    return from_dtype(np.dtype(dtype))


def is_ready(kind: str, dtype) -> bool:
    """Whether this process can run the ``kind`` kernel for ``dtype`` without compiling."""
    return _lookup(kind, dtype) in _ready


def _compile(key: tuple[str, type]) -> None:
    if key not in _ready:
        _run_once(*key)
        _ready.add(key)


def _announce() -> None:
    global _announced
    if not _announced:
        _announced = True
        print(
            "optneuron: compiling the eigen kernels (once; up to a minute on 2 cores, "
            "cached on disk for later runs)",
            file=sys.stderr,
            flush=True,
        )


def ensure_ready(kind: str, dtype, block: bool = False) -> bool:
    """``True`` when the ``kind`` kernel for ``dtype`` can run now (loading it from disk if it is
    cached); else compile it now (``block=True``, announced on stderr) or in the background
    (``block=False``, returns ``False``). See the module docstring."""
    key = _lookup(kind, dtype)
    if key in _ready:
        return True
    if not block and _background is not None:
        return False  # being compiled: no lock, no disk access on this (training-loop) path
    if block or is_cached(*key):
        if not is_cached(*key):
            _announce()
        with _compile_lock:
            _compile(key)
        return True
    _start_background(first=key)
    return False


def _start_background(first: tuple[str, type]) -> None:
    global _background
    with _start_lock:
        if _background is not None:
            return
        order = [first] + [key for key in _all_keys() if key != first]

        def compile_all():
            for key in _compile_in_child(order):
                if _stop.is_set():
                    return
                with _compile_lock:
                    _compile(key)

        _background = threading.Thread(target=compile_all, name="optneuron-compile", daemon=True)
        _background.start()


def _child_command(order: list[tuple[str, type]]) -> list[str]:
    code = "from optneuron.kernels.readiness import _child_main; _child_main()"
    return [sys.executable, "-c", code, *(f"{kind}:{np.dtype(dt).name}" for kind, dt in order)]


def _child_environment() -> dict[str, str]:
    """This process's environment, with this copy of optneuron first on the child's path: numba
    caches by source file, so the child must compile the files this process loads."""
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    path = os.environ.get("PYTHONPATH")
    return {**os.environ, "PYTHONPATH": root + (os.pathsep + path if path else "")}


def _compile_in_child(order: list[tuple[str, type]]) -> list[tuple[str, type]]:
    """Compile ``order`` in a child process, loading each specialization here once the child
    reports it in the disk cache; returns the ones it did not deliver (it could not start, or
    failed) for the caller to compile here. Stopped (``_stop``), it returns none."""
    global _child
    try:
        _child = subprocess.Popen(_child_command(order), env=_child_environment(),
                                  stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                  stderr=subprocess.DEVNULL, text=True)
    except OSError:
        return order
    delivered = set()
    with _child.stdout:
        for line in _child.stdout:
            kind, name = line.strip().split(":")
            key = _key(kind, name)
            with _compile_lock:
                if _stop.is_set():
                    break
                _compile(key)  # from the disk cache the child just wrote
            delivered.add(key)
    _child.wait()
    return [] if _stop.is_set() else [key for key in order if key not in delivered]


def _child_main() -> None:
    """The background compile's child: compile each ``kind:dtype`` of ``sys.argv`` in order,
    printing it once cached; ends quietly when the parent stops reading."""
    for arg in sys.argv[1:]:
        _compile(_key(*arg.split(":")))
        try:
            print(arg, flush=True)
        except BrokenPipeError:
            return


@atexit.register
def _stop_at_exit() -> None:
    """End the background compile before the interpreter finalizes: the child process is
    terminated (what it had not finished is compiled by a later process) and the thread here
    finishes the load it may be in; a compile on the thread here (no child) finishes the kernel
    it is on, announced. Python ends a daemon thread still running at finalization with
    pthread_exit when it next takes the GIL, under native code it called (numba, LLVM) that
    may be torn down at the same time. (A fresh-clone test run once saw a torchrun worker abort
    at exit, "terminate called without an active exception", while the kernels were compiling
    on a thread; the same abort was later traced to a DDP wrapper freed during finalization,
    fixed in examples/train_distributed.py, so that sighting may not have been this hazard.)
    Waiting costs at most one kernel's compile there (the first tridiagonal one took ~15 s on
    2 cores: README, "First run")."""
    thread = _background
    if thread is not None and thread.is_alive():
        _stop.set()
        child = _child
        if child is not None and child.poll() is None:
            child.terminate()  # its reports end; the thread finishes a load under way, if any
        else:
            print("optneuron: finishing the kernel being compiled before exit (cached for "
                  "later runs)", file=sys.stderr, flush=True)
        thread.join()


def wait_until_ready(timeout: float | None = None) -> bool:
    """Wait for a background compilation started by ``ensure_ready``; ``True`` if none is left."""
    thread = _background
    if thread is not None:
        thread.join(timeout)
        return not thread.is_alive()
    return True


def warm_up() -> None:
    """Compile or load every specialization now (every kind, float32/float64; the vectors and
    gradient flags are runtime arguments of the same compiled kernels)."""
    for key in _all_keys():
        ensure_ready(*key, block=True)


def _all_keys() -> list[tuple[str, type]]:
    return sorted({_key(kind, dtype) for dtype in _DTYPES for kind in KINDS},
                  key=lambda k: (KINDS.index(k[0]), k[1] is np.float64))
