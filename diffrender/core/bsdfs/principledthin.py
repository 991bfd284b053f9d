"""The thin principled BSDF — Mitsuba 3.9.1's ``principledthin``: Disney's BSDF for a thin,
two-sided sheet (leaves, paper, fabric): specular reflection and transmission through the
sheet, diffuse reflection (with retro-reflection, fake subsurface and sheen) and diffuse
transmission, the same from both sides.

Equations (both directions mirrored through the origin to the side of wi, ``cos_i > 0``;
``h = normalize(wi + wo_r)``, ``wo_r`` = wo with ``|z|``; ``st`` = spec_trans,
``dt = diff_trans / 2``; ``D``, ``G`` anisotropic GGX with Smith masking, roughness
``alpha_u, alpha_v`` from ``roughness`` and ``anisotropic`` as in :mod:`.principled`, for the
transmission from the scaled roughness ``(0.65 eta - 0.35) roughness``; ``F_d`` the dielectric
Fresnel reflectance at ``wi.h`` for ``eta``)::

    specular reflection:    st F_t D G / (4 cos_i),
        F_t = (1 - spec_tint) F_d + spec_tint S(c_tint R0(eta))   (S, c_tint, R0: principled's)
    specular transmission:  st base_color (1 - F_d) D' G' / (4 cos_i)
    diffuse reflection:     (1 - st)(1 - dt) base_color / pi cos_o lerp(f_diff + f_retro, f_ss,
                            flatness) + sheen (1 - st)(1 - dt) SW(|h.wo|) c_sheen |cos_o|
    diffuse transmission:   (1 - st) dt base_color / pi |cos_o|

Sampling (Mitsuba's): a lobe by ``u1`` with probabilities ``st / 2`` (visible GGX normals,
reflected), ``st / 2`` (visible normals of the scaled roughness, reflected and mirrored through
the sheet), ``(1 - st)(1 - dt)`` (cosine-weighted) and ``(1 - st) dt`` (cosine-weighted, other
side); the pdf is the mixture, the weight ``f cos / pdf``; a sampled direction on the wrong
side for its lobe is dropped, as in Mitsuba. Every parameter is a continuous weight (Mitsuba's
switches at 0 give the same values). Mitsuba's ``*_sampling_rate`` options are not supported.

Parameters (-> bundle): ``base_color`` (0.5, ``a``), ``roughness`` (0.5, ``alpha``), ``eta``
(1.5, ``eta``), ``anisotropic`` (``x0``), ``diff_trans`` (0..2, ``x1``), ``spec_trans``
(``x2``), ``spec_tint`` (``x3``), ``sheen`` (``x4``), ``sheen_tint`` (``x5``), ``flatness``
(``x8``), all 0 by default, floats or textures. All differentiable.

Scene snippet::

    <bsdf type="principledthin">
        <rgb name="base_color" value="0.3, 0.6, 0.2"/>
        <float name="diff_trans" value="0.8"/>
        <float name="spec_trans" value="0.3"/>
    </bsdf>
"""

from ...engine import ti
from ...scene.spec import Param, PluginSpec
from ..types import INV_PI, BSDFSample
from ..warp import square_to_cosine_hemisphere
from .common import HAS_SMOOTH, LOBE_SMOOTH, reflectance
from .microfacet import fresnel_dielectric, mf_d, mf_g1, mf_pdf, mf_sample, reflect_about
from .principled import (ANISOTROPIC, FLATNESS, SHEEN, SHEEN_TINT, SPEC_TINT, SPEC_TRANS,
                         aligned_frame, calc_schlick, dist_params_of,
                         schlick_weight, tint_color, weight_param)

#: bundle slot of ``diff_trans`` (principled's ``metallic`` slot; the thin BSDF has none)
DIFF_TRANS = 1


SPEC = PluginSpec("bsdf", "principledthin", {
    "base_color": reflectance(0.5, "base colour (rgb or texture)", "a"),
    "roughness": Param("float_texture", 0.5, "roughness (alpha = roughness^2)", diff=True,
                       field="alpha"),
    "anisotropic": weight_param(0.0, "anisotropy of the specular lobes", ANISOTROPIC),
    "spec_trans": weight_param(0.0, "specular (reflection + transmission) blend", SPEC_TRANS),
    "eta": Param("float_texture", 1.5, "index of refraction of the sheet", diff=True,
                 field="eta"),
    "spec_tint": weight_param(0.0, "tint of the specular reflection towards base_color", SPEC_TINT),
    "sheen": weight_param(0.0, "sheen (grazing retro-reflection) weight", SHEEN),
    "sheen_tint": weight_param(0.0, "tint of the sheen towards base_color", SHEEN_TINT),
    "flatness": weight_param(0.0, "blend of the diffuse lobe towards fake subsurface", FLATNESS),
    "diff_trans": weight_param(0.0, "diffuse transmission (0 .. 2)", DIFF_TRANS)},
    doc="thin Disney principled BSDF (two-sided sheet)", code=9, lobes=(HAS_SMOOTH,))


def host_row(params) -> dict:
    """The shading frame follows dp/du when ``anisotropic`` is given."""
    return aligned_frame(params)


@ti.func
def _probs(p):
    st = p.x[SPEC_TRANS]
    dt = 0.5 * p.x[DIFF_TRANS]
    p_sr = 0.5 * st
    p_st = 0.5 * st
    p_dr = (1.0 - st) * (1.0 - dt)
    p_dt = (1.0 - st) * dt
    inv = 1.0 / ti.max(p_sr + p_st + p_dr + p_dt, 1e-20)
    return p_sr * inv, p_st * inv, p_dr * inv, p_dt * inv


@ti.func
def _frame(wi, wo):
    """(wi, wo mirrored to wi's side, wo with |z|, h)."""
    s = 1.0 if wi.z > 0.0 else -1.0
    a = wi * s
    o = wo * s
    o_r = ti.Vector([o.x, o.y, ti.abs(o.z)])
    h = a + o_r
    ln = h.norm()
    m = ti.Vector([0.0, 0.0, 1.0])
    if ln > 1e-12:
        m = h / ln
    return a, o, o_r, m


@ti.func
def _trans_alpha(p):
    return dist_params_of((0.65 * p.eta - 0.35) * p.alpha, p.x[ANISOTROPIC])


@ti.func
def eval(p, wi, wo):
    """f(wi, wo) |cos(theta_o)| (both sides alike)."""
    value = ti.Vector([0.0, 0.0, 0.0])
    if wi.z != 0.0 and wo.z != 0.0:
        a, o, _o_r, h = _frame(wi, wo)
        ci = a.z
        co = o.z
        st = p.x[SPEC_TRANS]
        dt = 0.5 * p.x[DIFF_TRANS]
        base = p.a
        wih = a.dot(h)
        woh = o.dot(h)
        fd, _ct, _eit, _eti = fresnel_dielectric(wih, p.eta)
        if co > 0.0:
            if wih > 0.0 and woh > 0.0:
                ax, ay = dist_params_of(p.alpha, p.x[ANISOTROPIC])
                g = mf_g1(False, ax, ay, a, h) * mf_g1(False, ax, ay, o, h)
                r0 = (p.eta - 1.0) / (p.eta + 1.0)
                tint = p.x[SPEC_TINT]
                ft = (1.0 - tint) * fd + tint * calc_schlick(tint_color(base) * (r0 * r0), wih,
                                                             p.eta)
                value += ft * (st * mf_d(False, ax, ay, h) * g / (4.0 * ci))
            sw_o = schlick_weight(co)
            sw_i = schlick_weight(ci)
            f_diff = (1.0 - 0.5 * sw_i) * (1.0 - 0.5 * sw_o)
            rr = 2.0 * p.alpha * woh * woh
            f_retro = rr * (sw_o + sw_i + sw_o * sw_i * (rr - 1.0))
            fss90 = 0.5 * rr
            fss = (1.0 + (fss90 - 1.0) * sw_o) * (1.0 + (fss90 - 1.0) * sw_i)
            f_ss = 1.25 * (fss * (1.0 / (co + ci) - 0.5) + 0.5)
            flat = p.x[FLATNESS]
            lobe = (1.0 - flat) * (f_diff + f_retro) + flat * f_ss
            w = (1.0 - st) * (1.0 - dt)
            value += base * (w * co * INV_PI * lobe)
            c_sheen = 1.0 + (tint_color(base) - 1.0) * p.x[SHEEN_TINT]
            value += c_sheen * (p.x[SHEEN] * w * schlick_weight(ti.abs(woh)) * co)
        else:
            if wih > 0.0 and woh < 0.0:
                ax, ay = _trans_alpha(p)
                g = mf_g1(False, ax, ay, a, h) * mf_g1(False, ax, ay, o, h)
                value += base * (st * (1.0 - fd) * mf_d(False, ax, ay, h) * g / (4.0 * ci))
            value += base * ((1.0 - st) * dt * INV_PI * ti.abs(co))
    return value


@ti.func
def pdf(p, wi, wo):
    res = 0.0
    if wi.z != 0.0 and wo.z != 0.0:
        a, o, o_r, h = _frame(wi, wo)
        p_sr, p_st, p_dr, p_dt = _probs(p)
        wih = a.dot(h)
        woh = o.dot(h)
        dwh = ti.abs(1.0 / (4.0 * o_r.dot(h)))
        if o.z > 0.0:
            if wih > 0.0 and woh > 0.0:
                ax, ay = dist_params_of(p.alpha, p.x[ANISOTROPIC])
                res += p_sr * mf_pdf(False, True, ax, ay, a, h) * dwh
            res += p_dr * INV_PI * o.z
        else:
            if wih > 0.0 and woh < 0.0:
                ax, ay = _trans_alpha(p)
                res += p_st * mf_pdf(False, True, ax, ay, a, h) * dwh
            res += p_dt * INV_PI * (-o.z)
    return res


@ti.func
def eval_delta(p, wi, wo, lobe):
    return ti.Vector([0.0, 0.0, 0.0])


@ti.func
def sample(p, wi, u1, u2):
    res = BSDFSample(wo=ti.Vector([0.0, 0.0, 1.0]), weight=ti.Vector([0.0, 0.0, 0.0]), pdf=0.0,
                     delta=LOBE_SMOOTH)
    if wi.z != 0.0:
        s = 1.0 if wi.z > 0.0 else -1.0
        a = wi * s
        p_sr, p_st, p_dr, _p_dt = _probs(p)
        wo = square_to_cosine_hemisphere(u2)
        ok = True
        if u1 < p_sr:
            ax, ay = dist_params_of(p.alpha, p.x[ANISOTROPIC])
            m = mf_sample(False, True, ax, ay, a, u2.x, u2.y)
            wo = reflect_about(a, m)
            ok = wo.z > 0.0 and a.dot(m) > 0.0 and wo.dot(m) > 0.0
        elif u1 < p_sr + p_st:
            ax, ay = _trans_alpha(p)
            m = mf_sample(False, True, ax, ay, a, u2.x, u2.y)
            wo = reflect_about(a, m)
            wo.z = -wo.z
            ok = wo.z < 0.0 and a.dot(m) > 0.0 and wo.dot(m) < 0.0
        elif not (u1 < p_sr + p_st + p_dr):
            wo = -wo
        wo = wo * s
        res.wo = wo
        if ok and wo.z != 0.0:
            pd = pdf(p, wi, wo)
            if pd > 0.0:
                res.pdf = pd
                res.weight = eval(p, wi, wo) / pd
    return res
