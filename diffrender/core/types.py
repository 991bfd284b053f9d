"""Taichi types shared by the renderer's components."""

import numpy as np

from ..engine import ti

vec2 = ti.types.vector(2, ti.f32)
vec3 = ti.types.vector(3, ti.f32)
ivec3 = ti.types.vector(3, ti.i32)
mat3 = ti.types.matrix(3, 3, ti.f32)

INV_PI = 0.31830988618379067
PI = 3.141592653589793

# Ray offsets as Mitsuba's (math::RayEpsilon = 1500 float32 ulps at 1, ShadowEpsilon = 10x that).
RAY_EPSILON = 1500.0 * 2.0 ** -24
SHADOW_EPSILON = 10.0 * RAY_EPSILON

#: A closest-hit query result: distance, triangle (BVH order; -1 = miss), barycentrics.
Hit = ti.types.struct(t=ti.f32, tri=ti.i32, b1=ti.f32, b2=ti.f32)

#: A surface interaction: position, geometric and shading normals, uv, the uv tangents
#: dp/du and dp/dv (world space, per triangle; Mitsuba's rules, see ``geometry.uv_tangents``),
#: ids, and the hit's barycentrics ``bc`` = (b1, b2) (mesh attributes interpolate with them).
SurfaceInteraction = ti.types.struct(
    valid=ti.i32, t=ti.f32, p=vec3, ng=vec3, ns=vec3, uv=vec2, dp_du=vec3, dp_dv=vec3,
    shape=ti.i32, tri=ti.i32, bsdf=ti.i32, emitter=ti.i32, bc=vec2)

#: The differential geometry a perturbing BSDF (normalmap, bumpmap) needs, expressed in the
#: local shading frame the integrator evaluates BSDFs in: dp/du, dp/dv and the geometric normal.
LocalGeo = ti.types.struct(dpdu=vec3, dpdv=vec3, ng=vec3)

#: A BSDF sample: outgoing direction (local frame), weight = f * cos / pdf, pdf (solid angle).
BSDFSample = ti.types.struct(wo=vec3, weight=vec3, pdf=ti.f32, delta=ti.i32)

#: An emitter direction sample seen from a reference point: direction, distance, position on
#: the emitter, weight = L / pdf (selection included), pdf (solid angle, selection included;
#: for delta emitters the selection probability), delta flag.
#: ``emitter`` is the index of the chosen emitter and ``uv`` the surface coordinates of the
#: sampled point (area lights), so that a replay can re-evaluate the emitted radiance.
#: ``geo`` is the parameter-independent factor of the weight (weight = radiance(uv) * geo:
#: 1 / pdf, or for delta lights selection / r^2 times a spot's falloff); ``dist`` is 3e38 for
#: lights at infinity (directional, constant, envmap). ``tri`` and ``bc`` are what an area
#: light's sample drew: the triangle (BVH order; -1 for other emitters) and the barycentrics
#: of the point on it, so that a replay re-uses the point without re-deriving it.
EmitterSample = ti.types.struct(d=vec3, dist=ti.f32, p=vec3, weight=vec3, pdf=ti.f32,
                                delta=ti.i32, emitter=ti.i32, uv=vec2, geo=ti.f32,
                                tri=ti.i32, bc=vec2)


class HostRows:
    """A host copy of a struct field's rows, written to the device with one ``from_numpy``.

    Writing a struct element from Python (``field[i] = Info(...)``) runs one small Taichi writer
    kernel per scalar member, compiled for each new field on its first use: about 100 kernels
    for a Renderer's tables, ~0.9 s of a cold start. ``from_numpy`` writes shaped fields
    without a kernel (a 0-d field compiles one per vector member). Rows not written stay 0."""

    def __init__(self, field):
        self.field = field
        self.arrays = {}
        for k, member in field.field_dict.items():
            elem = (member.n,) if getattr(member, "ndim", 0) == 1 else \
                (member.n, member.m) if getattr(member, "ndim", 0) == 2 else ()
            dtype = ti.lang.util.to_numpy_type(member.dtype)
            self.arrays[k] = np.zeros(tuple(field.shape) + elem, dtype)

    def __setitem__(self, i, row) -> None:
        """Row ``i`` (``None`` for a 0-d field) from a dict or a struct value of the field's type."""
        values = row.to_dict() if hasattr(row, "to_dict") else row
        if set(values) != set(self.arrays):
            raise KeyError(f"members {sorted(values)} != the field's {sorted(self.arrays)}")
        for k, v in values.items():
            if i is None:
                self.arrays[k][...] = v
            else:
                self.arrays[k][i] = v

    def flush(self) -> None:
        self.field.from_numpy(self.arrays)
