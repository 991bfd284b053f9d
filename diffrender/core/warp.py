"""Sample warps and frames (the maths of Mitsuba's ``warp`` namespace, re-derived)."""

from ..engine import ti
from .types import PI, RAY_EPSILON, vec3


@ti.func
def cos_sin_quarter(a):
    """(cos a, sin a) for |a| <= pi/4: the minimax polynomials of Cephes' ``sinf`` /
    ``cosf`` for that range (about 1 float32 ulp), no libm call and no branch."""
    a2 = a * a
    c = 1.0 - 0.5 * a2 + (a2 * a2) * (4.166664568298827e-2 + a2 * (
        -1.388731625493765e-3 + a2 * 2.443315711809948e-5))
    s = a + (a * a2) * (-1.6666654611e-1 + a2 * (8.3321608736e-3 + a2 * -1.9515295891e-4))
    return c, s


@ti.func
def square_to_uniform_disk_concentric(u):
    """Shirley-Chiu concentric map of [0,1)^2 onto the unit disk.

    Branch free (the wedge test is a coin flip per sample): in the wedge |x| > |y| the point
    is ``r (cos phi, sin phi)`` with ``r = x``, ``phi = pi/4 y/x``; in the other one
    ``r = y``, ``phi = pi/2 - pi/4 x/y``, i.e. ``r (sin a, cos a)`` with ``a = pi/4 x/y``.
    Either way the angle lies in [-pi/4, pi/4]."""
    x = 2.0 * u.x - 1.0
    y = 2.0 * u.y - 1.0
    wedge_x = x * x > y * y
    r = ti.select(wedge_x, x, y)
    num = ti.select(wedge_x, y, x)
    den = ti.select(r == 0.0, 1.0, r)  # the centre (x = y = 0) maps to r = 0
    c, s = cos_sin_quarter((PI / 4.0) * (num / den))
    return ti.Vector([r * ti.select(wedge_x, c, s), r * ti.select(wedge_x, s, c)])


@ti.func
def square_to_cosine_hemisphere(u):
    """Cosine-weighted direction about +Z; density cos(theta) / pi."""
    p = square_to_uniform_disk_concentric(u)
    z = ti.sqrt(ti.max(0.0, 1.0 - p.x * p.x - p.y * p.y))
    return ti.Vector([p.x, p.y, z])


@ti.func
def square_to_uniform_triangle(u):
    """Barycentrics (b1, b2) uniform over a triangle (b0 = 1 - b1 - b2)."""
    t = ti.sqrt(ti.max(0.0, 1.0 - u.x))
    return ti.Vector([1.0 - t, t * u.y])


@ti.func
def coordinate_system(n):
    """Tangents (s, t) with (s, t, n) orthonormal, right-handed (Duff et al. 2017)."""
    sign = 1.0 if n.z >= 0.0 else -1.0
    a = -1.0 / (sign + n.z)
    b = n.x * n.y * a
    s = ti.Vector([1.0 + sign * n.x * n.x * a, sign * b, -sign * n.x])
    t = ti.Vector([b, sign + n.y * n.y * a, -n.y])
    return s, t


@ti.func
def to_local(s, t, n, v):
    return ti.Vector([s.dot(v), t.dot(v), n.dot(v)])


@ti.func
def to_world(s, t, n, v):
    return s * v.x + t * v.y + n * v.z


@ti.func
def floor_f(v):
    """floor(v) for |v| < 2^31, written with casts: ``ti.floor`` is refused by Taichi's
    forward-mode autodiff (its derivative is zero, so this changes no gradient)."""
    fi = ti.cast(ti.cast(v, ti.i32), ti.f32)
    if v < fi:
        fi -= 1.0
    return fi


@ti.func
def mis_power(pdf_a, pdf_b):
    """Power heuristic (beta = 2): pdf_a^2 / (pdf_a^2 + pdf_b^2); 0 when not finite."""
    a2 = pdf_a * pdf_a
    d = a2 + pdf_b * pdf_b
    w = 0.0
    if d > 0.0:
        w = a2 / d
    if not (w == w):  # NaN
        w = 0.0
    return w


@ti.func
def offset_origin(p, ng, d):
    """Mitsuba's ray origin offset: along the geometric normal, towards ``d``'s side, by
    (1 + max|p|) * RayEpsilon."""
    mag = (1.0 + ti.max(ti.abs(p.x), ti.abs(p.y), ti.abs(p.z))) * RAY_EPSILON
    off = ng * mag
    if ng.dot(d) < 0.0:
        off = -off
    return p + off


__all__ = ["cos_sin_quarter", "square_to_uniform_disk_concentric", "square_to_cosine_hemisphere",
           "square_to_uniform_triangle", "coordinate_system", "to_local", "to_world",
           "mis_power", "offset_origin", "floor_f", "vec3"]
