"""Photo-set import: datasets written from known cameras are read back, and every pixel's ray
is compared with the ray computed independently (OpenCV for the lens model), per convention."""
import json
import os

import cv2
import numpy as np
import pytest

from diffrender.datasets import CameraModel, load_dataset, look_at
from diffrender.errors import ConfigError

pycolmap = pytest.importorskip("pycolmap", reason="the 'photos' extra (pycolmap) is not installed")

RNG_SEED = 1234
# (COLMAP model, width, height, params in COLMAP's order)
COLMAP_CAMERAS = [
    ("PINHOLE", 40, 30, [45.0, 47.0, 19.3, 15.8]),
    ("SIMPLE_RADIAL", 36, 24, [40.0, 18.4, 11.6, -0.08]),
    ("OPENCV", 48, 32, [50.0, 52.0, 24.6, 15.1, -0.12, 0.03, 0.002, -0.001]),
]


def _random_pose(rng):
    """cam_from_world (OpenCV axes): rotation as a unit quaternion (x, y, z, w), translation."""
    q = rng.normal(size=4)
    q /= np.linalg.norm(q)
    return q, rng.normal(size=3) + np.array([0.0, 0.0, 4.0])


def _quat_matrix(q):
    x, y, z, w = q
    return np.array([[1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
                     [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
                     [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]])


def _opencv_K_dist(model, params):
    """OpenCV's camera matrix (pixel centres at integers) and distortion of a COLMAP camera."""
    names = {"PINHOLE": ("fx", "fy", "cx", "cy"), "SIMPLE_RADIAL": ("f", "cx", "cy", "k1"),
             "OPENCV": ("fx", "fy", "cx", "cy", "k1", "k2", "p1", "p2")}[model]
    v = dict(zip(names, params))
    fx, fy = v.get("fx", v.get("f")), v.get("fy", v.get("f"))
    K = np.array([[fx, 0, v["cx"] - 0.5], [0, fy, v["cy"] - 0.5], [0, 0, 1.0]])
    dist = np.array([v.get("k1", 0.0), v.get("k2", 0.0), v.get("p1", 0.0), v.get("p2", 0.0), 0.0])
    return K, dist


def _pixel_centres(w, h):
    ys, xs = np.mgrid[0:h, 0:w]
    return np.stack([xs.ravel() + 0.5, ys.ravel() + 0.5], axis=1)


def _write_colmap(tmp_path, binary):
    rng = np.random.default_rng(RNG_SEED)
    rec = pycolmap.Reconstruction()
    truth = {}
    for cid, (model, w, h, params) in enumerate(COLMAP_CAMERAS, start=1):
        rec.add_camera_with_trivial_rig(pycolmap.Camera(model=model, width=w, height=h,
                                                        params=params, camera_id=cid))
        for j in range(2):
            iid = 10 * cid + j
            q, t = _random_pose(rng)
            name = f"img_{iid}.png"
            rec.add_image_with_trivial_frame(pycolmap.Image(name=name, camera_id=cid, image_id=iid),
                                             pycolmap.Rigid3d(pycolmap.Rotation3d(q), t))
            truth[name] = (model, w, h, params, _quat_matrix(q), t)
    rec.add_point3D(np.array([0.1, 0.2, 0.3]), pycolmap.Track(), np.zeros(3))
    d = tmp_path / "sparse" / "0"
    d.mkdir(parents=True)
    (tmp_path / "images").mkdir()
    (rec.write_binary if binary else rec.write_text)(str(d))
    return truth


@pytest.mark.parametrize("binary", [False, True], ids=["text", "binary"])
def test_colmap_rays_match_opencv_for_every_pixel(tmp_path, binary):
    truth = _write_colmap(tmp_path, binary)
    ds = load_dataset(tmp_path)
    assert ds.format == "colmap" and len(ds.frames) == 6 and ds.points.shape == (1, 3)
    for f in ds.frames:
        model, w, h, params, R, t = truth[f.name]
        assert (f.camera.width, f.camera.height) == (w, h)
        assert f.image == os.path.join(str(tmp_path), "images", f.name)
        K, dist = _opencv_K_dist(model, params)
        px = _pixel_centres(w, h)
        # OpenCV: undistort pixel centres (its pixel centres are at integers)
        und = cv2.undistortPoints(px[:, None, :] - 0.5, K, dist, None, None, None,
                                      (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 100, 1e-14))
        d_cam = np.concatenate([und[:, 0, :], np.ones((len(px), 1))], axis=1)
        d_ref = d_cam @ R  # R^T d: camera -> world
        d_ref /= np.linalg.norm(d_ref, axis=1, keepdims=True)
        o, d = f.camera.pixel_rays()
        np.testing.assert_allclose(o, np.broadcast_to(-R.T @ t, o.shape), atol=1e-9)
        np.testing.assert_allclose(d, d_ref, atol=1e-7)


def test_projection_matches_opencv_projectpoints():
    rng = np.random.default_rng(RNG_SEED)
    model, w, h, params = COLMAP_CAMERAS[2]
    K, dist = _opencv_K_dist(model, params)
    q, t = _random_pose(rng)
    R = _quat_matrix(q)
    c2w_cv = np.eye(4)
    c2w_cv[:3, :3], c2w_cv[:3, 3] = R.T, -R.T @ t
    cam = CameraModel(w, h, params[0], params[1], params[2], params[3],
                      to_world=c2w_cv @ np.diag([-1.0, -1.0, 1.0, 1.0]),
                      distortion=dict(zip(("k1", "k2", "p1", "p2"), params[4:])))
    # world points in front of the camera
    pc = np.concatenate([rng.uniform(-0.3, 0.3, (50, 2)), np.ones((50, 1))], axis=1) * \
        rng.uniform(2, 5, (50, 1))
    pw = (pc - t) @ R
    ref, _ = cv2.projectPoints(pw, cv2.Rodrigues(R)[0], t, K, dist)
    np.testing.assert_allclose(cam.project(pw), ref[:, 0, :] + 0.5, atol=1e-9)
    # rays through the projections pass through the points
    o, d = cam.rays(cam.project(pw))
    along = (pw - o) / np.linalg.norm(pw - o, axis=1, keepdims=True)
    np.testing.assert_allclose(d, along, atol=1e-9)


def _gl_rays(c2w_gl, fx, fy, cx, cy, w, h, dist=None):
    """Rays of a NeRF (OpenGL) camera: x right, y up, looking along -z."""
    px = _pixel_centres(w, h)
    if dist is None:
        xy = np.stack([(px[:, 0] - cx) / fx, (px[:, 1] - cy) / fy], axis=1)
    else:
        K = np.array([[fx, 0, cx - 0.5], [0, fy, cy - 0.5], [0, 0, 1.0]])
        xy = cv2.undistortPoints(px[:, None, :] - 0.5, K, dist, None, None, None,
                                     (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 100,
                                      1e-14))[:, 0, :]
    d_gl = np.stack([xy[:, 0], -xy[:, 1], -np.ones(len(xy))], axis=1)
    d = d_gl @ c2w_gl[:3, :3].T
    return d / np.linalg.norm(d, axis=1, keepdims=True)


def _c2w_gl(rng):
    q, t = _random_pose(rng)
    m = np.eye(4)
    m[:3, :3], m[:3, 3] = _quat_matrix(q), t
    return m


def test_blender_synthetic_transforms(tmp_path):
    rng = np.random.default_rng(RNG_SEED)
    (tmp_path / "train").mkdir()
    from PIL import Image

    mats = [_c2w_gl(rng) for _ in range(3)]
    for i in range(3):
        Image.new("RGBA", (20, 16)).save(tmp_path / "train" / f"r_{i}.png")
    ax = 0.6911112070083618
    (tmp_path / "transforms.json").write_text(json.dumps({
        "camera_angle_x": ax,
        "frames": [{"file_path": f"./train/r_{i}", "transform_matrix": m.tolist()}
                   for i, m in enumerate(mats)]}))
    ds = load_dataset(tmp_path / "transforms.json")
    assert ds.format == "transforms" and len(ds.frames) == 3
    fx = 0.5 * 20 / np.tan(0.5 * ax)
    for f, m in zip(ds.frames, mats):
        assert f.image.endswith(os.path.join("train", f"r_{ds.frames.index(f)}.png"))
        o, d = f.camera.pixel_rays()
        np.testing.assert_allclose(d, _gl_rays(m, fx, fx, 10, 8, 20, 16), atol=1e-9)
        np.testing.assert_allclose(o[0], m[:3, 3], atol=1e-12)


def test_nerfstudio_transforms_with_distortion_and_per_frame_overrides(tmp_path):
    rng = np.random.default_rng(RNG_SEED)
    mats = [_c2w_gl(rng) for _ in range(2)]
    data = {"camera_model": "OPENCV", "fl_x": 30.0, "fl_y": 31.0, "cx": 16.2, "cy": 11.7,
            "w": 32, "h": 24, "k1": -0.1, "k2": 0.02, "p1": 0.001, "p2": -0.002,
            "frames": [{"file_path": "images/a.jpg", "transform_matrix": mats[0].tolist(),
                        "mask_path": "masks/a.png"},
                       {"file_path": "images/b.jpg", "transform_matrix": mats[1].tolist(),
                        "fl_x": 40.0, "fl_y": 40.0, "k1": 0.0}]}
    (tmp_path / "transforms.json").write_text(json.dumps(data))
    ds = load_dataset(tmp_path)
    a, b = ds.frames
    assert a.mask == os.path.join(str(tmp_path), "masks", "a.png") and b.mask is None
    _, d = a.camera.pixel_rays()
    ref = _gl_rays(mats[0], 30.0, 31.0, 16.2, 11.7, 32, 24, np.array([-0.1, 0.02, 0.001, -0.002, 0]))
    np.testing.assert_allclose(d, ref, atol=1e-7)
    _, d = b.camera.pixel_rays()
    ref = _gl_rays(mats[1], 40.0, 40.0, 16.2, 11.7, 32, 24, np.array([0.0, 0.02, 0.001, -0.002, 0]))
    np.testing.assert_allclose(d, ref, atol=1e-7)


def test_sensor_of_a_centred_pinhole_matches_the_renderers_projection(tmp_path):
    """A centred square-pixel camera becomes a Mitsuba perspective sensor whose projection
    (diffrender.core.camera.project, the inverse of the renderer's rays) equals the camera's."""
    from diffrender.core.camera import project
    from diffrender.scene.model import Sensor

    to_world = look_at([1.0, 2.0, -3.0], [0.2, 0.1, 0.4], [0.0, 1.0, 0.0])
    cam = CameraModel(40, 30, 35.0, 35.0, 20.0, 15.0, to_world=to_world)
    from diffrender.datasets import Frame

    s = Frame("x", "x.png", cam).sensor(Sensor())
    rng = np.random.default_rng(RNG_SEED)
    o, d = cam.rays(rng.uniform([0, 0], [40, 30], (30, 2)))
    pts = o + d * rng.uniform(1, 5, (30, 1))
    np.testing.assert_allclose(project(s, pts), cam.project(pts), atol=1e-7)


def test_subset_and_downscale(tmp_path):
    _write_colmap(tmp_path, binary=True)
    ds = load_dataset(tmp_path, subset="every:2", downscale=2)
    assert len(ds.frames) == 3
    assert (ds.frames[0].camera.width, ds.frames[0].camera.height) == (20, 15)
    assert ds.frames[0].camera.fx == pytest.approx(22.5)
    ds = load_dataset(tmp_path, subset=["img_20.png", 0])
    assert [f.name for f in ds.frames] == ["img_20.png", "img_10.png"]
    with pytest.raises(ConfigError, match=r"subset: no image named 'img_2.png' \(did you mean "):
        load_dataset(tmp_path, subset=["img_2.png"])


def test_errors_are_one_line(tmp_path):
    with pytest.raises(ConfigError) as e:
        load_dataset(tmp_path / "nothing")
    assert str(e.value) == f"{tmp_path / 'nothing'}: dataset path does not exist"
    with pytest.raises(ConfigError, match="no COLMAP model here"):
        load_dataset(tmp_path)
    rec = pycolmap.Reconstruction()
    rec.add_camera_with_trivial_rig(pycolmap.Camera(model="OPENCV_FISHEYE", width=8, height=8,
                                                    params=[5, 5, 4, 4, 0, 0, 0, 0], camera_id=1))
    rec.add_image_with_trivial_frame(pycolmap.Image(name="a.png", camera_id=1, image_id=1),
                                     pycolmap.Rigid3d())
    rec.write_text(str(tmp_path))
    with pytest.raises(ConfigError, match="camera 1: COLMAP model OPENCV_FISHEYE is not supported"):
        load_dataset(tmp_path)
    bad = tmp_path / "t" / "transforms.json"
    bad.parent.mkdir()
    bad.write_bytes(b"\xff\xfe{")
    with pytest.raises(ConfigError, match="not valid JSON"):
        load_dataset(bad)
    bad.write_text(json.dumps({"frames": [{"file_path": "a.png", "transform_matrix": [[1, 0]]}],
                               "fl_x": 10, "w": 8, "h": 8}))
    with pytest.raises(ConfigError, match=r"frames\[0\]: transform_matrix: expected a finite 4x4"):
        load_dataset(bad)


def _jpeg_with_exif(path, size, tags):
    from PIL import Image

    im = Image.new("RGB", size, (128, 128, 128))
    exif = Image.Exif()
    ifd = exif.get_ifd(0x8769)
    for k, v in tags.items():
        ifd[k] = v
    im.save(path, exif=exif)


def test_focal_length_from_exif(tmp_path):
    from diffrender.datasets import focal_from_exif

    p = tmp_path / "a.jpg"
    # 35 mm equivalent 50 mm: the diagonal of a 3:2 image spans 43.27 mm
    _jpeg_with_exif(p, (300, 200), {0xA405: 50})
    f, how = focal_from_exif(p)
    assert f == pytest.approx(50 * np.hypot(300, 200) / np.hypot(36, 24)) and "35mm" in how
    # real focal length and pixel pitch win: 4.2 mm at 1000 px/mm
    _jpeg_with_exif(p, (300, 200), {0xA405: 50, 0x920A: 4.2, 0xA20E: 1000.0, 0xA210: 4})
    f, how = focal_from_exif(p)
    assert f == pytest.approx(4200.0) and "FocalPlaneXResolution" in how
    _jpeg_with_exif(p, (30, 20), {})
    assert focal_from_exif(p) is None


def test_dataset_info_command(tmp_path):
    import subprocess
    import sys

    _write_colmap(tmp_path, binary=False)
    r = subprocess.run([sys.executable, "-m", "diffrender", "dataset", "info", str(tmp_path),
                        "--downscale", "2"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == f"{tmp_path}: colmap, 6 images, 1 points"
    assert "  camera 24x16 fx=25 fy=26 cx=12.3 cy=7.55 k1=-0.12, k2=0.03, p1=0.002, p2=-0.001: 2 images" in lines
    assert lines[-1] == "  images found: 0 of 6 (missing e.g. " + str(tmp_path / "images" / "img_10.png") + "); masks: 0"
    r = subprocess.run([sys.executable, "-m", "diffrender", "dataset", "info", str(tmp_path / "x")],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 1 and r.stderr.strip() == f"diffrender: error: {tmp_path / 'x'}: dataset path does not exist"
