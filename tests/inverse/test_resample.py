"""Target resampling to the film: exact box averages (area) and bilinear interpolation."""
import numpy as np
import pytest

from diffrender.inverse.resample import resample


def test_area_integer_factor_is_the_block_mean():
    rng = np.random.default_rng(5)
    img = rng.random((8, 12, 3))
    out = resample(img, (2, 3), "area")
    np.testing.assert_allclose(out, img.reshape(2, 4, 3, 4, 3).mean(axis=(1, 3)), rtol=1e-6)


@pytest.mark.parametrize("size", [(5, 7), (11, 13), (3, 3)])
def test_area_keeps_the_mean_and_constants(size):
    rng = np.random.default_rng(6)
    img = rng.random((9, 10, 3))
    out = resample(img, size, "area")
    np.testing.assert_allclose(out.mean(axis=(0, 1)), img.mean(axis=(0, 1)), rtol=1e-5)
    np.testing.assert_allclose(resample(np.full((9, 10, 1), 0.25), size, "area"), 0.25, rtol=1e-6)


def test_area_weighs_partially_covered_pixels_by_their_overlap():
    img = np.array([[0.0, 3.0, 6.0]])[:, :, None]
    out = resample(img, (1, 2), "area")  # film pixels cover [0, 1.5) and [1.5, 3)
    np.testing.assert_allclose(out[0, :, 0], [(0.0 + 0.5 * 3.0) / 1.5, (0.5 * 3.0 + 6.0) / 1.5])


def test_bilinear_interpolates_at_pixel_centres():
    img = np.array([[0.0, 1.0]])[:, :, None]
    out = resample(img, (1, 4), "bilinear")  # centres at source x = -0.25, 0.25, 0.75, 1.25
    np.testing.assert_allclose(out[0, :, 0], [0.0, 0.25, 0.75, 1.0])
    same = np.random.default_rng(7).random((4, 5, 2))
    np.testing.assert_allclose(resample(same, (4, 5), "bilinear"), same, rtol=1e-6)
