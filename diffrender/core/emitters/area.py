"""Area emitter — Mitsuba's ``area``: a shape that emits uniform (or textured) radiance.

Equation: ``L(p, w) = radiance(uv)`` when ``w`` leaves the front side (``dot(n_s, w) > 0``,
``n_s`` the shading normal, the geometric one for flat meshes), else 0. Sampling: a triangle
with probability proportional to its area, then a uniform point on it, so the density is
``1 / A`` in area measure and ``1 / A * dist^2 / |cos theta_l|`` in solid angle.

Parameters: ``radiance`` — RGB constant or texture (W m^-2 sr^-1).

Scene snippet::

    <shape type="obj">
        <string name="filename" value="meshes/light.obj"/>
        <emitter type="area">
            <rgb name="radiance" value="17, 12, 4"/>
        </emitter>
    </shape>
"""

from ...engine import ti
from ...scene.spec import Param, PluginSpec

SPEC = PluginSpec("emitter", "area", {
    "radiance": Param("spectrum", 1.0, "emitted radiance", diff=True)},
    doc="area light (nested in a shape)", code=0)


@ti.func
def eval(radiance, n_light, w_out):
    """Emitted radiance towards ``w_out`` (unit, pointing away from the emitter)."""
    res = ti.Vector([0.0, 0.0, 0.0])
    if n_light.dot(w_out) > 0.0:
        res = radiance
    return res


@ti.func
def pdf_solid_angle(area, dist, n_light, d):
    """Density (solid angle, from the reference point) of having sampled the point at ``dist``
    along unit direction ``d``; 0 when it sees the back side."""
    c = -n_light.dot(d)
    res = 0.0
    if c > 0.0 and area > 0.0:
        res = dist * dist / (c * area)
    return res
