"""A user-shader texture that is Mitsuba's ``checkerboard`` (``color0`` where the fractional
parts of u and v are on the same side of 0.5, ``color1`` elsewhere), so that the ``shader``
texture plugin can be compared with Mitsuba's built-in (``benchmarks/bench_materials.py``, case
``shader``)."""
from diffrender.shading import floor_f, ti

KIND = "texture"
PARAMETERS = {"color0": ("rgb", (0.4, 0.4, 0.4)), "color1": ("rgb", (0.2, 0.2, 0.2))}


@ti.func
def eval(p, uv):
    mx = (uv.x - floor_f(uv.x)) > 0.5
    my = (uv.y - floor_f(uv.y)) > 0.5
    res = p.color0
    if mx != my:
        res = p.color1
    return res
