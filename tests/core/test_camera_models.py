"""Real cameras: Mitsuba's principal point offset, pixel intrinsics with Brown–Conrady distortion
(against OpenCV), the thin lens (against Mitsuba), and photo-set cameras as sensors."""
import cv2
import numpy as np
import pytest

import diffrender as dr
from diffrender.core.camera import Camera, CameraModel, camera_direction
from diffrender.datasets.camera import OPENCV_TO_MITSUBA, CameraModel as PhotoCamera, look_at
from diffrender.datasets.dataset import Frame
from diffrender.engine import ti
from diffrender.errors import SceneError
from diffrender.scene.model import Film, Sensor

W, H = 40, 30
#: a strongly distorted real-lens camera (barrel, decentering) with an off-centre principal point
K_DIST = dict(fx=36.0, fy=33.0, cx=21.3, cy=13.9, k1=-0.21, k2=0.05, k3=-0.004, p1=0.003,
              p2=-0.002)

SCENE = """<scene version="3.0.0">
  <integrator type="path"><integer name="max_depth" value="2"/></integrator>
  <sensor type="{stype}">
    <float name="fov" value="45"/>
    {extra}
    <transform name="to_world"><lookat origin="0, 1, 4" target="0, 0.3, 0" up="0, 1, 0"/></transform>
    <film type="hdrfilm"><integer name="width" value="32"/><integer name="height" value="24"/>
      <rfilter type="box"/></film>
    <sampler type="independent"><integer name="sample_count" value="{spp}"/></sampler>
  </sensor>
  <emitter type="point"><point name="position" x="1" y="3" z="2"/><rgb name="intensity" value="20"/></emitter>
  <emitter type="constant"><rgb name="radiance" value="0.2"/></emitter>
  <shape type="rectangle"><transform name="to_world"><scale value="3"/><rotate x="1" angle="-90"/></transform>
    <bsdf type="diffuse"><texture type="checkerboard" name="reflectance">
      <transform name="to_uv"><scale value="6"/></transform></texture></bsdf></shape>
  <shape type="sphere"><point name="center" x="0.3" y="0.5" z="0"/><float name="radius" value="0.5"/>
    <bsdf type="diffuse"><rgb name="reflectance" value="0.8, 0.3, 0.2"/></bsdf></shape>
  <shape type="cube"><transform name="to_world"><scale value="0.3"/><translate x="-0.9" y="0.3" z="1.4"/></transform>
    <bsdf type="diffuse"><rgb name="reflectance" value="0.2, 0.7, 0.3"/></bsdf></shape>
</scene>
"""


def _sensor(**kw):
    s = Sensor(to_world=look_at((0.3, -0.2, 0.1), (0.5, 0.1, 5.0), (0.1, 1.0, 0.0)),
               film=Film(width=W, height=H), **kw)
    return s


@ti.kernel
def _rays(cam: ti.template(), pos: ti.types.ndarray(), out: ti.types.ndarray()):
    for i in range(pos.shape[0]):
        o, d, _t = cam.sample_ray(ti.Vector([pos[i, 0], pos[i, 1]]), ti.u32(i))
        for j in ti.static(range(3)):
            out[i, 0, j] = o[j]
            out[i, 1, j] = d[j]


def renderer_rays(sensor, pos):
    out = np.zeros((len(pos), 2, 3), np.float32)
    _rays(Camera(sensor), np.ascontiguousarray(pos, np.float32), out)
    return out[:, 0].astype(np.float64), out[:, 1].astype(np.float64)


def pixel_centres(w=W, h=H):
    ys, xs = np.mgrid[0:h, 0:w]
    return np.stack([xs.ravel() + 0.5, ys.ravel() + 0.5], axis=1)


def opencv_matrices(k):
    """OpenCV's camera matrix (its pixel centres are at integers) and distortion vector."""
    A = np.array([[k["fx"], 0, k["cx"] - 0.5], [0, k["fy"], k["cy"] - 0.5], [0, 0, 1]])
    return A, np.array([k["k1"], k["k2"], k["p1"], k["p2"], k["k3"]])


def test_distorted_rays_and_projection_match_opencv():
    s = _sensor(**K_DIST)
    pos = pixel_centres()
    o, d = renderer_rays(s, pos)
    A, dist = opencv_matrices(K_DIST)
    und = cv2.undistortPoints((pos - 0.5).reshape(-1, 1, 2), A, dist,
                              criteria=(cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 100,
                                        1e-14)).reshape(-1, 2)
    c2w = s.to_world @ OPENCV_TO_MITSUBA
    ref = np.concatenate([und, np.ones((len(und), 1))], 1) @ c2w[:3, :3].T
    ref /= np.linalg.norm(ref, axis=1, keepdims=True)
    assert np.abs(d - ref).max() < 2e-6  # float32 kernels
    # the ray starts on the near plane
    t = s.near_clip / (d @ s.to_world[:3, 2])
    np.testing.assert_allclose(o, s.to_world[:3, 3] + d * t[:, None], atol=1e-6)
    # projection (host model, used by edge sampling) against projectPoints, and round trip
    P = s.to_world[:3, 3] + ref * np.linspace(1, 7, len(ref))[:, None]
    w2c = np.linalg.inv(c2w)
    rv, _ = cv2.Rodrigues(w2c[:3, :3])
    px, _ = cv2.projectPoints(P, rv, w2c[:3, 3], A, dist)
    mine = CameraModel.of(s).project(P)
    np.testing.assert_allclose(mine, px.reshape(-1, 2) + 0.5, atol=1e-9)
    np.testing.assert_allclose(mine, pos, atol=1e-9)


def test_photo_set_cameras_become_sensors_with_the_same_rays():
    """Frame.sensor: a dataset camera with distortion / fx != fy / an off-centre principal
    point renders through the same rays as the dataset's own (OpenCV-checked) model."""
    tmpl = Sensor(film=Film(width=8, height=8))
    for k, want in ((K_DIST, "fx"), (dict(K_DIST, fy=36.0, k1=0, k2=0, k3=0, p1=0, p2=0),
                                     "principal_point_offset_x")):
        cam = PhotoCamera(W, H, k["fx"], k["fy"], k["cx"], k["cy"],
                          to_world=look_at((1, 2, 3), (0, 0, 0), (0, 1, 0)),
                          distortion={n: k[n] for n in ("k1", "k2", "k3", "p1", "p2")})
        s = Frame("f", "f.png", cam).sensor(tmpl)
        assert getattr(s, want) is not None
        pos = pixel_centres()
        _o, d = renderer_rays(s, pos)
        _o, ref = cam.rays(pos)
        assert np.abs(d - ref).max() < 2e-6, want
        np.testing.assert_allclose(CameraModel.of(s).project(cam.to_world[:3, 3] + ref),
                                   cam.project(cam.to_world[:3, 3] + ref), atol=1e-7)


def test_principal_point_offset_follows_mitsuba():
    """Mitsuba 3.9.1 (measured by rendering): offset_x = +0.1 moves what the optical axis sees
    10% of the width to the left, offset_y = +0.1 10% of the height up."""
    s = _sensor(fov=50, principal_point_offset_x=0.1, principal_point_offset_y=0.1)
    m = CameraModel.of(s)
    axis = s.to_world[:3, 3] + 3.0 * s.to_world[:3, 2]
    np.testing.assert_allclose(m.project([axis])[0], [0.4 * W, 0.4 * H], atol=1e-9)


def _render_pair(tmp_path, stype, extra, spp=64, mitsuba_seeds=(0,), scene=SCENE):
    """diffrender's render and Mitsuba's (one per seed) of ``scene`` with this sensor."""
    mi = pytest.importorskip("mitsuba")
    mi.set_variant("scalar_rgb")
    p = tmp_path / f"{stype}.xml"
    p.write_text(scene.format(stype=stype, extra=extra, spp=spp))
    msc = mi.load_file(str(p))
    refs = [np.array(mi.render(msc, spp=spp, seed=s), np.float64)[..., :3] for s in mitsuba_seeds]
    img = dr.render(dr.load_scene(str(p)), spp=spp).astype(np.float64)
    return (img, *refs)


def _blocks(a, b):
    h, w = a.shape[:2]
    return a.reshape(h // b, b, w // b, b, -1).mean(axis=(1, 3))


def _rel_mse(a, b, block=4):
    a, b = _blocks(a, block), _blocks(b, block)
    return float(((a - b) ** 2).mean() / (b ** 2).mean())


def test_principal_point_offset_renders_as_mitsuba(tmp_path):
    """Offsets in x and y (and a focus_distance, which Mitsuba's perspective ignores): the
    4x4-block relative MSE against Mitsuba at equal spp is at the noise level, 100x below the
    same comparison against the centred camera's Mitsuba image."""
    extra = ('<float name="principal_point_offset_x" value="0.15"/>'
             '<float name="principal_point_offset_y" value="-0.1"/>'
             '<float name="focus_distance" value="0.7"/>')
    img, ref = _render_pair(tmp_path, "perspective", extra)
    _, ref_centred = _render_pair(tmp_path, "perspective", "")
    err, err_centred = _rel_mse(img, ref), _rel_mse(img, ref_centred)
    assert err < 3e-3 and err_centred > 100 * err, (err, err_centred)
    assert abs(img.mean() / ref.mean() - 1) < 0.02


def test_principal_point_offset_with_a_crop_window_renders_as_mitsuba(tmp_path):
    """With a crop window the offset stays a fraction of the full film (measured: Mitsuba
    3.9.1 shifts the view by offset x full width)."""
    crop = ('<integer name="crop_offset_x" value="6"/><integer name="crop_offset_y" value="4"/>'
            '<integer name="crop_width" value="20"/><integer name="crop_height" value="16"/>')
    cropped = SCENE.replace('<rfilter type="box"/>', '<rfilter type="box"/>' + crop)
    extra = ('<float name="principal_point_offset_x" value="0.15"/>'
             '<float name="principal_point_offset_y" value="-0.1"/>')
    img, ref = _render_pair(tmp_path, "perspective", extra, spp=128, scene=cropped)
    _, ref_centred = _render_pair(tmp_path, "perspective", "", spp=128, scene=cropped)
    assert img.shape == ref.shape == (16, 20, 3)
    err, err_centred = _rel_mse(img, ref), _rel_mse(img, ref_centred)
    assert err < 5e-3 and err_centred > 20 * err, (err, err_centred)


def test_intrinsics_extension_errors(tmp_path):
    def err(extra):
        p = tmp_path / "bad.xml"
        p.write_text(SCENE.format(stype="perspective", extra=extra, spp=4))
        with pytest.raises(SceneError) as e:
            dr.load_scene(str(p))
        return str(e.value)
    assert "needs all of fx, fy, cx, cy (missing cy)" in err(
        '<float name="fx" value="30"/><float name="fy" value="30"/><float name="cx" value="16"/>')
    # fov is given by the template: the extension replaces it
    assert "give either 'fov' or the pixel intrinsics" in err(
        '<float name="fx" value="30"/><float name="fy" value="30"/><float name="cx" value="16"/>'
        '<float name="cy" value="12"/>')


def test_thinlens_renders_as_mitsuba(tmp_path):
    """Defocus (aperture 0.3, in focus at 2, the objects at ~4): the 2x2-block relative MSE
    against Mitsuba at equal spp is at most 2.5x that of two Mitsuba renders with different
    seeds (the noise level), and the pinhole's image is 5x farther."""
    extra = ('<float name="aperture_radius" value="0.3"/>'
             '<float name="focus_distance" value="2"/>')
    img, ref, ref2 = _render_pair(tmp_path, "thinlens", extra, spp=128, mitsuba_seeds=(1, 2))
    _, pinhole = _render_pair(tmp_path, "perspective", "", spp=128)
    noise = _rel_mse(ref2, ref, 2)
    err, err_pinhole = _rel_mse(img, ref, 2), _rel_mse(img, pinhole, 2)
    assert err < 2.5 * noise and err_pinhole > 5 * err, (err, noise, err_pinhole)
    assert abs(img.mean() / ref.mean() - 1) < 0.02


def test_camera_parameters_are_listed_set_and_written_back(tmp_path):
    from diffrender.scene.writer import write_scene

    p = tmp_path / "ext.xml"
    p.write_text(SCENE.format(stype="perspective", spp=4, extra="").replace(
        '<float name="fov" value="45"/>',
        '<float name="fx" value="30"/><float name="fy" value="31"/><float name="cx" value="16.5"/>'
        '<float name="cy" value="12"/><float name="k1" value="-0.1"/>'))
    sc = dr.load_scene(str(p))
    ps = sc.parameters()
    assert {f"sensor.{k}" for k in ("fx", "fy", "cx", "cy", "k1", "k2", "k3", "p1", "p2")} <= set(ps)
    assert "sensor.fov" not in set(ps) and ps.is_discontinuous("sensor.k1")
    ps["sensor.k1"] = -0.2
    ps["sensor.cx"] = 15.0
    write_scene(sc, str(tmp_path / "out.xml"))
    back = dr.load_scene(str(tmp_path / "out.xml")).sensor
    assert (back.k1, back.cx, back.fy) == (-0.2, 15.0, 31.0)
    p.write_text(SCENE.format(stype="perspective", spp=4,
                              extra='<float name="principal_point_offset_y" value="0"/>'))
    sc = dr.load_scene(str(p))
    ps = sc.parameters()
    assert "sensor.principal_point_offset_y" in set(ps) and "sensor.principal_point_offset_x" not in set(ps)
    ps["sensor.principal_point_offset_y"] = 0.125
    write_scene(sc, str(tmp_path / "out2.xml"))
    assert dr.load_scene(str(tmp_path / "out2.xml")).sensor.principal_point_offset_y == 0.125
