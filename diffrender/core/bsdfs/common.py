"""The parameter bundle every built-in BSDF module receives, fetched from texture slots at the
shading point by :class:`~diffrender.core.bsdfs.BSDFTable` (so every continuous parameter is
a texture slot, held in fields with gradient and dual storage, and can be textured).

Fields (meaning per plugin, see each module): ``a``, ``b``, ``c`` RGB; ``alpha`` roughness;
``eta`` relative index; ``w`` a host-side constant (plastic's specular sampling weight);
``flag`` an integer option (plastic's ``nonlinear``).

Lobe codes of a BSDF sample (``BSDFSample.delta``): 0 = a smooth (non-delta) direction,
1 = the delta reflection lobe, 2 = the delta transmission lobe, 3 = a mask's null
(pass-through) lobe; composites add 4 x the component index.
"""

from ...engine import ti
from ..types import vec3

BSDFParams = ti.types.struct(a=vec3, b=vec3, c=vec3, alpha=ti.f32, eta=ti.f32, w=ti.f32,
                             flag=ti.i32)

LOBE_SMOOTH, LOBE_REFLECT, LOBE_TRANSMIT, LOBE_NULL = 0, 1, 2, 3
