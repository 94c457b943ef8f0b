"""Compiled, batch-parallel k-th eigenpair kernels (numpy + numba only; no torch, no optneuron).

``tridiagonal_eigenpairs(diag, off, lo, hi, vectors=True, derivatives=False)`` and
``dense_eigenpairs(A, lo, hi, vectors=True)`` return eigenvalues lo..hi-1 (0-based, ascending) of
every matrix in a batch, optionally their eigenvectors, and a per-matrix ``suspect`` flag:
``(values (B, hi-lo), vecs (B, n, hi-lo) or None, suspect (B,) bool)``, in the input dtype
(float32 or float64; all arithmetic is float64). The tridiagonal one's ``derivatives=True``
appends ``∂λ_j/∂diag`` and ``∂λ_j/∂off`` from the vectors, which it computes even with
``vectors=False`` (it then only skips storing them). ``warm_up()`` compiles (or loads from numba's
cache) every specialization once; ``ensure_ready`` compiles one without blocking its caller
(``readiness.py``). Threads (``threads.py``): a small pool that never spins, sized per call by
the work and by ``set_num_threads``, ``OMP_NUM_THREADS`` and the caller's cap.
``MachineLoad`` samples the cores other processes keep busy (machine_load.py).

Method: a power-of-two scaling to ||T|| ~ 1 (exact; inputs from 1e-150 to 1e150 and the zero
matrix work), Householder reduction for dense input (64 matrices at once up to n = 24), then
per eigenvalue, starting at the (k + 1/2)/n quantile of a logistic distribution with the
spectrum's mean and standard deviation (from tr T and ||T||_F), bisection on Sturm counts
until the count at x is k or k+1 and Laguerre's cubically convergent step towards lam_k
inside that bracket; eigenvectors of
isolated eigenvalues (no other of the range within 1e-3 ||T||) by the twisted factorization
(forward and backward pivots of T - lam I, the vector from the row where |gamma| is least),
kept when its residual is below max(n, 4) eps ||T||; all others by inverse iteration with a
pivoted tridiagonal LU (reorthogonalized within groups closer than 1e-3 ||T||);
back-transformed for dense input.
Sign convention: the largest-magnitude component of each eigenvector is positive.
Both run on 32 "lanes" at once: each Sturm pass (a chain of dependent divisions) advances 32
(matrix, eigenvalue) tasks in one vectorized loop, and a lane whose task is done takes the
next one; the twisted factorizations of isolated eigenvalues are batched the same way.
Results are those of the one-matrix-at-a-time routines, bit for bit
(tests/kernels/test_kernels_lanes.py holds those references).

suspect[b] is True when the kernel cannot vouch for matrix b: an eigenvalue of lo..hi-1 lies
within 1e-8 ||T|| of another one of the range or of lam_{lo-1} / lam_hi (then the vectors are
an arbitrary basis choice, though the *values* stay accurate), an iteration did not converge,
the input held inf/NaN (values NaN), or the explicit residual check ||Aq - lam q|| <=
16 n eps ||A||_inf failed. Callers re-solve suspect rows with LAPACK. The same rule is applied
with vectors=False, so suspect does not depend on ``vectors``. The ``checked_*`` twins
(``checked_dense_eigenpairs``, ``checked_tiny_eigenpairs``, ``checked_tridiagonal_eigenpairs``,
``checked_dense_eigenvector``) skip the argument checks and give ``suspect`` None when no
matrix was flagged (each batch kernel counts them): the eigen backend's once-per-step path,
where a numpy reduction of the flags cost ~3% of a training step (docs/design.md, "Training").

Accuracy contract (float64, rows not suspect), with ||A|| = ||A||_2, eps = 2**-52, c = 4:
    |lam - lam_LAPACK| <= c n eps ||A||,   ||A q - lam q|| <= c n eps ||A||,
    | ||q|| - 1 | <= c n eps.
Measured maxima over the test suite's cases (random n = 1..64, clusters, Wilkinson W21+,
scalings 1e+-150): |lam error| <= 2.5 n eps ||A||, residual <= 1.2 n eps ||A||.
For float32 input the float64 result (same bounds against the float64 eigh of the float32
matrix) is rounded to float32 at the end.

Tiny dense matrices (n <= TINY_MAX_N = 8): ``tiny_eigenpairs(A, lo, hi, vectors=True)`` has
the outputs, contract and suspect rule of ``dense_eigenpairs`` by cyclic Jacobi with the
rotations vectorized across 64 matrices at once (kernels/_tiny.py; tests/kernels/test_tiny.py
checks the contract above against LAPACK), and
``pencil_eigenvalue(C, index, scale, n, k)`` solves matrices given by packed coordinates and
returns ``lam_k`` with its gradient in those coordinates (the estimators' fused step). The
eigen backend takes the Jacobi kernel only up to n = JACOBI_MAX_N = 5: from n = 6 on, the
Householder kernel is faster (``python -m benchmarks.tiny_cutoff``).

Full spectrum, for mixtures phi = <w, lam> = sum_k w_k lam_k: ``tridiagonal_spectrum(diag, off,
weights=None)`` returns ``(values (B, n), grad_diag (B, n), grad_off (B, n-1), suspect)`` with
grad_diag_i = sum_k w_k q_ik^2 and grad_off_i = 2 sum_k w_k q_ik q_{i+1,k} (None without
weights: the value-only path); ``dense_spectrum(A, weights=None)`` returns ``(values, grad
(B, n, n) = Q diag(w) Q^T, suspect)``. weights is (n,) or (B, n). Q is never returned. Method
(kernels/_spectrum.py): implicit QL with Wilkinson's shift for the values (the QL sweeps of
eight matrices interleaved); for the gradient, one twisted factorization per eigenvalue (all
eigenvalues of a matrix advanced together), Gram-Schmidt within groups closer than 1e-3 ||T||,
and for tight clusters QL with accumulated rotations; the vectors are orthonormal inside
clusters either way: the gradient is then a
Clarke subgradient of <w, lam>, and equals the (basis-independent) gradient wherever w is
constant on each cluster. Dense input goes through a Householder reduction A = H T H^T and the
gradient is H (Y diag(w) Y^T) H^T. Contract (float64, rows not suspect): values as above;
gradient error of order n eps ||w||_inf ||A|| / gap, the same order as LAPACK's eigh (measured
over the tests: <= 1e-12 ||w||_inf on spectra with gaps >= 1e-2 ||A||). suspect marks
non-finite input (NaN out), QL not converging, or an eigenvector failing the residual check
||T q - lam q|| <= 16 n eps ||T||; clusters are not suspect.

An eigenvector's backward pass, v = (A - lam_k I)^+ (I - q q^T) r (eigenvector_adjoint.py):
``tridiagonal_eigenvector_adjoint(diag, off, k, q, r)`` in O(n) per matrix (a pivoted
tridiagonal solve) and, for dense input, ``dense_eigenvector(A, k)`` (the eigenpair of
``dense_eigenpairs`` plus its Householder reflectors) then ``dense_eigenvector_adjoint`` in
O(n^2) per matrix; both flag matrices whose lam_k ties with another eigenvalue.
"""

from .dense import checked_dense_eigenpairs, dense_eigenpairs
from .eigenvector_adjoint import (
    checked_dense_eigenvector,
    dense_eigenvector,
    dense_eigenvector_adjoint,
    tridiagonal_eigenvector_adjoint,
)
from .machine_load import MachineLoad
from .readiness import ensure_ready, is_ready, wait_until_ready, warm_up
from .spectrum import dense_spectrum, tridiagonal_spectrum
from .threads import get_num_threads, set_num_threads
from .tiny import (
    JACOBI_MAX_N,
    TINY_MAX_N,
    checked_tiny_eigenpairs,
    pencil_eigenvalue,
    tiny_eigenpairs,
)
from .tridiagonal import checked_tridiagonal_eigenpairs, tridiagonal_eigenpairs

__all__ = [
    "dense_eigenpairs",
    "checked_dense_eigenpairs",
    "tiny_eigenpairs",
    "checked_tiny_eigenpairs",
    "pencil_eigenvalue",
    "TINY_MAX_N",
    "JACOBI_MAX_N",
    "tridiagonal_eigenpairs",
    "checked_tridiagonal_eigenpairs",
    "dense_spectrum",
    "tridiagonal_spectrum",
    "tridiagonal_eigenvector_adjoint",
    "dense_eigenvector",
    "checked_dense_eigenvector",
    "dense_eigenvector_adjoint",
    "warm_up",
    "ensure_ready",
    "is_ready",
    "wait_until_ready",
    "set_num_threads",
    "get_num_threads",
    "MachineLoad",
]
