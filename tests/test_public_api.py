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
