"""Toon (cel-shaded) BSDF: a stylised material for the ``shader`` BSDF plugin.

The light's cosine is quantised into ``bands`` flat tones between ``shade_color`` and
``base_color``, with soft steps (width ``softness``) so that the image stays differentiable
in every parameter; a ``rim`` term brightens silhouettes (where the viewer grazes the surface).

    f(wi, wo) cos(theta_o) = mix(shade_color, base_color, level(cos_o)) / pi
                             * (1 + rim * smoothstep(0.55, 0.8, 1 - cos_i))

Scene::

    <bsdf type="shader">
        <string name="filename" value="shaders/toon.py"/>
        <rgb name="base_color" value="0.9, 0.4, 0.2"/>
        <float name="bands" value="3"/>
    </bsdf>
"""
from diffrender.shading import INV_PI, floor_f, ti

KIND = "bsdf"
PARAMETERS = {
    "base_color": ("rgb", (0.85, 0.4, 0.2)),
    "shade_color": ("rgb", (0.15, 0.07, 0.12)),
    "bands": ("float", 3.0),
    "softness": ("float", 0.08),
    "rim": ("float", 0.5),
}


@ti.func
def smoothstep(e0, e1, x):
    t = ti.min(ti.max((x - e0) / (e1 - e0), 0.0), 1.0)
    return t * t * (3.0 - 2.0 * t)


@ti.func
def eval(p, wi, wo):
    x = wo.z * p.bands
    k = floor_f(x)
    step = smoothstep(1.0 - p.softness, 1.0, x - k)
    level = ti.min((k + step) / p.bands, 1.0)
    color = p.shade_color * (1.0 - level) + p.base_color * level
    rim = 1.0 + p.rim * smoothstep(0.55, 0.8, 1.0 - wi.z)
    return color * (INV_PI * rim)
