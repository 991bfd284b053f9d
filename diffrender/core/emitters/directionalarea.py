"""Directional area light — Mitsuba's ``directionalarea``: a shape emitting ``radiance`` only
along its normal.

Mitsuba 3.9.1 renders it with its light tracer only: its ``eval`` is 0 (a ray hits the exact
emission direction with probability zero) and its ``sample_direction`` returns nothing, so under
``path`` and ``direct`` (and every integrator diffrender renders) it contributes nothing. The
loader accepts it nested in a shape, says so once on stderr, and renders the shape without an
emitter: the same image as Mitsuba's. With Mitsuba's ``ptracer`` (which diffrender renders as
``path``) the images would differ: that combination is a one-line error.

Parameters: ``radiance`` (RGB, 1.0).

Scene snippet::

    <shape type="rectangle">
        <emitter type="directionalarea"><rgb name="radiance" value="5"/></emitter>
    </shape>
"""

from ...scene.spec import Param, PluginSpec

SPEC = PluginSpec("emitter", "directionalarea", {
    "radiance": Param("spectrum", 1.0, "radiance along the shape's normal")},
    doc="area light emitting along the normal only (contributes nothing under path / direct, "
        "as in Mitsuba 3.9.1)", code=6)
