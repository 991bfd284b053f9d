"""optimize configs: errors say what and where, before anything compiles."""
import numpy as np
import pytest
import yaml

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


def test_target_of_the_wrong_size(workdir):
    path = write_cfg(workdir, targets=["small.exr"])
    assert problem_error(path) == f"{path}: targets[0].image: target 'small.exr' is 4x4 but sensor 0 renders 8x6"


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
