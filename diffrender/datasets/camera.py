"""Real cameras of a photo set: intrinsics, Brown–Conrady distortion and pose, in one convention.

Conventions (every importer converts to these):

- **Film coordinates** are Mitsuba's continuous ones: ``(0, 0)`` is the top-left corner of the
  top-left pixel, ``(W, H)`` the bottom-right corner of the last one; a pixel's centre is at
  ``+0.5``. COLMAP and nerfstudio / instant-ngp use the same origin; OpenCV puts the centre of
  the top-left pixel at ``(0, 0)`` (its ``cx`` is ours minus 0.5).
- **Camera space** is Mitsuba's: the camera looks along ``+z``, image right is ``-x`` and image
  down is ``-y`` (``to_world`` of a Mitsuba ``perspective`` sensor). OpenCV / COLMAP cameras
  (x right, y down, z forward) are ours rotated by 180° about z; OpenGL / Blender / NeRF cameras
  (x right, y up, z backward) are ours rotated by 180° about y.
- **Intrinsics** ``fx, fy, cx, cy`` in pixels, and the normalised image point of a camera-space
  direction ``(X, Y, Z)`` (OpenCV axes) is ``(X/Z, Y/Z)``, distorted by
  ``x' = x (1 + k1 r² + k2 r⁴ + k3 r⁶) + 2 p1 x y + p2 (r² + 2 x²)`` and
  ``y' = y (1 + k1 r² + k2 r⁴ + k3 r⁶) + p1 (r² + 2 y²) + 2 p2 x y`` (OpenCV's model without its
  rational and thin-prism terms), then mapped to ``(fx x' + cx, fy y' + cy)``.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
from PIL import Image, UnidentifiedImageError

#: camera-space axes of OpenCV / COLMAP expressed in ours (180° about z)
OPENCV_TO_MITSUBA = np.diag([-1.0, -1.0, 1.0, 1.0])
#: camera-space axes of OpenGL / Blender / NeRF expressed in ours (180° about y)
OPENGL_TO_MITSUBA = np.diag([-1.0, 1.0, -1.0, 1.0])
DISTORTION_NAMES = ("k1", "k2", "k3", "p1", "p2")
UNDISTORT_ITERATIONS = 20


@dataclass
class CameraModel:
    """A pinhole camera with optional Brown–Conrady distortion (see the module docstring)."""

    width: int
    height: int
    fx: float
    fy: float
    cx: float
    cy: float
    to_world: np.ndarray = field(default_factory=lambda: np.eye(4))
    distortion: dict = field(default_factory=dict)  # k1 k2 k3 p1 p2, missing = 0

    def dist(self) -> np.ndarray:
        return np.array([float(self.distortion.get(k, 0.0)) for k in DISTORTION_NAMES])

    @property
    def has_distortion(self) -> bool:
        return bool(np.any(self.dist() != 0.0))

    def scaled(self, factor: float) -> "CameraModel":
        """The same camera for an image resized by ``factor`` (e.g. 0.5 halves width/height)."""
        w = max(1, int(round(self.width * factor)))
        h = max(1, int(round(self.height * factor)))
        sx, sy = w / self.width, h / self.height
        return replace(self, width=w, height=h, fx=self.fx * sx, fy=self.fy * sy,
                       cx=self.cx * sx, cy=self.cy * sy)

    # --- numpy reference model (tests, overlays, dataset checks) -------------------------------

    def distort(self, xy: np.ndarray) -> np.ndarray:
        k1, k2, k3, p1, p2 = self.dist()
        x, y = xy[..., 0], xy[..., 1]
        r2 = x * x + y * y
        radial = 1.0 + r2 * (k1 + r2 * (k2 + r2 * k3))
        xd = x * radial + 2.0 * p1 * x * y + p2 * (r2 + 2.0 * x * x)
        yd = y * radial + p1 * (r2 + 2.0 * y * y) + 2.0 * p2 * x * y
        return np.stack([xd, yd], axis=-1)

    def undistort(self, xy_d: np.ndarray) -> np.ndarray:
        """Inverse of :meth:`distort` by fixed-point iteration (converges for the moderate
        distortion of real lenses; the residual is checked by the tests)."""
        xy = np.array(xy_d, np.float64)
        if not self.has_distortion:
            return xy
        for _ in range(UNDISTORT_ITERATIONS):
            xy = xy + (xy_d - self.distort(xy))
        return xy

    def project(self, points: np.ndarray) -> np.ndarray:
        """Film positions (N, 2) of world points (N, 3); NaN behind the camera."""
        p = np.asarray(points, np.float64).reshape(-1, 3)
        w2c = np.linalg.inv(self.to_world @ OPENCV_TO_MITSUBA)  # world -> OpenCV camera
        pc = p @ w2c[:3, :3].T + w2c[:3, 3]
        z = pc[:, 2]
        with np.errstate(divide="ignore", invalid="ignore"):
            xy = self.distort(pc[:, :2] / z[:, None])
        out = np.stack([self.fx * xy[:, 0] + self.cx, self.fy * xy[:, 1] + self.cy], axis=1)
        out[z <= 0] = np.nan
        return out

    def rays(self, film_pos: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """World-space ray origins and unit directions (N, 3) through film positions (N, 2)."""
        fp = np.asarray(film_pos, np.float64).reshape(-1, 2)
        xy_d = np.stack([(fp[:, 0] - self.cx) / self.fx, (fp[:, 1] - self.cy) / self.fy], axis=1)
        xy = self.undistort(xy_d)
        d_cv = np.concatenate([xy, np.ones((len(xy), 1))], axis=1)
        c2w = self.to_world @ OPENCV_TO_MITSUBA
        d = d_cv @ c2w[:3, :3].T
        d /= np.linalg.norm(d, axis=1, keepdims=True)
        o = np.broadcast_to(c2w[:3, 3], d.shape).copy()
        return o, d

    def pixel_rays(self) -> tuple[np.ndarray, np.ndarray]:
        """Rays through every pixel centre, row-major (H*W, 3)."""
        ys, xs = np.mgrid[0:self.height, 0:self.width]
        fp = np.stack([xs.ravel() + 0.5, ys.ravel() + 0.5], axis=1)
        return self.rays(fp)

    def fov_x(self) -> float:
        """Horizontal field of view in degrees of the undistorted pinhole with a centred
        principal point and this ``fx``."""
        return float(np.degrees(2.0 * np.arctan(0.5 * self.width / self.fx)))

    def principal_point_offset(self) -> tuple[float, float]:
        """Mitsuba's ``principal_point_offset_x/y``: the principal point's offset from the film
        centre as a fraction of the film's width / height."""
        return ((self.cx - 0.5 * self.width) / self.width,
                (self.cy - 0.5 * self.height) / self.height)


def look_at(origin, target, up) -> np.ndarray:
    """Mitsuba's ``look_at`` to_world (camera looks from ``origin`` towards ``target``)."""
    o, t, u = (np.asarray(v, np.float64) for v in (origin, target, up))
    d = t - o
    d /= np.linalg.norm(d)
    left = np.cross(u, d)
    left /= np.linalg.norm(left)
    new_up = np.cross(d, left)
    m = np.eye(4)
    m[:3, 0], m[:3, 1], m[:3, 2], m[:3, 3] = left, new_up, d, o
    return m


EXIF_IFD = 0x8769
EXIF_FOCAL_LENGTH = 0x920A             # mm
EXIF_FOCAL_LENGTH_35MM = 0xA405        # mm, 35 mm-equivalent (by the diagonal)
EXIF_FOCAL_PLANE_X_RES = 0xA20E        # pixels per unit on the sensor
EXIF_FOCAL_PLANE_RES_UNIT = 0xA210     # 2 inch, 3 cm, 4 mm, 5 um
_RES_UNIT_MM = {2: 25.4, 3: 10.0, 4: 1.0, 5: 1e-3}
FULL_FRAME_DIAGONAL_MM = float(np.hypot(36.0, 24.0))


def focal_from_exif(path) -> tuple[float, str] | None:
    """The focal length in pixels of a photo from its EXIF data, and how it was found; None
    when the file has none. Uses the focal length and the sensor's pixel pitch
    (FocalPlaneXResolution) when both are present, else the 35 mm-equivalent focal length
    (defined by the image diagonal: ``f_px = f35 * diagonal_px / 43.27 mm``)."""
    try:
        with Image.open(path) as im:
            w, h = im.size
            exif = im.getexif()
    except UnidentifiedImageError:  # a format Pillow does not read (EXR, PFM): no EXIF
        return None
    ifd = exif.get_ifd(EXIF_IFD) if exif else {}

    def num(tag):
        v = ifd.get(tag, exif.get(tag) if exif else None)
        try:
            v = float(v)
        except (TypeError, ValueError, ZeroDivisionError):
            return None
        return v if np.isfinite(v) and v > 0 else None

    f_mm, res = num(EXIF_FOCAL_LENGTH), num(EXIF_FOCAL_PLANE_X_RES)
    unit = _RES_UNIT_MM.get(int(ifd.get(EXIF_FOCAL_PLANE_RES_UNIT, 2) or 2))
    if f_mm and res and unit:
        return f_mm * res / unit, "EXIF FocalLength and FocalPlaneXResolution"
    f35 = num(EXIF_FOCAL_LENGTH_35MM)
    if f35:
        return f35 * float(np.hypot(w, h)) / FULL_FRAME_DIAGONAL_MM, "EXIF FocalLengthIn35mmFilm"
    return None
