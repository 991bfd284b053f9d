import numpy as np
import pytest

from diffrender import ImageError, read_image, write_image
from diffrender.image import linear_to_srgb, srgb_to_linear


def test_srgb_curve_exact_values():
    # IEC 61966-2-1: linear segment below 0.0031308, 1.055 x^(1/2.4) - 0.055 above
    assert linear_to_srgb(0.0031308) == pytest.approx(0.04045, abs=1e-6)
    assert linear_to_srgb(0.5) == pytest.approx(0.7353569830524495, abs=1e-12)
    assert srgb_to_linear(0.5) == pytest.approx(0.21404114048223255, abs=1e-12)
    x = np.linspace(0, 1, 1001)
    np.testing.assert_allclose(srgb_to_linear(linear_to_srgb(x)), x, atol=1e-12)


def test_exr_roundtrip_is_exact(tmp_path):
    img = np.random.default_rng(0).random((7, 5, 3)).astype(np.float32) * 10
    write_image(tmp_path / "a.exr", img)
    np.testing.assert_array_equal(read_image(tmp_path / "a.exr"), img)


def test_png_is_srgb_encoded(tmp_path):
    img = np.full((2, 3, 3), 0.5, np.float32)
    write_image(tmp_path / "a.png", img)
    from PIL import Image

    raw = np.asarray(Image.open(tmp_path / "a.png"))
    assert raw.shape == (2, 3, 3)
    assert np.all(raw == round(0.7353569830524495 * 255))
    back = read_image(tmp_path / "a.png")
    np.testing.assert_allclose(back, srgb_to_linear(188 / 255), atol=1e-6)


def test_single_channel_exr(tmp_path):
    img = np.arange(12, dtype=np.float32).reshape(3, 4)
    write_image(tmp_path / "d.exr", img)
    back = read_image(tmp_path / "d.exr")
    assert back.shape == (3, 4, 1)
    np.testing.assert_array_equal(back[:, :, 0], img)


def test_missing_and_bad_extension(tmp_path):
    with pytest.raises(ImageError, match="no such image file"):
        read_image(tmp_path / "nope.png")
    with pytest.raises(ImageError, match="unsupported image extension '.xyz'"):
        write_image(tmp_path / "a.xyz", np.zeros((2, 2, 3)))
