"""Perspective pinhole camera with Mitsuba 3's conventions.

Camera space: looks along +Z, +Y up, **+X left**. Image x grows to the right (towards camera
-X), image y downwards; pixel (0, 0) is the top-left one. A film position ``(x, y)`` in pixels
of the full film (W x H) maps to the camera-space direction::

    d ~ ((1 - 2 x / W) * tan(fov_x / 2), (1 - 2 y / H) * tan(fov_x / 2) / (W / H), 1)

(Mitsuba's ``perspective_projection`` inverted). The ray starts on the near plane
(``o + d * near_clip / d.z``) and ends at the far plane, as in Mitsuba, so the ``depth`` AOV is
measured from the near plane.
"""

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


def project(sensor, points) -> np.ndarray:
    """Film positions (x, y) in pixels of the full film of world points (N, 3); NaN behind the
    camera. The inverse of the camera's ray generation (tests, overlays)."""
    c = camera_params(sensor)
    p = np.asarray(points, np.float64).reshape(-1, 3)
    rot = c["rot"]
    local = np.linalg.solve(rot, (p - c["origin"]).T).T
    z = local[:, 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        x = (1.0 - local[:, 0] / (z * c["tan_x"])) * 0.5 * c["film_w"]
        y = (1.0 - local[:, 1] * c["aspect"] / (z * c["tan_x"])) * 0.5 * c["film_h"]
    bad = z <= 0
    x[bad] = np.nan
    y[bad] = np.nan
    return np.stack([x, y], axis=1)


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
        sx = film_pos.x / c.film_w
        sy = film_pos.y / c.film_h
        d = ti.Vector([(1.0 - 2.0 * sx) * c.tan_x, (1.0 - 2.0 * sy) * c.tan_x / c.aspect, 1.0])
        d = d.normalized()
        inv_z = 1.0 / d.z
        near_t = c.near * inv_z
        far_t = c.far * inv_z
        dw = (c.rot @ d).normalized()
        return c.origin + dw * near_t, dw, far_t - near_t
