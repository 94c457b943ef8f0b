import pytest

from optneuron.kernels import warm_up


@pytest.fixture(scope="session", autouse=True)
def _kernels_compiled():
    """Pay numba's compile (or cache load) once per session."""
    warm_up()
