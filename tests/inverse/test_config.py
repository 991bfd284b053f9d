"""optimize configs: errors say what and where, before anything compiles."""
import numpy as np
import pytest
import yaml
from scipy.ndimage import binary_dilation, binary_erosion

from diffrender import write_image
from diffrender.errors import ConfigError
from diffrender.inverse import load_config
from diffrender.inverse.run import Problem

SCENE = """<scene version="3.0.0">
  <sensor type="perspective"><float name="fov" value="40"/>
    <film type="hdrfilm"><integer name="width" value="8"/><integer name="height" value="6"/></film>
  </sensor>
  <shape type="rectangle" id="floor"><bsdf type="diffuse" id="mat"><rgb name="reflectance" value="0.5, 0.5, 0.5"/></bsdf></shape>
  <emitter type="point"><rgb name="intensity" value="1, 1, 1"/><point name="position" x="0" y="0" z="2"/></emitter>
</scene>"""


@pytest.fixture
def workdir(tmp_path):
    (tmp_path / "scene.xml").write_text(SCENE)
    write_image(tmp_path / "target.exr", np.zeros((6, 8, 3), np.float32))
    write_image(tmp_path / "small.exr", np.zeros((4, 4, 3), np.float32))
    return tmp_path


def write_cfg(d, **over):
    cfg = {"scene": "scene.xml", "targets": ["target.exr"],
           "parameters": {"mat.reflectance": {"lr": 0.05}}, "output": "out"}
    cfg.update(over)
    p = d / "cfg.yaml"
    p.write_text(yaml.safe_dump(cfg))
    return str(p)


def problem_error(path):
    with pytest.raises(ConfigError) as e:
        Problem(load_config(path))
    return str(e.value)


def test_valid_config_resolves(workdir):
    p = Problem(load_config(write_cfg(workdir)))
    assert p.names == ["mat.reflectance"]
    assert p.bounds["mat.reflectance"] == (0.0, 1.0)
    np.testing.assert_allclose(p.init["mat.reflectance"], [0.5, 0.5, 0.5])


def test_unknown_parameter(workdir):
    path = write_cfg(workdir, parameters={"mat.reflectanse": {"lr": 0.1}})
    assert problem_error(path) == (f"{path}: parameters.mat.reflectanse: unknown parameter 'mat.reflectanse'; "
                                   "did you mean mat.reflectance? (`diffrender info SCENE` lists them)")


def test_target_of_the_wrong_size(workdir, capsys):
    path = write_cfg(workdir, targets=["small.exr"], resample="error")
    assert problem_error(path) == (f"{path}: targets[0].image: target small.exr is 4x4 but the sensor "
                                   "renders 8x6 (resample: error)")
    # by default it is resampled, and says so
    img = np.arange(4 * 4 * 3, dtype=np.float32).reshape(4, 4, 3)
    write_image(workdir / "small.exr", img)
    p = Problem(load_config(write_cfg(workdir, targets=["small.exr"])))
    assert p.targets[0].image.shape == (6, 8, 3)
    np.testing.assert_allclose(p.targets[0].image.mean(axis=(0, 1)), img.mean(axis=(0, 1)), rtol=1e-6)
    assert capsys.readouterr().err.strip() == (
        f"diffrender: note: {path}: targets[0].image: small.exr is 4x4, resampled to the film's 8x6 "
        "(area average of the pixels each film pixel covers)")


def test_masks_from_alpha_a_mask_file_and_weights(workdir, capsys):
    rgba = np.zeros((6, 8, 4), np.float32)
    rgba[2:4, 3:6, 3] = 1.0
    write_image(workdir / "rgba.exr", rgba, channels=["R", "G", "B", "A"])
    p = Problem(load_config(write_cfg(workdir, targets=["rgba.exr"])))
    np.testing.assert_array_equal(p.targets[0].pixel_weights, rgba[:, :, 3])
    assert p.targets[0].image.shape == (6, 8, 3)
    p = Problem(load_config(write_cfg(workdir, targets=[{"image": "rgba.exr", "mask": "none"}])))
    assert p.targets[0].pixel_weights is None
    m = np.zeros((6, 8, 1), np.float32)
    m[0, 0] = 0.5
    write_image(workdir / "mask.exr", m)
    w = np.full((6, 8, 1), 2.0, np.float32)
    write_image(workdir / "w.exr", w)
    p = Problem(load_config(write_cfg(workdir, targets=[{"image": "target.exr", "mask": "mask.exr",
                                                         "weights": "w.exr"}])))
    expect = np.zeros((6, 8))
    expect[0, 0] = 2.0
    np.testing.assert_array_equal(p.targets[0].pixel_weights, expect)
    path = write_cfg(workdir, targets=[{"image": "target.exr", "mask": "alpha"}])
    assert problem_error(path) == f"{path}: targets[0].mask: mask: alpha, but 'target.exr' has no alpha channel"
    path = write_cfg(workdir, targets=[{"image": "target.exr", "mask": "nomask.png"}])
    assert problem_error(path) == f"{path}: targets[0].mask: no such image file 'nomask.png'"



def test_mask_weights_false_keeps_the_mask_for_the_silhouette_only(workdir):
    m = np.zeros((6, 8, 1), np.float32)
    m[2:4, 3:6] = 1.0
    write_image(workdir / "mask.exr", m)
    p = Problem(load_config(write_cfg(workdir, targets=[{"image": "target.exr", "mask": "mask.exr"}])))
    np.testing.assert_array_equal(p.targets[0].pixel_weights, m[:, :, 0])
    np.testing.assert_array_equal(p.targets[0].mask, m[:, :, 0])
    p = Problem(load_config(write_cfg(workdir, targets=[{"image": "target.exr", "mask": "mask.exr",
                                                         "mask_weights": False}])))
    assert p.targets[0].pixel_weights is None          # every pixel counts in the loss
    np.testing.assert_array_equal(p.targets[0].mask, m[:, :, 0])   # the silhouette keeps it

def test_jpeg_targets_get_a_note(workdir, capsys):
    write_image(workdir / "t.jpg", np.full((6, 8, 3), 0.5, np.float32))
    Problem(load_config(write_cfg(workdir, targets=["t.jpg"])))
    assert "targets[0]: 't.jpg' is a JPEG (8-bit sRGB, lossy" in capsys.readouterr().err


def test_a_config_needs_targets_or_a_dataset(workdir):
    path = write_cfg(workdir, targets=[])
    with pytest.raises(ConfigError) as e:
        load_config(path)
    assert str(e.value) == f"{path}: targets: expected at least one target image (or a dataset)"


def test_missing_files(workdir):
    path = write_cfg(workdir, targets=["nope.exr"])
    assert problem_error(path) == f"{path}: targets[0].image: no such image file 'nope.exr'"
    path = write_cfg(workdir, scene="nope.xml")
    assert problem_error(path) == f"{path}: scene: no such scene file 'nope.xml'"
    with pytest.raises(ConfigError, match="nope.yaml: no such config file"):
        load_config(str(workdir / "nope.yaml"))


def test_schema_errors(workdir):
    path = write_cfg(workdir, iterations=0)
    with pytest.raises(ConfigError) as e:
        load_config(path)
    assert str(e.value) == f"{path}: iterations: input should be greater than or equal to 1"
    path = write_cfg(workdir, parameters={"mat.reflectance": {"learning_rate": 0.1}})
    with pytest.raises(ConfigError) as e:
        load_config(path)
    assert str(e.value) == f"{path}: parameters.mat.reflectance.learning_rate: unknown key"
    path = write_cfg(workdir, targets=[{"image": "target.exr", "sensor": 3}])
    assert problem_error(path) == f"{path}: targets[0].sensor: sensor 3 does not exist (the scene has 1)"
    path = write_cfg(workdir, iterations=50, average_from=50)
    with pytest.raises(ConfigError) as e:
        load_config(path)
    assert str(e.value) == f"{path}: average_from: must be below iterations (50), got 50"


def test_init_shape_mismatch(workdir):
    path = write_cfg(workdir, parameters={"mat.reflectance": {"init": [0.1, 0.2]}})
    assert problem_error(path) == (f"{path}: parameters.mat.reflectance.init: value of shape (2,) does not "
                                   "fit the parameter's shape (3,)")


def test_a_dataset_makes_one_sensor_and_one_target_per_image(workdir):
    import json

    c2w = [np.eye(4), np.eye(4)]
    c2w[1][:3, 3] = [0.5, 0.0, 3.0]
    (workdir / "imgs").mkdir()
    for i in range(2):
        write_image(workdir / "imgs" / f"{i}.png", np.full((12, 16, 3), 0.2 * (i + 1), np.float32))
    (workdir / "transforms.json").write_text(json.dumps({
        "camera_angle_x": 0.8, "frames": [{"file_path": f"imgs/{i}.png",
                                           "transform_matrix": c2w[i].tolist()} for i in range(2)]}))
    p = Problem(load_config(write_cfg(workdir, targets=[],
                                      dataset={"path": "transforms.json", "downscale": 2})))
    assert len(p.scene.sensors) == 3 and [t.sensor for t in p.targets] == [1, 2]
    s = p.scene.sensors[2]
    assert (s.film.width, s.film.height) == (8, 6)
    assert s.fov == pytest.approx(np.degrees(0.8))
    # NeRF cameras look along their -z: ours along +z, so the matrix flips x and z
    np.testing.assert_allclose(s.to_world[:3, :3], np.diag([-1.0, 1.0, -1.0]))
    np.testing.assert_allclose(s.to_world[:3, 3], [0.5, 0.0, 3.0])
    np.testing.assert_allclose(p.targets[1].image, 0.4, rtol=2e-2)  # sRGB PNG, decoded
    path = write_cfg(workdir, targets=[], dataset={"path": "transforms.json", "subset": ["x.png"]})
    assert problem_error(path).startswith(f"{workdir / 'transforms.json'}: subset: no image named 'x.png'")




def test_mask_edge_leaves_the_mask_boundary_out_of_the_colour_loss(workdir):
    m = np.zeros((6, 8, 1), np.float32)
    m[1:5, 2:7] = 1.0          # a 4 x 5 block
    write_image(workdir / "mask.exr", m)
    p = Problem(load_config(write_cfg(workdir, targets=[{"image": "target.exr", "mask": "mask.exr",
                                                         "mask_weights": False, "mask_edge": 1}])))
    w = p.targets[0].pixel_weights
    expect = np.ones((6, 8), np.float32)
    expect[0:6, 1:8] = 0.0     # the block grown by one pixel ...
    expect[2:4, 3:6] = 1.0     # ... minus the block shrunk by one pixel
    np.testing.assert_array_equal(w, expect)
    np.testing.assert_array_equal(p.targets[0].mask, m[:, :, 0])   # the silhouette keeps the whole mask
    # with mask_weights, the band is cut out of the mask's weights
    p = Problem(load_config(write_cfg(workdir, targets=[{"image": "target.exr", "mask": "mask.exr",
                                                         "mask_edge": 1}])))
    np.testing.assert_array_equal(p.targets[0].pixel_weights, expect * m[:, :, 0])
    path = write_cfg(workdir, targets=[{"image": "target.exr", "mask_edge": 1}])
    assert problem_error(path) == (f"{path}: targets[0].mask_edge: mask_edge: 'target.exr' has no mask "
                                   "(an alpha channel, 'mask:', or the dataset's masks)")

def test_dataset_masks_weight_the_loss_unless_mask_weights_is_false(workdir):
    import json

    (workdir / "imgs").mkdir()
    (workdir / "masks").mkdir()
    write_image(workdir / "imgs" / "0.png", np.full((6, 8, 3), 0.3, np.float32))
    m = np.zeros((6, 8, 3), np.float32)
    m[1:3, 2:5] = 1.0
    write_image(workdir / "masks" / "0.png", m)
    (workdir / "transforms.json").write_text(json.dumps({
        "camera_angle_x": 0.8, "frames": [{"file_path": "imgs/0.png", "transform_matrix": np.eye(4).tolist()}]}))
    for mw, weighted in ((True, True), (False, False)):
        p = Problem(load_config(write_cfg(workdir, targets=[], dataset={
            "path": "transforms.json", "masks": "masks", "mask_weights": mw})))
        t = p.targets[0]
        np.testing.assert_array_equal(t.mask, m[:, :, 0])
        if weighted:
            np.testing.assert_array_equal(t.pixel_weights, m[:, :, 0])
        else:
            assert t.pixel_weights is None

def test_dataset_cameras_are_parameters(workdir):
    """A photo set's sensors exist before ``parameters:`` is resolved: their intrinsics and
    distortion can be refined (here a nerfstudio camera with fx != fy and k1: the pixel
    intrinsics extension; config targets come first, then the set's)."""
    import json

    write_image(workdir / "0.png", np.full((6, 8, 3), 0.3, np.float32))
    (workdir / "transforms.json").write_text(json.dumps({
        "fl_x": 7.0, "fl_y": 7.5, "cx": 4.1, "cy": 2.9, "w": 8, "h": 6, "k1": -0.05,
        "frames": [{"file_path": "0.png", "transform_matrix": np.eye(4).tolist()}]}))
    params = {"mat.reflectance": {"lr": 0.05}, "sensor_1.k1": {"lr": 1e-3},
              "sensor_1.fy": {"lr": 0.1}}
    p = Problem(load_config(write_cfg(workdir, dataset={"path": "transforms.json"},
                                      parameters=params)))
    assert [t.sensor for t in p.targets] == [0, 1]
    assert {"sensor_1.k1", "sensor_1.fy"} <= set(p.names)
    s = p.scene.sensors[1]
    assert (s.fx, s.fy, s.cx, s.cy, s.k1) == (7.0, 7.5, 4.1, 2.9, -0.05)



def test_parameter_patterns_expand_to_every_match(workdir):
    """``sensor_*.fov`` refines every photo's field of view; a name given on its own keeps its
    own settings; a pattern that matches nothing is an error naming it."""
    import json

    (workdir / "imgs").mkdir()
    for i in range(3):
        write_image(workdir / "imgs" / f"{i}.png", np.full((6, 8, 3), 0.3, np.float32))
    (workdir / "transforms.json").write_text(json.dumps({
        "camera_angle_x": 0.8, "frames": [{"file_path": f"imgs/{i}.png",
                                           "transform_matrix": np.eye(4).tolist()} for i in range(3)]}))
    params = {"sensor_*.fov": {"lr": 0.1}, "sensor_2.fov": {"lr": 0.5}, "mat.reflectance": {"lr": 0.05}}
    p = Problem(load_config(write_cfg(workdir, targets=[], dataset={"path": "transforms.json"},
                                      parameters=params)))
    assert sorted(n for n in p.names if n.endswith(".fov")) == ["sensor_1.fov", "sensor_2.fov", "sensor_3.fov"]
    assert (p.lrs["sensor_1.fov"], p.lrs["sensor_2.fov"], p.lrs["sensor_3.fov"]) == (0.1, 0.5, 0.1)
    # a pattern of cameras counts as a geometry parameter for the silhouette loss
    m = np.ones((6, 8, 3), np.float32)
    (workdir / "masks").mkdir()
    for i in range(3):
        write_image(workdir / "masks" / f"{i}.png", m)
    p = Problem(load_config(write_cfg(workdir, targets=[], dataset={"path": "transforms.json", "masks": "masks"},
                                      parameters={"sensor_*.fov": {"lr": 0.1}}, silhouette_weight=1.0)))
    assert p.silhouette is not None
    np.testing.assert_allclose(p.init["sensor_3.fov"], np.degrees(0.8))
    # the photos' sensors are sensor_<index> whatever the scene's sensor is called
    (workdir / "named.xml").write_text(SCENE.replace('<sensor type="perspective">',
                                                     '<sensor type="perspective" id="camera">'))
    p = Problem(load_config(write_cfg(workdir, scene="named.xml", targets=[],
                                      dataset={"path": "transforms.json"}, parameters=params)))
    assert sorted(n for n in p.names if n.endswith(".fov")) == ["sensor_1.fov", "sensor_2.fov", "sensor_3.fov"]
    path = write_cfg(workdir, parameters={"lamp_*.radiance": {"lr": 0.1}})
    assert problem_error(path) == (f"{path}: parameters.lamp_*.radiance: no parameter matches the pattern "
                                   "'lamp_*.radiance' (`diffrender info SCENE` lists them)")

def test_fov_from_exif(workdir, capsys):
    from PIL import Image

    im = Image.new("RGB", (8, 6), (100, 100, 100))
    exif = Image.Exif()
    exif.get_ifd(0x8769)[0xA405] = 28
    im.save(workdir / "photo.jpg", exif=exif)
    p = Problem(load_config(write_cfg(workdir, targets=[{"image": "photo.jpg", "fov_from_exif": True}])))
    f_px = 28 * np.hypot(8, 6) / np.hypot(36, 24)
    assert p.scene.sensors[0].fov == pytest.approx(np.degrees(2 * np.arctan(4 / f_px)))
    assert "sensor 0 fov = " in capsys.readouterr().err
    path = write_cfg(workdir, targets=[{"image": "target.exr", "fov_from_exif": True}])
    assert problem_error(path) == f"{path}: targets[0]: fov_from_exif: 'target.exr' has no EXIF focal length"


@pytest.mark.parametrize("over,message", [
    ({"parameters": {"mat.reflectance": {"lr": float("inf")}}},
     "parameters.mat.reflectance.lr: input should be a finite number"),
    ({"parameters": {"mat.reflectance": {"init": [0.5, float("nan"), 0.5]}}},
     "parameters.mat.reflectance.init[1]: input should be a finite number"),
    ({"parameters": {"mat.reflectance": {"bounds": [1, 0]}}},
     "parameters.mat.reflectance.bounds: value error, bounds must be [min, max] with min <= max, got [1.0, 0.0]"),
    ({"optimizer": {"schedule": {"kind": "step", "gamma": 1e10}}},
     "optimizer.schedule.gamma: input should be less than or equal to 1"),
    ({"optimizer": {"schedule": {"kind": "step", "gamma": -0.5}}},
     "optimizer.schedule.gamma: input should be greater than 0"),
    ({"iteratons": 5}, "iteratons: unknown key (did you mean 'iterations'?)"),
    ({"spp": 0, "loss": "l3"},
     "2 errors: loss: input should be 'l1', 'l2', 'relative_l2', 'l2_srgb' or 'charbonnier'; "
     "spp: input should be greater than or equal to 1"),
])
def test_nonsense_is_refused_with_every_error_named(workdir, over, message):
    path = write_cfg(workdir, **over)
    with pytest.raises(ConfigError) as e:
        load_config(path)
    assert str(e.value) == f"{path}: {message}"


def test_the_photo_tutorial_config_resolves():
    """examples/photos/recover.yaml (docs/photos.md) as the tutorial runs it, up to the first
    compile: every photo's field of view and camera pose through the patterns, masks for the
    silhouette, the colour loss on every pixel but the box's outline."""
    import os

    path = os.path.join(os.path.dirname(__file__), "..", "..", "examples", "photos", "recover.yaml")
    p = Problem(load_config(path))
    assert len(p.targets) == 10 and len(p.names) == 38
    assert {f"sensor_{i}.fov" for i in range(1, 11)} <= set(p.names)
    assert {f"sensor_{i}.to_world.rotate" for i in range(1, 11)} <= set(p.names)
    assert p.silhouette is not None and p.reference_view == 0
    square = np.ones((3, 3), bool)
    for t in p.targets:
        assert t.image.shape == (45, 60, 3) and t.mask is not None
        box = t.mask > 0.5
        far = ~binary_dilation(box, square, iterations=2) | binary_erosion(box, square, iterations=2)
        assert np.all(t.pixel_weights[far] == 1.0)            # background and the box's inside count
        assert 0 < (t.pixel_weights == 0).sum() < t.mask.size / 4   # the outline does not
