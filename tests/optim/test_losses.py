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
    with pytest.raises(ConfigError, match="unknown loss 'l3': expected one of l1, l2, relative_l2, l2_srgb, charbonnier"):
        get_loss("l3")
    with pytest.raises(ConfigError, match=r"loss: image shape \(2, 2, 3\) does not match target shape \(2, 3, 3\)"):
        get_loss("l2")(np.zeros((2, 2, 3)), np.zeros((2, 3, 3)))


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_weighted_loss_adjoint_matches_finite_differences(name):
    rng = np.random.default_rng(2)
    x = rng.uniform(0.01, 1.5, size=(3, 4, 3))
    y = x + np.where(rng.random(x.shape) < 0.5, -0.1, 0.1)
    w = rng.uniform(0.0, 2.0, size=(3, 4))
    loss = get_loss(name)
    _, adj = loss(x, y, weights=w)
    fd = central_difference(lambda v: loss(v, y, weights=w)[0], x, eps=1e-7)
    assert_grad_close(adj, fd, rtol=1e-4, atol=1e-7, what=f"weighted {name}")


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_a_mask_ignores_the_outside_and_keeps_the_scale(name):
    rng = np.random.default_rng(3)
    x = rng.uniform(0.01, 1.5, size=(4, 5, 3))
    y = rng.uniform(0.0, 1.5, size=(4, 5, 3))
    mask = np.zeros((4, 5))
    mask[1:3, 1:4] = 1.0
    loss = get_loss(name)
    value, adj = loss(x, y, weights=mask)
    assert np.all(adj[mask == 0] == 0) and np.any(adj[mask == 1] != 0)
    # the masked loss is the plain loss of the pixels inside
    inside, _ = loss(x[1:3, 1:4], y[1:3, 1:4])
    assert value == pytest.approx(inside, rel=1e-12)
    # clutter outside the mask changes nothing
    y2 = y.copy()
    y2[mask == 0] = 100.0
    assert loss(x, y2, weights=mask)[0] == value
    np.testing.assert_array_equal(loss(x, y2, weights=mask)[1], adj)
    # all-ones weights are the unweighted loss
    assert loss(x, y, weights=np.ones((4, 5)))[0] == pytest.approx(loss(x, y)[0], rel=1e-12)


def test_charbonnier_is_l1_like_far_away_and_l2_like_near_zero():
    x = np.zeros((1, 1, 3))
    far = get_loss("charbonnier")(x, np.full((1, 1, 3), 1.0))[0]
    assert far == pytest.approx(1.0 - 1e-3, rel=1e-6)
    near = get_loss("charbonnier")(x, np.full((1, 1, 3), 1e-5))[0]
    assert near == pytest.approx(0.5 * 1e-10 / 1e-3, rel=1e-4)


def test_bad_weights():
    x = np.zeros((2, 2, 3))
    with pytest.raises(ConfigError, match=r"loss: weights of shape \(3, 2, 1\) do not match the image \(2, 2, 3\)"):
        get_loss("l2")(x, x, weights=np.ones((3, 2)))
    with pytest.raises(ConfigError, match="loss: weights must be finite and >= 0"):
        get_loss("l2")(x, x, weights=np.full((2, 2), -1.0))
