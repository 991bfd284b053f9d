"""Point light — Mitsuba's ``point``: radiant intensity ``I`` from a position, a delta emitter.

Equation: irradiance at ``x`` with normal ``n``: ``E = I * cos(theta) / r^2``; the emitter can
only be reached by emitter sampling (``pdf`` is a delta: weight ``I / r^2``, no MIS).

Parameters: ``intensity`` — RGB (W sr^-1), ``position`` (or ``to_world``'s translation).

Scene snippet::

    <emitter type="point">
        <point name="position" x="0" y="5" z="0"/>
        <rgb name="intensity" value="10"/>
    </emitter>
"""

from ...engine import ti
from ...scene.spec import Param, PluginSpec

SPEC = PluginSpec("emitter", "point", {
    "intensity": Param("spectrum", 1.0, "radiant intensity", diff=True),
    "position": Param("point", None, "position (origin)", diff=True, discontinuous=True),
    "to_world": Param("transform", None, "alternative to position")},
    doc="point light", code=1)


@ti.func
def sample(intensity, position, ref):
    """(unit direction to the light, distance, weight = I / r^2)."""
    v = position - ref
    dist = v.norm()
    d = ti.Vector([0.0, 0.0, 1.0])
    w = ti.Vector([0.0, 0.0, 0.0])
    if dist > 0.0:
        d = v / dist
        w = intensity / (dist * dist)
    return d, dist, w
