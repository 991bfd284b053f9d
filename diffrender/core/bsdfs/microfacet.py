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
