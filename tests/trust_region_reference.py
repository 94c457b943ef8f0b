"""Independent float64 references for the trust-region problem (numpy / scipy only).

* ``ggvm_value``: the Lagrange multiplier ``μ`` of ``min xᵀAx + 2bᵀx, ‖x‖ = 1`` is the
  smallest real eigenvalue of ``[[A, −I], [−bbᵀ, A]]`` (Gander, Golub & von Matt 1989; the
  quadratic eigenproblem ``((A − μI)² − bbᵀ)z = 0`` linearized), and the value is
  ``μ + bᵀx`` with ``x = −(A − μI)⁻¹b``. Not for the hard case (``A − μI`` singular).
* ``hard_case_value``: ``λ_0 + bᵀx_p`` with ``x_p = −(A − λ_0 I)⁺b``.
* ``optimality_residual``: the global optimality conditions at ``x`` — with
  ``μ = xᵀAx + bᵀx``, ``‖(A − μI)x + b‖``, ``max(0, μ − λ_0)`` and ``|‖x‖ − 1|``.
"""

import numpy as np
import scipy.linalg


def ggvm_value(A: np.ndarray, b: np.ndarray) -> float:
    n = len(b)
    M = np.block([[A, -np.eye(n)], [-np.outer(b, b), A]])
    ev = scipy.linalg.eigvals(M)
    real = ev[np.abs(ev.imag) <= 1e-7 * max(1.0, np.abs(ev).max())].real
    mu = real.min()
    x = -np.linalg.solve(A - mu * np.eye(n), b)
    return float(mu + b @ x)


def hard_case_value(A: np.ndarray, b: np.ndarray) -> float:
    lam0 = np.linalg.eigvalsh(A)[0]
    xp = -np.linalg.pinv(A - lam0 * np.eye(len(b)), rcond=1e-10) @ b
    return float(lam0 + b @ xp)


def optimality_residual(A: np.ndarray, b: np.ndarray, x: np.ndarray) -> float:
    mu = x @ A @ x + b @ x
    lam0 = np.linalg.eigvalsh(A)[0]
    stationarity = np.linalg.norm((A - mu * np.eye(len(b))) @ x + b)
    return float(max(stationarity, mu - lam0, abs(np.linalg.norm(x) - 1)))
