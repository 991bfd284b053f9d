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


# --- readers per format, against known pixel values and Mitsuba 3's Bitmap reader ---------------

def _known_rgb(h=3, w=4):
    img = np.zeros((h, w, 3), np.float32)
    img[..., 0] = np.arange(h * w).reshape(h, w) * 0.5 + 0.25
    img[..., 1] = np.arange(h)[:, None] * 10.0 + 1.0
    img[..., 2] = 3.0
    img[0, 0] = [1000.0, 0.001, 2.5]  # far above 255: an 8-bit read cannot produce it
    return img


def test_radiance_hdr_is_linear_float_as_mitsuba_reads_it(tmp_path):
    mi = pytest.importorskip("mitsuba")
    mi.set_variant("scalar_rgb")
    img = _known_rgb()
    mi.Bitmap(img).write(str(tmp_path / "m.hdr"))
    ours = read_image(tmp_path / "m.hdr")
    assert ours.dtype == np.float32 and ours.shape == (3, 4, 3)
    np.testing.assert_array_equal(ours, np.asarray(mi.Bitmap(str(tmp_path / "m.hdr"))))
    # RGBE keeps 8 mantissa bits of the largest channel: within 1% of the brightest channel
    np.testing.assert_allclose(ours, img, rtol=0, atol=0.01 * 1000.0)
    np.testing.assert_allclose(ours[1:], img[1:], rtol=0.01)
    assert ours[0, 0, 0] == pytest.approx(1000.0, rel=0.01)
    (tmp_path / "m.pic").write_bytes((tmp_path / "m.hdr").read_bytes())
    np.testing.assert_array_equal(read_image(tmp_path / "m.pic"), ours)


def test_radiance_hdr_roundtrip(tmp_path):
    img = _known_rgb()
    write_image(tmp_path / "a.hdr", img)
    back = read_image(tmp_path / "a.hdr")
    np.testing.assert_allclose(back[1:], img[1:], rtol=0.01)
    assert back[0, 0, 0] == pytest.approx(1000.0, rel=0.01)


def test_pfm_colour_little_endian_as_mitsuba_writes_it(tmp_path):
    mi = pytest.importorskip("mitsuba")
    mi.set_variant("scalar_rgb")
    img = _known_rgb()
    mi.Bitmap(img).write(str(tmp_path / "m.pfm"))
    np.testing.assert_array_equal(read_image(tmp_path / "m.pfm"), img)
    write_image(tmp_path / "ours.pfm", img)  # and Mitsuba reads ours back
    np.testing.assert_array_equal(np.asarray(mi.Bitmap(str(tmp_path / "ours.pfm"))), img)


def test_pfm_greyscale_big_endian_bottom_up_scaled(tmp_path):
    a = np.arange(12, dtype=np.float32).reshape(3, 4)
    # big-endian (positive scale), rows bottom to top; |scale| 2 multiplies (Mitsuba's reading)
    (tmp_path / "g.pfm").write_bytes(b"Pf\n4 3\n2.0\n" + a[::-1].astype(">f4").tobytes())
    back = read_image(tmp_path / "g.pfm")
    assert back.shape == (3, 4, 1)
    np.testing.assert_array_equal(back[:, :, 0], 2.0 * a)
    mi = pytest.importorskip("mitsuba")
    mi.set_variant("scalar_rgb")
    np.testing.assert_array_equal(np.asarray(mi.Bitmap(str(tmp_path / "g.pfm"))).reshape(3, 4),
                                  back[:, :, 0])


def test_pfm_bad_header_is_one_line(tmp_path):
    (tmp_path / "bad.pfm").write_bytes(b"P6\n4 3\n255\n" + bytes(36))
    with pytest.raises(ImageError, match=r"bad\.pfm: not a PFM file .*expected 'PF'"):
        read_image(tmp_path / "bad.pfm")
    (tmp_path / "short.pfm").write_bytes(b"PF\n4 3\n-1\n" + bytes(10))
    with pytest.raises(ImageError, match=r"short\.pfm: PFM data is truncated \(10 bytes, "
                                         r"expected 144\)"):
        read_image(tmp_path / "short.pfm")


@pytest.mark.parametrize("channels", [1, 3, 4])
def test_png_16bit_keeps_16_bits(tmp_path, channels):
    cv2 = pytest.importorskip("cv2")
    rgba = (np.arange(2 * 3 * 4).reshape(2, 3, 4) * 2731 + 1).astype(np.uint16)
    u16 = rgba[:, :, :channels]
    bgr = u16[:, :, [2, 1, 0, 3][:channels]] if channels > 1 else u16[:, :, 0]
    assert cv2.imwrite(str(tmp_path / "a.png"), bgr)
    back = read_image(tmp_path / "a.png")
    assert back.shape == (2, 3, channels)
    want = u16.astype(np.float64) / 65535.0
    ncol = min(channels, 3)
    want[:, :, :ncol] = srgb_to_linear(want[:, :, :ncol])  # colour decoded, alpha linear
    np.testing.assert_allclose(back, want, rtol=1e-6, atol=1e-7)
    # neighbouring 16-bit codes stay distinct (an 8-bit read merges them)
    assert cv2.imwrite(str(tmp_path / "b.png"), np.array([[[1000] * 3, [1001] * 3]], np.uint16))
    b = read_image(tmp_path / "b.png", linear=True)
    assert b[0, 1, 0] - b[0, 0, 0] == pytest.approx(1 / 65535.0, rel=1e-4)


def _write_exr_channels(path, chans):
    import OpenEXR

    header = {"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage}
    with OpenEXR.File(header, chans) as f:
        f.write(str(path))


@pytest.mark.parametrize("names,want", [
    (("R", "G", "B"), 3), (("R", "G", "B", "A"), 4), (("r", "g", "b"), 3),
    (("diffuse.R", "diffuse.G", "diffuse.B"), 3), (("diffuse.R", "diffuse.G", "diffuse.B",
                                                    "diffuse.A"), 4),
    (("Y",), 1), (("Y", "A"), 2), (("layer.Y",), 1)])
def test_exr_any_channel_naming(tmp_path, names, want):
    planes = [np.full((2, 3), 0.125 + i, np.float32) for i in range(len(names))]
    chans = {n: p for n, p in zip(names, planes)}
    chans["depth.Z"] = np.full((2, 3), 99.0, np.float32)  # an unrelated layer is ignored
    _write_exr_channels(tmp_path / "c.exr", chans)
    back = read_image(tmp_path / "c.exr")
    assert back.shape == (2, 3, want)
    np.testing.assert_array_equal(back, np.stack(planes, -1))


def test_exr_mixed_half_and_float_channels(tmp_path):
    r = np.full((2, 2), 0.5, np.float16)
    _write_exr_channels(tmp_path / "m.exr", {"R": r, "G": np.full((2, 2), 0.25, np.float32),
                                             "B": np.full((2, 2), 4.0, np.float32)})
    np.testing.assert_array_equal(read_image(tmp_path / "m.exr")[0, 0], [0.5, 0.25, 4.0])


def test_exr_unprefixed_wins_and_ambiguous_layers_error(tmp_path):
    one = np.ones((2, 2), np.float32)
    _write_exr_channels(tmp_path / "u.exr", {"R": one, "G": one, "B": one, "diffuse.R": 0 * one,
                                             "diffuse.G": 0 * one, "diffuse.B": 0 * one})
    np.testing.assert_array_equal(read_image(tmp_path / "u.exr"), np.ones((2, 2, 3)))
    _write_exr_channels(tmp_path / "two.exr", {f"{lay}.{c}": one for lay in ("albedo", "diffuse")
                                               for c in "RGB"})
    with pytest.raises(ImageError, match=r"two\.exr: EXR has several layers \(albedo, diffuse\)"):
        read_image(tmp_path / "two.exr")
    _write_exr_channels(tmp_path / "z.exr", {"Z": one, "N.X": one})
    with pytest.raises(ImageError, match=r"z\.exr: EXR channels N\.X, Z have no R, G, B or Y"):
        read_image(tmp_path / "z.exr")
