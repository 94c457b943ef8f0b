"""optneuron: differentiable optimization layers whose neurons solve eigenvalue problems.

Each neuron solves ``min xᵀ A x`` on the unit sphere (and its k-th-eigenvalue and Ky Fan
generalizations) exactly with an eigen-solver, or as its tight SDP relaxation.

Public names: the problems (``SphereQP``, ``KyFan``), matrices (``SymTridiagonal``), the one
interface (``OptLayer`` → ``Solution``), the cross-check (``verify``), pencils and spectral
neurons (``DensePencil``, ``TridiagonalPencil``, ``BandedPencil``, ``make_pencil``,
``SpectralNeuron``, ``SpectralLayer``), certificates (``optneuron.certify``) and the
scikit-learn estimators (``SpectralRegressor``, ``SpectralClassifier``; imported on first use,
so ``import optneuron`` does not import scikit-learn).
"""

from . import certify
from .backends import available_backends, get_backend, register_backend
from .decisions import InputOptimum, OutputRange, optimize_inputs, output_range
from .export import DifferenceOfConcave, ExportError, to_cvxpy, to_difference_of_concave
from .layer import OptLayer
from .matrices import SymTridiagonal
from .nn import SpectralLayer, SpectralNeuron
from .pencils import BandedPencil, DensePencil, TridiagonalPencil, make_pencil
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
    "DensePencil",
    "TridiagonalPencil",
    "BandedPencil",
    "make_pencil",
    "SpectralNeuron",
    "SpectralLayer",
    "certify",
    "SpectralRegressor",
    "SpectralClassifier",
    "to_cvxpy",
    "to_difference_of_concave",
    "DifferenceOfConcave",
    "ExportError",
    "optimize_inputs",
    "InputOptimum",
    "output_range",
    "OutputRange",
]

__version__ = "0.1.0"

_LAZY = {"SpectralRegressor": "sklearn", "SpectralClassifier": "sklearn"}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
