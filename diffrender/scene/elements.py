"""The scene's elements: textures, BSDFs, emitters, shapes, films, samplers, sensors and the
integrator, as plain Python/numpy data (the conventions are in :mod:`.model`). The
:class:`~.model.Scene` that holds them is in :mod:`.model`; the parameter view
(:mod:`.params`, :mod:`.info`) reads these classes, the scene builds that view.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class Texture:
    """A colour (3 channels) or float (1 channel) parameter.

    ``type``: ``'constant'`` (``value``), ``'bitmap'`` (``data``, H x W x C, row 0 = top of the
    image) or ``'checkerboard'``. Mitsuba 3 looks bitmaps up with u along the columns and v along
    the rows, so v = 0 is row 0 (the top row); OBJ files get v -> 1 - v at load
    (``flip_tex_coords``), which is why their v = 1 is the top of the image.
    """

    type: str = "constant"
    value: np.ndarray = field(default_factory=lambda: np.ones(3, np.float32))
    data: np.ndarray | None = None
    filename: str | None = None
    filter_type: str = "bilinear"  # or 'nearest'
    wrap_mode: str = "repeat"  # 'repeat' | 'mirror' | 'clamp'
    raw: bool = False
    to_uv: np.ndarray = field(default_factory=lambda: np.eye(3))
    id: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # plugin-specific (checkerboard colours)

    @property
    def channels(self) -> int:
        if self.type == "bitmap":
            return int(self.data.shape[2])
        return int(np.size(self.value))

    def mean(self) -> np.ndarray:
        if self.type == "bitmap":
            return self.data.reshape(-1, self.data.shape[2]).mean(axis=0)
        return np.asarray(self.value, np.float32)

    @staticmethod
    def constant(value) -> "Texture":
        v = np.atleast_1d(np.asarray(value, np.float32))
        return Texture(type="constant", value=v)


@dataclass
class BSDF:
    """``type`` is the Mitsuba plugin name ('diffuse', ...). ``params`` maps Mitsuba parameter
    names to values (Texture for spectrum/texture parameters, float/str otherwise).
    ``twosided`` is True when the BSDF was wrapped in a ``twosided`` plugin."""

    type: str = "diffuse"
    params: dict[str, Any] = field(default_factory=lambda: {"reflectance": Texture.constant(0.5)})
    twosided: bool = False
    id: str | None = None
    children: list["BSDF"] = field(default_factory=list)  # nested BSDFs (blendbsdf, mask, ...)


@dataclass
class Emitter:
    """``type``: 'area' (``params['radiance']``: Texture, attached to ``shape``),
    'point' (``params['intensity']``: Texture, ``position``), later 'envmap', 'constant',
    'directional', 'spot'."""

    type: str
    params: dict[str, Any] = field(default_factory=dict)
    to_world: np.ndarray = field(default_factory=lambda: np.eye(4))
    position: np.ndarray | None = None
    shape: int | None = None  # index into Scene.shapes for area lights
    id: str | None = None


@dataclass
class Shape:
    """A triangle mesh in world space (analytic shapes are tessellated at load).

    ``vertices`` (N, 3) float64 world space; ``faces`` (M, 3) int32; ``normals`` (N, 3) vertex
    normals or None for face normals (``face_normals=true``; a mesh file without normals gets
    Mitsuba's smooth, angle-weighted normals, as in Mitsuba); ``uvs`` (N, 2) or None. ``id`` is
    always set by the loader: the scene id, else ``shape_<index>``. ``local_vertices`` and ``to_world`` keep the object-space data for parameters that
    move the shape. ``attributes``: the mesh attributes the ``mesh_attribute`` texture reads.
    """

    type: str
    vertices: np.ndarray
    faces: np.ndarray
    normals: np.ndarray | None = None
    uvs: np.ndarray | None = None
    bsdf: BSDF = field(default_factory=BSDF)
    emitter: Emitter | None = None
    to_world: np.ndarray = field(default_factory=lambda: np.eye(4))
    local_vertices: np.ndarray | None = None
    local_normals: np.ndarray | None = None
    # True while ``normals`` are Mitsuba's smooth normals of ``vertices`` (a mesh file without
    # normals, or positions set since): they are recomputed when the vertices move (as Mitsuba's
    # ``Mesh::parameters_changed`` does) and differentiated with them
    derived_normals: bool = False
    id: str | None = None
    filename: str | None = None
    #: Mitsuba's mesh attributes (PLY vertex / face properties): name (``vertex_*`` /
    #: ``face_*``) -> (rows, channels) float32, one row per vertex / face
    attributes: dict[str, np.ndarray] = field(default_factory=dict)
    #: participating media on the two sides (indices into ``Scene.media``; None: none). Read
    #: only under a volumetric integrator (``volpath``), as in Mitsuba: the medium a ray enters
    #: when it crosses the surface against / along the geometric normal.
    interior: int | None = None
    exterior: int | None = None


@dataclass
class Volume:
    """A 3D field read by a medium (Mitsuba's ``gridvolume`` / ``constvolume``): ``data``
    (Z, Y, X, C) float32 for a grid (C = 1 or 3), ``value`` (3,) for a constant; ``to_world``
    maps the unit cube [0, 1]^3 to world space (the volume's bounding box); a grid is looked up
    trilinearly (``filter_type`` 'trilinear') or at the nearest voxel, outside the cube by
    ``wrap_mode`` ('clamp', 'repeat', 'mirror'), at voxel centres (u = (i + 0.5) / res)."""

    type: str = "constvolume"
    value: np.ndarray = field(default_factory=lambda: np.ones(3, np.float32))
    data: np.ndarray | None = None
    to_world: np.ndarray = field(default_factory=lambda: np.eye(4))
    filter_type: str = "trilinear"
    wrap_mode: str = "clamp"
    filename: str | None = None

    def max(self) -> float:
        """The largest value over voxels and channels (Mitsuba's ``Volume::max``)."""
        v = self.data if self.type == "gridvolume" else self.value
        return float(np.max(v)) if np.size(v) else 0.0


@dataclass
class Medium:
    """A participating medium (Mitsuba's ``homogeneous`` / ``heterogeneous``): extinction
    ``sigma_t`` (RGB, per scene unit, before ``scale``), single-scattering ``albedo`` (RGB),
    ``scale`` (multiplies sigma_t), the phase function (``isotropic`` or ``hg`` with mean cosine
    ``g``) and ``sample_emitters`` (next-event estimation from points in the medium). For a
    heterogeneous medium ``sigma_t`` / ``albedo`` may be a :class:`Volume` (``volume_sigma_t``,
    ``volume_albedo``; the RGB fields are then unused)."""

    type: str = "homogeneous"
    sigma_t: np.ndarray = field(default_factory=lambda: np.ones(3, np.float32))
    albedo: np.ndarray = field(default_factory=lambda: np.full(3, 0.75, np.float32))
    scale: float = 1.0
    phase: str = "isotropic"
    g: float = 0.0
    sample_emitters: bool = True
    id: str | None = None
    volume_sigma_t: Volume | None = None
    volume_albedo: Volume | None = None


@dataclass
class ReconstructionFilter:
    """Pixel reconstruction filter: 'box' (radius 0.5), 'tent' (radius 1), 'gaussian'
    (stddev 0.5, radius 4 * stddev), radii in pixels, as in Mitsuba 3."""

    type: str = "gaussian"
    radius: float = 2.0
    stddev: float = 0.5


@dataclass
class Film:
    width: int = 768
    height: int = 576
    rfilter: ReconstructionFilter = field(default_factory=ReconstructionFilter)
    pixel_format: str = "rgb"
    component_format: str = "float32"
    sample_border: bool = False
    crop: tuple[int, int, int, int] | None = None  # offset_x, offset_y, width, height
    id: str | None = None
    file_format: str = "openexr"  # Mitsuba's hdrfilm file_format (openexr, rgbe, pfm)


@dataclass
class Sampler:
    type: str = "independent"
    sample_count: int = 4
    seed: int = 0


#: the sensor's scalar parameters that are differentiable (and move what the film sees)
SENSOR_SCALARS = ("fov", "principal_point_offset_x", "principal_point_offset_y", "fx", "fy", "cx",
                  "cy", "k1", "k2", "k3", "p1", "p2")


@dataclass
class Sensor:
    """A ``perspective`` (pinhole), ``thinlens`` or ``orthographic`` camera (the last has no
    field of view: its ``to_world`` scaling sets the extent, see ``core/camera.py``). ``fov`` is in degrees along
    ``fov_axis`` as written; use :meth:`fov_x` for the horizontal field of view.
    ``principal_point_offset_x/y``: Mitsuba's (fractions of the film; None: not given, 0).
    ``fx, fy, cx, cy`` (pixels of the full film) with the Brown–Conrady ``k1, k2, k3, p1, p2``:
    the diffrender extension for real cameras; when ``fx`` is set they replace ``fov`` and the
    offsets (``core/camera.py`` has the model). ``aperture_radius`` / ``focus_distance``: the
    thin lens (a ``perspective`` reads and ignores ``focus_distance``, as Mitsuba does)."""

    type: str = "perspective"
    to_world: np.ndarray = field(default_factory=lambda: np.eye(4))
    medium: int | None = None  # the medium the camera sits in (index into Scene.media)
    fov: float = 39.597755  # Mitsuba's default: 50 mm focal length on a 36 mm film
    fov_axis: str = "x"
    near_clip: float = 0.01
    far_clip: float = 10000.0
    film: Film = field(default_factory=Film)
    sampler: Sampler = field(default_factory=Sampler)
    id: str | None = None
    principal_point_offset_x: float | None = None
    principal_point_offset_y: float | None = None
    fx: float | None = None
    fy: float | None = None
    cx: float | None = None
    cy: float | None = None
    k1: float = 0.0
    k2: float = 0.0
    k3: float = 0.0
    p1: float = 0.0
    p2: float = 0.0
    aperture_radius: float = 0.0
    focus_distance: float = 10000.0  # Mitsuba's thinlens default

    def fov_x(self) -> float:
        """Horizontal field of view in degrees, converting from ``fov_axis`` (of the
        undistorted pinhole with a centred principal point when given by ``fx``)."""
        w, h = self.film.width, self.film.height
        if self.fx is not None:
            return float(np.degrees(2.0 * np.arctan(0.5 * w / self.fx)))
        aspect = w / h
        t = np.tan(np.radians(self.fov) / 2.0)
        axis = self.fov_axis
        if axis == "smaller":
            axis = "x" if w <= h else "y"
        elif axis == "larger":
            axis = "x" if w >= h else "y"
        if axis == "x":
            tx = t
        elif axis == "y":
            tx = t * aspect
        elif axis == "diagonal":
            # tan(diag/2) = sqrt(tx^2 + ty^2), ty = tx / aspect
            tx = t / np.sqrt(1.0 + 1.0 / aspect ** 2)
        else:
            raise ValueError(f"unknown fov_axis {axis!r}")
        return float(np.degrees(2.0 * np.arctan(tx)))


@dataclass
class Integrator:
    """'path' (``max_depth`` -1 = unbounded, ``rr_depth``, ``hide_emitters``) or 'direct'."""

    type: str = "path"
    max_depth: int = -1
    rr_depth: int = 5
    hide_emitters: bool = False
    params: dict[str, Any] = field(default_factory=dict)  # direct: emitter_samples, bsdf_samples
