"""Disney's principled BSDF — Mitsuba 3.9.1's ``principled`` (what the Mitsuba Blender add-on
writes for every Principled material), with its semantics, defaults and sampling.

Lobes (local frame, ``cos = z``; ``brdf = (1 - metallic)(1 - spec_trans)``,
``bsdf = (1 - metallic) spec_trans``; ``eta`` the relative index, from ``eta`` or from
``specular``: ``eta = 2 / (1 - sqrt(0.08 specular)) - 1``; the half vector
``h = normalize(wi + wo)`` for reflection, ``normalize(wi + eta_path wo)`` for transmission,
turned to the upper hemisphere; ``D``, ``G`` anisotropic GGX with Smith's separable masking,
``alpha_u = max(0.001, roughness^2 / aspect)``, ``alpha_v = max(0.001, roughness^2 aspect)``,
``aspect = sqrt(1 - 0.9 anisotropic)``; ``SW(c) = (1 - c)^5``; ``F_d`` the dielectric Fresnel
reflectance at ``wi.h``)::

    main specular reflection (both sides):  F_p D G / (4 |cos_i|)
        front:  F_p = (1 - metallic)(1 - spec_tint) F_d + metallic S(base_color)
                      + (1 - metallic) spec_tint S(c_tint R0(eta))
        back:   F_p = bsdf F_d
        S(R0) = R0 + (1 - R0) SW(|wi.h|) (SW(cos_t) when the incident index is the smaller),
        c_tint = base_color / luminance(base_color), R0(eta) = ((eta - 1) / (eta + 1))^2
    specular transmission (both sides):
        sqrt(base_color) bsdf |(1 - F_d) D G (wi.h)(wo.h) / (cos_i (wi.h + eta_path wo.h)^2)|
    clearcoat (front):  0.25 clearcoat S(0.04) D_GTR1(h) G_ggx(0.25) |cos_o|
        (GTR1 roughness 0.1 + (0.001 - 0.1) clearcoat_gloss; no 1 / (4 cos_i cos_o): Mitsuba's)
    diffuse (front):  brdf base_color / pi |cos_o| lerp(f_diff + f_retro, f_ss, flatness)
        f_diff = (1 - SW_i / 2)(1 - SW_o / 2), R_r = 2 roughness (h.wo)^2,
        f_retro = R_r (SW_o + SW_i + SW_o SW_i (R_r - 1)),
        f_ss = 1.25 (F_ss (1 / (|cos_i| + |cos_o|) - 0.5) + 0.5),
        F_ss = (1 + (R_r / 2 - 1) SW_o)(1 + (R_r / 2 - 1) SW_i)
    sheen (front):  sheen (1 - metallic) SW(|h.wo|) lerp(1, c_tint, sheen_tint) |cos_o|

Sampling (Mitsuba's): a lobe by ``u1`` with probabilities proportional to ``brdf`` (diffuse,
cosine-weighted), ``0.25 clearcoat`` (GTR1 normals), ``bsdf (1 - F_d)`` (transmission) and
``1 - bsdf (1 - F_d)`` (main reflection), ``F_d`` at the visible GGX normal drawn from ``u2``
(the sum does not depend on it); from the back only reflection (``F_d``) and transmission
(``1 - F_d``). The pdf is the mixture, the weight ``f cos / pdf``; a sampled direction on the
wrong side for its lobe is dropped, as in Mitsuba.

Every parameter is a continuous weight: Mitsuba's switches (a lobe is compiled in when its
parameter is given and not 0) give the same values as the weights at 0. Two deviations at
exact zeros: ``specular`` 0 (or ``eta`` 1) becomes 1e-3 (1.001) where ``spec_trans`` > 0 at the
point, not where the parameter is given; the sheen is added where ``brdf`` is 0 too (as
Mitsuba's vectorised variants). Mitsuba's ``*_sampling_rate`` options are not supported.

Parameters (-> bundle): ``base_color`` (0.5, ``a``), ``roughness`` (0.5, ``alpha``),
``specular`` (0.5) or ``eta`` (-> ``eta``; a row flag says which), ``anisotropic`` (``x0``),
``metallic`` (``x1``), ``spec_trans`` (``x2``), ``spec_tint`` (``x3``), ``sheen`` (``x4``),
``sheen_tint`` (``x5``), ``clearcoat`` (``x6``), ``clearcoat_gloss`` (``x7``), ``flatness``
(``x8``), all 0 by default, floats or textures. All differentiable.

Scene snippet::

    <bsdf type="principled">
        <rgb name="base_color" value="0.8, 0.3, 0.1"/>
        <float name="roughness" value="0.3"/>
        <float name="metallic" value="0.5"/>
        <float name="clearcoat" value="0.4"/>
    </bsdf>
"""

import numpy as np

from ...engine import ti
from ...scene.spec import Param, PluginSpec
from ..types import INV_PI, PI, BSDFSample
from ..warp import square_to_cosine_hemisphere
from .common import HAS_SMOOTH, LOBE_SMOOTH, reflectance
from .microfacet import fresnel_dielectric, mf_d, mf_g1, mf_pdf, mf_sample, reflect_about, safe_sqrt

#: extra bundle slots (``p.x[k]``) of the scalar parameters
ANISOTROPIC, METALLIC, SPEC_TRANS, SPEC_TINT, SHEEN, SHEEN_TINT, CLEARCOAT, CLEARCOAT_GLOSS, \
    FLATNESS = range(9)
#: row flag bit: the ``eta`` slot holds ``specular`` (converted in the kernels)
FLAG_SPECULAR = 1
#: Rec. 709 luminance weights (Mitsuba's ``luminance`` of RGB)
LUM = (0.212671, 0.715160, 0.072169)
#: clearcoat: GTR1 roughness at gloss 0 and 1, the masking roughness, the Fresnel R0, the weight
CC_ALPHA0, CC_ALPHA1, CC_G_ALPHA, CC_R0, CC_WEIGHT = 0.1, 0.001, 0.25, 0.04, 0.25
MIN_ALPHA = 0.001


def weight_param(default, doc, slot):
    """A differentiable float (or texture) parameter kept in the bundle's extra slot ``slot``."""
    return Param("float_texture", default, doc, diff=True, field=f"x{slot}")


SPEC = PluginSpec("bsdf", "principled", {
    "base_color": reflectance(0.5, "base colour (rgb or texture)", "a"),
    "roughness": Param("float_texture", 0.5, "roughness (alpha = roughness^2)", diff=True,
                       field="alpha"),
    "anisotropic": weight_param(0.0, "anisotropy of the specular lobes", ANISOTROPIC),
    "metallic": weight_param(0.0, "metallic blend", METALLIC),
    "spec_trans": weight_param(0.0, "specular transmission blend", SPEC_TRANS),
    "eta": Param("float_texture", None, "relative index of refraction (instead of specular)",
                 diff=True, field="eta"),
    "specular": Param("float_texture", 0.5, "specular reflectance at normal incidence / 0.08 "
                                            "(sets eta; instead of eta)", diff=True, field="eta"),
    "spec_tint": weight_param(0.0, "tint of the dielectric specular towards base_color", SPEC_TINT),
    "sheen": weight_param(0.0, "sheen (grazing retro-reflection) weight", SHEEN),
    "sheen_tint": weight_param(0.0, "tint of the sheen towards base_color", SHEEN_TINT),
    "clearcoat": weight_param(0.0, "clearcoat (second specular lobe) weight", CLEARCOAT),
    "clearcoat_gloss": weight_param(0.0, "clearcoat glossiness (GTR1 roughness 0.1 .. 0.001)",
                               CLEARCOAT_GLOSS),
    "flatness": weight_param(0.0, "blend of the diffuse lobe towards fake subsurface", FLATNESS)},
    doc="Disney principled BSDF (diffuse, sheen, metallic / dielectric GGX, clearcoat)",
    code=8, lobes=(HAS_SMOOTH,))


def host_row(params) -> dict:
    """Row options: whether ``eta`` or ``specular`` was given; the shading frame aligned with
    dp/du when ``anisotropic`` is given (Mitsuba's anisotropic lobes follow the tangent)."""
    return {"flag": 0 if params.get("eta") is not None else FLAG_SPECULAR,
            **aligned_frame(params)}


def aligned_frame(params) -> dict:
    """``{"frame": 1}`` (the row's frame follows dp/du, as Mitsuba's anisotropic lobes) when
    ``anisotropic`` is given and not a constant 0."""
    an = params.get("anisotropic")
    if an is not None and not (an.type == "constant" and not np.any(an.value)):
        return {"frame": 1}
    return {}


# --- helpers -------------------------------------------------------------------------------------

@ti.func
def schlick_weight(c):
    m = ti.min(ti.max(1.0 - c, 0.0), 1.0)
    return m * m * m * m * m


@ti.func
def calc_schlick(r0, cos_i, eta):
    """Schlick's Fresnel ``R0 + (1 - R0) SW`` at ``cos_i`` (of the transmitted direction when
    the incident side has the smaller index); ``r0`` a float or an RGB vector."""
    eta_it = eta
    eta_ti = 1.0 / eta
    if cos_i < 0.0:
        eta_it = 1.0 / eta
        eta_ti = eta
    ct = safe_sqrt(1.0 - (1.0 - cos_i * cos_i) * eta_ti * eta_ti)
    sw = schlick_weight(ti.abs(cos_i))
    if not (eta_it > 1.0):
        sw = schlick_weight(ct)
    return r0 + (1.0 - r0) * sw


@ti.func
def luminance(c):
    return LUM[0] * c.x + LUM[1] * c.y + LUM[2] * c.z


@ti.func
def tint_color(c):
    """``c / luminance(c)``, 1 where the luminance is not positive."""
    lum = luminance(c)
    res = ti.Vector([1.0, 1.0, 1.0])
    if lum > 0.0:
        res = c / lum
    return res


@ti.func
def gtr1_d(alpha, m):
    a2 = alpha * alpha
    c2 = m.z * m.z
    res = (a2 - 1.0) / (PI * ti.log(a2) * (1.0 + (a2 - 1.0) * c2))
    if not (res * m.z > 1e-20):
        res = 0.0
    return res


@ti.func
def gtr1_sample(alpha, u):
    a2 = alpha * alpha
    phi = 2.0 * PI * u.x
    c2 = (1.0 - ti.pow(a2, 1.0 - u.y)) / (1.0 - a2)
    st = ti.sqrt(ti.max(0.0, 1.0 - c2))
    return ti.Vector([ti.cos(phi) * st, ti.sin(phi) * st, ti.sqrt(ti.max(0.0, c2))])


@ti.func
def smith_ggx1(v, h, alpha):
    """Isotropic GGX masking (the clearcoat's), 1 at normal incidence, 0 on back faces."""
    c2 = v.z * v.z
    res = 1.0
    if v.z != 1.0:
        t2 = (1.0 - c2) / ti.max(c2, 1e-30)
        res = 2.0 / (1.0 + ti.sqrt(1.0 + alpha * alpha * t2))
    if v.dot(h) * v.z <= 0.0:
        res = 0.0
    return res


@ti.func
def eta_of(p, spec_trans):
    """The relative index: ``eta``, or from ``specular`` (row flag); 0 / 1 made plausible for
    transmission as Mitsuba does."""
    eta = p.eta
    if (p.flag & FLAG_SPECULAR) != 0:
        s = p.eta
        if s == 0.0 and spec_trans > 0.0:
            s = 1e-3
        eta = 2.0 / (1.0 - safe_sqrt(0.08 * s)) - 1.0
    elif eta == 1.0 and spec_trans > 0.0:
        eta = 1.001
    return eta


@ti.func
def dist_params_of(roughness, anisotropic):
    """(alpha_u, alpha_v) of the GGX lobes (Disney's mapping)."""
    r2 = roughness * roughness
    aspect = ti.sqrt(ti.max(1.0 - 0.9 * anisotropic, 1e-4))
    return ti.max(MIN_ALPHA, r2 / aspect), ti.max(MIN_ALPHA, r2 * aspect)


@ti.func
def dist_params(p):
    return dist_params_of(p.alpha, p.x[ANISOTROPIC])


@ti.func
def _half(wi, wo, eta_path):
    refl = wi.z * wo.z > 0.0
    h = wi + wo * (1.0 if refl else eta_path)
    ln = h.norm()
    m = ti.Vector([0.0, 0.0, 1.0])
    if ln > 1e-12:
        m = h / ln
    if m.z < 0.0:
        m = -m
    return m


@ti.func
def _compat(m, wi, wo, sgn, reflection: ti.template()):
    """Macro/micro-surface compatibility (``sgn`` the side of wi)."""
    res = wi.dot(m) * sgn > 0.0
    if ti.static(reflection):
        res = res and wo.dot(m) * sgn > 0.0
    else:
        res = res and wo.dot(m) * sgn < 0.0
    return res


@ti.func
def _probs(front, brdf, bsdf, clearcoat, fd):
    """(diffuse, clearcoat, transmission, reflection) lobe probabilities."""
    p_d = 0.0
    p_c = 0.0
    p_t = 1.0 - fd
    p_r = fd
    if front:
        p_d = brdf
        p_c = CC_WEIGHT * clearcoat
        p_t = bsdf * (1.0 - fd)
        p_r = 1.0 - p_t
    inv = 1.0 / ti.max(p_d + p_c + p_t + p_r, 1e-20)
    return p_d * inv, p_c * inv, p_t * inv, p_r * inv


# --- BSDF ----------------------------------------------------------------------------------------

@ti.func
def eval(p, wi, wo):
    """f(wi, wo) |cos(theta_o)| (both sides)."""
    value = ti.Vector([0.0, 0.0, 0.0])
    ci = wi.z
    co = wo.z
    if ci != 0.0 and co != 0.0:
        metallic = p.x[METALLIC]
        spec_trans = p.x[SPEC_TRANS]
        clearcoat = p.x[CLEARCOAT]
        sheen = p.x[SHEEN]
        base = p.a
        brdf = (1.0 - metallic) * (1.0 - spec_trans)
        bsdf = (1.0 - metallic) * spec_trans
        eta = eta_of(p, spec_trans)
        reflect = ci * co > 0.0
        front = ci > 0.0
        sgn = 1.0 if front else -1.0
        eta_path = eta if front else 1.0 / eta
        h = _half(wi, wo, eta_path)
        wih = wi.dot(h)
        woh = wo.dot(h)
        fd, _ct, _eit, _eti = fresnel_dielectric(wih, eta)
        ax, ay = dist_params(p)
        d = mf_d(False, ax, ay, h)
        g = mf_g1(False, ax, ay, wi, h) * mf_g1(False, ax, ay, wo, h)
        if reflect:
            if _compat(h, wi, wo, sgn, True):
                if fd > 0.0:
                    fp = bsdf * fd * ti.Vector([1.0, 1.0, 1.0])
                    if front:
                        eta_it = eta if wih >= 0.0 else 1.0 / eta
                        r0 = (eta_it - 1.0) / (eta_it + 1.0)
                        tint = p.x[SPEC_TINT]
                        fp = ((1.0 - metallic) * (1.0 - tint) * fd
                              + metallic * calc_schlick(base, wih, eta)
                              + (1.0 - metallic) * tint
                              * calc_schlick(tint_color(base) * (r0 * r0), wih, eta))
                    value += fp * (d * g / (4.0 * ti.abs(ci)))
                if front:
                    gloss = p.x[CLEARCOAT_GLOSS]
                    cc_alpha = CC_ALPHA0 + (CC_ALPHA1 - CC_ALPHA0) * gloss
                    fcc = calc_schlick(CC_R0, wih, eta)
                    gcc = smith_ggx1(wi, h, CC_G_ALPHA) * smith_ggx1(wo, h, CC_G_ALPHA)
                    value += ti.Vector([1.0, 1.0, 1.0]) * (
                        CC_WEIGHT * clearcoat * fcc * gtr1_d(cc_alpha, h) * gcc * ti.abs(co))
            if front:
                sw_o = schlick_weight(ti.abs(co))
                sw_i = schlick_weight(ti.abs(ci))
                f_diff = (1.0 - 0.5 * sw_i) * (1.0 - 0.5 * sw_o)
                rr = 2.0 * p.alpha * woh * woh
                f_retro = rr * (sw_o + sw_i + sw_o * sw_i * (rr - 1.0))
                fss90 = 0.5 * rr
                fss = (1.0 + (fss90 - 1.0) * sw_o) * (1.0 + (fss90 - 1.0) * sw_i)
                f_ss = 1.25 * (fss * (1.0 / (ti.abs(co) + ti.abs(ci)) - 0.5) + 0.5)
                flat = p.x[FLATNESS]
                lobe = (1.0 - flat) * (f_diff + f_retro) + flat * f_ss
                value += base * (brdf * ti.abs(co) * INV_PI * lobe)
                c_sheen = 1.0 + (tint_color(base) - 1.0) * p.x[SHEEN_TINT]
                value += c_sheen * (sheen * (1.0 - metallic) * schlick_weight(ti.abs(woh))
                                    * ti.abs(co))
        elif bsdf > 0.0 and fd < 1.0 and _compat(h, wi, wo, sgn, False):
            den = wih + eta_path * woh
            if ti.abs(den) > 1e-12:
                value += safe_sqrt(base) * (bsdf * ti.abs(
                    (1.0 - fd) * d * g * wih * woh / (ci * den * den)))
    return value


@ti.func
def pdf(p, wi, wo):
    res = 0.0
    ci = wi.z
    co = wo.z
    if ci != 0.0 and co != 0.0:
        metallic = p.x[METALLIC]
        spec_trans = p.x[SPEC_TRANS]
        brdf = (1.0 - metallic) * (1.0 - spec_trans)
        bsdf = (1.0 - metallic) * spec_trans
        front = ci > 0.0
        if front or bsdf > 0.0:
            eta = eta_of(p, spec_trans)
            reflect = ci * co > 0.0
            sgn = 1.0 if front else -1.0
            eta_path = eta if front else 1.0 / eta
            h = _half(wi, wo, eta_path)
            wih = wi.dot(h)
            woh = wo.dot(h)
            fd, _ct, _eit, _eti = fresnel_dielectric(wih, eta)
            p_d, p_c, p_t, p_r = _probs(front, brdf, bsdf, p.x[CLEARCOAT], fd)
            ax, ay = dist_params(p)
            dwh = 0.0
            if reflect:
                dwh = 1.0 / (4.0 * woh)
            else:
                den = wih + eta_path * woh
                if ti.abs(den) > 1e-12:
                    dwh = eta_path * eta_path * woh / (den * den)
            dwh = ti.abs(dwh)
            d_vis = mf_pdf(False, True, ax, ay, wi * sgn, h)
            if reflect:
                if _compat(h, wi, wo, sgn, True):
                    gloss = p.x[CLEARCOAT_GLOSS]
                    cc_alpha = CC_ALPHA0 + (CC_ALPHA1 - CC_ALPHA0) * gloss
                    res += (p_r * d_vis + p_c * h.z * gtr1_d(cc_alpha, h)) * dwh
                res += p_d * INV_PI * ti.abs(co)
            elif _compat(h, wi, wo, sgn, False):
                res += p_t * d_vis * dwh
    return res


@ti.func
def eval_delta(p, wi, wo, lobe):
    return ti.Vector([0.0, 0.0, 0.0])


@ti.func
def sample(p, wi, u1, u2):
    res = BSDFSample(wo=ti.Vector([0.0, 0.0, 1.0]), weight=ti.Vector([0.0, 0.0, 0.0]), pdf=0.0,
                     delta=LOBE_SMOOTH)
    ci = wi.z
    metallic = p.x[METALLIC]
    spec_trans = p.x[SPEC_TRANS]
    brdf = (1.0 - metallic) * (1.0 - spec_trans)
    bsdf = (1.0 - metallic) * spec_trans
    front = ci > 0.0
    if ci != 0.0 and (front or bsdf > 0.0):
        eta = eta_of(p, spec_trans)
        sgn = 1.0 if front else -1.0
        ax, ay = dist_params(p)
        m = mf_sample(False, True, ax, ay, wi * sgn, u2.x, u2.y)
        wim = wi.dot(m)
        fd, cos_t, _eta_it, eta_ti = fresnel_dielectric(wim, eta)
        p_d, p_c, p_t, _p_r = _probs(front, brdf, bsdf, p.x[CLEARCOAT], fd)
        wo = reflect_about(wi, m)
        ok = True
        if u1 < p_d:
            wo = square_to_cosine_hemisphere(u2)
        elif u1 < p_d + p_c:
            gloss = p.x[CLEARCOAT_GLOSS]
            mc = gtr1_sample(CC_ALPHA0 + (CC_ALPHA1 - CC_ALPHA0) * gloss, u2)
            wo = reflect_about(wi, mc)
            ok = wi.dot(mc) * sgn > 0.0 and wo.dot(mc) * sgn > 0.0 and ci * wo.z > 0.0
        elif u1 < p_d + p_c + p_t:
            wo = m * (wim * eta_ti + cos_t) - wi * eta_ti
            ok = wim * sgn > 0.0 and wo.dot(m) * sgn < 0.0 and ci * wo.z < 0.0
        else:
            ok = wim * sgn > 0.0 and wo.dot(m) * sgn > 0.0 and ci * wo.z > 0.0
        res.wo = wo
        if ok and wo.z != 0.0:
            pd = pdf(p, wi, wo)
            if pd > 0.0:
                res.pdf = pd
                res.weight = eval(p, wi, wo) / pd
    return res
