"""optneuron.validation: one wording for argument errors, normalized return values."""

import math

import numpy as np
import pytest

from optneuron.validation import check_index, check_int, check_optional_real, check_real


def test_check_int_normalizes_and_bounds():
    assert check_int("n", np.int64(3), low=1) == 3
    assert type(check_int("n", np.int64(3))) is int
    with pytest.raises(TypeError, match="n must be an int"):
        check_int("n", True)
    with pytest.raises(TypeError, match="n must be an int"):
        check_int("n", 2.0)
    with pytest.raises(ValueError, match="n must be at least 1, got 0"):
        check_int("n", 0, low=1)
    with pytest.raises(ValueError, match="n must be at most 4, got 5"):
        check_int("n", 5, high=4)
    with pytest.raises(ValueError, match="n must be in 1 .. 4, got 5"):
        check_int("n", 5, low=1, high=4)


def test_check_real_intervals():
    assert check_real("alpha", 1) == 1.0 and type(check_real("alpha", 1)) is float
    assert check_real("alpha", 0.0, low=0) == 0.0
    with pytest.raises(ValueError, match=r"alpha must be finite and in \(0"):
        check_real("alpha", 0.0, low=0, low_open=True)
    with pytest.raises(ValueError, match=r"in \[0, 1\)"):
        check_real("alpha", 1.0, low=0, high=1, high_open=True)
    for bad in (math.nan, math.inf, -math.inf):
        with pytest.raises(ValueError, match="alpha must be finite"):
            check_real("alpha", bad)
    with pytest.raises(TypeError, match="alpha must be a real number"):
        check_real("alpha", "1")
    with pytest.raises(TypeError, match="alpha must be a real number"):
        check_real("alpha", False)
    assert check_optional_real("alpha", None) is None
    assert check_optional_real("alpha", 2, low=0, low_open=True) == 2.0


def test_check_index_keeps_sign_and_names_range():
    assert check_index("index", -1, 4) == -1
    assert check_index("index", 3, 4) == 3
    with pytest.raises(ValueError, match=r"index 4 is out of range for matrices of size 4 "
                                         r"\(valid: -4 .. 3\)"):
        check_index("index", 4, 4)
    with pytest.raises(ValueError, match="for features of size 2"):
        check_index("feature", -3, 2, what="features")
    with pytest.raises(TypeError, match="index must be an int"):
        check_index("index", 1.5, 4)
