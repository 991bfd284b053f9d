"""Cameras with Mitsuba 3's conventions: the pinhole ``perspective`` (with a principal point
offset, general intrinsics ``fx, fy, cx, cy`` and Brown–Conrady distortion) and the
``thinlens`` camera (defocus).

Camera space: looks along +Z, +Y up, **+X left**. Image x grows to the right (towards camera
-X), image y downwards; pixel (0, 0) is the top-left one; film positions are in pixels of the
full film (W x H), (0, 0) the top-left corner of the top-left pixel.

Every camera is described by nine intrinsics ``K = (fx, fy, cx, cy, k1, k2, k3, p1, p2)``
(pixels; OpenCV's model without its rational and thin-prism terms): the camera-space
direction ``(X, Y, Z)`` has the normalised image point ``(x, y) = (-X / Z, -Y / Z)`` (OpenCV
axes), distorted to ``x' = x (1 + k1 r² + k2 r⁴ + k3 r⁶) + 2 p1 x y + p2 (r² + 2 x²)``,
``y' = y (1 + k1 r² + k2 r⁴ + k3 r⁶) + p1 (r² + 2 y²) + 2 p2 x y`` and placed at
``(fx x' + cx, fy y' + cy)``. Ray generation inverts this (Newton steps, unrolled: the geometry
replay differentiates through them). A Mitsuba ``perspective`` with horizontal field of view
``fov_x`` and ``principal_point_offset_x/y`` is ``fx = fy = W / (2 tan(fov_x / 2))``,
``cx = (0.5 - offset_x) W``, ``cy = (0.5 - offset_y) H`` without distortion (measured with
Mitsuba 3.9.1: an offset of +0.1 moves what the optical axis sees 10% of the film to the left,
resp. up).

The ray starts on the near plane (``o + d * near_clip / d.z``) and ends at the far plane, as in
Mitsuba, so the ``depth`` AOV is measured from the near plane. A ``thinlens`` ray starts at a
uniform point of the aperture disk (radius ``aperture_radius``, in the z = 0 plane) and passes
through the pinhole ray's point on the plane z = ``focus_distance``.

An ``orthographic`` camera (Mitsuba's) uses the same ``K`` for parallel rays: its ``to_world``
may scale, and the column lengths ``(sx, sy, sz)`` set the extent: the film spans camera-space
``x`` in [-sx, sx] (left to right: +sx .. -sx) and ``y`` in [-sy H / W, sy H / W], i.e.
``fx = W / (2 sx)``, ``fy = W / (2 sy)``, ``cx = W / 2``, ``cy = H / 2``; the ray through film
position ``(px, py)`` starts at camera-space ``(-(px - cx) / fx, -(py - cy) / fy, near_clip sz)``,
runs along +Z and ends after ``far_clip - near_clip`` (world units), as measured with Mitsuba
3.9.1's ``sample_ray``.
"""

from dataclasses import dataclass

import numpy as np

from ..engine import ti
from ..errors import SceneError
from .rng import rand2
from .types import HostRows, mat3, vec3

#: names of the nine intrinsics, in the order of ``K``
INTRINSICS = ("fx", "fy", "cx", "cy", "k1", "k2", "k3", "p1", "p2")
#: Newton steps of the undistortion (unrolled in kernels); converges to float precision for the
#: distortion of real lenses (tests check the residual)
UNDISTORT_STEPS = 6
#: the random dimension of a thin-lens camera's aperture sample (2D); far from the path's
#: dimensions (rng.py)
APERTURE_DIM = 1 << 20
#: camera types the renderer supports
CAMERA_TYPES = ("perspective", "thinlens", "orthographic")

vec9 = ti.types.vector(9, ti.f32)
CameraInfo = ti.types.struct(rot=mat3, origin=vec3, K=vec9, distorted=ti.i32, near=ti.f32,
                             far=ti.f32, film_w=ti.f32, film_h=ti.f32, lens_radius=ti.f32,
                             focus=ti.f32, ortho=ti.i32, ortho_near=ti.f32)


def ortho_frame(m, where=None):
    """``(rotation, (sx, sy, sz))`` of an orthographic sensor's ``to_world`` 3x3 part ``m``:
    its orthogonal columns' directions and lengths."""
    m = np.asarray(m, np.float64)
    scale = np.linalg.norm(m, axis=0)
    if not np.all(scale > 0.0) or not np.all(np.isfinite(scale)):
        raise SceneError(f"orthographic to_world needs non-zero finite column lengths, got "
                         f"{np.round(scale, 6).tolist()}", where)
    rot = m / scale
    if np.max(np.abs(rot.T @ rot - np.eye(3))) > 1e-3:
        raise SceneError("orthographic to_world must be a rotation with scaling along the "
                         "camera axes (no shear)", where)
    return rot, scale


def uses_intrinsics(sensor) -> bool:
    """Whether the sensor is given by pixel intrinsics (``fx, fy, cx, cy``, the diffrender
    extension) rather than a field of view."""
    return getattr(sensor, "fx", None) is not None


def intrinsics(sensor):
    """``(K (9,), jac)``: the nine intrinsics of ``sensor`` and, for each of its scalar
    intrinsic parameters (``fov``, ``principal_point_offset_x`` ... or ``fx`` ... ``p2``), the
    derivative d K / d parameter (9,)."""
    w, h = float(sensor.film.width), float(sensor.film.height)
    jac = {}
    if sensor.type == "orthographic":
        _, (sx, sy, _) = ortho_frame(np.asarray(sensor.to_world)[:3, :3])
        return np.array([w / (2.0 * sx), w / (2.0 * sy), 0.5 * w, 0.5 * h, 0, 0, 0, 0, 0],
                        np.float64), jac
    if uses_intrinsics(sensor):
        K = np.array([float(getattr(sensor, n)) for n in INTRINSICS], np.float64)
        for i, n in enumerate(INTRINSICS):
            e = np.zeros(9)
            e[i] = 1.0
            jac[n] = e
        return K, jac
    T = float(np.tan(np.radians(sensor.fov_x()) / 2.0))
    t_fov = np.tan(np.radians(sensor.fov) / 2.0)
    dT = (T / t_fov) * (np.pi / 360.0) * (1.0 + t_fov * t_fov)  # d T / d fov (degrees)
    f = w / (2.0 * T)
    ox = float(getattr(sensor, "principal_point_offset_x", None) or 0.0)
    oy = float(getattr(sensor, "principal_point_offset_y", None) or 0.0)
    K = np.array([f, f, (0.5 - ox) * w, (0.5 - oy) * h, 0, 0, 0, 0, 0], np.float64)
    df = -w / (2.0 * T * T) * dT
    jac["fov"] = np.array([df, df, 0, 0, 0, 0, 0, 0, 0], np.float64)
    jac["principal_point_offset_x"] = np.array([0, 0, -w, 0, 0, 0, 0, 0, 0], np.float64)
    jac["principal_point_offset_y"] = np.array([0, 0, 0, -h, 0, 0, 0, 0, 0], np.float64)
    return K, jac


def camera_params(sensor, where=None):
    """Host-side camera constants (numpy) of a model Sensor."""
    if sensor.type not in CAMERA_TYPES:
        raise SceneError(f"sensor '{sensor.type}' is not supported by the renderer (expected "
                         f"{' or '.join(CAMERA_TYPES)})", where)
    m = np.asarray(sensor.to_world, np.float64)
    if m.shape != (4, 4):
        raise SceneError(f"sensor to_world must be 4x4, got shape {m.shape}", where)
    ortho = sensor.type == "orthographic"
    rot, scale = ortho_frame(m[:3, :3], where) if ortho else (m[:3, :3], np.ones(3))
    if not uses_intrinsics(sensor) and not ortho:
        fov_x = sensor.fov_x()
        if not 0.0 < fov_x < 180.0:
            raise SceneError(f"field of view must be in (0, 180) degrees, got {fov_x}", where)
    K, _ = intrinsics(sensor)
    if not (np.all(np.isfinite(K)) and K[0] > 0 and K[1] > 0):
        raise SceneError(f"sensor intrinsics need finite values and fx, fy > 0, got "
                         f"fx={K[0]:g}, fy={K[1]:g}", where)
    w, h = sensor.film.width, sensor.film.height
    lens = float(getattr(sensor, "aperture_radius", 0.0)) if sensor.type == "thinlens" else 0.0
    # distortion is evaluated for every intrinsics-given sensor (its k1 ... p2 derivatives flow
    # from k = 0), else only where a coefficient is non-zero
    distorted = uses_intrinsics(sensor) or bool(np.any(K[4:] != 0.0))
    return dict(rot=rot, origin=m[:3, 3], K=K, distorted=distorted, ortho=ortho,
                ortho_near=float(sensor.near_clip * scale[2]),
                tan_x=float(0.5 * w / K[0]), aspect=w / h, near=float(sensor.near_clip),
                far=float(sensor.far_clip), film_w=float(w), film_h=float(h), lens_radius=lens,
                focus=float(getattr(sensor, "focus_distance", 0.0) or 0.0))


def distort_normalized(x, y, K):
    """Brown–Conrady distortion of normalised image points (numpy arrays)."""
    k1, k2, k3, p1, p2 = K[4:]
    r2 = x * x + y * y
    radial = 1.0 + r2 * (k1 + r2 * (k2 + r2 * k3))
    return (x * radial + 2.0 * p1 * x * y + p2 * (r2 + 2.0 * x * x),
            y * radial + p1 * (r2 + 2.0 * y * y) + 2.0 * p2 * x * y)


def distortion_jacobian(x, y, K):
    """d (x', y') / d (x, y) of :func:`distort_normalized`: (j00, j01, j10, j11)."""
    k1, k2, k3, p1, p2 = K[4:]
    r2 = x * x + y * y
    radial = 1.0 + r2 * (k1 + r2 * (k2 + r2 * k3))
    dr = k1 + r2 * (2.0 * k2 + 3.0 * r2 * k3)  # d radial / d r²
    j00 = radial + 2.0 * x * x * dr + 2.0 * p1 * y + 6.0 * p2 * x
    j01 = 2.0 * x * y * dr + 2.0 * p1 * x + 2.0 * p2 * y
    j11 = radial + 2.0 * y * y * dr + 6.0 * p1 * y + 2.0 * p2 * x
    return j00, j01, j01, j11


def undistort_normalized(xd, yd, K, steps=UNDISTORT_STEPS):
    """The inverse of :func:`distort_normalized` by Newton's method from ``(xd, yd)``."""
    x, y = np.array(xd, np.float64), np.array(yd, np.float64)
    for _ in range(steps):
        fx, fy = distort_normalized(x, y, K)
        fx, fy = fx - xd, fy - yd
        j00, j01, j10, j11 = distortion_jacobian(x, y, K)
        det = j00 * j11 - j01 * j10
        x, y = x - (j11 * fx - j01 * fy) / det, y - (j00 * fy - j10 * fx) / det
    return x, y


@dataclass
class CameraModel:
    """The camera's projection on the host (float64) and its derivatives: the inverse of
    :func:`camera_direction` (film position of a world point), used by :func:`project` and by
    edge sampling (silhouettes and shadow boundaries on the film, their velocities)."""
    R: np.ndarray     # camera to world rotation (to_world's 3x3 part)
    Rinv: np.ndarray
    o: np.ndarray     # camera origin
    K: np.ndarray     # (fx, fy, cx, cy, k1, k2, k3, p1, p2)
    dK: dict          # d K / d parameter, per intrinsic parameter kind (see intrinsics())
    distorted: bool
    near: float       # camera-space z where the rays start (orthographic: near_clip times z's scale)
    W: float          # full film size in pixels
    H: float
    lens_radius: float = 0.0
    ortho: bool = False  # parallel projection (orthographic): no division by z

    @staticmethod
    def of(sensor, where=None):
        c = camera_params(sensor, where)
        R = np.array(c["rot"], np.float64)
        _, dK = intrinsics(sensor)
        return CameraModel(R, np.linalg.inv(R), np.array(c["origin"], np.float64), c["K"], dK,
                           c["distorted"], c["ortho_near"] if c["ortho"] else c["near"],
                           c["film_w"], c["film_h"], c["lens_radius"],
                           c["ortho"])

    def local(self, P):
        """Camera-space coordinates of world points (N, 3)."""
        return (np.asarray(P, np.float64) - self.o) @ self.Rinv.T

    def _normalized(self, l):
        if self.ortho:
            return -l[:, 0], -l[:, 1]
        return -l[:, 0] / l[:, 2], -l[:, 1] / l[:, 2]

    def screen_pinhole(self, l):
        """Full-film pixel coordinates of camera-space points (N, 3) without the distortion."""
        x, y = self._normalized(l)
        fx, fy, cx, cy = self.K[:4]
        return np.stack([fx * x + cx, fy * y + cy], axis=1)

    def screen(self, l):
        """Full-film pixel coordinates of camera-space points (N, 3)."""
        x, y = self._normalized(l)
        if self.distorted:
            x, y = distort_normalized(x, y, self.K)
        fx, fy, cx, cy = self.K[:4]
        return np.stack([fx * x + cx, fy * y + cy], axis=1)

    def distortion_jacobian_px(self, p):
        """d (distorted film position) / d (pinhole film position) at pinhole positions p
        (N, 2): (N, 2, 2); the identity without distortion."""
        J = np.zeros((p.shape[0], 2, 2))
        fx, fy, cx, cy = self.K[:4]
        if not self.distorted:
            J[:, 0, 0] = J[:, 1, 1] = 1.0
            return J
        j00, j01, j10, j11 = distortion_jacobian((p[:, 0] - cx) / fx, (p[:, 1] - cy) / fy, self.K)
        J[:, 0, 0], J[:, 0, 1] = j00, j01 * fx / fy
        J[:, 1, 0], J[:, 1, 1] = j10 * fy / fx, j11
        return J

    def undistort_px(self, p):
        """Pinhole film positions (N, 2) of distorted film positions (N, 2)."""
        if not self.distorted:
            return np.array(p, np.float64)
        fx, fy, cx, cy = self.K[:4]
        x, y = undistort_normalized((p[:, 0] - cx) / fx, (p[:, 1] - cy) / fy, self.K)
        return np.stack([fx * x + cx, fy * y + cy], axis=1)

    def pinhole_bounds(self, lo, hi, n=64):
        """A box (lo, hi) of pinhole film positions that holds the pinhole image of the film
        box [lo, hi] (the undistorted film boundary's bounding box, one pixel wider)."""
        if not self.distorted:
            return np.asarray(lo, np.float64), np.asarray(hi, np.float64)
        t = np.linspace(0.0, 1.0, n)
        (x0, y0), (x1, y1) = lo, hi
        xs, ys = x0 + t * (x1 - x0), y0 + t * (y1 - y0)
        b = np.concatenate([np.stack([xs, np.full(n, y0)], 1), np.stack([xs, np.full(n, y1)], 1),
                            np.stack([np.full(n, x0), ys], 1), np.stack([np.full(n, x1), ys], 1)])
        u = self.undistort_px(b)
        u = u[np.all(np.isfinite(u), axis=1)]
        return u.min(axis=0) - 1.0, u.max(axis=0) + 1.0

    def jac_local(self, l):
        """d screen / d camera-space point: (N, 2, 3)."""
        z = l[:, 2]
        x, y = self._normalized(l)
        P = np.zeros((l.shape[0], 2, 3))  # d (x, y) / d l
        if self.ortho:
            P[:, 0, 0] = P[:, 1, 1] = -1.0
        else:
            P[:, 0, 0] = -1.0 / z
            P[:, 0, 2] = l[:, 0] / (z * z)
            P[:, 1, 1] = -1.0 / z
            P[:, 1, 2] = l[:, 1] / (z * z)
        if self.distorted:
            j00, j01, j10, j11 = distortion_jacobian(x, y, self.K)
            D = np.stack([np.stack([j00, j01], -1), np.stack([j10, j11], -1)], 1)
            P = D @ P
        P[:, 0] *= self.K[0]
        P[:, 1] *= self.K[1]
        return P

    def jac_K(self, l):
        """d screen / d K: (N, 2, 9)."""
        x, y = self._normalized(l)
        fx, fy = self.K[:2]
        xd, yd = distort_normalized(x, y, self.K)
        r2 = x * x + y * y
        J = np.zeros((l.shape[0], 2, 9))
        J[:, 0, 0], J[:, 1, 1] = xd, yd
        J[:, 0, 2] = J[:, 1, 3] = 1.0
        for i, rp in enumerate((r2, r2 * r2, r2 * r2 * r2)):
            J[:, 0, 4 + i], J[:, 1, 4 + i] = fx * x * rp, fy * y * rp
        J[:, 0, 7], J[:, 1, 7] = fx * 2.0 * x * y, fy * (r2 + 2.0 * y * y)
        J[:, 0, 8], J[:, 1, 8] = fx * (r2 + 2.0 * x * x), fy * 2.0 * x * y
        return J

    def project(self, points) -> np.ndarray:
        """Full-film positions of world points (N, 3); NaN behind the camera."""
        local = self.local(np.asarray(points, np.float64).reshape(-1, 3))
        with np.errstate(divide="ignore", invalid="ignore"):
            xy = self.screen(local)
        xy[local[:, 2] <= (self.near if self.ortho else 0.0)] = np.nan
        return xy



def project(sensor, points) -> np.ndarray:
    """Film positions (x, y) in pixels of the full film of world points (N, 3); NaN behind the
    camera. The inverse of the camera's ray generation (tests, overlays)."""
    return CameraModel.of(sensor).project(points)


@ti.func
def undistort(xd, yd, K):
    """Normalised image point whose Brown–Conrady distortion is (xd, yd): Newton's method,
    :data:`UNDISTORT_STEPS` steps unrolled from (xd, yd)."""
    x, y = xd, yd
    k1, k2, k3, p1, p2 = K[4], K[5], K[6], K[7], K[8]
    for _ in ti.static(range(UNDISTORT_STEPS)):
        r2 = x * x + y * y
        radial = 1.0 + r2 * (k1 + r2 * (k2 + r2 * k3))
        dr = k1 + r2 * (2.0 * k2 + 3.0 * r2 * k3)
        ex = x * radial + 2.0 * p1 * x * y + p2 * (r2 + 2.0 * x * x) - xd
        ey = y * radial + p1 * (r2 + 2.0 * y * y) + 2.0 * p2 * x * y - yd
        j00 = radial + 2.0 * x * x * dr + 2.0 * p1 * y + 6.0 * p2 * x
        j01 = 2.0 * x * y * dr + 2.0 * p1 * x + 2.0 * p2 * y
        j11 = radial + 2.0 * y * y * dr + 6.0 * p1 * y + 2.0 * p2 * x
        inv_det = 1.0 / (j00 * j11 - j01 * j01)
        x, y = x - (j11 * ex - j01 * ey) * inv_det, y - (j00 * ey - j01 * ex) * inv_det
    return x, y


@ti.func
def camera_direction(film_pos, K, distorted):
    """Camera-space direction (z = 1, not normalised) through full-film position ``film_pos``
    (pixels) of the pinhole with intrinsics ``K``: the ray generation of :class:`Camera` and of
    the geometry replay (which differentiates it with respect to ``K``)."""
    x = (film_pos.x - K[2]) / K[0]
    y = (film_pos.y - K[3]) / K[1]
    if distorted:
        x, y = undistort(x, y, K)
    return ti.Vector([-x, -y, 1.0])


@ti.func
def concentric_disk(u):
    """Uniform point of the unit disk from a uniform square sample (Shirley–Chiu mapping)."""
    a = 2.0 * u.x - 1.0
    b = 2.0 * u.y - 1.0
    r = 0.0
    phi = 0.0
    if a == 0.0 and b == 0.0:
        r = 0.0
    elif a * a > b * b:
        r = a
        phi = (np.pi / 4.0) * (b / a)
    else:
        r = b
        phi = (np.pi / 2.0) - (np.pi / 4.0) * (a / b)
    return ti.Vector([r * ti.cos(phi), r * ti.sin(phi)])


@ti.data_oriented
class Camera:
    def __init__(self, sensor, where=None):
        self.info = CameraInfo.field(shape=())
        self._info = HostRows(self.info)
        self.update(sensor, where)

    def update(self, sensor, where=None):
        c = camera_params(sensor, where)
        self._info[None] = CameraInfo(rot=c["rot"].astype(np.float32),
                                     origin=c["origin"].astype(np.float32),
                                     K=c["K"].astype(np.float32), distorted=int(c["distorted"]),
                                     near=c["near"], far=c["far"], film_w=c["film_w"],
                                     film_h=c["film_h"], lens_radius=c["lens_radius"],
                                     focus=c["focus"], ortho=int(c["ortho"]),
                                     ortho_near=c["ortho_near"])
        self._info.flush()

    @ti.func
    def sample_ray(self, film_pos, key):
        """(origin, unit direction, tmax) through film position ``film_pos`` (pixels); ``key``:
        the sample's random key (a thin-lens camera draws its aperture point from it)."""
        c = self.info[None]
        d = camera_direction(film_pos, c.K, c.distorted)
        o = ti.Vector([0.0, 0.0, 0.0])
        ro = ti.Vector([0.0, 0.0, 0.0])
        dw = ti.Vector([0.0, 0.0, 1.0])
        tmax = 0.0
        if c.ortho != 0:
            ro = c.rot @ ti.Vector([d.x, d.y, c.ortho_near]) + c.origin
            dw = (c.rot @ ti.Vector([0.0, 0.0, 1.0])).normalized()
            tmax = c.far - c.near
        else:
            if c.lens_radius > 0.0:
                p = concentric_disk(rand2(key, APERTURE_DIM)) * c.lens_radius
                o = ti.Vector([p.x, p.y, 0.0])
                d = d * c.focus - o
            d = d.normalized()
            inv_z = 1.0 / d.z
            near_t = c.near * inv_z
            far_t = c.far * inv_z
            dw = (c.rot @ d).normalized()
            ro = c.rot @ o + c.origin + dw * near_t
            tmax = far_t - near_t
        return ro, dw, tmax
