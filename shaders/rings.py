"""Wood-ring procedural texture for the ``shader`` texture plugin: concentric rings around
``center`` in uv space, warped by a low-frequency wave, blended between two colours with a
smooth profile (differentiable in every parameter).

    t = 0.5 + 0.5 sin(2 pi frequency (|uv - center| + warp * 0.05 sin(2 pi 5 angle)))
    value = mix(color0, color1, t^sharpness)

Scene (any colour or float parameter can take it)::

    <texture type="shader" name="reflectance">
        <string name="filename" value="shaders/rings.py"/>
        <float name="frequency" value="12"/>
    </texture>
"""
from diffrender.shading import PI, ti

KIND = "texture"
PARAMETERS = {
    "color0": ("rgb", (0.78, 0.56, 0.33)),
    "color1": ("rgb", (0.42, 0.24, 0.11)),
    "frequency": ("float", 10.0),
    "warp": ("float", 1.0),
    "sharpness": ("float", 2.0),
    "center": ("rgb", (0.5, 0.5, 0.0)),
}


@ti.func
def eval(p, uv):
    d = ti.Vector([uv.x - p.center.x, uv.y - p.center.y])
    r = ti.sqrt(d.x * d.x + d.y * d.y + 1e-12)
    ang = ti.atan2(d.y, d.x)
    t = 0.5 + 0.5 * ti.sin(2.0 * PI * p.frequency * (r + p.warp * 0.05 * ti.sin(5.0 * ang)))
    t = ti.pow(ti.max(t, 1e-6), p.sharpness)
    return p.color0 * (1.0 - t) + p.color1 * t
