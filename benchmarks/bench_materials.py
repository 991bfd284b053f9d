"""Materials and emitters against Mitsuba 3: the same XML rendered by diffrender and by Mitsuba
(``scalar_rgb``), compared by relative MSE (``mean((ours - mitsuba)^2) / mean(mitsuba^2)``) and
the ratio of the image means; plus render times (ours steady-state vs Mitsuba in this process).

One JSON line per case ``BSDF/EMITTER[/INTEGRATOR]``: a sphere with the BSDF on a floor, lit by
the emitter, rendered by the integrator of :data:`INTEGRATORS` (default ``path``, max_depth 6);
and the bundled scenes of ``SCENE_CASES`` (``normal-map``: ``normalmap`` and ``bumpmap``)
rendered at ``--res`` from their own XML. Some "BSDF" cases also change the floor (``bitmap``,
``checkerboard``) or use a user shader where Mitsuba gets the equivalent built-in (``shader``).
Without ``--cases``, :data:`TABLE_CASES` (every plugin of docs/materials.md) run.

Each line has ``mean_ratio`` (ours / Mitsuba at ``--ref-spp``), ``mean_ratio_se`` (its Monte
Carlo standard error, from the per-pixel differences), ``rel_mse`` and the noise floor
``rel_mse_mitsuba`` (Mitsuba at ``--spp`` against the same reference): a case renders the same
"within noise" when ``rel_mse`` is close to ``rel_mse_mitsuba`` and ``mean_ratio`` is within a
few ``mean_ratio_se`` of 1.

    python benchmarks/bench_materials.py [--spp 256] [--res 48] [--cases roughconductor,...]
    python benchmarks/bench_materials.py --cases normal-map --res 64 --spp 256 --ref-spp 1024
    python benchmarks/bench_materials.py --cases blend_delta/spot/direct,blendbsdf/envmap
    python benchmarks/bench_materials.py --write-reference    # tests/data/reference/materials*,
                                                              # roughplastic*, blendbsdf*,
                                                              # mask_twosided*,
                                                              # roughdielectric*, beckmann*,
                                                              # principled*, mesh_attribute*
    python benchmarks/bench_materials.py --write-reference blendbsdf   # only that one
    python benchmarks/bench_materials.py --cases principled-all --res 48 --spp 256 --ref-spp 1024
"""
import argparse
import json
import os
import sys
import tempfile
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
REF_DIR = os.path.join(ROOT, "tests", "data", "reference")
SHADERS = os.path.join(ROOT, "benchmarks", "shaders")

GGX = '<string name="distribution" value="ggx"/>'
CU_ETA, CU_K = "0.201005, 0.92375, 1.102215", "3.913262, 2.453045, 2.14209"  # Mitsuba 3.9 RGB
BSDFS = {
    "diffuse": '<bsdf type="diffuse"><rgb name="reflectance" value="0.6, 0.4, 0.2"/></bsdf>',
    "conductor": '<bsdf type="conductor"><string name="material" value="Au"/></bsdf>',
    "roughconductor": f'<bsdf type="roughconductor"><string name="material" value="Cu"/>'
                      f'<float name="alpha" value="0.25"/>{GGX}</bsdf>',
    "plastic": '<bsdf type="plastic"><rgb name="diffuse_reflectance" value="0.1, 0.27, 0.36"/>'
               '</bsdf>',
    "roughplastic": f'<bsdf type="roughplastic"><rgb name="diffuse_reflectance" '
                    f'value="0.7, 0.1, 0.1"/><float name="alpha" value="0.1"/>{GGX}</bsdf>',
    # no 'distribution': Mitsuba's default, Beckmann
    "roughconductor_beckmann": '<bsdf type="roughconductor"><string name="material" value="Cu"/>'
                               '<float name="alpha" value="0.25"/></bsdf>',
    "roughconductor_beckmann_aniso": '<bsdf type="roughconductor"><string name="material" '
                                     'value="Cu"/><float name="alpha_u" value="0.1"/>'
                                     '<float name="alpha_v" value="0.4"/></bsdf>',
    "roughplastic_beckmann": '<bsdf type="roughplastic"><rgb name="diffuse_reflectance" '
                             'value="0.7, 0.1, 0.1"/><float name="alpha" value="0.1"/></bsdf>',
    "dielectric": '<bsdf type="dielectric"/>',
    "roughdielectric": f'<bsdf type="roughdielectric"><float name="alpha" value="0.2"/>{GGX}</bsdf>',
    "roughdielectric_beckmann": '<bsdf type="roughdielectric"><float name="alpha" value="0.3"/></bsdf>',
    "thindielectric": '<bsdf type="thindielectric"/>',
    # two smooth components: Mitsuba 3.9.1's sample() returns the mixture pdf (unbiased MIS)
    "blendbsdf": f'<bsdf type="blendbsdf"><float name="weight" value="0.3"/>'
                 f'<bsdf type="diffuse"><rgb name="reflectance" value="0.2, 0.5, 0.2"/></bsdf>'
                 f'<bsdf type="roughconductor"><float name="alpha" value="0.2"/>{GGX}</bsdf>'
                 f'</bsdf>',
    # a delta and a smooth component: Mitsuba 3.9.1's sample() is biased when it picks the
    # delta lobe (docs/materials.md), so only estimators without BSDF sampling agree
    "blend_delta": '<bsdf type="blendbsdf"><float name="weight" value="0.4"/>'
                   '<bsdf type="conductor"><string name="material" value="Au"/></bsdf>'
                   '<bsdf type="diffuse"><rgb name="reflectance" value="0.2, 0.5, 0.2"/></bsdf>'
                   '</bsdf>',
    "mask": '<bsdf type="mask"><float name="opacity" value="0.4"/>'
            '<bsdf type="diffuse"><rgb name="reflectance" value="0.8, 0.3, 0.1"/></bsdf></bsdf>',
    # textures on the floor (the rectangle has uv; the sphere mesh has none)
    "bitmap": {"sphere": "roughconductor",
               "floor": '<bsdf type="diffuse"><texture type="bitmap" name="reflectance">'
                        '<string name="filename" value="{root}/scenes/textured-plane/textures/'
                        'quadrants.png"/><transform name="to_uv"><scale value="2"/></transform>'
                        '</texture></bsdf>'},
    "checkerboard": {"sphere": "plastic",
                     "floor": '<bsdf type="blendbsdf"><texture type="checkerboard" name="weight">'
                              '<rgb name="color0" value="0.15"/><rgb name="color1" value="0.85"/>'
                              '<transform name="to_uv"><scale value="6"/></transform></texture>'
                              '<bsdf type="diffuse"><texture type="checkerboard" name="reflectance">'
                              '<rgb name="color0" value="0.7, 0.6, 0.5"/><rgb name="color1" '
                              'value="0.1, 0.2, 0.3"/><transform name="to_uv"><scale value="4"/>'
                              '</transform></texture></bsdf>'
                              f'<bsdf type="roughconductor"><float name="alpha" value="0.3"/>{GGX}'
                              '</bsdf></bsdf>'},
    # user shaders (benchmarks/shaders/) that are Mitsuba built-ins; Mitsuba renders those
    "shader": {"sphere": '<bsdf type="shader"><string name="filename" '
                         'value="{root}/benchmarks/shaders/ggx_conductor.py"/>'
                         f'<rgb name="eta" value="{CU_ETA}"/><rgb name="k" value="{CU_K}"/>'
                         '<float name="alpha" value="0.25"/></bsdf>',
               "floor": '<bsdf type="diffuse"><texture type="shader" name="reflectance">'
                        '<string name="filename" value="{root}/benchmarks/shaders/checker.py"/>'
                        '<rgb name="color0" value="0.7, 0.6, 0.5"/><rgb name="color1" '
                        'value="0.1, 0.2, 0.3"/><transform name="to_uv"><scale value="4"/>'
                        '</transform></texture></bsdf>',
               "mitsuba_sphere": "roughconductor",
               "mitsuba_floor": '<bsdf type="diffuse"><texture type="checkerboard" '
                                'name="reflectance"><rgb name="color0" value="0.7, 0.6, 0.5"/>'
                                '<rgb name="color1" value="0.1, 0.2, 0.3"/><transform '
                                'name="to_uv"><scale value="4"/></transform></texture></bsdf>'},
}


def _principled(**kw):
    """A principled BSDF's XML (floats, or RGB tuples)."""
    body = "".join(f'<rgb name="{k}" value="{", ".join(map(str, v))}"/>' if isinstance(v, tuple)
                   else f'<float name="{k}" value="{v}"/>' for k, v in kw.items())
    return f'<bsdf type="principled">{body}</bsdf>'


#: principled, one case per parameter (docs/materials.md, "principled per parameter")
PRINCIPLED = {
    "principled": _principled(),  # Mitsuba's defaults
    "principled_base_color": _principled(base_color=(0.8, 0.3, 0.1)),
    "principled_roughness": _principled(base_color=(0.2, 0.4, 0.7), roughness=0.15),
    "principled_metallic": _principled(base_color=(0.9, 0.6, 0.2), metallic=0.8, roughness=0.3),
    "principled_specular": _principled(base_color=(0.3, 0.6, 0.2), specular=1.0, spec_tint=0.5,
                                       roughness=0.25),
    "principled_spec_trans": _principled(base_color=(0.9, 0.85, 0.7), spec_trans=0.8,
                                         roughness=0.2),
    "principled_clearcoat": _principled(base_color=(0.1, 0.2, 0.6), clearcoat=1.0,
                                        clearcoat_gloss=0.7),
    "principled_sheen": _principled(base_color=(0.2, 0.5, 0.2), sheen=1.0, sheen_tint=0.5,
                                    flatness=0.5, roughness=0.8),
    "principled_anisotropic": _principled(base_color=(0.9, 0.9, 0.9), metallic=1.0,
                                          roughness=0.4, anisotropic=0.8),
}
PRINCIPLED.update({
    "principledthin": '<bsdf type="principledthin"/>',
    "principledthin_diff_trans": '<bsdf type="principledthin"><rgb name="base_color" '
                                 'value="0.3, 0.6, 0.2"/><float name="diff_trans" value="1.2"/>'
                                 '</bsdf>',
    "principledthin_spec_trans": '<bsdf type="principledthin"><rgb name="base_color" '
                                 'value="0.9, 0.8, 0.6"/><float name="spec_trans" value="0.7"/>'
                                 '<float name="roughness" value="0.3"/><float name="eta" '
                                 'value="1.4"/><float name="sheen" value="0.6"/></bsdf>',
})
BSDFS.update(PRINCIPLED)
FLOOR = '<bsdf type="diffuse"><rgb name="reflectance" value="0.5"/></bsdf>'
EMITTERS = {
    "envmap": '<emitter type="envmap"><string name="filename" value="{env}"/>'
              '<float name="scale" value="1.5"/></emitter>',
    "constant": '<emitter type="constant"><rgb name="radiance" value="0.8, 0.9, 1.0"/></emitter>',
    "directional": '<emitter type="directional"><vector name="direction" x="0.4" y="-1" z="0.6"/>'
                   '<rgb name="irradiance" value="3"/></emitter>'
                   '<emitter type="constant"><rgb name="radiance" value="0.1"/></emitter>',
    "spot": '<emitter type="spot"><transform name="to_world"><lookat origin="1, 4, -2" '
            'target="0, 0, 0" up="0, 1, 0"/></transform><rgb name="intensity" value="40"/>'
            '<float name="cutoff_angle" value="30"/></emitter>',
    # delta lights only (no MIS anywhere): a spot, a directional and a point light
    "delta": '<emitter type="spot"><transform name="to_world"><lookat origin="1, 4, -2" '
             'target="0, 0, 0" up="0, 1, 0"/></transform><rgb name="intensity" value="30"/>'
             '<float name="cutoff_angle" value="30"/></emitter>'
             '<emitter type="directional"><vector name="direction" x="-0.5" y="-1" z="0.4"/>'
             '<rgb name="irradiance" value="1.5"/></emitter>'
             '<emitter type="point"><point name="position" x="-2" y="2.5" z="-2.5"/>'
             '<rgb name="intensity" value="8"/></emitter>',
}
#: integrator variants (the third part of a case name)
INTEGRATORS = {
    "path": '<integrator type="path"><integer name="max_depth" value="6"/></integrator>',
    "path2": '<integrator type="path"><integer name="max_depth" value="2"/></integrator>',
    "direct": '<integrator type="direct"/>',
    # emitter sampling only: no MIS, no BSDF sampling (a delta lobe is then never seen)
    "direct_em": '<integrator type="direct"><integer name="bsdf_samples" value="0"/>'
                 '<integer name="emitter_samples" value="1"/></integrator>',
    # BSDF sampling only: no MIS
    "direct_bsdf": '<integrator type="direct"><integer name="bsdf_samples" value="1"/>'
                   '<integer name="emitter_samples" value="0"/></integrator>',
}
#: the default list: every plugin of docs/materials.md at least once
TABLE_CASES = [
    "diffuse/spot", "diffuse/directional", "conductor/constant", "conductor/envmap",
    "roughconductor/envmap", "roughconductor/constant", "plastic/envmap", "roughplastic/envmap",
    "roughplastic/spot", "roughconductor_beckmann/envmap",
    "roughconductor_beckmann_aniso/envmap", "roughplastic_beckmann/envmap",
    "roughplastic_beckmann/spot", "dielectric/envmap", "roughdielectric/envmap",
    "roughdielectric_beckmann/envmap", "thindielectric/envmap", "blendbsdf/envmap",
    "blendbsdf/constant", "blendbsdf/delta", "blend_delta/delta", "blend_delta/delta/direct",
    "blend_delta/constant/direct_em", "blend_delta/constant/direct_bsdf",
    "blend_delta/constant", "mask/envmap", "mask/spot", "mask/spot/direct", "bitmap/envmap",
    "checkerboard/constant", "shader/envmap", "normal-map"] + [
    f"{n}/envmap" for n in PRINCIPLED] + ["principled_base_color/spot", "principled_sheen/spot",
                                          "principled_clearcoat/spot",
                                          "principledthin_diff_trans/spot"]
#: named groups of cases for --cases
GROUPS = {"principled-all": [c for c in TABLE_CASES if c.startswith("principled")]}
#: bundled scenes compared as they are (case name -> scene file, relative to the repository)
SCENE_CASES = {"normal-map": "scenes/normal-map/scene.xml"}


def parse_case(name):
    """'bsdf/emitter[/integrator]' -> (bsdf, emitter, integrator); a bundled scene -> (name,
    None, None)."""
    if name in SCENE_CASES:
        return name, None, None
    parts = name.split("/")
    if len(parts) not in (2, 3):
        raise SystemExit(f"bench_materials: case '{name}': expected BSDF/EMITTER[/INTEGRATOR] or "
                         f"one of {', '.join(SCENE_CASES)}")
    b, e = parts[0], parts[1]
    i = parts[2] if len(parts) == 3 else "path"
    for what, key, table in (("BSDF", b, BSDFS), ("emitter", e, EMITTERS),
                             ("integrator", i, INTEGRATORS)):
        if key not in table:
            raise SystemExit(f"bench_materials: case '{name}': unknown {what} '{key}' "
                             f"(expected one of {', '.join(table)})")
    return b, e, i


def make_envmap(path, h=32, w=64):
    """A procedural sky: a blue gradient, a warm horizon band, a bright sun, a dark ground."""
    v = (np.arange(h) + 0.5) / h
    u = (np.arange(w) + 0.5) / w
    theta = np.pi * v[:, None]
    phi = 2 * np.pi * u[None, :]
    up = np.cos(theta)
    sky = np.where(up[..., None] > 0,
                   np.array([0.25, 0.45, 0.9]) * (0.4 + 0.6 * up[..., None])
                   + np.array([0.9, 0.6, 0.3]) * np.exp(-8 * up[..., None]) * 0.5,
                   np.array([0.12, 0.1, 0.08]))
    sun_dir = np.array([np.sin(0.7) * np.sin(2.0), np.cos(0.7), -np.sin(0.7) * np.cos(2.0)])
    d = np.stack([np.sin(theta) * np.sin(phi), np.cos(theta) * np.ones_like(phi),
                  -np.sin(theta) * np.cos(phi)], -1)
    sun = (d @ sun_dir) > np.cos(np.radians(6))
    img = (sky * np.ones((h, w, 1))).astype(np.float32)
    img[sun] = [60.0, 55.0, 45.0]
    from diffrender.image import write_image

    write_image(path, img)
    make_sphere_obj(os.path.join(os.path.dirname(path), "sphere.obj"))
    return img


def make_sphere_obj(path, subdivisions=4):
    """The same triangle mesh for both renderers (an icosphere with vertex normals), so that
    the comparison is about materials and lights, not about tessellating Mitsuba's analytic
    sphere."""
    import trimesh

    m = trimesh.creation.icosphere(subdivisions=subdivisions)
    with open(path, "w") as f:
        for v in m.vertices:
            f.write(f"v {v[0]:.7f} {v[1]:.7f} {v[2]:.7f}\n")
        for n in m.vertex_normals:
            f.write(f"vn {n[0]:.7f} {n[1]:.7f} {n[2]:.7f}\n")
        for a, b, c in m.faces + 1:
            f.write(f"f {a}//{a} {b}//{b} {c}//{c}\n")


def make_attribute_sphere_ply(path, subdivisions=2):
    """A binary PLY icosphere (with vertex normals) carrying mesh attributes in the property
    names Mitsuba's PLY loader groups: float ``r g b`` (-> ``vertex_color``: a smooth function of
    the position), face ``color_0..2`` (-> ``face_color``) and ``weight_0`` (-> ``face_weight``),
    pseudo-random per face (a fixed formula of the face index)."""
    import trimesh

    m = trimesh.creation.icosphere(subdivisions=subdivisions)
    v = np.asarray(m.vertices, np.float64)
    f = np.asarray(m.faces, np.int64)
    vd = np.zeros(len(v), [(n, "<f4") for n in ("x", "y", "z", "nx", "ny", "nz", "r", "g", "b")])
    for k, n in enumerate("xyz"):
        vd[n] = v[:, k]
        vd["n" + n] = m.vertex_normals[:, k]
        vd["rgb"[k]] = np.clip(0.5 + 0.4 * v[:, k], 0.1, 0.9)
    h = lambda i, s: (np.sin((i + 1) * s) * 43758.5453) % 1.0  # noqa: E731 - a fixed hash
    i = np.arange(len(f), dtype=np.float64)
    fd = np.zeros(len(f), [("n", "u1"), ("i", "<i4", (3,)), ("color_0", "<f4"),
                           ("color_1", "<f4"), ("color_2", "<f4"), ("weight_0", "<f4")])
    fd["n"] = 3
    fd["i"] = f
    for k, s in enumerate((12.9898, 78.233, 37.719)):
        fd[f"color_{k}"] = 0.1 + 0.8 * h(i, s)
    fd["weight_0"] = h(i, 93.989)
    header = ["ply", "format binary_little_endian 1.0", f"element vertex {len(v)}"]
    header += [f"property float {n}" for n in vd.dtype.names]
    header += [f"element face {len(f)}", "property list uchar int vertex_indices"]
    header += [f"property float {n}" for n in fd.dtype.names[2:]] + ["end_header"]
    with open(path, "wb") as out:
        out.write(("\n".join(header) + "\n").encode("ascii"))
        out.write(vd.tobytes())
        out.write(fd.tobytes())


def _bsdf_xml(name, part, renderer):
    """The sphere's or the floor's BSDF XML of case ``name`` for ``renderer`` (ours / mitsuba)."""
    spec = BSDFS[name]
    if isinstance(spec, str):
        return spec if part == "sphere" else FLOOR
    x = spec.get(f"{renderer}_{part}", spec.get(part, FLOOR))
    x = BSDFS.get(x, x) if part == "sphere" else x
    return x.replace("{root}", ROOT)


def scene_xml(bsdf, emitter, env, res, spp, integrator="path", renderer="ours"):
    w, h = res, res * 3 // 4
    return f"""<scene version="3.0.0">
  {INTEGRATORS[integrator]}
  <sensor type="perspective"><float name="fov" value="35"/>
    <transform name="to_world"><lookat origin="0, 1.6, -5" target="0, 0.1, 0" up="0, 1, 0"/></transform>
    <film type="hdrfilm"><integer name="width" value="{w}"/><integer name="height" value="{h}"/>
      <rfilter type="box"/></film>
    <sampler type="independent"><integer name="sample_count" value="{spp}"/></sampler>
  </sensor>
  <shape type="obj"><string name="filename" value="{os.path.join(os.path.dirname(env), 'sphere.obj')}"/>{_bsdf_xml(bsdf, "sphere", renderer)}</shape>
  <shape type="rectangle">
    <transform name="to_world"><rotate x="1" angle="-90"/><scale value="4"/><translate y="-1"/></transform>
    {_bsdf_xml(bsdf, "floor", renderer)}
  </shape>
  {EMITTERS[emitter].format(env=env)}
</scene>"""


REFERENCE_XML = """<scene version="3.0.0">
  <integrator type="path"><integer name="max_depth" value="5"/></integrator>
  <sensor type="perspective"><float name="fov" value="45"/>
    <transform name="to_world"><lookat origin="0, 2.2, -5.5" target="0, 0.1, 0" up="0, 1, 0"/></transform>
    <film type="hdrfilm"><integer name="width" value="32"/><integer name="height" value="24"/>
      <rfilter type="box"/></film>
    <sampler type="independent"><integer name="sample_count" value="64"/></sampler>
  </sensor>
  <shape type="obj"><string name="filename" value="sphere.obj"/>
    <transform name="to_world"><scale value="0.7"/><translate x="-2.1"/></transform>
    <bsdf type="roughconductor"><string name="material" value="Cu"/><float name="alpha" value="0.25"/>
      <string name="distribution" value="ggx"/></bsdf></shape>
  <shape type="obj"><string name="filename" value="sphere.obj"/>
    <transform name="to_world"><scale value="0.7"/><translate x="-0.7"/></transform>
    <bsdf type="dielectric"/></shape>
  <shape type="obj"><string name="filename" value="sphere.obj"/>
    <transform name="to_world"><scale value="0.7"/><translate x="0.7"/></transform>
    <bsdf type="plastic"><rgb name="diffuse_reflectance" value="0.1, 0.27, 0.36"/></bsdf></shape>
  <shape type="obj"><string name="filename" value="sphere.obj"/>
    <transform name="to_world"><scale value="0.7"/><translate x="2.1"/></transform>
    <bsdf type="mask"><float name="opacity" value="0.6"/>
      <bsdf type="conductor"><string name="material" value="Au"/></bsdf></bsdf></shape>
  <shape type="rectangle">
    <transform name="to_world"><rotate x="1" angle="-90"/><scale value="5"/><translate y="-0.7"/></transform>
    <bsdf type="diffuse"><rgb name="reflectance" value="0.5"/></bsdf></shape>
  <emitter type="constant"><rgb name="radiance" value="0.6, 0.7, 0.8"/></emitter>
  <emitter type="spot"><transform name="to_world"><lookat origin="1.5, 4, -2" target="0, 0, 0" up="0, 1, 0"/></transform>
    <rgb name="intensity" value="25"/><float name="cutoff_angle" value="40"/></emitter>
  <emitter type="directional"><vector name="direction" x="-0.5" y="-1" z="0.4"/>
    <rgb name="irradiance" value="0.8"/></emitter>
</scene>
"""


def ref_scene_xml(origin, target, body):
    """A 24 x 18 reference scene (path, depth 4, fov 40, box filter) seen from ``origin``
    looking at ``target``, with ``body`` (its shapes and emitters, and the closing tag)."""
    return f"""<scene version="3.0.0">
  <integrator type="path"><integer name="max_depth" value="4"/></integrator>
  <sensor type="perspective"><float name="fov" value="40"/>
    <transform name="to_world"><lookat origin="{origin}" target="{target}" up="0, 1, 0"/></transform>
    <film type="hdrfilm"><integer name="width" value="24"/><integer name="height" value="18"/>
      <rfilter type="box"/></film>
    <sampler type="independent"><integer name="sample_count" value="64"/></sampler>
  </sensor>
""" + body


ROUGHPLASTIC_XML = ref_scene_xml("0, 1.2, -4.2", "0, 0.05, 0", """  <shape type="obj"><string name="filename" value="sphere.obj"/>
    <transform name="to_world"><scale value="0.85"/><translate x="-0.9"/></transform>
    <bsdf type="roughplastic"><rgb name="diffuse_reflectance" value="0.7, 0.1, 0.1"/>
      <float name="alpha" value="0.1"/><string name="distribution" value="ggx"/></bsdf></shape>
  <shape type="obj"><string name="filename" value="sphere.obj"/>
    <transform name="to_world"><scale value="0.85"/><translate x="0.9"/></transform>
    <bsdf type="roughplastic"><rgb name="diffuse_reflectance" value="0.1, 0.3, 0.8"/>
      <float name="alpha" value="0.4"/><float name="int_ior" value="1.9"/>
      <boolean name="nonlinear" value="true"/><string name="distribution" value="ggx"/></bsdf></shape>
  <shape type="rectangle">
    <transform name="to_world"><rotate x="1" angle="-90"/><scale value="5"/><translate y="-0.85"/></transform>
    <bsdf type="diffuse"><rgb name="reflectance" value="0.5"/></bsdf></shape>
  <emitter type="constant"><rgb name="radiance" value="0.9, 1.0, 1.1"/></emitter>
</scene>
""")


BECKMANN_XML = ref_scene_xml("0, 1.2, -4.2", "0, 0.05, 0", """  <shape type="obj"><string name="filename" value="sphere.obj"/>
    <transform name="to_world"><scale value="0.85"/><translate x="-0.9"/></transform>
    <bsdf type="roughconductor"><string name="material" value="Cu"/>
      <float name="alpha" value="0.3"/></bsdf></shape>
  <shape type="obj"><string name="filename" value="sphere.obj"/>
    <transform name="to_world"><scale value="0.85"/><translate x="0.9"/></transform>
    <bsdf type="roughplastic"><rgb name="diffuse_reflectance" value="0.1, 0.3, 0.8"/>
      <float name="alpha" value="0.25"/><float name="int_ior" value="1.7"/></bsdf></shape>
  <shape type="rectangle">
    <transform name="to_world"><rotate x="1" angle="-90"/><scale value="5"/><translate y="-0.85"/></transform>
    <bsdf type="diffuse"><rgb name="reflectance" value="0.5"/></bsdf></shape>
  <emitter type="constant"><rgb name="radiance" value="0.9, 1.0, 1.1"/></emitter>
</scene>
""")


GROUND_AND_SKY = """  <shape type="rectangle">
    <transform name="to_world"><rotate x="1" angle="-90"/><scale value="5"/><translate y="-0.85"/></transform>
    <bsdf type="diffuse"><rgb name="reflectance" value="0.5"/></bsdf></shape>
  <emitter type="constant"><rgb name="radiance" value="0.9, 1.0, 1.1"/></emitter>
  <emitter type="directional"><vector name="direction" x="-0.4" y="-1" z="0.5"/>
    <rgb name="irradiance" value="1.5"/></emitter>
"""  # the ground plane and the two emitters of the sphere-pair scenes


BLENDBSDF_XML = ref_scene_xml("0, 1.2, -4.2", "0, 0.05, 0", """  <shape type="obj"><string name="filename" value="sphere.obj"/>
    <transform name="to_world"><scale value="0.85"/><translate x="-0.9"/></transform>
    <bsdf type="blendbsdf"><float name="weight" value="0.3"/>
      <bsdf type="diffuse"><rgb name="reflectance" value="0.2, 0.5, 0.2"/></bsdf>
      <bsdf type="roughconductor"><string name="material" value="Cu"/><float name="alpha" value="0.2"/>
        <string name="distribution" value="ggx"/></bsdf></bsdf></shape>
  <shape type="obj"><string name="filename" value="sphere.obj"/>
    <transform name="to_world"><scale value="0.85"/><translate x="0.9"/></transform>
    <bsdf type="blendbsdf"><float name="weight" value="0.65"/>
      <bsdf type="diffuse"><rgb name="reflectance" value="0.8, 0.6, 0.3"/></bsdf>
      <bsdf type="roughconductor"><string name="material" value="Au"/><float name="alpha" value="0.35"/>
        <string name="distribution" value="ggx"/></bsdf></bsdf></shape>
""" + GROUND_AND_SKY + "</scene>\n")


MASK_TWOSIDED_XML = ref_scene_xml("0, 0.6, -4.2", "0, 0.1, 0", """  <!-- image right (world -x): a card whose normal points away from the camera, seen (and lit
       by the directional light) from its back -->
  <shape type="rectangle">
    <transform name="to_world"><scale x="0.8" y="0.9"/><rotate y="1" angle="20"/><translate x="-0.85" y="0.1"/></transform>
    <bsdf type="mask"><float name="opacity" value="0.6"/>
      <bsdf type="twosided"><bsdf type="diffuse"><rgb name="reflectance" value="0.7, 0.35, 0.2"/></bsdf></bsdf>
    </bsdf></shape>
  <!-- image left (world +x): a card facing the camera, rough gold -->
  <shape type="rectangle">
    <transform name="to_world"><scale x="0.8" y="0.9"/><rotate y="1" angle="160"/><translate x="0.85" y="0.1"/></transform>
    <bsdf type="mask"><float name="opacity" value="0.45"/>
      <bsdf type="twosided"><bsdf type="roughconductor"><string name="material" value="Au"/>
        <float name="alpha" value="0.3"/><string name="distribution" value="ggx"/></bsdf></bsdf>
    </bsdf></shape>
  <shape type="rectangle">
    <transform name="to_world"><rotate x="1" angle="-90"/><scale value="5"/><translate y="-0.8"/></transform>
    <bsdf type="diffuse"><rgb name="reflectance" value="0.5"/></bsdf></shape>
  <shape type="rectangle">
    <transform name="to_world"><scale value="5"/><rotate y="1" angle="180"/><translate z="1.5"/></transform>
    <bsdf type="diffuse"><rgb name="reflectance" value="0.3, 0.5, 0.6"/></bsdf></shape>
  <emitter type="constant"><rgb name="radiance" value="0.6, 0.7, 0.8"/></emitter>
  <emitter type="directional"><vector name="direction" x="0.3" y="-0.8" z="0.6"/>
    <rgb name="irradiance" value="1.5"/></emitter>
</scene>
""")


ROUGHDIELECTRIC_XML = ref_scene_xml("0, 1.2, -4.2", "0, 0.05, 0", """  <shape type="obj"><string name="filename" value="sphere.obj"/>
    <transform name="to_world"><scale value="0.85"/><translate x="-0.9"/></transform>
    <bsdf type="roughdielectric"><string name="distribution" value="ggx"/>
      <float name="alpha" value="0.15"/></bsdf></shape>
  <shape type="obj"><string name="filename" value="sphere.obj"/>
    <transform name="to_world"><scale value="0.85"/><translate x="0.9"/></transform>
    <bsdf type="roughdielectric"><float name="alpha" value="0.35"/>
      <string name="int_ior" value="water"/>
      <rgb name="specular_transmittance" value="0.9, 0.8, 0.6"/></bsdf></shape>
  <shape type="rectangle">
    <transform name="to_world"><rotate x="1" angle="-90"/><scale value="5"/><translate y="-0.85"/></transform>
    <bsdf type="diffuse"><rgb name="reflectance" value="0.5"/></bsdf></shape>
  <shape type="rectangle">
    <transform name="to_world"><scale value="5"/><rotate y="1" angle="180"/><translate z="1.5"/></transform>
    <bsdf type="diffuse"><rgb name="reflectance" value="0.3, 0.5, 0.6"/></bsdf></shape>
  <emitter type="constant"><rgb name="radiance" value="0.9, 1.0, 1.1"/></emitter>
</scene>
""")


PRINCIPLED_XML = ref_scene_xml("0, 1.2, -4.2", "0, 0.05, 0", """  <shape type="obj"><string name="filename" value="sphere.obj"/>
    <transform name="to_world"><scale value="0.85"/><translate x="-0.9"/></transform>
    <bsdf type="principled"><rgb name="base_color" value="0.9, 0.6, 0.3"/>
      <float name="roughness" value="0.35"/><float name="metallic" value="0.6"/>
      <float name="clearcoat" value="0.8"/><float name="clearcoat_gloss" value="0.5"/>
      <float name="spec_tint" value="0.3"/></bsdf></shape>
  <shape type="obj"><string name="filename" value="sphere.obj"/>
    <transform name="to_world"><scale value="0.85"/><translate x="0.9"/></transform>
    <bsdf type="principled"><rgb name="base_color" value="0.2, 0.5, 0.8"/>
      <float name="roughness" value="0.6"/><float name="specular" value="0.8"/>
      <float name="spec_tint" value="0.5"/><float name="sheen" value="1.0"/>
      <float name="sheen_tint" value="0.5"/><float name="flatness" value="0.5"/></bsdf></shape>
  <shape type="rectangle">
    <transform name="to_world"><rotate x="1" angle="-90"/><scale value="5"/><translate y="-0.85"/></transform>
    <bsdf type="diffuse"><rgb name="reflectance" value="0.5"/></bsdf></shape>
  <emitter type="constant"><rgb name="radiance" value="0.9, 1.0, 1.1"/></emitter>
  <emitter type="directional"><vector name="direction" x="-0.5" y="-1" z="0.4"/>
    <rgb name="irradiance" value="1.5"/></emitter>
</scene>
""")


MESH_ATTRIBUTE_XML = ref_scene_xml("0, 1.2, -4.2", "0, 0.05, 0", """  <shape type="ply"><string name="filename" value="mesh_attribute_sphere.ply"/>
    <transform name="to_world"><scale value="0.85"/><translate x="-0.9"/></transform>
    <bsdf type="diffuse"><texture type="mesh_attribute" name="reflectance">
      <string name="name" value="vertex_color"/></texture></bsdf></shape>
  <shape type="ply"><string name="filename" value="mesh_attribute_sphere.ply"/>
    <transform name="to_world"><scale value="0.85"/><translate x="0.9"/></transform>
    <bsdf type="blendbsdf"><texture type="mesh_attribute" name="weight">
        <string name="name" value="face_weight"/></texture>
      <bsdf type="diffuse"><texture type="mesh_attribute" name="reflectance">
        <string name="name" value="face_color"/><float name="scale" value="0.8"/></texture></bsdf>
      <bsdf type="roughconductor"><string name="material" value="Au"/><float name="alpha" value="0.3"/>
        <string name="distribution" value="ggx"/></bsdf></bsdf></shape>
""" + GROUND_AND_SKY + "</scene>\n")


def _write_xml_reference(stem, xml_text, spp):
    """tests/data/reference/<stem>.xml (``xml_text``) and <stem>.exr: Mitsuba's render of it
    (the sphere.obj the scenes use is made when missing)."""
    from diffrender.image import write_image

    os.makedirs(REF_DIR, exist_ok=True)
    if not os.path.exists(os.path.join(REF_DIR, "sphere.obj")):
        make_sphere_obj(os.path.join(REF_DIR, "sphere.obj"), subdivisions=2)
    xml = os.path.join(REF_DIR, stem + ".xml")
    with open(xml, "w") as f:
        f.write(xml_text)
    img, t = render_mitsuba(xml, spp)
    write_image(os.path.join(REF_DIR, stem + ".exr"), img)
    print(json.dumps({"bench": "materials", "what": f"reference {stem}", "spp": spp,
                      "mitsuba_s": round(t, 2)}))


def write_reference(spp=8192, others=True):
    """tests/data/reference/materials.{xml,exr} and sphere.obj: Mitsuba's render of
    :data:`REFERENCE_XML` (roughconductor, dielectric, plastic, mask over a conductor; constant, spot and
    directional lights) for tests/core/test_materials_reference.py."""
    os.makedirs(REF_DIR, exist_ok=True)
    make_sphere_obj(os.path.join(REF_DIR, "sphere.obj"), subdivisions=2)
    _write_xml_reference("materials", REFERENCE_XML, spp)
    if others:
        write_roughplastic_reference(4 * spp)
        write_blendbsdf_reference(4 * spp)
        write_mask_twosided_reference(4 * spp)
        write_roughdielectric_reference(4 * spp)
        write_beckmann_reference(4 * spp)
        write_principled_reference(4 * spp)
        write_mesh_attribute_reference(4 * spp)


def write_mesh_attribute_reference(spp=32768):
    """tests/data/reference/mesh_attribute.{xml,exr} and mesh_attribute_sphere.ply: two
    spheres whose materials read mesh attributes (a diffuse vertex colour; a blend of a diffuse
    face colour times 0.8 and rough gold, weighted by a face attribute) on a floor, under a
    uniform environment and a directional light, path traced to depth 4, for the bias test in
    tests/core/test_mesh_attribute.py."""
    os.makedirs(REF_DIR, exist_ok=True)
    make_attribute_sphere_ply(os.path.join(REF_DIR, "mesh_attribute_sphere.ply"))
    _write_xml_reference("mesh_attribute", MESH_ATTRIBUTE_XML, spp)


def write_roughplastic_reference(spp=32768):
    """tests/data/reference/roughplastic.{xml,exr}: two roughplastic spheres (alpha 0.1, and
    alpha 0.4 / int_ior 1.9 / nonlinear) filling the view under a uniform environment, for the
    bias test in tests/core/test_materials_reference.py."""
    _write_xml_reference("roughplastic", ROUGHPLASTIC_XML, spp)


def write_blendbsdf_reference(spp=32768):
    """tests/data/reference/blendbsdf.{xml,exr}: two blendbsdf spheres (diffuse + rough copper,
    weight 0.3; diffuse + rough gold, weight 0.65) filling the view under a uniform environment
    and a directional light, path traced to depth 4, for the bias test in
    tests/core/test_materials_reference.py. Both blends have smooth components only, where
    Mitsuba 3.9.1's blendbsdf is unbiased (its sample() returns the mixture pdf)."""
    _write_xml_reference("blendbsdf", BLENDBSDF_XML, spp)


def write_mask_twosided_reference(spp=32768):
    """tests/data/reference/mask_twosided.{xml,exr}: Mitsuba's own idiom for a two-sided
    cut-out, ``mask(twosided(...))``, on two cards (diffuse seen and lit from the back of the
    card; rough gold seen from the front) in front of a wall, under a uniform environment and a
    directional light, path traced to depth 4, for tests/core/test_materials_reference.py."""
    _write_xml_reference("mask_twosided", MASK_TWOSIDED_XML, spp)


def write_beckmann_reference(spp=32768):
    """tests/data/reference/beckmann.{xml,exr}: a rough copper sphere and a roughplastic sphere
    without 'distribution' (Mitsuba's default Beckmann) under a uniform environment, for the
    bias test in tests/core/test_materials_reference.py."""
    _write_xml_reference("beckmann", BECKMANN_XML, spp)


def write_roughdielectric_reference(spp=32768):
    """tests/data/reference/roughdielectric.{xml,exr}: two roughdielectric spheres (GGX alpha
    0.15 bk7 glass; Mitsuba's default Beckmann, alpha 0.35, water, tinted transmittance) in
    front of a wall, under a uniform environment (a directional light's caustics through the
    spheres would need ~8x the samples for the same standard error), path traced to depth 4,
    for the bias test in tests/core/test_materials_reference.py."""
    _write_xml_reference("roughdielectric", ROUGHDIELECTRIC_XML, spp)


def write_principled_reference(spp=32768):
    """tests/data/reference/principled.{xml,exr}: two principled spheres (metallic 0.6 with a
    clearcoat and a little spec_tint; a dielectric one with specular 0.8, spec_tint, sheen,
    sheen_tint and flatness) under a uniform environment and a directional light, path traced
    to depth 4, for the bias test in tests/core/test_materials_reference.py."""
    _write_xml_reference("principled", PRINCIPLED_XML, spp)


def render_ours(xml_path, spp, seed=0, defines=None):
    from diffrender.core import Renderer
    from diffrender.scene.loader import load_scene

    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scene = load_scene(xml_path, allow_shaders=True, **(defines or {}))
    r = Renderer(scene)
    t = time.perf_counter()
    img0 = r.render(spp=spp, seed=seed)
    first = time.perf_counter() - t
    t = time.perf_counter()
    img = r.render(spp=spp, seed=seed + 1)
    steady = time.perf_counter() - t
    render_ours.first_image = img0  # an independent render (another seed), for --own-noise
    return img, first, steady


def render_mitsuba(xml_path, spp, variant="scalar_rgb", defines=None, seed=0):
    import mitsuba as mi

    mi.set_variant(variant)
    mi.set_log_level(mi.LogLevel.Error)
    scene = mi.load_file(xml_path, **{k: str(v) for k, v in (defines or {}).items()})
    t = time.perf_counter()
    img = np.asarray(mi.render(scene, spp=spp, seed=seed))[:, :, :3]
    return img.astype(np.float32), time.perf_counter() - t


def rel_mse(a, b):
    return float(np.mean((a - b) ** 2) / max(np.mean(b ** 2), 1e-12))


def mean_ratio_se(a, b):
    """Standard error of mean(a) / mean(b) from the per-pixel differences (pixels are
    independent; the colour channels of a pixel are not, so they are averaged first)."""
    d = (a - b).mean(axis=2).ravel()
    return float(d.std(ddof=1) / np.sqrt(d.size) / max(abs(float(b.mean())), 1e-12))


def select_cases(spec):
    """--cases: comma-separated case names; a bare BSDF name selects the default cases with
    that BSDF (or BSDF/envmap when there is none)."""
    if not spec:
        return list(TABLE_CASES)
    out = []
    for w in spec.split(","):
        w = w.strip()
        if w in GROUPS:
            out += GROUPS[w]
        elif w in SCENE_CASES or "/" in w:
            out.append(w)
        elif w in BSDFS:
            out += [c for c in TABLE_CASES if c.split("/")[0] == w] or [f"{w}/envmap"]
        else:
            raise SystemExit(f"bench_materials: unknown case '{w}' (BSDFs: {', '.join(BSDFS)}; "
                             f"scenes: {', '.join(SCENE_CASES)})")
    for c in out:
        parse_case(c)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--spp", type=int, default=256, help="our spp (and Mitsuba's noise floor)")
    ap.add_argument("--ref-spp", type=int, default=1024, help="Mitsuba's reference spp")
    ap.add_argument("--res", type=int, default=48)
    ap.add_argument("--cases", default="", help="comma-separated: " + ", ".join(TABLE_CASES))
    ap.add_argument("--threads", type=int, default=2, help="ours and Mitsuba's")
    ap.add_argument("--no-floor", action="store_true",
                    help="skip Mitsuba's equal-spp render (rel_mse_mitsuba)")
    ap.add_argument("--own-noise", action="store_true",
                    help="also each renderer's own noise at --spp (half the relative MSE of two "
                         "independent renders): noise_ours, noise_mitsuba")
    ap.add_argument("--write-reference", nargs="?", const="all", default=None,
                    choices=["all", "materials", "roughplastic", "blendbsdf", "mask_twosided",
                             "roughdielectric", "beckmann", "principled", "mesh_attribute"],
                    help="write tests/data/reference/ images (Mitsuba) and exit")
    a = ap.parse_args()
    from diffrender.engine import init

    init("cpu", threads=a.threads)
    try:
        import mitsuba  # noqa: F401
        have_mi = True
    except ImportError:
        have_mi = False
    if have_mi:
        import drjit

        drjit.set_thread_count(a.threads)
    if a.write_reference:
        {"all": write_reference, "materials": lambda: write_reference(others=False),
         "roughplastic": write_roughplastic_reference,
         "roughdielectric": write_roughdielectric_reference,
         "beckmann": write_beckmann_reference,
         "principled": write_principled_reference,
         "blendbsdf": write_blendbsdf_reference,
         "mask_twosided": write_mask_twosided_reference,
         "mesh_attribute": write_mesh_attribute_reference}[a.write_reference]()
        return
    cases = select_cases(a.cases)
    tmp = tempfile.mkdtemp()
    env = os.path.join(tmp, "sky.exr")
    make_envmap(env)
    for name in cases:
        bsdf, emitter, integ = parse_case(name)
        defines = {}
        if emitter is None:  # a bundled scene
            path = mi_path = os.path.join(ROOT, SCENE_CASES[bsdf])
            defines = {"res": a.res, "spp": a.spp}
        else:
            path = os.path.join(tmp, name.replace("/", "_") + ".xml")
            mi_path = os.path.join(tmp, name.replace("/", "_") + "_mitsuba.xml")
            for fn, who in ((path, "ours"), (mi_path, "mitsuba")):
                with open(fn, "w") as f:
                    f.write(scene_xml(bsdf, emitter, env, a.res, a.spp, integ, who))
        ours, first, steady = render_ours(path, a.spp,
                                          defines={k: str(v) for k, v in defines.items()})
        out = {"bench": "materials", "case": name, "res": a.res, "spp": a.spp,
               "ours_first_s": round(first, 3), "ours_s": round(steady, 3),
               "ours_mean": round(float(ours.mean()), 5)}
        if have_mi:
            ref, t_mi = render_mitsuba(mi_path, a.ref_spp, defines=defines)
            out.update({"mitsuba_spp": a.ref_spp, "mitsuba_s": round(t_mi, 3),
                        "mitsuba_mean": round(float(ref.mean()), 5),
                        "mean_ratio": round(float(ours.mean() / max(ref.mean(), 1e-12)), 4),
                        "mean_ratio_se": round(mean_ratio_se(ours, ref), 4),
                        # time per sample, ours / Mitsuba scalar_rgb (steady state, this process)
                        "time_ratio_per_spp": round((steady / a.spp) / max(t_mi / a.ref_spp, 1e-9), 3),
                        "rel_mse": float(f"{rel_mse(ours, ref):.3g}")})
            if not a.no_floor:
                eq, _ = render_mitsuba(mi_path, a.spp, defines=defines, seed=17)
                out.update({"rel_mse_mitsuba": float(f"{rel_mse(eq, ref):.3g}"),
                            "mean_ratio_mitsuba": round(float(eq.mean() / max(ref.mean(), 1e-12)), 4)})
                if a.own_noise:
                    eq2, _ = render_mitsuba(mi_path, a.spp, defines=defines, seed=18)
                    out.update({
                        "noise_ours": float(f"{rel_mse(ours, render_ours.first_image) / 2:.3g}"),
                        "noise_mitsuba": float(f"{rel_mse(eq, eq2) / 2:.3g}")})
        print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
