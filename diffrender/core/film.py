"""Film: pixel reconstruction filters and the deterministic sample accumulation.

Filters (Mitsuba 3's, radii in pixels), evaluated separably ``w = f(dx) * f(dy)`` at the
offset from the pixel centre ``(x + 0.5, y + 0.5)`` to the sample position:

- ``box``: radius 0.5, ``f(x) = 1`` for ``|x| <= 0.5``;
- ``tent``: radius r (default 1), ``f(x) = max(0, 1 - |x| / r)``;
- ``gaussian``: stddev s (default 0.5), radius 4 s, ``f(x) = max(0, exp(-x^2 / (2 s^2)) -
  exp(-(4 s)^2 / (2 s^2)))``.

A pixel's value is ``sum(w_i L_i) / sum(w_i)`` over the samples whose filter footprint covers
it, as Mitsuba's ImageBlock splats and its film normalises. Sample positions are uniform within
their pixel. Without ``sample_border`` (Mitsuba's default) samples are only taken inside the
(cropped) film and splats that fall outside are dropped, so border pixels normalise over fewer
samples; with it, samples are also taken in a border of ``ceil(radius - 0.5)`` pixels.

Determinism: instead of atomic splats (whose float sums depend on thread timing), every pass
stores its samples (position, value) in a buffer and a gather kernel, one thread per pixel,
adds the contributions of the neighbouring samples in a fixed order (sample index, then
neighbour) into float64 accumulators. The sequence of additions into a pixel is the same
whatever the number of threads and however the samples are split into passes.

The film's adjoint sits beside its forward gather: :class:`FilmAdjoint` gathers an adjoint
image to the samples of a gradient replay (``a_i = sum_p adj_p w_ip / W_p``) and splats sample
values into an image (its transpose, for forward mode); :class:`FilmWeights` is the same
adjoint as a density over the film, for edge samples at arbitrary film positions.
"""

import math

import numpy as np

from ..engine import in_place, is_device_array, launch, sync, ti
from ..errors import SceneError
from .rng import rand_pixel, sample_key
from .types import HostRows, vec2, vec3

FILTER_TYPES = {"box": 0, "tent": 1, "gaussian": 2}
N_AOV = 8  # depth, normal (3), albedo (3), alpha

FilterInfo = ti.types.struct(type=ti.i32, radius=ti.f32, alpha=ti.f32, bias=ti.f32)


def filter_params(rfilter, where=None):
    t = rfilter.type
    if t not in FILTER_TYPES:
        raise SceneError(f"reconstruction filter '{t}' is not supported (expected "
                         f"{', '.join(FILTER_TYPES)})", where)
    if t == "box":
        return dict(type=0, radius=0.5, alpha=0.0, bias=0.0)
    if t == "tent":
        r = float(rfilter.radius)
        if not r > 0:
            raise SceneError(f"tent radius must be positive, got {r}", where)
        return dict(type=1, radius=r, alpha=0.0, bias=0.0)
    s = float(rfilter.stddev)
    if not s > 0:
        raise SceneError(f"gaussian stddev must be positive, got {s}", where)
    r = 4.0 * s
    alpha = -1.0 / (2.0 * s * s)
    return dict(type=2, radius=r, alpha=alpha, bias=math.exp(alpha * r * r))


def filter_eval_np(params, x):
    """The 1D filter at offsets ``x`` (numpy; the reference for the Taichi version)."""
    x = np.abs(np.asarray(x, np.float64))
    t = params["type"]
    if t == 0:
        return (x <= 0.5).astype(np.float64)
    if t == 1:
        return np.maximum(0.0, 1.0 - x / params["radius"])
    return np.maximum(0.0, np.exp(params["alpha"] * x * x) - params["bias"])


#: Smallest field extent of a film dimension: films up to this size share one field shape.
MIN_FILM_CLASS = 32


def film_class(n: int) -> int:
    """Field extent for a film dimension of ``n`` pixels: 32 up to 32, then steps of 1/8 of the
    power of two above ``n`` (at most 12.5% unused). The kernels read the actual size at run
    time, so films of one class share their fields and compiled kernels (``pool.py``)."""
    n = max(1, int(n))
    if n <= MIN_FILM_CLASS:
        return MIN_FILM_CLASS
    step = 1 << max(0, (n - 1).bit_length() - 3)
    return -(-n // step) * step


@ti.data_oriented
class FilmSize:
    """A film's size at run time, for kernels compiled for its size class: ``dims`` holds
    (width, height, sample-grid width, sample-grid height, crop x, crop y). Plain attributes
    are the class (compile-time); the actual size is state (``size``)."""

    def _set_size(self, w, h, border, crop=(0, 0)):
        self.size = {"w": int(w), "h": int(h), "sw": int(w) + 2 * border,
                     "sh": int(h) + 2 * border, "crop": (int(crop[0]), int(crop[1]))}
        sz = self.size
        self.dims.from_numpy(np.array([sz["w"], sz["h"], sz["sw"], sz["sh"], sz["crop"][0],
                                       sz["crop"][1]], np.int32))

    @property
    def width(self):
        return self.size["w"]

    @property
    def height(self):
        return self.size["h"]

    @property
    def crop_offset(self):
        return self.size["crop"]

    def pixels(self, field_np):
        """The actual film's part of a (class-sized) pixel array."""
        return field_np[:self.size["h"], :self.size["w"]]

    def padded(self, img):
        """An (height, width, ...) image as a class-sized float32 array (zeros outside)."""
        img = np.asarray(img, np.float32)
        out = np.zeros((self.ch, self.cw) + img.shape[2:], np.float32)
        out[:img.shape[0], :img.shape[1]] = img
        return out


def border_size(radius: float) -> int:
    """Pixels a splat can reach beyond its own (Mitsuba's ``border_size``)."""
    return max(0, int(math.ceil(radius - 0.5)))


@ti.func
def filter_eval(f, x):
    ax = ti.abs(x)
    res = 0.0
    if f.type == 0:
        if ax <= 0.5:
            res = 1.0
    elif f.type == 1:
        res = ti.max(0.0, 1.0 - ax / f.radius)
    else:
        res = ti.max(0.0, ti.exp(f.alpha * ax * ax) - f.bias)
    return res


@ti.func
def camera_sample(s, gy, gx, first_sample, seed, border, crop_x, crop_y, film_w):
    """Camera sample ``first_sample + s`` of sample-grid pixel (gy, gx): (its key, its
    crop-relative film position, its full-film position). The forward render and the gradient
    replays draw their camera samples through this (same keys, same positions)."""
    fx = gx - border + crop_x
    fy = gy - border + crop_y
    pixel = ti.cast(fy * film_w + fx, ti.u32)
    key = sample_key(seed, pixel, ti.cast(first_sample + s, ti.u32))
    u = rand_pixel(key)
    return key, ti.Vector([gx - border + u.x, gy - border + u.y]), ti.Vector([fx + u.x, fy + u.y])


@ti.func
def finite_or_black(L):
    """Mitsuba's films reject invalid samples: radiance with a NaN or an infinite component
    counts as black (keeps the buffers finite)."""
    res = L
    if not (L.x == L.x and L.y == L.y and L.z == L.z) or ti.abs(L).max() > 3.0e38:
        res = ti.Vector([0.0, 0.0, 0.0])
    return res


@ti.data_oriented
class Film(FilmSize):
    """Sample buffers for ``pass_capacity`` samples per pixel, and the accumulators (fields of
    the film's size class, see :func:`film_class`)."""

    def __init__(self, sensor, pass_capacity: int, where=None):
        film = sensor.film
        fp = filter_params(film.rfilter, where)
        self.filter_np = fp
        self.radius_px = border_size(fp["radius"])
        if film.crop is not None:
            ox, oy, w, h = (int(v) for v in film.crop)
            if w <= 0 or h <= 0 or ox < 0 or oy < 0 or ox + w > film.width or oy + h > film.height:
                raise SceneError(f"crop window {film.crop} does not fit in the "
                                 f"{film.width}x{film.height} film", where)
        else:
            ox, oy, w, h = 0, 0, film.width, film.height
        if w <= 0 or h <= 0:
            raise SceneError(f"film size must be positive, got {w}x{h}", where)
        self.border = self.radius_px if film.sample_border else 0
        self.cw, self.ch = film_class(w), film_class(h)  # field extents (compile-time)
        self.sw, self.sh = self.cw + 2 * self.border, self.ch + 2 * self.border
        self.dims = ti.field(ti.i32, shape=6)
        self._set_size(w, h, self.border, (ox, oy))
        self.capacity = max(1, int(pass_capacity))
        self.filter = FilterInfo.field(shape=())
        self._filter = HostRows(self.filter)
        self._filter[None] = FilterInfo(**fp)
        self._filter.flush()
        r = self.radius_px
        # Gaussian: exp(alpha k^2) for the integer tap offsets k = 0 .. r (see ``store``).
        self.gauss_k = ti.field(ti.f32, shape=r + 1)
        self.gauss_k.from_numpy(np.exp(fp["alpha"] * np.arange(r + 1, dtype=np.float64) ** 2)
                                .astype(np.float32))
        self.n_w = 2 * (2 * r + 1)
        # Per sample, its separable filter weights towards the 2r+1 pixel columns and rows
        # around its own pixel (computed once by the sample pass, not once per neighbour).
        self.wts = ti.Vector.field(self.n_w, ti.f32, shape=(self.capacity, self.sh, self.sw)) \
            if r > 0 else None
        self.color = vec3.field(shape=(self.capacity, self.sh, self.sw))
        self.acc = ti.Vector.field(3, ti.f64, shape=(self.ch, self.cw))
        self.wsum = ti.field(ti.f64, shape=(self.ch, self.cw))
        self.aov = None
        self.aov_acc = None

    def ensure_aovs(self):
        if self.aov is None:
            self.aov = ti.Vector.field(N_AOV, ti.f32, shape=(self.capacity, self.sh, self.sw))
            self.aov_acc = ti.Vector.field(N_AOV, ti.f64, shape=(self.ch, self.cw))

    def nbytes(self) -> int:
        """Bytes held by the film's fields (sample buffers and accumulators)."""
        per_sample = 3 + (self.n_w if self.wts is not None else 0)
        n = self.capacity * self.sh * self.sw * per_sample * 4 + self.ch * self.cw * 4 * 8
        if self.aov is not None:
            n += self.capacity * self.sh * self.sw * N_AOV * 4 + self.ch * self.cw * N_AOV * 8
        return n

    @ti.kernel
    def clear(self):
        for y, x in self.acc:
            self.acc[y, x] = ti.Vector([0.0, 0.0, 0.0], ti.f64)
            self.wsum[y, x] = 0.0

    @ti.kernel
    def clear_aovs(self):
        for y, x in self.aov_acc:
            self.aov_acc[y, x] = ti.Vector([0.0] * N_AOV, ti.f64)

    @ti.func
    def store(self, s, gy, gx, pos, color):
        """Buffer sample ``s`` of sample-grid pixel (gy, gx) at crop-relative position ``pos``."""
        self.color[s, gy, gx] = color
        if ti.static(self.radius_px > 0):
            r = ti.static(self.radius_px)
            f = self.filter[None]
            x0 = ti.cast(gx - self.border, ti.f32) + 0.5 - pos.x
            y0 = ti.cast(gy - self.border, ti.f32) + 0.5 - pos.y
            w = ti.Vector([0.0] * self.n_w)
            if f.type == 2:
                # Gaussian taps at x0 + k, k = -r .. r, from two exponentials per axis:
                # exp(a (x0 + k)^2) = exp(a x0^2) * exp(2 a x0)^k * exp(a k^2).
                for ax in ti.static(range(2)):
                    x = x0 if ti.static(ax == 0) else y0
                    off = ti.static(ax * (2 * r + 1))
                    e0 = ti.exp(f.alpha * x * x)
                    g = ti.exp(2.0 * f.alpha * x)
                    gi = 1.0 / g
                    w[off + r] = ti.max(0.0, e0 - f.bias)
                    up = e0
                    dn = e0
                    for k in ti.static(range(1, r + 1)):
                        up *= g
                        dn *= gi
                        ck = self.gauss_k[k]
                        w[off + r + k] = ti.max(0.0, up * ck - f.bias)
                        w[off + r - k] = ti.max(0.0, dn * ck - f.bias)
            else:
                for j in ti.static(range(2 * r + 1)):
                    w[j] = filter_eval(f, x0 + (j - r))
                    w[2 * r + 1 + j] = filter_eval(f, y0 + (j - r))
            self.wts[s, gy, gx] = w

    @ti.kernel
    def gather(self, n: ti.i32, with_aovs: ti.template()):
        """Add the ``n`` buffered samples per pixel into the accumulators (fixed order).

        Per sample index: the footprint's taps are summed row by row in float32 (independent
        rows, so the additions overlap), then added to the float64 accumulators. Every pixel
        sees the same sequence of additions whatever the thread count and pass split."""
        r = ti.static(self.radius_px)
        b = ti.static(self.border)
        for y, x in ti.ndrange(self.dims[1], self.dims[0]):
            sw, sh = self.dims[2], self.dims[3]
            acc = self.acc[y, x]
            ws = self.wsum[y, x]
            aacc = ti.Vector([0.0] * N_AOV, ti.f64)
            if ti.static(with_aovs):
                aacc = self.aov_acc[y, x]
            for s in range(n):
                cs = ti.Vector([0.0, 0.0, 0.0])
                wsum = 0.0
                acs = ti.Vector([0.0] * N_AOV)
                for dy in ti.static(range(-r, r + 1)):
                    gy = y + b + dy
                    if 0 <= gy < sh:
                        rc = ti.Vector([0.0, 0.0, 0.0])
                        rw = 0.0
                        ra = ti.Vector([0.0] * N_AOV)
                        for dx in ti.static(range(-r, r + 1)):
                            gx = x + b + dx
                            if 0 <= gx < sw:
                                w = 1.0
                                if ti.static(r > 0):
                                    wv = self.wts[s, gy, gx]
                                    w = wv[r - dx] * wv[3 * r + 1 - dy]
                                # Weights are >= 0 and colours finite: a zero weight adds 0.
                                rc += w * self.color[s, gy, gx]
                                rw += w
                                if ti.static(with_aovs):
                                    ra += w * self.aov[s, gy, gx]
                        cs += rc
                        wsum += rw
                        if ti.static(with_aovs):
                            acs += ra
                acc += ti.cast(cs, ti.f64)
                ws += ti.cast(wsum, ti.f64)
                if ti.static(with_aovs):
                    aacc += ti.cast(acs, ti.f64)
            self.acc[y, x] = acc
            self.wsum[y, x] = ws
            if ti.static(with_aovs):
                self.aov_acc[y, x] = aacc

    def develop(self) -> np.ndarray:
        """The image (height, width, 3) float32: accumulated values over weight sums, 0 where no
        sample landed (one kernel writing the NumPy array, instead of copying both
        accumulators out and dividing in NumPy: the same float64 division, the same values)."""
        img = np.empty((self.height, self.width, 3), np.float32)
        launch(self._develop_to, img)
        return img

    @ti.kernel
    def _develop_to(self, out: ti.types.ndarray(dtype=ti.f32, ndim=3)):
        for y, x in ti.ndrange(out.shape[0], out.shape[1]):
            ws = self.wsum[y, x]
            v = ti.Vector([0.0, 0.0, 0.0], ti.f64)
            if ws > 0:
                v = self.acc[y, x] / ws
            for c in ti.static(range(3)):
                out[y, x, c] = ti.cast(v[c], ti.f32)

    def develop_into(self, out):
        """:meth:`develop` written into ``out``, a float32 (height, width, 3) array of another
        framework on this device (a torch tensor), in place: the image never visits the host
        when the kernels run on a GPU. The same values as :meth:`develop`."""
        view = in_place(out, (self.height, self.width, 3), "output image", write=True)
        try:
            self._develop_to(view)
            sync()
        finally:
            view.close()
        return out

    def develop_aovs(self) -> dict:
        acc = self.pixels(self.aov_acc.to_numpy())
        ws = self.pixels(self.wsum.to_numpy())[..., None]
        with np.errstate(invalid="ignore", divide="ignore"):
            a = np.where(ws > 0, acc / np.where(ws > 0, ws, 1), 0.0).astype(np.float32)
        return {"depth": a[..., 0:1], "normal": a[..., 1:4], "albedo": a[..., 4:7],
                "alpha": a[..., 7:8]}


@ti.kernel
def _copy_image(src: ti.types.ndarray(dtype=ti.f32, ndim=3), dst: ti.types.ndarray(dtype=ti.f32, ndim=3)):
    for y, x, c in ti.ndrange(src.shape[0], src.shape[1], src.shape[2]):
        dst[y, x, c] = src[y, x, c]


def host_image(a, shape, what) -> np.ndarray:
    """A NumPy copy of ``a``, a float32 array of ``shape`` of another framework on this device
    (copied by a kernel, so that no framework is imported here)."""
    view = in_place(a, shape, what)
    out = np.empty(tuple(shape), np.float32)
    try:
        _copy_image(view, out)
    finally:
        view.close()
    return out


# --- adjoint ---------------------------------------------------------------------------------

@ti.data_oriented
class FilmAdjoint(FilmSize):
    """The film of a gradient replay: one pass of ``n`` samples per pixel (index
    ``i = (s * sh + gy) * sw + gx``), their film positions and filter weights, the weight sums
    ``W_p`` of all the render's samples, and the adjoint image.

    ``loss = sum_p adj_p I_p`` with ``I_p = sum_i w_ip L_i / W_p`` gives each sample the adjoint
    ``a_i = sum_p adj_p w_ip / W_p`` (:meth:`gather_adjoint`); forward mode splats the
    contributions with the same weights (:meth:`splat`)."""

    def __init__(self, sensor, film, n, rows=None):
        fp = filter_params(sensor.film.rfilter)
        self.radius = border_size(fp["radius"])
        self.filter = FilterInfo.field(shape=())
        self._filter = HostRows(self.filter)
        self._filter[None] = FilterInfo(**fp)
        self._filter.flush()
        self.border = self.radius if sensor.film.sample_border else 0
        self.cw, self.ch = film.cw, film.ch  # the size class of the render's film
        self.sw, self.sh = self.cw + 2 * self.border, self.ch + 2 * self.border
        self.dims = ti.field(ti.i32, shape=6)
        self._set_size(film.width, film.height, self.border, film.crop_offset)
        self.n = int(n)
        # ``rows``: a pass holds one sample per pixel of at most that many rows (a band), for
        # films whose one sample per pixel would not fit the caller's memory budget
        self.rows = None if rows is None or int(rows) >= self.sh else max(1, int(rows))
        if self.rows is not None:
            self.n = 1
        N = self.capacity()
        # the rows of the current pass: (first row, number of rows) of the sampled grid
        self.band = ti.field(ti.i32, shape=2)
        self._band = [None]  # what ``band`` holds (host copy; state, see _wsum_key)
        self._set_band(0, self.size["sh"])
        self.pos = vec2.field(shape=N)  # crop-relative film position of each sample of a pass
        self.adj = vec3.field(shape=N)  # its adjoint a_i
        self.wsum = ti.field(ti.f32, shape=(self.ch, self.cw))
        # Per sample of a pass, its separable filter weights (columns, then rows): the film's
        # weight sums are gathered from them, one thread per pixel, without atomics.
        self.wts = ti.Vector.field(2 * (2 * self.radius + 1), ti.f32, shape=(self.n, self.sh, self.sw))
        self.adj_img = vec3.field(shape=(self.ch, self.cw))
        # The (spp, seed, film width) whose sums ``wsum`` holds (in a list: the renderer's pool
        # compares an object's plain attributes when it recycles it; this one is state).
        self._wsum_key = [None]

    def capacity(self) -> int:
        """The most samples one pass holds (the size of the per-sample fields)."""
        if self.rows is not None:
            return self.rows * self.sw
        return self.n * self.sw * self.sh

    def _set_band(self, row0, rows):
        if self._band[0] != (row0, rows):
            self.band.from_numpy(np.array([row0, rows], np.int32))
            self._band[0] = (row0, rows)

    def load_adjoint(self, d_image):
        """The adjoint image (height, width, 3) into ``adj_img``: a NumPy array, or an array of
        another framework on this device (read in place, see ``engine.in_place``)."""
        if is_device_array(d_image):
            view = in_place(d_image, (self.height, self.width, 3), "adjoint image")
            try:
                self._load_adjoint_from(view)
            finally:
                view.close()
            return
        self.adj_img.from_numpy(self.padded(d_image))

    @ti.kernel
    def _load_adjoint_from(self, src: ti.types.ndarray(dtype=ti.f32, ndim=3)):
        for y, x in self.adj_img:
            v = ti.Vector([0.0, 0.0, 0.0], ti.f32)
            if y < src.shape[0] and x < src.shape[1]:
                v = ti.Vector([src[y, x, 0], src[y, x, 1], src[y, x, 2]], ti.f32)
            self.adj_img[y, x] = v

    def nbytes(self) -> int:
        N = self.capacity()
        return N * 5 * 4 + self.ch * self.cw * 4 * 4 + self.n * self.sw * self.sh * 2 * (2 * self.radius + 1) * 4

    def passes(self, spp, whole=False):
        """(first sample, samples per pixel) of the passes of a ``spp`` render. With ``rows``
        (and not ``whole``) each sample index is split into bands of rows, one pass each;
        ``samples`` and ``sample_index`` follow the band of the pass being run."""
        sh = self.size["sh"]
        if self.rows is None or self.rows >= sh or whole:
            self._set_band(0, sh)
            done = 0
            while done < spp:
                n = min(self.n, spp - done)
                yield done, n
                done += n
            return
        for s in range(spp):
            for row0 in range(0, sh, self.rows):
                self._set_band(row0, min(self.rows, sh - row0))
                yield s, 1
        self._set_band(0, sh)

    def count(self, n) -> int:
        """The number of samples of a pass of ``n`` per pixel (host side)."""
        return int(n) * self.size["sw"] * self._band[0][1]

    @ti.func
    def samples(self, n):
        """The number of samples of a pass of ``n`` per pixel (indices ``0 .. samples(n) - 1``)."""
        return n * self.dims[2] * self.band[1]

    @ti.func
    def sample_index(self, i):
        sw = self.dims[2]
        grid = sw * self.band[1]
        s = i // grid
        rem = i % grid
        return s, self.band[0] + rem // sw, rem % sw

    @ti.func
    def position(self, i, first_sample, seed, film_w):
        """(key, gx, gy, crop-relative position, full-film position) of sample ``i`` of the
        pass from ``first_sample`` on: the forward render's sample (``Integrator.sample_pass``)."""
        s, gy, gx = self.sample_index(i)
        key, pos, fpos = camera_sample(s, gy, gx, first_sample, seed, ti.static(self.border),
                                       self.dims[4], self.dims[5], film_w)
        return key, gx, gy, pos, fpos

    @ti.func
    def _weights(self, bx, by, pos):
        """Separable filter weights of a sample at ``pos`` towards the columns bx-r..bx+r and
        rows by-r..by+r (2 (2r+1) evaluations instead of (2r+1)^2 products of two)."""
        r = ti.static(self.radius)
        f = self.filter[None]
        wx = ti.Vector([0.0] * (2 * r + 1))
        wy = ti.Vector([0.0] * (2 * r + 1))
        for j in ti.static(range(2 * r + 1)):
            wx[j] = filter_eval(f, bx + (j - r) + 0.5 - pos.x)
            wy[j] = filter_eval(f, by + (j - r) + 0.5 - pos.y)
        return wx, wy

    @ti.kernel
    def clear_wsum(self):
        for y, x in self.wsum:
            self.wsum[y, x] = 0.0

    @ti.kernel
    def sample_weights(self, first_sample: ti.i32, n: ti.i32, seed: ti.u32, film_w: ti.i32):
        """The filter weights of the ``n`` samples per pixel from ``first_sample`` on."""
        r = ti.static(self.radius)
        for i in range(self.samples(n)):
            key, gx, gy, pos, fpos = self.position(i, first_sample, seed, film_w)
            s, _gy, _gx = self.sample_index(i)
            wx, wy = self._weights(gx - ti.static(self.border), gy - ti.static(self.border), pos)
            w = ti.Vector([0.0] * (2 * (2 * r + 1)))
            for j in ti.static(range(2 * r + 1)):
                w[j] = wx[j]
                w[2 * r + 1 + j] = wy[j]
            self.wts[s, gy, gx] = w

    @ti.kernel
    def gather_wsum(self, n: ti.i32):
        """wsum[y, x] += the weights towards (y, x) of the samples of ``sample_weights``."""
        r = ti.static(self.radius)
        b = ti.static(self.border)
        for y, x in ti.ndrange(self.dims[1], self.dims[0]):
            sw, sh = self.dims[2], self.dims[3]
            acc = self.wsum[y, x]
            for s in range(n):
                for dy in ti.static(range(-r, r + 1)):
                    gy = y + b + dy
                    if 0 <= gy < sh:
                        row = 0.0
                        for dx in ti.static(range(-r, r + 1)):
                            gx = x + b + dx
                            if 0 <= gx < sw:
                                wv = self.wts[s, gy, gx]
                                row += wv[r - dx] * wv[3 * r + 1 - dy]
                        acc += row
            self.wsum[y, x] = acc

    def prepare(self, spp, seed, film_w):
        """The weight sums for (spp, seed): computed once, re-used while they match."""
        key = (spp, seed, film_w)
        if self._wsum_key[0] == key:
            return
        self._wsum_key[0] = None
        self.clear_wsum()
        for first, n in self.passes(spp, whole=True):  # ``wts`` holds whole sample grids
            self.sample_weights(first, n, seed, film_w)
            self.gather_wsum(n)
        self._wsum_key[0] = key

    @ti.kernel
    def gather_adjoint(self, n: ti.i32):
        """a_i = sum over the pixels p of i's footprint of adj_p w_ip / W_p."""
        r = ti.static(self.radius)
        for i in range(self.samples(n)):
            s, gy, gx = self.sample_index(i)
            w, h = self.dims[0], self.dims[1]
            pos = self.pos[i]
            bx = gx - ti.static(self.border)
            by = gy - ti.static(self.border)
            wx, wy = self._weights(bx, by, pos)
            a = ti.Vector([0.0, 0.0, 0.0])
            for dy in ti.static(range(-r, r + 1)):
                for dx in ti.static(range(-r, r + 1)):
                    x = bx + dx
                    y = by + dy
                    wgt = wx[dx + r] * wy[dy + r]
                    if 0 <= x < w and 0 <= y < h and wgt > 0.0:
                        a += self.adj_img[y, x] * (wgt / self.wsum[y, x])
            self.adj[i] = a

    @ti.func
    def splat(self, img: ti.template(), i, c):
        """img[y, x, :] += w_ip c / W_p over the footprint of sample i (the transpose of
        :meth:`gather_adjoint`)."""
        r = ti.static(self.radius)
        s, gy, gx = self.sample_index(i)
        w, h = self.dims[0], self.dims[1]
        pos = self.pos[i]
        bx = gx - ti.static(self.border)
        by = gy - ti.static(self.border)
        wx, wy = self._weights(bx, by, pos)
        for dy in ti.static(range(-r, r + 1)):
            for dx in ti.static(range(-r, r + 1)):
                x = bx + dx
                y = by + dy
                wgt = wx[dx + r] * wy[dy + r]
                if 0 <= x < w and 0 <= y < h and wgt > 0.0:
                    wgt = wgt / self.wsum[y, x]
                    for ch in ti.static(range(3)):
                        img[y, x, ch] += wgt * c[ch]


class FilmWeights:
    """The film's adjoint as a density (host, float64), for samples at arbitrary film positions
    (edge sampling): ``loss = sum_p adj_p I_p`` with ``I_p = int k_p(x) L(x) dx / K_p`` (the
    expectation of the sample-weighted average) makes the adjoint density
    ``A(x) = sum_p adj_p k_p(x) / K_p`` on the sampled region and 0 outside it."""

    def __init__(self, sensor, renderer_film):
        film = sensor.film
        self.fp = filter_params(film.rfilter)
        self.r = border_size(self.fp["radius"])
        self.w, self.h = renderer_film.width, renderer_film.height
        self.crop = renderer_film.crop_offset
        b = self.r if film.sample_border else 0
        self.lo = np.array([-b, -b], np.float64)        # sampled region, crop-relative
        self.hi = np.array([self.w + b, self.h + b], np.float64)
        self.kx = self._norm(self.w, self.lo[0], self.hi[0])
        self.ky = self._norm(self.h, self.lo[1], self.hi[1])

    def _norm(self, n, lo, hi):
        rad = self.fp["radius"]
        t = np.linspace(-rad, rad, 4001)
        out = np.zeros(n)
        for p in range(n):
            c = p + 0.5
            xs = c + t
            wv = filter_eval_np(self.fp, t) * ((xs >= lo) & (xs <= hi))
            out[p] = np.trapezoid(wv, t) if hasattr(np, "trapezoid") else np.trapz(wv, t)
        return out

    def _axes(self, x):
        """The separable parts of the footprint of crop-relative positions x (N, 2): pixel
        columns and rows (N, 2r + 1) clipped to the film, and the weights k(X + 1/2 - x) / K_X
        and k(Y + 1/2 - y) / K_Y (N, 2r + 1), 0 outside the film (the rows' also 0 for a
        position outside the sampled region)."""
        x = np.asarray(x, np.float64)
        r = self.r
        off = np.arange(-r, r + 1)
        inside = np.all((x >= self.lo) & (x <= self.hi), axis=1)
        X = np.floor(x[:, 0]).astype(np.int64)[:, None] + off
        Y = np.floor(x[:, 1]).astype(np.int64)[:, None] + off
        Xc, Yc = np.clip(X, 0, self.w - 1), np.clip(Y, 0, self.h - 1)
        wx = filter_eval_np(self.fp, X + 0.5 - x[:, :1]) / np.maximum(self.kx[Xc], 1e-30)
        wy = filter_eval_np(self.fp, Y + 0.5 - x[:, 1:]) / np.maximum(self.ky[Yc], 1e-30)
        wx = np.where((X >= 0) & (X < self.w), wx, 0.0)
        wy = np.where((Y >= 0) & (Y < self.h) & inside[:, None], wy, 0.0)
        return Xc, Yc, wx, wy

    def neighbours(self, x):
        """For crop-relative positions x (N, 2): pixel indices (N, K) (-1: none) and
        weights k_p(x) / K_p (N, K)."""
        Xc, Yc, wx, wy = self._axes(x)
        n = wx.shape[0]
        k = (wy[:, :, None] * wx[:, None, :]).reshape(n, -1)
        idx = (Yc[:, :, None] * self.w + Xc[:, None, :]).reshape(n, -1)
        return np.where(k > 0, idx, -1), k

    #: edge samples per block of :meth:`adjoint` (bounds its gather: block x (2r+1)^2 x 3 values)
    ADJOINT_BLOCK = 1 << 15

    def adjoint(self, adj_img, x):
        """A(x) (N, 3) for the adjoint image (H, W, 3)."""
        img = np.asarray(adj_img, np.float64).reshape(self.h, self.w, 3)
        Xc, Yc, wx, wy = self._axes(x)
        out = np.empty((wx.shape[0], 3))
        for a in range(0, wx.shape[0], self.ADJOINT_BLOCK):
            b = slice(a, a + self.ADJOINT_BLOCK)
            block = img[Yc[b, :, None], Xc[b, None, :]]          # (n, 2r+1, 2r+1, 3)
            out[b] = np.einsum("ny,nx,nyxc->nc", wy[b], wx[b], block, optimize=True)
        return out

    def splat(self, x, values):
        """sum over samples of values_i * k_p(x_i) / K_p into an (H, W, 3) image."""
        idx, w = self.neighbours(x)
        out = np.zeros((self.h * self.w, 3))
        ok = idx >= 0
        np.add.at(out, idx[ok], (w[..., None] * np.asarray(values)[:, None, :])[ok])
        return out.reshape(self.h, self.w, 3)
