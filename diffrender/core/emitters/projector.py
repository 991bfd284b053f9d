"""Projector — Mitsuba's ``projector``: a delta-position light at ``to_world``'s origin that
projects its ``irradiance`` texture through a perspective frustum (the reciprocal of the
``perspective`` camera, shining along local +Z).

Equations (``p = (x, y, z)`` the lit point in the light's frame, ``z > 0``; ``t_x`` the tangent
of half the horizontal field of view, ``t_y = t_x / aspect`` with the texture's aspect
``width / height``, 1 for a constant)::

    uv = (0.5 - 0.5 x / (z t_x), 0.5 - 0.5 y / (z t_y))      (no light outside [0, 1]^2)
    E_in = pi * scale * irradiance(uv) / (z^2 cos)          cos = z / |p|

``E_in`` is the sample's weight (intensity / r^2, as Mitsuba 3.9.1's ``sample_direction``
returns it): a plane at unit distance facing the light receives ``pi * scale * irradiance``.

Parameters: ``irradiance`` (texture or colour, 1.0; differentiable), ``scale`` (float, 1.0;
differentiable), ``fov`` / ``fov_axis`` or ``focal_length`` (as the perspective camera's, the
texture's aspect standing in for the film's), ``to_world`` (usually a ``lookat``).

Scene snippet::

    <emitter type="projector">
        <transform name="to_world"><lookat origin="0, 0, 1" target="0, 0, 0" up="0, 1, 0"/></transform>
        <float name="fov" value="60"/>
        <texture type="bitmap" name="irradiance"><string name="filename" value="slide.png"/></texture>
    </emitter>
"""

import numpy as np

from ...engine import ti
from ...scene.spec import Param, PluginSpec

SPEC = PluginSpec("emitter", "projector", {
    "irradiance": Param("spectrum", 1.0, "texture projected (irradiance at unit distance / pi)",
                        diff=True),
    "scale": Param("float", 1.0, "multiplier", diff=True),
    "fov": Param("float", None, "field of view in degrees along fov_axis (or focal_length)"),
    "fov_axis": Param("string", "x", "", ("x", "y", "diagonal", "smaller", "larger")),
    "focal_length": Param("string", "50mm", "35mm-equivalent focal length, used when no fov"),
    "to_world": Param("transform", None, "position and orientation (shines along +Z)")},
    doc="projector (textured perspective light)", code=7)

#: diagonal of the 35 mm film frame, for ``focal_length`` (mm)
FILM_35MM_DIAGONAL = float(np.hypot(36.0, 24.0))


def tan_half_fov(fov, axis, aspect):
    """(t_x, t_y): tangents of the half field of view along x and y for ``fov`` degrees along
    ``axis`` and image aspect ``width / height`` (the perspective camera's convention)."""
    t = np.tan(np.radians(fov) / 2.0)
    if axis == "smaller":
        axis = "x" if aspect <= 1.0 else "y"
    elif axis == "larger":
        axis = "x" if aspect >= 1.0 else "y"
    if axis == "x":
        tx = t
    elif axis == "y":
        tx = t * aspect
    else:  # diagonal: t^2 = t_x^2 + t_y^2, t_y = t_x / aspect
        tx = t / np.sqrt(1.0 + 1.0 / aspect ** 2)
    return float(tx), float(tx / aspect)


def focal_length_fov(f_mm):
    """Diagonal field of view in degrees of a 35 mm-equivalent focal length."""
    return float(np.degrees(2.0 * np.arctan(FILM_35MM_DIAGONAL / (2.0 * f_mm))))


@ti.func
def local_to_uv(p, tan_half):
    """Texture coordinates of local point p (p.z > 0) in the projected image."""
    return ti.Vector([0.5 - 0.5 * p.x / (p.z * tan_half.x), 0.5 - 0.5 * p.y / (p.z * tan_half.y)])
