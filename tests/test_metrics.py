import numpy as np
import pytest

from diffrender import metrics


def test_metrics_closed_form():
    ref = np.full((16, 16, 3), 0.5, np.float32)
    a = ref + 0.1
    assert metrics.rmse(a, ref) == pytest.approx(0.1, rel=1e-6)
    assert metrics.psnr(a, ref) == pytest.approx(20.0, rel=1e-5)
    assert metrics.relative_mse(a, ref) == pytest.approx(0.01 / (0.25 + 0.01), rel=1e-5)
    assert metrics.ssim(ref, ref) == pytest.approx(1.0)
    assert metrics.ssim(a, ref) < 1.0


def test_error_image_shape_and_size_mismatch():
    ref = np.zeros((8, 9, 3))
    e = metrics.error_image(ref + 0.5, ref)
    assert e.shape == (8, 9, 3) and e.dtype == np.float32
    with pytest.raises(Exception, match="differ in size"):
        metrics.rmse(np.zeros((8, 8, 3)), ref)
