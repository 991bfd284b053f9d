"""Constant environment — Mitsuba's ``constant``: uniform radiance from every direction that
leaves the scene.

Equation: ``L(d) = radiance`` for every ray that misses all geometry. Sampling: uniform
directions on the sphere, ``pdf = 1 / (4 pi)`` (as Mitsuba).

Parameters: ``radiance`` (RGB, 1.0; differentiable).

Scene snippet::

    <emitter type="constant">
        <rgb name="radiance" value="0.5"/>
    </emitter>
"""

from ...engine import ti
from ...scene.spec import Param, PluginSpec
from ..types import PI

SPEC = PluginSpec("emitter", "constant", {
    "radiance": Param("spectrum", 1.0, "radiance of the environment", diff=True)},
    doc="uniform environment", code=4)


@ti.func
def square_to_uniform_sphere(u):
    z = 1.0 - 2.0 * u.x
    r = ti.sqrt(ti.max(0.0, 1.0 - z * z))
    phi = 2.0 * PI * u.y
    return ti.Vector([r * ti.cos(phi), r * ti.sin(phi), z])
