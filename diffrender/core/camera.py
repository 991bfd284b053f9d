"""Perspective pinhole camera with Mitsuba 3's conventions.

Camera space: looks along +Z, +Y up, **+X left**. Image x grows to the right (towards camera
-X), image y downwards; pixel (0, 0) is the top-left one. A film position ``(x, y)`` in pixels
of the full film (W x H) maps to the camera-space direction::

    d ~ ((1 - 2 x / W) * tan(fov_x / 2), (1 - 2 y / H) * tan(fov_x / 2) / (W / H), 1)

(Mitsuba's ``perspective_projection`` inverted). The ray starts on the near plane
(``o + d * near_clip / d.z``) and ends at the far plane, as in Mitsuba, so the ``depth`` AOV is
measured from the near plane.
"""

from dataclasses import dataclass

import numpy as np

from ..engine import ti
from ..errors import SceneError
from .types import mat3, vec3

CameraInfo = ti.types.struct(rot=mat3, origin=vec3, tan_x=ti.f32, aspect=ti.f32, near=ti.f32,
                             far=ti.f32, film_w=ti.f32, film_h=ti.f32)


def camera_params(sensor, where=None):
    """Host-side camera constants (numpy) of a model Sensor."""
    if sensor.type != "perspective":
        raise SceneError(f"sensor '{sensor.type}' is not supported by the renderer (expected "
                         "perspective)", where)
    m = np.asarray(sensor.to_world, np.float64)
    if m.shape != (4, 4):
        raise SceneError(f"sensor to_world must be 4x4, got shape {m.shape}", where)
    fov_x = sensor.fov_x()
    if not 0.0 < fov_x < 180.0:
        raise SceneError(f"field of view must be in (0, 180) degrees, got {fov_x}", where)
    w, h = sensor.film.width, sensor.film.height
    return dict(rot=m[:3, :3], origin=m[:3, 3], tan_x=float(np.tan(np.radians(fov_x) / 2.0)),
                aspect=w / h, near=float(sensor.near_clip), far=float(sensor.far_clip),
                film_w=float(w), film_h=float(h))


@dataclass
class CameraModel:
    """The camera's projection on the host (float64) and its derivatives: the inverse of
    :func:`camera_direction` (film position of a world point), used by :func:`project` and by
    edge sampling (silhouettes and shadow boundaries on the film, their velocities)."""
    R: np.ndarray     # camera to world rotation (to_world's 3x3 part)
    Rinv: np.ndarray
    o: np.ndarray     # camera origin
    T: float          # tan(fov_x / 2)
    dT_dfov: float    # d T / d (sensor.fov in degrees)
    aspect: float
    near: float
    W: float          # full film size in pixels
    H: float

    @staticmethod
    def of(sensor, where=None):
        c = camera_params(sensor, where)
        R = np.array(c["rot"], np.float64)
        T = c["tan_x"]
        t_fov = np.tan(np.radians(sensor.fov) / 2.0)
        dT = (T / t_fov) * (np.pi / 360.0) * (1.0 + t_fov * t_fov)
        return CameraModel(R, np.linalg.inv(R), np.array(c["origin"], np.float64), T, float(dT),
                           c["aspect"], c["near"], c["film_w"], c["film_h"])

    def local(self, P):
        """Camera-space coordinates of world points (N, 3)."""
        return (np.asarray(P, np.float64) - self.o) @ self.Rinv.T

    def screen(self, l):
        """Full-film pixel coordinates of camera-space points (N, 3)."""
        x = 0.5 * self.W * (1.0 - l[:, 0] / (l[:, 2] * self.T))
        y = 0.5 * self.H * (1.0 - l[:, 1] * self.aspect / (l[:, 2] * self.T))
        return np.stack([x, y], axis=1)

    def jac_local(self, l):
        """d screen / d camera-space point: (N, 2, 3)."""
        J = np.zeros((l.shape[0], 2, 3))
        z, T, a = l[:, 2], self.T, self.aspect
        J[:, 0, 0] = -0.5 * self.W / (z * T)
        J[:, 0, 2] = 0.5 * self.W * l[:, 0] / (z * z * T)
        J[:, 1, 1] = -0.5 * self.H * a / (z * T)
        J[:, 1, 2] = 0.5 * self.H * a * l[:, 1] / (z * z * T)
        return J

    def jac_T(self, l):
        """d screen / d tan(fov_x / 2): (N, 2)."""
        z, T = l[:, 2], self.T
        return np.stack([0.5 * self.W * l[:, 0] / (z * T * T),
                         0.5 * self.H * self.aspect * l[:, 1] / (z * T * T)], axis=1)

    def project(self, points) -> np.ndarray:
        """Full-film positions of world points (N, 3); NaN behind the camera."""
        local = self.local(np.asarray(points, np.float64).reshape(-1, 3))
        with np.errstate(divide="ignore", invalid="ignore"):
            xy = self.screen(local)
        xy[local[:, 2] <= 0] = np.nan
        return xy


def project(sensor, points) -> np.ndarray:
    """Film positions (x, y) in pixels of the full film of world points (N, 3); NaN behind the
    camera. The inverse of the camera's ray generation (tests, overlays)."""
    return CameraModel.of(sensor).project(points)


@ti.func
def camera_direction(film_pos, tan_x, aspect, film_w, film_h):
    """Camera-space unit direction through full-film position ``film_pos`` (pixels): the ray
    generation of :class:`Camera` and of the geometry replay (which differentiates it with
    respect to ``tan_x``)."""
    sx = film_pos.x / film_w
    sy = film_pos.y / film_h
    d = ti.Vector([(1.0 - 2.0 * sx) * tan_x, (1.0 - 2.0 * sy) * tan_x / aspect, 1.0])
    return d.normalized()


@ti.data_oriented
class Camera:
    def __init__(self, sensor, where=None):
        self.info = CameraInfo.field(shape=())
        self.update(sensor, where)

    def update(self, sensor, where=None):
        c = camera_params(sensor, where)
        self.info[None] = CameraInfo(rot=c["rot"].astype(np.float32),
                                     origin=c["origin"].astype(np.float32),
                                     tan_x=c["tan_x"], aspect=c["aspect"], near=c["near"],
                                     far=c["far"], film_w=c["film_w"], film_h=c["film_h"])

    @ti.func
    def sample_ray(self, film_pos):
        """(origin, unit direction, tmax) through film position ``film_pos`` (pixels)."""
        c = self.info[None]
        d = camera_direction(film_pos, c.tan_x, c.aspect, c.film_w, c.film_h)
        inv_z = 1.0 / d.z
        near_t = c.near * inv_z
        far_t = c.far * inv_z
        dw = (c.rot @ d).normalized()
        return c.origin + dw * near_t, dw, far_t - near_t
