import numpy as np
import pytest


@pytest.fixture(scope="session", autouse=True)
def engine():
    from diffrender.engine import init

    init("cpu")


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


def pytest_collection_modifyitems(config, items):
    # taps are unrolled on purpose; Taichi warns about large static expansions
    for item in items:
        if "tests/filters" in str(item.fspath).replace("\\", "/"):
            item.add_marker(pytest.mark.filterwarnings("ignore::SyntaxWarning"))
