import math

import numpy as np
import pytest
import torch

from optneuron import SymTridiagonal
from optneuron.matrices import as_symmetric, require_finite


def test_symtridiagonal_to_dense_and_shape():
    d = torch.arange(6.0, dtype=torch.float64).reshape(2, 3)
    e = torch.tensor([[1.0, 2.0], [3.0, 4.0]], dtype=torch.float64)
    T = SymTridiagonal(d, e)
    dense = T.to_dense()
    assert T.shape == (2, 3, 3) and dense.shape == (2, 3, 3)
    expected = np.diag([3.0, 4.0, 5.0]) + np.diag([3.0, 4.0], 1) + np.diag([3.0, 4.0], -1)
    np.testing.assert_array_equal(dense[1].numpy(), expected)
    assert T.reshape(2, 1).shape == (2, 1, 3, 3)
    assert "SymTridiagonal" in repr(T)


def test_symtridiagonal_size_one_has_empty_off_diagonal():
    T = SymTridiagonal(torch.ones(4, 1), torch.ones(4, 0))
    assert T.to_dense().shape == (4, 1, 1)


@pytest.mark.parametrize(
    "diag, off, error, match",
    [
        (torch.ones(3), torch.ones(3), ValueError, "off must have shape"),
        (torch.ones(2, 3), torch.ones(3, 2), ValueError, "off must have shape"),
        (torch.ones(0), torch.ones(0), ValueError, "empty"),
        (torch.ones(3, dtype=torch.int64), torch.ones(2), TypeError, "diag must be float32"),
        (torch.ones(3), torch.ones(2, dtype=torch.float64), TypeError, "share dtype"),
        ([1.0, 2.0], torch.ones(1), TypeError, "diag must be a torch.Tensor"),
    ],
)
def test_symtridiagonal_rejects_bad_arguments(diag, off, error, match):
    with pytest.raises(error, match=match):
        SymTridiagonal(diag, off)


def test_as_symmetric_symmetrizes_and_accepts_numpy():
    A = np.array([[1.0, 2.0], [0.0, 3.0]])
    S = as_symmetric(A)
    np.testing.assert_array_equal(S.numpy(), [[1.0, 1.0], [1.0, 3.0]])
    assert S.dtype == torch.float64


@pytest.mark.parametrize(
    "A, error, match",
    [
        (torch.ones(3), ValueError, "shape"),
        (torch.ones(2, 3), ValueError, "square"),
        (torch.ones(2, 0, 0), ValueError, "empty"),
        (torch.tensor([[1.0, float("nan")], [0.0, 1.0]]), ValueError, "non-finite"),
        (torch.tensor([[1.0, float("inf")], [0.0, 1.0]]), ValueError, "non-finite"),
        (torch.ones(2, 2, dtype=torch.int32), TypeError, "float32 or float64"),
        ("matrix", TypeError, "torch.Tensor"),
    ],
)
def test_as_symmetric_rejects_bad_input(A, error, match):
    with pytest.raises(error, match=match):
        as_symmetric(A)


def test_as_symmetric_rejects_non_finite_tridiagonal():
    T = SymTridiagonal(torch.tensor([1.0, float("nan")]), torch.tensor([0.5]))
    with pytest.raises(ValueError, match="A.diag has non-finite"):
        as_symmetric(T)


def test_as_symmetric_can_leave_the_finiteness_check_to_the_caller():
    A = torch.tensor([[1.0, math.nan], [math.nan, 1.0]])
    assert as_symmetric(A, check_finite=False).isnan().sum() == 2
    with pytest.raises(ValueError, match="A has non-finite"):
        as_symmetric(A)
    T = SymTridiagonal(torch.zeros(3), torch.tensor([0.0, math.inf]))
    assert as_symmetric(T, check_finite=False) is T
    with pytest.raises(ValueError, match="A.off has non-finite"):
        require_finite(T)
