"""The package's public names: every name in ``__all__`` resolves; scikit-learn loads lazily."""

import subprocess
import sys

import pytest

import optneuron


def test_every_public_name_resolves():
    assert len(set(optneuron.__all__)) == len(optneuron.__all__)
    for name in optneuron.__all__:
        assert getattr(optneuron, name) is not None, name


def test_estimators_are_the_sklearn_module_classes():
    from optneuron import sklearn as estimators

    assert optneuron.SpectralRegressor is estimators.SpectralRegressor
    assert optneuron.SpectralClassifier is estimators.SpectralClassifier


def test_import_does_not_load_sklearn():
    code = "import sys, optneuron; print('sklearn' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_unknown_attribute_is_named():
    with pytest.raises(AttributeError, match="no_such_thing"):
        optneuron.no_such_thing  # noqa: B018


def test_sdp_solver_error_is_exported_without_loading_cvxpy():
    code = (
        "import sys, optneuron; from optneuron.backends.sdp import SDPSolverError as E; "
        "print(optneuron.SDPSolverError is E, 'cvxpy' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["True", "False"]
    assert issubclass(optneuron.SDPSolverError, RuntimeError)


def test_version_comes_from_the_package_metadata():
    from importlib.metadata import version

    assert optneuron.__version__ == version("optneuron")
    # pyproject.toml is the one place that states it
    import pathlib

    tomllib = pytest.importorskip("tomllib")  # Python >= 3.11
    pyproject = pathlib.Path(optneuron.__file__).parents[1] / "pyproject.toml"
    if pyproject.is_file():
        assert tomllib.loads(pyproject.read_text())["project"]["version"] == optneuron.__version__
