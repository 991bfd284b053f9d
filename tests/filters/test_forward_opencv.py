"""Forward outputs against OpenCV (float32, within 1e-5) and numpy formulas."""
import cv2
import numpy as np
import pytest

from diffrender.engine import ti
from diffrender.filters import (Bilateral, BoxBlur, ColorMatrix, Demosaic, Denoise, Exposure, Gamma,
                                GaussianBlur, Saturation, ToneCurve, UnsharpMask, Vignette,
                                WhiteBalance)
from diffrender.filters.base import pad

CV = {"reflect101": cv2.BORDER_REFLECT_101, "reflect": cv2.BORDER_REFLECT,
      "replicate": cv2.BORDER_REPLICATE, "constant": cv2.BORDER_CONSTANT, "wrap": cv2.BORDER_WRAP}
TOL = 1e-5


@pytest.fixture(scope="module")
def img():
    return np.random.default_rng(7).random((29, 37, 3)).astype(np.float32)


@pytest.mark.parametrize("mode", list(CV))
@pytest.mark.parametrize("r0,r1", [(3, 5), (0, 7), (11, 2)])
def test_pad_matches_copyMakeBorder(img, mode, r0, r1):
    X = ti.Vector.field(3, ti.f32, shape=img.shape[:2])
    X.from_numpy(img)
    B = ti.Vector.field(3, ti.f32, shape=(img.shape[0] + 2 * r0, img.shape[1] + 2 * r1))
    pad(X, B, r0, r1, mode, 0.0)
    ref = cv2.copyMakeBorder(img, r0, r0, r1, r1, CV[mode], value=(0, 0, 0, 0))
    np.testing.assert_array_equal(B.to_numpy(), ref)


def _wrap_ref(fn, img, r):
    """OpenCV filters refuse BORDER_WRAP: pad with copyMakeBorder(WRAP), filter, crop."""
    big = cv2.copyMakeBorder(img, r, r, r, r, cv2.BORDER_WRAP)
    return fn(big)[r:-r, r:-r]


@pytest.mark.parametrize("mode,sigma", [(m, 1.7) for m in CV] + [("reflect101", 0.6), ("reflect101", 4.0)])
def test_gaussian_blur(img, mode, sigma):
    out = GaussianBlur(sigma=sigma, border=mode)(img)
    if mode == "wrap":
        ref = _wrap_ref(lambda b: cv2.GaussianBlur(b, (0, 0), sigma), img, 20)
    else:
        ref = cv2.GaussianBlur(img, (0, 0), sigma, borderType=CV[mode])
    assert np.abs(out - ref).max() < TOL


def test_gaussian_anisotropic_and_ksize(img):
    out = GaussianBlur(sigma_x=0.8, sigma_y=2.3)(img)
    ref = cv2.GaussianBlur(img, (0, 0), 0.8, sigmaY=2.3)
    assert np.abs(out - ref).max() < TOL
    out = GaussianBlur(sigma=2.0, ksize=5)(img)
    ref = cv2.GaussianBlur(img, (5, 5), 2.0)
    assert np.abs(out - ref).max() < TOL


@pytest.mark.parametrize("mode,ks", [(m, (5, 3)) for m in CV] + [("reflect101", (3, 3)),
                                                                  ("reflect101", (1, 7))])
def test_box_blur(img, mode, ks):
    out = BoxBlur(ksize=list(ks), border=mode)(img)
    if mode == "wrap":
        ref = _wrap_ref(lambda b: cv2.blur(b, ks), img, 8)
    else:
        ref = cv2.blur(img, ks, borderType=CV[mode])
    assert np.abs(out - ref).max() < TOL


@pytest.mark.parametrize("mode,d,ss,sr", [(m, 9, 3.0, 0.1) for m in ("reflect101", "reflect", "replicate",
                                                                    "constant")]
                         + [("reflect101", 5, 2.0, 0.3), ("reflect101", 0, 1.6, 0.2)])
def test_bilateral(img, mode, d, ss, sr):
    out = Bilateral(d=d, sigma_space=ss, sigma_range=sr, border=mode)(img)
    ref = cv2.bilateralFilter(img, d, sr, ss, borderType=CV[mode])
    assert np.abs(out - ref).max() < TOL


def test_bilateral_wrap(img):
    out = Bilateral(d=5, sigma_space=2.0, sigma_range=0.2, border="wrap")(img)
    ref = _wrap_ref(lambda b: cv2.bilateralFilter(b, 5, 0.2, 2.0), img, 4)
    assert np.abs(out - ref).max() < TOL


def test_unsharp_mask(img):
    out = UnsharpMask(sigma=1.3, amount=0.7)(img)
    b = cv2.GaussianBlur(img, (0, 0), 1.3)
    assert np.abs(out - (img + 0.7 * (img - b))).max() < TOL


def test_denoise_is_blend_with_bilateral(img):
    out = Denoise(strength=0.4, d=5, sigma_space=1.5, sigma_range=0.2)(img)
    b = cv2.bilateralFilter(img, 5, 0.2, 1.5)
    assert np.abs(out - (img + 0.4 * (b - img))).max() < TOL


@pytest.mark.parametrize("pattern,code", [("RGGB", "COLOR_BayerBG2RGB"), ("BGGR", "COLOR_BayerRG2RGB"),
                                          ("GRBG", "COLOR_BayerGB2RGB"), ("GBRG", "COLOR_BayerGR2RGB")])
def test_demosaic_bilinear(pattern, code):
    # OpenCV demosaicks 8/16-bit only: 16-bit mosaic, compare in [0, 1] (rounding <= 0.5/65535)
    m16 = np.random.default_rng(3).integers(0, 65536, size=(30, 42)).astype(np.uint16)
    out = Demosaic(pattern=pattern)((m16 / 65535.0).astype(np.float32)[:, :, None])
    ref = cv2.cvtColor(m16, getattr(cv2, code)).astype(np.float64) / 65535.0
    # OpenCV fills the 1-pixel frame by copying its neighbours; compare the interior
    assert np.abs(out - ref)[1:-1, 1:-1].max() < 1e-5


def test_pointwise_formulas(img):
    x = img.astype(np.float64)
    assert np.abs(Exposure(ev=0.7)(img) - x * 2 ** 0.7).max() < TOL
    assert np.abs(Gamma(gamma=0.8)(img) - x ** 0.8).max() < TOL
    assert np.abs(WhiteBalance(gains=[1.2, 0.9, 0.7])(img) - x * [1.2, 0.9, 0.7]).max() < TOL
    M = np.array([[1.1, 0.2, -0.1], [0.0, 0.9, 0.1], [0.05, -0.02, 1.3]])
    o = np.array([0.01, -0.02, 0.03])
    out = ColorMatrix(matrix=M.tolist(), offset=o.tolist())(img)
    assert np.abs(out - (x @ M.T + o)).max() < TOL
    lum = x @ np.array([0.2126, 0.7152, 0.0722])
    assert np.abs(Saturation(saturation=1.4)(img) - (lum[..., None] + 1.4 * (x - lum[..., None]))).max() < TOL
    knots = [0.0, 0.35, 0.6, 0.8, 1.0]
    assert np.abs(ToneCurve(knots=knots)(img) - np.interp(x, np.linspace(0, 1, 5), knots)).max() < TOL
    h, w = img.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w]
    cy, cx = (h - 1) / 2, (w - 1) / 2
    r2 = ((yy - cy) ** 2 + (xx - cx) ** 2) / (cy ** 2 + cx ** 2)
    v = 1 - 0.3 * r2 + 0.1 * r2 ** 2 - 0.05 * r2 ** 3
    assert np.abs(Vignette(k1=-0.3, k2=0.1, k3=-0.05)(img) - x * v[..., None]).max() < TOL
