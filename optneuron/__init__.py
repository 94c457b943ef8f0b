"""optneuron: differentiable optimization layers whose neurons solve eigenvalue problems.

Each neuron solves ``min xᵀ A x`` on the unit sphere (and its k-th-eigenvalue and Ky Fan
generalizations) exactly with an eigen-solver, or as its tight SDP relaxation.
"""

from .backends import available_backends, get_backend, register_backend
from .layer import OptLayer
from .matrices import SymTridiagonal
from .problems import KyFan, SphereQP
from .solution import Solution
from .verify import VerificationReport, verify

__all__ = [
    "OptLayer",
    "Solution",
    "SphereQP",
    "KyFan",
    "SymTridiagonal",
    "verify",
    "VerificationReport",
    "register_backend",
    "get_backend",
    "available_backends",
]

__version__ = "0.1.0"
