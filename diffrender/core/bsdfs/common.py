"""The parameter bundle every built-in BSDF module receives, fetched from texture slots at the
shading point by :class:`~diffrender.core.bsdfs.BSDFTable` (so every continuous parameter is
a texture slot, held in fields with gradient and dual storage, and can be textured).

Fields (meaning per plugin, see each module): ``a``, ``b``, ``c`` RGB; ``alpha`` roughness;
``alpha_v`` the roughness along the local y axis (anisotropic plugins; ``alpha`` is then the
one along x); ``eta`` relative index; ``x`` further scalar parameters (bundle fields ``x0`` ..
``x8``, for plugins with many of them: ``principled``); ``w`` a host-side constant (plastic's
specular sampling weight); ``flag`` integer options (plastic's ``nonlinear``, roughdielectric's
distribution).

Only the fields a plugin's spec names are fetched (the others keep their initial values and
are compiled out), so widening the bundle costs the plugins that do not use a field nothing.

Lobe codes of a BSDF sample (``BSDFSample.delta``): 0 = a smooth (non-delta) direction,
1 = the delta reflection lobe, 2 = the delta transmission lobe, 3 = a mask's null
(pass-through) lobe; composites add 4 x the component index.
"""

from ...engine import ti
from ...scene.ior import ior_value
from ...scene.spec import Param
from ..types import vec3

#: number of extra scalar parameters of the bundle (``x``)
N_EXTRA = 9
#: their bundle field names: ``x0`` is ``p.x[0]``, ...
EXTRA_FIELDS = tuple(f"x{k}" for k in range(N_EXTRA))

BSDFParams = ti.types.struct(a=vec3, b=vec3, c=vec3, alpha=ti.f32, alpha_v=ti.f32, eta=ti.f32,
                             x=ti.types.vector(N_EXTRA, ti.f32), w=ti.f32, flag=ti.i32)

#: the bundle fields a parameter can fill (``Param.field`` of a BSDF spec)
BUNDLE_FIELDS = ("a", "b", "c", "alpha", "alpha_v", "eta") + EXTRA_FIELDS

LOBE_SMOOTH, LOBE_REFLECT, LOBE_TRANSMIT, LOBE_NULL = 0, 1, 2, 3
#: a composite's lobe code adds LOBE_COMPONENT x the component index
LOBE_COMPONENT = 4

# --- parameter declarations shared by the BSDF modules' specs ---------------------------------

HAS_SMOOTH, HAS_DELTA = "smooth", "delta"  # PluginSpec.lobes


def reflectance(default, doc, fld):
    """A colour parameter (rgb, float, spectrum or texture), differentiable."""
    return Param("spectrum", default, doc, diff=True, field=fld)


def roughness(doc="roughness (float or texture)", fld=("alpha", "alpha_v")):
    return Param("float_texture", 0.1, doc, diff=True, field=fld)


def ior_params(interior):
    """``int_ior`` / ``ext_ior`` (Mitsuba's defaults: ``interior`` and air)."""
    return {"int_ior": Param("ior", interior, "interior index (float or material name)"),
            "ext_ior": Param("ior", "air", "exterior index (float or material name)")}


def eta_param(interior):
    """The differentiable relative index ``int_ior / ext_ior`` (a ``model`` parameter)."""
    return {"eta": Param("float_texture", ior_value(interior) / ior_value("air"),
                         "int_ior / ext_ior", diff=True, field="eta")}


def distribution(default="beckmann", choices=("ggx", "beckmann"), doc="microfacet distribution"):
    return Param("string", default, doc, choices)


SAMPLE_VISIBLE = Param("boolean", True, "sample visible normals only")


def conductor_params():
    """``material`` / ``eta`` / ``k`` / ``specular_reflectance`` of the conductors; the
    defaults of ``eta`` and ``k`` are those of ``material="none"`` (a perfect mirror)."""
    return {
        "material": Param("string", "none", "conductor preset (Au, Ag, Cu, Al, Cr, ...; none "
                                            "= perfect mirror)"),
        "eta": Param("spectrum", 0.0, "real part of the index (rgb), instead of material",
                     diff=True, field="b"),
        "k": Param("spectrum", 1.0, "imaginary part of the index (rgb), instead of material",
                   diff=True, field="c"),
        "specular_reflectance": reflectance(1.0, "multiplier (rgb or texture)", "a")}


# --- microfacet options (roughconductor, roughdielectric, roughplastic) ---------------------------

MF_BECKMANN = 1  # row flag bit of a microfacet BSDF: Beckmann (else GGX)
MF_ALL_NORMALS = 2  # row flag bit: sample_visible = false (sample all normals)


def microfacet_flag(params, spec, beckmann_bit=MF_BECKMANN, all_normals_bit=MF_ALL_NORMALS) -> int:
    """The row flag bits of a microfacet BSDF's ``distribution`` and ``sample_visible`` (the
    spec's defaults where the scene leaves them out)."""
    dist = str(params.get("distribution", spec.params["distribution"].default)).lower()
    vis = bool(params.get("sample_visible", spec.params["sample_visible"].default))
    return (beckmann_bit if dist == "beckmann" else 0) | (0 if vis else all_normals_bit)


@ti.func
def microfacet_options(p):
    """(Beckmann?, visible normals?) of a row whose flag holds :data:`MF_BECKMANN` /
    :data:`MF_ALL_NORMALS`."""
    return (p.flag & MF_BECKMANN) != 0, (p.flag & MF_ALL_NORMALS) == 0

