"""A user-shader BSDF that is Mitsuba's ``roughconductor`` (GGX, visible-normal sampling),
written with the shader API (``diffrender.shading.builtins``), so that the ``shader`` plugin can
be compared with Mitsuba's built-in on the same scene (``benchmarks/bench_materials.py``, case
``shader``). Its own ``sample`` / ``pdf`` exercise the shader sampling path and MIS."""
from diffrender.shading import builtins, params, ti

KIND = "bsdf"
PARAMETERS = {
    "eta": ("rgb", (0.201005, 0.92375, 1.102215)),    # Cu, Mitsuba 3.9 RGB values
    "k": ("rgb", (3.913262, 2.453045, 2.14209)),
    "alpha": ("float", 0.25),
}


@ti.func
def _p(p):
    return params(a=ti.Vector([1.0, 1.0, 1.0]), b=p.eta, c=p.k, alpha=p.alpha)


@ti.func
def eval(p, wi, wo):
    return builtins.roughconductor.eval(_p(p), wi, wo)


@ti.func
def pdf(p, wi, wo):
    return builtins.roughconductor.pdf(_p(p), wi, wo)


@ti.func
def sample(p, wi, u1, u2):
    s = builtins.roughconductor.sample(_p(p), wi, u1, u2)
    return s.wo, pdf(p, wi, s.wo)
