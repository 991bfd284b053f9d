"""Shared BSDF maths: Fresnel equations and the isotropic GGX (Trowbridge–Reitz) microfacet
distribution with Smith's separable shadowing and visible-normal sampling (Heitz 2018), as in
Mitsuba 3's ``fresnel.h`` / ``microfacet.h`` (re-derived, local frame, ``cos = z``).
"""

from ...engine import ti
from ..types import PI


@ti.func
def safe_sqrt(x):
    """sqrt(max(x, tiny)): finite derivative at 0 (0 * inf would make NaN gradients)."""
    return ti.sqrt(ti.max(x, 1e-20))


@ti.func
def reflect(wi):
    """Mirror reflection about +Z in the local frame."""
    return ti.Vector([-wi.x, -wi.y, wi.z])


@ti.func
def reflect_about(wi, m):
    return 2.0 * wi.dot(m) * m - wi


@ti.func
def fresnel_dielectric(cos_i, eta):
    """Unpolarised Fresnel reflectance of a dielectric interface (Mitsuba's ``fresnel``).

    ``eta`` = n_inside / n_outside; ``cos_i`` > 0 means outside. Returns
    (F, cos_theta_t (signed opposite to cos_i), eta_it, eta_ti). F = 1 under total internal
    reflection."""
    outside = cos_i >= 0.0
    eta_it = eta if outside else 1.0 / eta
    eta_ti = 1.0 / eta if outside else eta
    ct2 = 1.0 - eta_ti * eta_ti * (1.0 - cos_i * cos_i)
    ci = ti.abs(cos_i)
    ct = safe_sqrt(ct2)
    a_s = (ci - eta_it * ct) / (ci + eta_it * ct)
    a_p = (ct - eta_it * ci) / (ct + eta_it * ci)
    r = 0.5 * (a_s * a_s + a_p * a_p)
    if eta == 1.0:
        r = 0.0
    elif ci == 0.0 or ct2 <= 0.0:
        r = 1.0
    cos_t = -ct if cos_i >= 0.0 else ct
    if ct2 <= 0.0:
        cos_t = 0.0
    return r, cos_t, eta_it, eta_ti


@ti.func
def fresnel_conductor(cos_i, eta, k):
    """Fresnel reflectance of a conductor, complex index eta + i k (per RGB channel), for
    cos_i in [0, 1] (Mitsuba's ``fresnel_conductor``)."""
    c2 = cos_i * cos_i
    s2 = 1.0 - c2
    s4 = s2 * s2
    t1 = eta * eta - k * k - s2
    a2b2 = ti.sqrt(t1 * t1 + 4.0 * k * k * eta * eta + 1e-20)
    a = ti.sqrt(ti.max(0.5 * (a2b2 + t1), 1e-20))
    term1 = a2b2 + c2
    term2 = 2.0 * cos_i * a
    r_s = (term1 - term2) / (term1 + term2)
    term3 = a2b2 * c2 + s4
    term4 = term2 * s2
    r_p = r_s * (term3 - term4) / (term3 + term4)
    return 0.5 * (r_s + r_p)


@ti.func
def fresnel_diffuse_reflectance(eta):
    """Hemispherical average of the dielectric Fresnel reflectance (fits by Egan & Hilgeman
    1973 for eta < 1 and d'Eon & Irving 2011 otherwise, as Mitsuba)."""
    inv = 1.0 / eta
    a1 = 0.0636 * inv + eta * (eta * -1.4399 + 0.7099) + 0.6681
    a2 = (((((-1.36881 * inv + 4.98554) * inv - 7.80989) * inv + 6.75335) * inv - 3.4793) * inv
          + 0.919317)
    res = a2
    if eta < 1.0:
        res = a1
    return res


@ti.func
def ggx_d(alpha, m):
    """Normal distribution D(m) (m in the upper hemisphere)."""
    a2 = alpha * alpha
    t = m.z * m.z * (a2 - 1.0) + 1.0
    res = 0.0
    if m.z > 0.0:
        res = a2 / (PI * t * t)
    return res


@ti.func
def ggx_g1(alpha, v, m):
    """Smith's masking for direction v and microfacet normal m."""
    res = 0.0
    z2 = v.z * v.z
    if v.dot(m) * v.z > 0.0 and z2 > 0.0:
        tan2 = (v.x * v.x + v.y * v.y) / z2
        res = 2.0 / (1.0 + ti.sqrt(1.0 + alpha * alpha * tan2))
    return res


@ti.func
def ggx_sample_visible(alpha, wi, u1, u2):
    """Microfacet normal distributed as D_wi(m) = G1(wi, m) max(0, wi.m) D(m) / wi.z (wi.z > 0)."""
    vh = ti.Vector([alpha * wi.x, alpha * wi.y, wi.z]).normalized()
    lensq = vh.x * vh.x + vh.y * vh.y
    t1 = ti.Vector([1.0, 0.0, 0.0])
    if lensq > 1e-14:
        t1 = ti.Vector([-vh.y, vh.x, 0.0]) / ti.sqrt(lensq)
    t2 = vh.cross(t1)
    r = ti.sqrt(u1)
    phi = 2.0 * PI * u2
    p1 = r * ti.cos(phi)
    p2 = r * ti.sin(phi)
    s = 0.5 * (1.0 + vh.z)
    p2 = (1.0 - s) * ti.sqrt(ti.max(0.0, 1.0 - p1 * p1)) + s * p2
    nh = p1 * t1 + p2 * t2 + ti.sqrt(ti.max(0.0, 1.0 - p1 * p1 - p2 * p2)) * vh
    return ti.Vector([alpha * nh.x, alpha * nh.y, ti.max(1e-6, nh.z)]).normalized()


@ti.func
def ggx_pdf_visible(alpha, wi, m):
    """Density of :func:`ggx_sample_visible` (w.r.t. the microfacet normal's solid angle)."""
    res = 0.0
    if wi.z > 0.0:
        res = ggx_g1(alpha, wi, m) * ti.abs(wi.dot(m)) * ggx_d(alpha, m) / wi.z
    return res


# --- both of Mitsuba's distributions, anisotropic (roughdielectric) ---------------------------
# ``beckmann`` selects the distribution at run time (a row flag); ``au`` / ``av`` are the
# roughnesses along the local x / y axes. As Mitsuba 3.9.1's ``MicrofacetDistribution``: the
# Beckmann masking is its rational approximation (< 0.35% from the exact one), visible normals of
# GGX are sampled as in Heitz (2018), those of Beckmann by Jakob's (2014) numerical inversion.

INV_SQRT_PI = 0.5641895835477563


@ti.func
def erf(x):
    """Error function (Abramowitz & Stegun 7.1.26, absolute error < 1.5e-7)."""
    s = 1.0
    if x < 0.0:
        s = -1.0
    a = ti.abs(x)
    t = 1.0 / (1.0 + 0.3275911 * a)
    y = 1.0 - (((((1.061405429 * t - 1.453152027) * t) + 1.421413741) * t - 0.284496736) * t
               + 0.254829592) * t * ti.exp(-a * a)
    return s * y


@ti.func
def erfinv(x):
    """Inverse error function on (-1, 1) (Giles 2010, single precision)."""
    w = -ti.log(ti.max((1.0 - x) * (1.0 + x), 1e-30))
    p = 0.0
    if w < 5.0:
        w = w - 2.5
        p = 2.81022636e-08
        p = 3.43273939e-07 + p * w
        p = -3.5233877e-06 + p * w
        p = -4.39150654e-06 + p * w
        p = 0.00021858087 + p * w
        p = -0.00125372503 + p * w
        p = -0.00417768164 + p * w
        p = 0.246640727 + p * w
        p = 1.50140941 + p * w
    else:
        w = ti.sqrt(w) - 3.0
        p = -0.000200214257
        p = 0.000100950558 + p * w
        p = 0.00134934322 + p * w
        p = -0.00367342844 + p * w
        p = 0.00573950773 + p * w
        p = -0.0076224613 + p * w
        p = 0.00943887047 + p * w
        p = 1.00167406 + p * w
        p = 2.83297682 + p * w
    return p * x


@ti.func
def mf_d(beckmann, au, av, m):
    """D(m) of the (an)isotropic Beckmann / GGX distribution (0 below the surface)."""
    cz = m.z
    c2 = cz * cz
    res = 0.0
    if cz > 0.0:
        x = m.x / au
        y = m.y / av
        if beckmann:
            res = ti.exp(-(x * x + y * y) / c2) / (PI * au * av * c2 * c2)
        else:
            t = x * x + y * y + c2
            res = 1.0 / (PI * au * av * t * t)
        if res * cz <= 1e-20:
            res = 0.0
    return res


@ti.func
def mf_g1(beckmann, au, av, v, m):
    """Smith's masking G1(v, m); zero when v sees the back of m."""
    xy = (au * v.x) * (au * v.x) + (av * v.y) * (av * v.y)
    res = 1.0
    if xy > 0.0:
        t2 = xy / ti.max(v.z * v.z, 1e-30)
        if beckmann:
            a = 1.0 / ti.sqrt(t2)
            res = 1.0
            if a < 1.6:
                res = (3.535 * a + 2.181 * a * a) / (1.0 + 2.276 * a + 2.577 * a * a)
        else:
            res = 2.0 / (1.0 + ti.sqrt(1.0 + t2))
    if v.dot(m) * v.z <= 0.0:
        res = 0.0
    return res


@ti.func
def mf_pdf(beckmann, visible, au, av, wi, m):
    """Density of :func:`mf_sample` (w.r.t. the solid angle of m; wi in the upper hemisphere):
    visible normals ``D(m) G1(wi, m) |wi.m| / wi.z`` or all normals ``D(m) cos(m)``."""
    res = mf_d(beckmann, au, av, m)
    if visible:
        res *= mf_g1(beckmann, au, av, wi, m) * ti.abs(wi.dot(m)) / ti.max(wi.z, 1e-30)
    else:
        res *= m.z
    return res


@ti.func
def _beckmann_visible_11(cos_i, u1, u2):
    """Slopes of visible Beckmann normals for alpha = 1 and wi in the x-z plane (Jakob 2014:
    Newton iterations in the erf domain, three of them, unrolled)."""
    tan_i = ti.max(safe_sqrt(1.0 - cos_i * cos_i) / ti.max(cos_i, 1e-7), 1e-7)
    cot_i = 1.0 / tan_i
    maxval = erf(cot_i)
    a = ti.min(ti.max(u1, 1e-6), 1.0 - 1e-6)
    b = ti.min(ti.max(u2, 1e-6), 1.0 - 1e-6)
    x = maxval - (maxval + 1.0) * erf(ti.sqrt(-ti.log(a)))
    a *= 1.0 + maxval + INV_SQRT_PI * tan_i * ti.exp(-cot_i * cot_i)
    for _ in ti.static(range(3)):
        slope = erfinv(x)
        value = 1.0 + x + INV_SQRT_PI * tan_i * ti.exp(-slope * slope) - a
        x -= value / (1.0 - slope * tan_i)
    return ti.Vector([erfinv(x), erfinv(2.0 * b - 1.0)])


@ti.func
def mf_sample(beckmann, visible, au, av, wi, u1, u2):
    """A microfacet normal distributed as :func:`mf_pdf` (wi in the upper hemisphere)."""
    m = ti.Vector([0.0, 0.0, 1.0])
    if visible:
        if beckmann:
            wp = ti.Vector([au * wi.x, av * wi.y, wi.z]).normalized()
            sxy = ti.sqrt(wp.x * wp.x + wp.y * wp.y)
            cphi = 1.0
            sphi = 0.0
            if sxy > 1e-12:
                cphi = wp.x / sxy
                sphi = wp.y / sxy
            sl = _beckmann_visible_11(wp.z, u1, u2)
            sx = (cphi * sl.x - sphi * sl.y) * au
            sy = (sphi * sl.x + cphi * sl.y) * av
            m = ti.Vector([-sx, -sy, 1.0]).normalized()
        else:
            vh = ti.Vector([au * wi.x, av * wi.y, wi.z]).normalized()
            lensq = vh.x * vh.x + vh.y * vh.y
            t1 = ti.Vector([1.0, 0.0, 0.0])
            if lensq > 1e-14:
                t1 = ti.Vector([-vh.y, vh.x, 0.0]) / ti.sqrt(lensq)
            t2 = vh.cross(t1)
            r = ti.sqrt(u1)
            phi = 2.0 * PI * u2
            p1 = r * ti.cos(phi)
            p2 = r * ti.sin(phi)
            s = 0.5 * (1.0 + vh.z)
            p2 = (1.0 - s) * ti.sqrt(ti.max(0.0, 1.0 - p1 * p1)) + s * p2
            nh = p1 * t1 + p2 * t2 + ti.sqrt(ti.max(0.0, 1.0 - p1 * p1 - p2 * p2)) * vh
            m = ti.Vector([au * nh.x, av * nh.y, ti.max(1e-6, nh.z)]).normalized()
    else:
        cphi = ti.cos(2.0 * PI * u2)
        sphi = ti.sin(2.0 * PI * u2)
        a2 = au * au
        if au != av:
            tmp = (av / au) * ti.tan(2.0 * PI * u2)
            cphi = 1.0 / ti.sqrt(tmp * tmp + 1.0)
            if ti.abs(u2 - 0.5) - 0.25 < 0.0:
                cphi = -cphi
            sphi = cphi * tmp
            a2 = 1.0 / ((cphi / au) * (cphi / au) + (sphi / av) * (sphi / av))
        ct = 1.0
        if beckmann:
            ct = 1.0 / ti.sqrt(1.0 - a2 * ti.log(ti.max(1.0 - u1, 1e-30)))
        else:
            ct = 1.0 / ti.sqrt(1.0 + a2 * u1 / ti.max(1.0 - u1, 1e-30))
        st = safe_sqrt(1.0 - ct * ct)
        m = ti.Vector([cphi * st, sphi * st, ct])
    return m
