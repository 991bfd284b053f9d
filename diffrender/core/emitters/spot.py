"""Spot light — Mitsuba's ``spot``: a point light whose intensity falls off with the angle to
its axis (local +Z of ``to_world``).

Equation (``theta`` the angle between the axis and the direction to the lit point, ``c`` the
cutoff angle, ``b`` the beam width, both in radians)::

    I(theta) = I                                   theta <= b
             = I (c - theta) / (c - b)             b < theta < c
             = 0                                   theta >= c

and the irradiance at ``x`` is ``I(theta) cos / r^2`` (a delta emitter, reached only by
emitter sampling).

Parameters: ``intensity`` (RGB, 1.0; differentiable), ``cutoff_angle`` (20 degrees),
``beam_width`` (3/4 of the cutoff), ``to_world`` (position and orientation; ``lookat`` is the
usual way to aim it), ``texture`` (optional, a spatially varying texture projected along the
beam, multiplying the intensity, as Mitsuba's: the local direction ``d`` looks it up at
``uv = 0.5 + 0.5 (d.x, d.y) / (d.z tan(cutoff))``; held in the emitter row's ``scale_slot``).

Scene snippet::

    <emitter type="spot">
        <transform name="to_world"><lookat origin="0, 4, 0" target="0, 0, 0" up="0, 0, 1"/></transform>
        <rgb name="intensity" value="30"/>
        <float name="cutoff_angle" value="25"/>
    </emitter>
"""

from ...engine import ti
from ...scene.spec import Param, PluginSpec

SPEC = PluginSpec("emitter", "spot", {
    "intensity": Param("spectrum", 1.0, "radiant intensity on the axis", diff=True),
    "cutoff_angle": Param("float", 20.0, "degrees; no light beyond"),
    "beam_width": Param("float", None, "degrees of full intensity (3/4 of cutoff_angle)"),
    "to_world": Param("transform", None, "position and orientation (shines along +Z)"),
    "texture": Param("spectrum", None, "projected texture (bitmap; multiplies intensity)")},
    doc="spot light", code=2)


@ti.func
def falloff(cos_theta, cos_cutoff, cos_beam, cutoff, inv_transition):
    res = 0.0
    if cos_theta > cos_cutoff:
        res = 1.0
        if cos_theta < cos_beam:
            res = (cutoff - ti.acos(ti.min(ti.max(cos_theta, -1.0), 1.0))) * inv_transition
    return res


@ti.func
def direction_to_uv(d, cutoff):
    """Texture coordinates of local direction d (d.z > 0) in the projected texture (Mitsuba's
    ``direction_to_uv``, ``uv_factor = tan(cutoff)``)."""
    k = 0.5 * ti.cos(cutoff) / (d.z * ti.sin(cutoff))  # (tan: no reverse-mode derivative in Taichi)
    return ti.Vector([0.5 + d.x * k, 0.5 + d.y * k])
