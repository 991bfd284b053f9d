"""Directional light — Mitsuba's ``directional``: parallel light from infinitely far away.

Equation: the irradiance on a surface facing the light is ``E`` (``irradiance``), so a point
with normal ``n`` receives ``E max(0, n . (-direction))``; a delta emitter (emitter sampling
only, shadow rays to infinity).

Parameters: ``irradiance`` (RGB, 1.0; differentiable), ``direction`` (the direction the light
travels) or ``to_world`` (light travels along local +Z).

Scene snippet::

    <emitter type="directional">
        <vector name="direction" x="0.3" y="-1" z="0.2"/>
        <rgb name="irradiance" value="3"/>
    </emitter>
"""

from ...scene.spec import Param, PluginSpec

SPEC = PluginSpec("emitter", "directional", {
    "irradiance": Param("spectrum", 1.0, "irradiance on a surface facing the light", diff=True),
    "direction": Param("point", None, "direction the light travels (alternative to to_world)"),
    "to_world": Param("transform", None, "light travels along local +Z")},
    doc="directional light (sun)", code=3)
