"""optneuron: differentiable optimization layers whose neurons solve eigenvalue problems.

Each neuron solves ``min xᵀ A x`` on the unit sphere (and its k-th-eigenvalue and Ky Fan
generalizations) exactly with an eigen-solver, or as its tight SDP relaxation.

Public names: the problems (``SphereQP``, ``KyFan``, ``EigenvalueMixture``, ...), matrices
(``SymTridiagonal``), the one interface (``OptLayer`` → ``Solution``), the cross-check
(``verify``), pencils and spectral neurons (``DensePencil``, ``TridiagonalPencil``,
``BandedPencil``, ``make_pencil``, ``SpectralNeuron``, ``SpectralLayer``, ``SpectralMixture``,
``SpectralObservables``), certificates (``optneuron.certify``), gap diagnostics
(``optneuron.diagnostics``), the SDP backend's
failure (``SDPSolverError``) and the scikit-learn estimators (``SpectralRegressor``,
``SpectralClassifier``; imported on first use, so ``import optneuron`` does not import
scikit-learn; nor does it import cvxpy, which the SDP backend loads inside its functions).
The layers and their import order are described in docs/design.md.
"""

from importlib.metadata import PackageNotFoundError, version

from . import certify, diagnostics
from .backends import available_backends, get_backend, register_backend
from .backends.sdp import SDPSolverError
from .categorical import CategoricalMatrices, CategoricalSpectral
from .decisions import InputOptimum, OutputRange, optimize_inputs, output_range
from .export import DifferenceOfConcave, ExportError, to_cvxpy, to_difference_of_concave
from .layer import OptLayer
from .matrices import SymTridiagonal
from .nn import (
    SpectralLayer,
    SpectralMixture,
    SpectralMixtureLayer,
    SpectralNeuron,
    SpectralObservables,
)
from .nn_trust_region import TrustRegionLayer, TrustRegionNeuron
from .pencils import (
    BandedPencil,
    DensePencil,
    Pencil,
    TridiagonalPencil,
    make_pencil,
    pencil_structures,
)
from .problems import (
    EigenvalueMixture,
    GeneralizedSphereQP,
    KyFan,
    Problem,
    SphereQP,
    TrustRegion,
)
from .solution import Solution
from .verify import VerificationReport, verify

__all__ = [
    "OptLayer",
    "Solution",
    "SphereQP",
    "KyFan",
    "TrustRegion",
    "GeneralizedSphereQP",
    "EigenvalueMixture",
    "Problem",
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
    "Pencil",
    "pencil_structures",
    "SpectralNeuron",
    "SpectralLayer",
    "SpectralMixture",
    "SpectralMixtureLayer",
    "TrustRegionNeuron",
    "TrustRegionLayer",
    "certify",
    "diagnostics",
    "SDPSolverError",
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
    "CategoricalMatrices",
    "CategoricalSpectral",
    "SpectralObservables",
]

try:  # the one version source is pyproject.toml, read from the installed metadata
    __version__ = version("optneuron")
except PackageNotFoundError:  # pragma: no cover - a source tree that was never installed
    __version__ = "0+unknown"

# loaded on first use: scikit-learn for the estimators, numba for the kernels' thread settings
_LAZY = {
    "SpectralRegressor": "sklearn",
    "SpectralClassifier": "sklearn",
    "set_num_threads": "kernels",
    "get_num_threads": "kernels",
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
