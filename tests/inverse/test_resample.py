"""Target resampling to the film: exact box averages (area) and bilinear interpolation."""
import numpy as np
import pytest

from diffrender.datasets.camera import CameraModel
from diffrender.inverse.resample import resample, undistort
from diffrender.inverse.run import pinhole_of


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


def test_undistort_maps_the_photo_to_the_pinhole_camera():
    """A photo of a smooth pattern g(x, y) of the normalized (undistorted) camera coordinates,
    taken through distortion and an off-centre principal point, becomes g at the ideal pinhole
    camera's pixel coordinates (bilinear interpolation error only)."""
    cam = CameraModel(160, 120, 150.0, 152.0, 83.0, 57.5, distortion={"k1": -0.1, "k2": 0.02, "p1": 0.002})
    pin = pinhole_of(cam)
    assert (pin.cx, pin.cy, pin.fy, pin.has_distortion) == (80.0, 60.0, 150.0, False)

    def g(xy):
        return np.stack([np.sin(3 * xy[..., 0]) + 1.5, np.cos(2 * xy[..., 1]) + 1.5, xy[..., 0] * xy[..., 1] + 1], -1)

    ys, xs = np.mgrid[0:120, 0:160] + 0.5
    photo = g(cam.undistort(np.stack([(xs - cam.cx) / cam.fx, (ys - cam.cy) / cam.fy], -1)))
    out = undistort(photo, cam, pin)
    want = g(np.stack([(xs - pin.cx) / pin.fx, (ys - pin.cy) / pin.fy], -1))
    inner = (slice(8, -8), slice(8, -8))   # the border maps partly outside the photo
    np.testing.assert_allclose(out[inner], want[inner], atol=2e-3)
    assert np.abs(photo[inner] - want[inner]).max() > 0.05   # the distortion mattered
