"""Materials and emitters against Mitsuba 3: the same XML rendered by diffrender and by Mitsuba
(``scalar_rgb``), compared by relative MSE (``mean((ours - mitsuba)^2) / mean(mitsuba^2)``) and
the ratio of the image means; plus render times (ours steady-state vs Mitsuba in this process).

One JSON line per case: a sphere with the BSDF on a diffuse floor, lit by the emitter; and the
bundled scenes of ``SCENE_CASES`` (``normal-map``: ``normalmap`` and ``bumpmap``) rendered at
``--res`` from their own XML.

    python benchmarks/bench_materials.py [--spp 256] [--res 48] [--cases roughconductor,...]
    python benchmarks/bench_materials.py --cases normal-map --res 64 --spp 256 --ref-spp 1024
    python benchmarks/bench_materials.py --write-reference    # tests/data/reference/materials*,
                                                              # roughplastic*
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

GGX = '<string name="distribution" value="ggx"/>'
BSDFS = {
    "diffuse": '<bsdf type="diffuse"><rgb name="reflectance" value="0.6, 0.4, 0.2"/></bsdf>',
    "conductor": '<bsdf type="conductor"><string name="material" value="Au"/></bsdf>',
    "roughconductor": f'<bsdf type="roughconductor"><string name="material" value="Cu"/>'
                      f'<float name="alpha" value="0.25"/>{GGX}</bsdf>',
    "plastic": '<bsdf type="plastic"><rgb name="diffuse_reflectance" value="0.1, 0.27, 0.36"/>'
               '</bsdf>',
    "roughplastic": f'<bsdf type="roughplastic"><rgb name="diffuse_reflectance" '
                    f'value="0.7, 0.1, 0.1"/><float name="alpha" value="0.1"/>{GGX}</bsdf>',
    "dielectric": '<bsdf type="dielectric"/>',
    "thindielectric": '<bsdf type="thindielectric"/>',
    "blendbsdf": f'<bsdf type="blendbsdf"><float name="weight" value="0.3"/>'
                 f'<bsdf type="diffuse"><rgb name="reflectance" value="0.2, 0.5, 0.2"/></bsdf>'
                 f'<bsdf type="roughconductor"><float name="alpha" value="0.2"/>{GGX}</bsdf>'
                 f'</bsdf>',
    "mask": '<bsdf type="mask"><float name="opacity" value="0.4"/>'
            '<bsdf type="diffuse"><rgb name="reflectance" value="0.8, 0.3, 0.1"/></bsdf></bsdf>',
}
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
}
CASES = [(b, "envmap") for b in BSDFS] + [("roughplastic", e) for e in
                                          ("constant", "directional", "spot")]
#: bundled scenes compared as they are (case name -> scene file, relative to the repository)
SCENE_CASES = {"normal-map": "scenes/normal-map/scene.xml"}


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


def scene_xml(bsdf, emitter, env, res, spp, max_depth=6):
    w, h = res, res * 3 // 4
    return f"""<scene version="3.0.0">
  <integrator type="path"><integer name="max_depth" value="{max_depth}"/></integrator>
  <sensor type="perspective"><float name="fov" value="35"/>
    <transform name="to_world"><lookat origin="0, 1.6, -5" target="0, 0.1, 0" up="0, 1, 0"/></transform>
    <film type="hdrfilm"><integer name="width" value="{w}"/><integer name="height" value="{h}"/>
      <rfilter type="box"/></film>
    <sampler type="independent"><integer name="sample_count" value="{spp}"/></sampler>
  </sensor>
  <shape type="obj"><string name="filename" value="{os.path.join(os.path.dirname(env), 'sphere.obj')}"/>{BSDFS[bsdf]}</shape>
  <shape type="rectangle">
    <transform name="to_world"><rotate x="1" angle="-90"/><scale value="4"/><translate y="-1"/></transform>
    <bsdf type="diffuse"><rgb name="reflectance" value="0.5"/></bsdf>
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


ROUGHPLASTIC_XML = """<scene version="3.0.0">
  <integrator type="path"><integer name="max_depth" value="4"/></integrator>
  <sensor type="perspective"><float name="fov" value="40"/>
    <transform name="to_world"><lookat origin="0, 1.2, -4.2" target="0, 0.05, 0" up="0, 1, 0"/></transform>
    <film type="hdrfilm"><integer name="width" value="24"/><integer name="height" value="18"/>
      <rfilter type="box"/></film>
    <sampler type="independent"><integer name="sample_count" value="64"/></sampler>
  </sensor>
  <shape type="obj"><string name="filename" value="sphere.obj"/>
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
"""


def write_reference(spp=8192):
    """tests/data/reference/materials.{xml,exr} and sphere.obj: Mitsuba's render of
    :data:`REFERENCE_XML` (roughconductor, dielectric, plastic, mask over a conductor; constant, spot and
    directional lights) for tests/render/test_materials_reference.py."""
    from diffrender.image import write_image

    os.makedirs(REF_DIR, exist_ok=True)
    make_sphere_obj(os.path.join(REF_DIR, "sphere.obj"), subdivisions=2)
    xml = os.path.join(REF_DIR, "materials.xml")
    with open(xml, "w") as f:
        f.write(REFERENCE_XML)
    img, t = render_mitsuba(xml, spp)
    write_image(os.path.join(REF_DIR, "materials.exr"), img)
    print(json.dumps({"bench": "materials", "what": "reference", "spp": spp, "mitsuba_s": round(t, 2)}))
    write_roughplastic_reference(4 * spp)


def write_roughplastic_reference(spp=32768):
    """tests/data/reference/roughplastic.{xml,exr}: two roughplastic spheres (alpha 0.1, and
    alpha 0.4 / int_ior 1.9 / nonlinear) filling the view under a uniform environment, for the
    bias test in tests/render/test_materials_reference.py."""
    from diffrender.image import write_image

    xml = os.path.join(REF_DIR, "roughplastic.xml")
    with open(xml, "w") as f:
        f.write(ROUGHPLASTIC_XML)
    img, t = render_mitsuba(xml, spp)
    write_image(os.path.join(REF_DIR, "roughplastic.exr"), img)
    print(json.dumps({"bench": "materials", "what": "reference roughplastic", "spp": spp,
                      "mitsuba_s": round(t, 2)}))


def render_ours(xml_path, spp, seed=0, defines=None):
    from diffrender.render import Renderer
    from diffrender.scene.loader import load_scene

    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scene = load_scene(xml_path, **(defines or {}))
    r = Renderer(scene)
    t = time.perf_counter()
    img = r.render(spp=spp, seed=seed)
    first = time.perf_counter() - t
    t = time.perf_counter()
    img = r.render(spp=spp, seed=seed + 1)
    return img, first, time.perf_counter() - t


def render_mitsuba(xml_path, spp, variant="scalar_rgb", defines=None):
    import mitsuba as mi

    mi.set_variant(variant)
    mi.set_log_level(mi.LogLevel.Error)
    scene = mi.load_file(xml_path, **{k: str(v) for k, v in (defines or {}).items()})
    t = time.perf_counter()
    img = np.asarray(mi.render(scene, spp=spp))[:, :, :3]
    return img.astype(np.float32), time.perf_counter() - t


def rel_mse(a, b):
    return float(np.mean((a - b) ** 2) / max(np.mean(b ** 2), 1e-12))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--spp", type=int, default=256)
    ap.add_argument("--ref-spp", type=int, default=1024)
    ap.add_argument("--res", type=int, default=48)
    ap.add_argument("--cases", default="")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--write-reference", action="store_true")
    a = ap.parse_args()
    from diffrender.engine import init

    init("cpu", threads=a.threads)
    if a.write_reference:
        write_reference()
        return
    tmp = tempfile.mkdtemp()
    env = os.path.join(tmp, "sky.exr")
    make_envmap(env)
    cases = CASES + [(n, None) for n in SCENE_CASES]
    if a.cases:
        cases = []
        for w in a.cases.split(","):
            if w in SCENE_CASES:
                cases.append((w, None))
            elif "/" in w:
                b, e = w.split("/")
                cases.append((b, e))
            else:
                cases += [c for c in CASES if c[0] == w]
    try:
        import mitsuba  # noqa: F401
        have_mi = True
    except ImportError:
        have_mi = False
    for bsdf, emitter in cases:
        defines = {}
        if emitter is None:  # a bundled scene
            path = os.path.join(ROOT, SCENE_CASES[bsdf])
            defines = {"res": a.res, "spp": a.spp}
            case = bsdf
        else:
            path = os.path.join(tmp, f"{bsdf}_{emitter}.xml")
            with open(path, "w") as f:
                f.write(scene_xml(bsdf, emitter, env, a.res, a.spp))
            case = f"{bsdf}/{emitter}"
        ours, first, steady = render_ours(path, a.spp,
                                          defines={k: str(v) for k, v in defines.items()})
        out = {"bench": "materials", "case": case, "res": a.res, "spp": a.spp,
               "ours_first_s": round(first, 3), "ours_s": round(steady, 3),
               "ours_mean": round(float(ours.mean()), 5)}
        if have_mi:
            ref, t_mi = render_mitsuba(path, a.ref_spp, defines=defines)
            out.update({"mitsuba_spp": a.ref_spp, "mitsuba_s": round(t_mi, 3),
                        "mitsuba_mean": round(float(ref.mean()), 5),
                        "mean_ratio": round(float(ours.mean() / max(ref.mean(), 1e-12)), 4),
                        # time per sample, ours / Mitsuba scalar_rgb (steady state, this process)
                        "time_ratio_per_spp": round((steady / a.spp) / max(t_mi / a.ref_spp, 1e-9), 3),
                        "rel_mse": round(rel_mse(ours, ref), 5)})
        print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
