import numpy as np
import pytest

from diffrender.errors import ConfigError
from diffrender.optim import LOSSES, get_loss
from tests.helpers.fd import assert_grad_close, central_difference


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_loss_adjoint_matches_finite_differences(name):
    rng = np.random.default_rng(1)
    x = rng.uniform(0.01, 1.5, size=(3, 4, 3))
    y = rng.uniform(0.0, 1.5, size=(3, 4, 3))
    if name == "l1":
        y = x + np.where(rng.random(x.shape) < 0.5, -0.1, 0.1)  # keep away from the kink
    loss = get_loss(name)
    _, adj = loss(x, y)
    fd = central_difference(lambda v: loss(v, y)[0], x, eps=1e-7)
    assert_grad_close(adj, fd, rtol=1e-4, atol=1e-7, what=name)


def test_loss_values():
    x = np.full((2, 2, 3), 0.5)
    y = np.full((2, 2, 3), 0.25)
    assert get_loss("l1")(x, y)[0] == pytest.approx(0.25)
    assert get_loss("l2")(x, y)[0] == pytest.approx(0.0625)
    assert get_loss("relative_l2")(x, y)[0] == pytest.approx(0.0625 / (0.0625 + 0.01))


def test_unknown_loss_and_shape_mismatch():
    with pytest.raises(ConfigError, match="unknown loss 'l3': expected one of l1, l2, relative_l2, l2_srgb"):
        get_loss("l3")
    with pytest.raises(ConfigError, match=r"loss: image shape \(2, 2, 3\) does not match target shape \(2, 3, 3\)"):
        get_loss("l2")(np.zeros((2, 2, 3)), np.zeros((2, 3, 3)))
