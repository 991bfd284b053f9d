"""The ``orthographic`` sensor against Mitsuba 3.9.1: its rays (``sample_ray``) and a render
at equal spp; material and geometry derivatives under it against finite differences (edge
sampling with parallel rays: silhouettes seen along the camera's direction); derivatives of the
camera's own parameters are refused."""
import numpy as np
import pytest

import diffrender as dr
from diffrender.core import Renderer
from diffrender.core.camera import CameraModel
from diffrender.errors import GradientError, SceneError
from diffrender.scene.info import describe
from tests.core.test_camera_gradients import SPP, assert_floor_albedo_gradient_matches_fd
from tests.core.test_camera_models import _rel_mse, renderer_rays
from tests.core.test_edges import OCC, rect
from tests.helpers import edge_scenes
from tests.helpers.fd import assert_interior_matches_fd

#: camera-to-world: a look-at (origin (0.5, 2, -3)) after a scaling of (1.5, 0.8, 2)
TO_WORLD = """<transform name="to_world"><scale x="1.5" y="0.8" z="2"/>
      <lookat origin="0.5, 2, -3" target="0, 0.3, 0" up="0, 1, 0"/></transform>"""

SCENE = """<scene version="3.0.0">
  <integrator type="path"><integer name="max_depth" value="2"/></integrator>
  <sensor type="{stype}">
    <float name="near_clip" value="0.5"/><float name="far_clip" value="50"/>
    {to_world}
    <film type="hdrfilm"><integer name="width" value="32"/><integer name="height" value="24"/>
      <rfilter type="box"/></film>
    <sampler type="independent"><integer name="sample_count" value="{spp}"/></sampler>
  </sensor>
  <emitter type="point"><point name="position" x="1" y="3" z="-2"/><rgb name="intensity" value="20"/></emitter>
  <emitter type="constant"><rgb name="radiance" value="0.2"/></emitter>
  <shape type="rectangle"><transform name="to_world"><scale value="3"/><rotate x="1" angle="-90"/></transform>
    <bsdf type="diffuse"><texture type="checkerboard" name="reflectance">
      <transform name="to_uv"><scale value="6"/></transform></texture></bsdf></shape>
  <shape type="sphere"><point name="center" x="0.3" y="0.5" z="0"/><float name="radius" value="0.5"/>
    <bsdf type="diffuse"><rgb name="reflectance" value="0.8, 0.3, 0.2"/></bsdf></shape>
</scene>
"""


def _write(tmp_path, to_world=TO_WORLD, spp=64, stype="orthographic"):
    p = tmp_path / f"{stype}.xml"
    p.write_text(SCENE.format(stype=stype, to_world=to_world, spp=spp))
    return p


def test_rays_and_projection_match_mitsuba(tmp_path):
    """Origins, directions and ray lengths of Mitsuba's ``sample_ray`` at film corners and
    inner points; ``project`` inverts the ray generation and sees nothing before the rays'
    start."""
    mi = pytest.importorskip("mitsuba")
    mi.set_variant("scalar_rgb")
    p = _write(tmp_path)
    msensor = mi.load_file(str(p)).sensors()[0]
    sensor = dr.load_scene(str(p)).sensor
    w, h = sensor.film.width, sensor.film.height
    pos = np.array([[0, 0], [w, 0], [0, h], [w, h], [7.3, 11.1], [25.5, 3.25]], np.float64)
    o, d = renderer_rays(sensor, pos)
    for i, (px, py) in enumerate(pos):
        ray, _ = msensor.sample_ray(0.0, 0.5, mi.Point2f(px / w, py / h), mi.Point2f(0.5, 0.5))
        np.testing.assert_allclose(o[i], np.array(ray.o), atol=2e-5)
        np.testing.assert_allclose(d[i], np.array(ray.d), atol=2e-6)
    np.testing.assert_allclose(CameraModel.of(sensor).project(o + 3.0 * d), pos, atol=1e-3)
    # nothing before the rays' start (near_clip 0.5 scaled by z's 2) is seen: edge sampling
    # clips there too
    assert np.all(np.isnan(CameraModel.of(sensor).project(o - 0.1 * d)))
    assert np.all(np.isfinite(CameraModel.of(sensor).project(o + 0.1 * d)))


def test_renders_as_mitsuba(tmp_path):
    """The 2x2-block relative MSE against Mitsuba at equal spp is at most 2.5x that of two
    Mitsuba renders with other seeds (the noise level); the image of the unscaled camera is
    far off, so the test sees the extent."""
    mi = pytest.importorskip("mitsuba")
    mi.set_variant("scalar_rgb")
    spp = 64
    p = _write(tmp_path, spp=spp)
    msc = mi.load_file(str(p))
    ref, ref2 = (np.array(mi.render(msc, spp=spp, seed=s), np.float64)[..., :3] for s in (1, 2))
    img = dr.render(dr.load_scene(str(p)), spp=spp).astype(np.float64)
    unscaled = _write(tmp_path, TO_WORLD.replace('<scale x="1.5" y="0.8" z="2"/>', ""), spp)
    img_unscaled = dr.render(dr.load_scene(str(unscaled)), spp=spp).astype(np.float64)
    noise = _rel_mse(ref2, ref, 2)
    err, err_unscaled = _rel_mse(img, ref, 2), _rel_mse(img_unscaled, ref, 2)
    assert err < 2.5 * noise and err_unscaled > 5 * err, (err, noise, err_unscaled)
    assert abs(img.mean() / ref.mean() - 1) < 0.02


def test_bad_orthographic_sensors_are_one_line_errors(tmp_path):
    with pytest.raises(SceneError, match=r"orthographic.xml:\d+: .*no shear"):
        dr.load_scene(str(_write(tmp_path, '<transform name="to_world"><matrix value="1 0.5 0 0 '
                                           '0 1 0 0 0 0 1 0 0 0 0 1"/></transform>')))
    with pytest.raises(SceneError, match=r"orthographic.xml:\d+: .*'fov'"):
        dr.load_scene(str(_write(tmp_path, '<float name="fov" value="40"/>')))


def test_material_gradients_under_an_orthographic_camera():
    """Exact against central finite differences with common random numbers."""
    # looking down (-Y) from y = 2.5, extent 1.5
    look = np.array([[1, 0, 0, 0], [0, 0, -1, 2.5], [0, 1, 0, 0], [0, 0, 0, 1]], np.float64)
    assert_floor_albedo_gradient_matches_fd(
        {"type": "orthographic", "to_world": look @ np.diag([1.5, 1.5, 1.0, 1.0]),
         "film": {"type": "hdrfilm", "width": 16, "height": 16, "rfilter": {"type": "gaussian"}},
         "sampler": {"type": "independent", "sample_count": SPP}})


TO_ORIGIN_MINUS_4 = np.array([[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, -4], [0, 0, 0, 1]], np.float64)


def test_camera_gradients_are_refused():
    sc = dr.load_scene({"type": "scene", "integrator": {"type": "path", "max_depth": 1},
                        "sensor": {"type": "orthographic",
                                   "to_world": TO_ORIGIN_MINUS_4,
                                   "film": {"type": "hdrfilm", "width": 16, "height": 16}},
                        "occ": rect({"scale": [0.5, 0.4, 1]}, OCC)})
    r = Renderer(sc)
    with pytest.raises(GradientError, match="derivatives of the camera's own parameters are not supported "
                                            "with the orthographic sensor"):
        r.vjp(np.ones((16, 16, 3), np.float32), ["sensor.to_world"])


def box_on_plane_orthographic(light, res=16):
    """``edge_scenes.box_on_plane`` (max_depth 2) seen by an orthographic camera from its
    perspective camera's place, 2.6 x 2.6 wide."""
    sd = edge_scenes.box_on_plane(res, max_depth=2, light=light)
    sd["sensor"] = {"type": "orthographic",
                    "to_world": {"type": "transform", "scale": [1.3, 1.3, 1.0],
                                 "lookat": {"origin": [0.8, 1.6, -2.6], "target": [0, 0.2, 0], "up": [0, 1, 0]}},
                    "film": {"type": "hdrfilm", "width": res, "height": res, "rfilter": {"type": "gaussian"}},
                    "sampler": {"type": "independent", "sample_count": 4}}
    return sd


def test_interior_term_traces_the_parallel_rays():
    """A floor and a wall filling the view (no visibility changes), moved: the interior term
    within 1 % of central differences with common random numbers. Before the geometry replay
    traced the orthographic camera's own (parallel) rays (it traced a pinhole's), it gave -6.42
    for the floor's y translation against an FD of -12.06."""
    res = 12
    sd = {"type": "scene", "integrator": {"type": "path", "max_depth": 3},
          "sensor": {"type": "orthographic",
                     "to_world": {"type": "transform", "scale": [1.2, 1.2, 1.0],
                                  "lookat": {"origin": [0.3, 3, 0.5], "target": [0, 0, 0], "up": [0, 0, 1]}},
                     "film": {"type": "hdrfilm", "width": res, "height": res}},
          "floor": rect({"rotate": {"axis": [1, 0, 0], "angle": -90}, "scale": [4, 4, 4]}, refl=0.7),
          "wall": rect({"scale": [4, 4, 4], "translate": [0, 0, -2.5]}, refl=0.5),
          "lamp": {"type": "point", "position": [0.5, 2, 0.3], "intensity": {"type": "rgb", "value": [10, 10, 10]}}}
    sc = dr.load_scene(sd)
    adj = np.random.default_rng(1).normal(size=(res, res, 3)).astype(np.float32)
    assert_interior_matches_fd(Renderer(sc), sc, adj, [("floor.to_world", 7), ("wall.to_world", 11)], 4, 3, 2e-3)


#: d sum(adj * image) / d (the box's x translation), smooth adjoint, central FD with common
#: random numbers (64 seeds x 8192 spp, h = 0.01): mean, standard error. Without the primary
#: edges (the silhouettes seen along the camera's rays) the estimate was +58 % (point) and +50 to
#: +66 % (area, two runs).
ORTHO_BOX_FD = {"point": (7.4190, 0.0418), "area": (5.7423, 0.0290)}
ORTHO_BOX_SEEDS = {"point": 4, "area": 12}  # at 256 edge spp: standard errors of 0.5 % and 1.1 %


@pytest.mark.parametrize("light", ["point", "area"])
def test_geometry_gradients_match_finite_differences(light):
    """The box's translation under a point light (its silhouette and hard shadow) and an area
    light (its soft shadow): within 5 % of the FD; without the primary edges far off."""
    res = 16
    r = Renderer(dr.load_scene(box_on_plane_orthographic(light, res)))
    adj = edge_scenes.smooth_adjoint(res)
    fd = ORTHO_BOX_FD[light][0]

    def gradient(seeds, **opts):
        return float(np.mean([np.asarray(r.vjp(adj, ["box.to_world"], spp=64, seed=s,
                                                edges=dict(spp=256, seed=s, **opts))["box.to_world"])[0, 3]
                              for s in seeds]))
    g = gradient(range(1, ORTHO_BOX_SEEDS[light] + 1))
    assert abs(g - fd) < 0.05 * abs(fd), (g, fd)
    off = gradient((1,), primary=False)
    assert abs(off - fd) > 0.3 * abs(fd), off


def test_describe_gives_the_extent_and_no_field_of_view(tmp_path):
    s = describe(dr.load_scene(str(_write(tmp_path))))["sensors"][0]
    assert s["fov_x"] is None and s["extent"] == pytest.approx([1.5, 0.8 * 24 / 32])
    assert np.linalg.norm(s["direction"]) == pytest.approx(1.0)
