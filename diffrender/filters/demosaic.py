"""Bayer demosaicking: bilinear (OpenCV's ``COLOR_Bayer*2RGB``) and learnable 5x5 kernels."""
import numpy as np

from ..engine import ti
from ..errors import ConfigError
from .base import Filter, Param, fold, pad, register

PATTERNS = ("RGGB", "BGGR", "GRBG", "GBRG")
_CH = {"R": 0, "G": 1, "B": 2}


def bilinear_kernels(pattern: str, k: int = 3) -> np.ndarray:
    """(4 phases, 3 channels, k*k) bilinear interpolation weights; phase = 2*(y%2) + x%2."""
    cols = [_CH[ch] for ch in pattern]  # colour at (0,0), (0,1), (1,0), (1,1)
    r = k // 2
    out = np.zeros((4, 3, k, k))
    for ph in range(4):
        py, px = divmod(ph, 2)
        for c in range(3):
            # average of the same-colour sites in the 3x3 neighbourhood at minimal distance
            best, taps = None, []
            for dy in (-1, 0, 1):
                for dx in (-1, 0, 1):
                    if cols[2 * ((py + dy) % 2) + (px + dx) % 2] != c:
                        continue
                    d = dy * dy + dx * dx
                    if best is None or d < best:
                        best, taps = d, [(dy, dx)]
                    elif d == best:
                        taps.append((dy, dx))
            for dy, dx in taps:
                out[ph, c, r + dy, r + dx] = 1.0 / len(taps)
    return out.reshape(4, 3, k * k)


@ti.kernel
def _dm_fwd(P: ti.template(), Y: ti.template(), w: ti.template(), R: ti.template(), oy: ti.i32,
            ox: ti.i32):
    for i, j in Y:
        ph = 2 * ((i + oy) % 2) + (j + ox) % 2
        out = ti.Vector.zero(Y.dtype, 3)
        for c in ti.static(range(3)):
            acc = P[i + R, j + R][0] * w[(ph * 3 + c) * (2 * R + 1) * (2 * R + 1) + ti.static(R * (2 * R + 1) + R)]
            for t in ti.static(range((2 * R + 1) * (2 * R + 1))):
                if ti.static(t != R * (2 * R + 1) + R):
                    dy = ti.static(t // (2 * R + 1))
                    dx = ti.static(t % (2 * R + 1))
                    acc += P[i + dy, j + dx][0] * w[(ph * 3 + c) * (2 * R + 1) * (2 * R + 1) + t]
            out[c] = acc
        Y[i, j] = out


@ti.kernel
def _dm_bwd_img(GY: ti.template(), GP: ti.template(), w: ti.template(), R: ti.template(),
                oy: ti.i32, ox: ti.i32):
    for u0, u1 in GP:
        H = GY.shape[0]
        W = GY.shape[1]
        g = GY[0, 0][0] * 0
        for t in ti.static(range((2 * R + 1) * (2 * R + 1))):
            dy = ti.static(t // (2 * R + 1))
            dx = ti.static(t % (2 * R + 1))
            i = u0 - dy
            j = u1 - dx
            if i >= 0 and i < H and j >= 0 and j < W:
                ph = 2 * ((i + oy) % 2) + (j + ox) % 2
                gy = GY[i, j]
                for c in ti.static(range(3)):
                    g += gy[c] * w[(ph * 3 + c) * (2 * R + 1) * (2 * R + 1) + t]
        GP[u0, u1][0] = g


@ti.kernel
def _dm_bwd_w(P: ti.template(), GY: ti.template(), part: ti.template(), R: ti.template(),
              oy: ti.i32, ox: ti.i32):
    for i in range(GY.shape[0]):
        for m in range(part.shape[1]):
            part[i, m] = 0
        for j in range(GY.shape[1]):
            ph = 2 * ((i + oy) % 2) + (j + ox) % 2
            gy = GY[i, j]
            for t in ti.static(range((2 * R + 1) * (2 * R + 1))):
                dy = ti.static(t // (2 * R + 1))
                dx = ti.static(t % (2 * R + 1))
                v = P[i + dy, j + dx][0]
                for c in ti.static(range(3)):
                    part[i, (ph * 3 + c) * (2 * R + 1) * (2 * R + 1) + t] += gy[c] * v


@register
class Demosaic(Filter):
    r"""Bayer demosaicking of a 1-channel mosaic into RGB:
    :math:`y_c(p) = \sum_{t} K_{\phi(p), c}[t]\, x(p + t)` where :math:`\phi(p)` is the Bayer
    phase of p (from the full-image position, so crops keep their phase).

    ``method: bilinear`` uses fixed 3x3 bilinear kernels (OpenCV ``COLOR_Bayer*2RGB`` in the
    interior); ``method: learnable`` uses 5x5 kernels per (phase, channel), 300 parameters
    ``w<phase><r|g|b><tap 00-24>`` initialised to bilinear (group ``weights``).
    Options: ``pattern`` (RGGB, BGGR, GRBG, GBRG: the top-left 2x2 block), ``method``
    (bilinear), ``border`` (reflect101 keeps the Bayer phase; so does wrap on even sizes).

    Pipeline snippet::

        - {name: demosaic, type: demosaic, pattern: RGGB, method: learnable,
           weights: {learnable: true, bounds: [-2, 2]}}
    """

    kind = "demosaic"
    OPTIONS = {"pattern": "RGGB", "method": "bilinear", "border": "reflect101", "cval": 0.0}
    IN_CHANNELS = 1

    def _configure(self, settings):
        if self.options["pattern"] not in PATTERNS:
            raise ConfigError(f"unknown Bayer pattern '{self.options['pattern']}' "
                              f"(expected one of {', '.join(PATTERNS)})", self.where)
        if self.options["method"] not in ("bilinear", "learnable"):
            raise ConfigError(f"method must be 'bilinear' or 'learnable', got {self.options['method']!r}",
                              self.where)
        self.learn = self.options["method"] == "learnable"
        self.R = 2 if self.learn else 1

    def params_spec(self):
        if not self.learn:
            return []
        init = bilinear_kernels(self.options["pattern"], 5).ravel()
        return [Param(f"w{ph}{'rgb'[c]}{t:02d}", init[(ph * 3 + c) * 25 + t], -1e3, 1e3)
                for ph in range(4) for c in range(3) for t in range(25)]

    def groups(self):
        return {"weights": self.param_names()} if self.learn else {}

    def out_channels(self, c):
        return 3

    def support(self):
        return (self.R, self.R)

    def _w(self):
        if self.learn:
            return self.p
        w = self.vec("bilinear", 4 * 3 * 9)
        if not getattr(self, "_w_ready", False):
            w.from_numpy(bilinear_kernels(self.options["pattern"], 3).ravel().astype(
                np.float64 if self.dtype == ti.f64 else np.float32))
            self._w_ready = True
        return w

    def _forward(self, X, Y, frame):
        R = self.R
        H, W = X.shape
        P = self.buf("P", (H + 2 * R, W + 2 * R), 1)
        pad(X, P, R, R, self.options["border"], self.options["cval"])
        _dm_fwd(P, Y, self._w(), R, frame[0], frame[1])

    def _backward(self, X, Y, GY, GX, frame, want_params):
        R = self.R
        H, W = X.shape
        GP = self.buf("GP", (H + 2 * R, W + 2 * R), 1)
        w = self._w()
        _dm_bwd_img(GY, GP, w, R, frame[0], frame[1])
        fold(GP, GX, R, R, self.options["border"])
        if not (want_params and self.learn):
            return None
        k = ("__part", H)
        part = self._bufs.get(k)
        if part is None:
            part = ti.field(self.dtype, shape=(H, 300))
            self._bufs[k] = part
        _dm_bwd_w(self.buf("P", (H + 2 * R, W + 2 * R), 1), GY, part, R, frame[0], frame[1])
        return part.to_numpy().astype(np.float64).sum(axis=0)
