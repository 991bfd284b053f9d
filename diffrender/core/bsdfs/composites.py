"""Specs of the BSDFs that wrap others — ``twosided``, ``blendbsdf``, ``mask``, ``normalmap``,
``bumpmap`` — and of user ``shader`` BSDFs. Their kernels are the rows of
:class:`~diffrender.core.bsdfs.BSDFTable` (see the package docstring); their codes are the
table's compile-time ``kind`` / ``pert`` constants below.
"""
from ...scene.spec import Param, PluginSpec

LEAF, BLEND, MASK = 0, 1, 2  # BSDFInfo.kind
NO_PERTURBATION, NORMALMAP, BUMPMAP = 0, 1, 2  # BSDFInfo.pert
PFLAG_FLIP_INVALID, PFLAG_SHADOWING = 1, 2  # BSDFInfo.pflags bits
SHADER_BASE = 100  # type code of user shader k: SHADER_BASE + k

_FLIP = Param("boolean", True, "flip normals that face away from wi (Schuessler et al. 2017)")
_SHADOW = Param("boolean", True, "terminator shadowing (Conty Estevez et al. 2019)")

SPECS = (
    PluginSpec("bsdf", "twosided", {}, ("bsdf",), "makes the nested BSDF two-sided"),
    PluginSpec("bsdf", "blendbsdf", {
        "weight": Param("float_texture", 0.5, "0 = first BSDF, 1 = second (float or texture)",
                        diff=True)},
        ("bsdf",), "linear blend of two BSDFs", code=BLEND),
    PluginSpec("bsdf", "mask", {
        "opacity": Param("float_texture", 0.5, "1 = opaque, 0 = invisible (float or texture)",
                         diff=True)},
        ("bsdf",), "cut-out: null transmission with probability 1 - opacity", code=MASK),
    PluginSpec("bsdf", "null", {}, (), "invisible surface (a medium's boundary): built as a "
               "mask of opacity 0"),
    PluginSpec("bsdf", "normalmap", {
        "normalmap": Param("spectrum", None, "tangent-space normals, (n + 1) / 2 per channel "
                                             "(a raw bitmap; required)", diff=True),
        "flip_invalid_normals": _FLIP,
        "use_shadowing_function": _SHADOW},
        ("bsdf",), "perturbs the shading frame of the nested BSDF by a normal map",
        code=NORMALMAP),
    PluginSpec("bsdf", "bumpmap", {
        "scale": Param("float", 1.0, "height gradient multiplier", diff=True),
        "flip_invalid_normals": _FLIP,
        "use_shadowing_function": _SHADOW},
        ("bsdf", "texture"), "perturbs the shading frame of the nested BSDF by a height map "
                             "(one nested texture, any name)", code=BUMPMAP),
    PluginSpec("bsdf", "shader", {
        "filename": Param("string", None, "Python file defining the shader (docs/shaders.md)")},
        (), "user BSDF written as a Taichi function", code=SHADER_BASE),
)
