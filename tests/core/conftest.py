import pytest

from diffrender.engine import init


@pytest.fixture(autouse=True, scope="session")
def _cpu_engine():
    init("cpu")
    yield
