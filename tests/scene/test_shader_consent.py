"""A shader file is a program: a scene runs it only with the user's consent (issue #19, item 1):
``allow_shaders=True`` or the file in a folder listed in ``DIFFRENDER_SHADER_PATH``. Without it,
loading refuses with one line naming the scene line, the shader file and how to allow it, and
the file does not run (each shader here writes a marker file when imported)."""
import json
import os

import pytest

import diffrender
from diffrender.errors import SceneError, ShaderConsentError
from diffrender.scene import load_scene

EVIL = """import os
open(os.path.join(os.path.dirname(os.path.abspath(__file__)), 'RAN'), 'a').write('x')
from diffrender.shading import INV_PI, ti
KIND = {kind!r}
PARAMETERS = {{}}

@ti.func
def eval(p, {args}):
    return ti.Vector([0.5, 0.5, 0.5]){tail}
"""
HOW = ("is a Python program and runs only with your consent: pass --allow-shaders (CLI) or "
       "allow_shaders=True (Python), or add its folder to DIFFRENDER_SHADER_PATH")


def shader_file(folder, kind="bsdf"):
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, f"{kind}_shader.py")
    args, tail = ("wi, wo", " * INV_PI") if kind == "bsdf" else ("uv", "")
    with open(path, "w") as f:
        f.write(EVIL.format(kind=kind, args=args, tail=tail))
    return path


def ran(path):
    return os.path.exists(os.path.join(os.path.dirname(path), "RAN"))


def scene_xml(ref, kind="bsdf"):
    inner = (f'<bsdf type="shader" id="mat"><string name="filename" value="{ref}"/></bsdf>'
             if kind == "bsdf" else
             '<bsdf type="diffuse"><texture type="shader" name="reflectance">'
             f'<string name="filename" value="{ref}"/></texture></bsdf>')
    return f'<scene version="3.0.0">\n<shape type="sphere">\n{inner}\n</shape>\n</scene>\n'


@pytest.fixture(autouse=True)
def no_trusted_dirs(monkeypatch):
    monkeypatch.delenv("DIFFRENDER_SHADER_PATH", raising=False)


@pytest.mark.parametrize("kind, how", [
    (k, h) for k in ("bsdf", "texture") for h in ("beside", "subfolder", "dotdot", "absolute")
] + [("bsdf", "json"), ("bsdf", "dict")])  # dict forms have no texture shaders (yet)
def test_shader_does_not_run_without_consent(tmp_path, kind, how):
    scene_dir = tmp_path / "downloads" / "scene"
    scene_dir.mkdir(parents=True)
    folder = {"beside": scene_dir, "subfolder": scene_dir / "sub",
              "dotdot": tmp_path / "elsewhere"}.get(how, tmp_path / "abs")
    path = shader_file(str(folder), kind)
    ref = {"beside": os.path.basename(path), "subfolder": "sub/" + os.path.basename(path),
           "dotdot": "../../elsewhere/" + os.path.basename(path)}.get(how, path)
    if how in ("json", "dict"):
        d = {"type": "scene", "ball": {"type": "sphere",
                                       "bsdf": {"type": "shader", "filename": ref}}}
        if how == "dict":
            source, where = d, "<dict>: ball.bsdf.filename"
        else:
            source = str(scene_dir / "scene.json")
            with open(source, "w") as f:
                json.dump(d, f)
            where = source + ": ball.bsdf.filename"
    else:
        source = str(scene_dir / "scene.xml")
        with open(source, "w") as f:
            f.write(scene_xml(ref, kind))
        where = f"{source}:3"
    with pytest.raises(ShaderConsentError) as e:
        load_scene(source)
    assert str(e.value) == f"{where}: shader \"{ref}\" ({os.path.realpath(path)}) {HOW}"
    assert isinstance(e.value, SceneError) and not ran(path)
    with pytest.raises(ShaderConsentError):
        diffrender.load_scene(source)
    assert not ran(path)
    # with consent it runs (and loads)
    scene = load_scene(source, allow_shaders=True)
    assert ran(path) and len(scene.shapes) == 1


def test_trusted_folders_from_the_environment(tmp_path, monkeypatch):
    trusted = tmp_path / "trusted"
    path = shader_file(str(trusted))
    scene = tmp_path / "scene.xml"
    scene.write_text(scene_xml(path))
    monkeypatch.setenv("DIFFRENDER_SHADER_PATH", os.pathsep.join([str(tmp_path / "other"), ""]))
    with pytest.raises(ShaderConsentError):
        load_scene(str(scene))
    assert not ran(path)
    monkeypatch.setenv("DIFFRENDER_SHADER_PATH",
                       os.pathsep.join([str(tmp_path / "other"), str(trusted)]))
    assert len(load_scene(str(scene)).shapes) == 1 and ran(path)


def test_a_link_in_a_trusted_folder_to_a_file_outside_is_not_trusted(tmp_path, monkeypatch):
    path = shader_file(str(tmp_path / "outside"))
    (tmp_path / "trusted").mkdir()
    link = tmp_path / "trusted" / "linked.py"
    link.symlink_to(path)
    scene = tmp_path / "scene.xml"
    scene.write_text(scene_xml(str(link)))
    monkeypatch.setenv("DIFFRENDER_SHADER_PATH", str(tmp_path / "trusted"))
    with pytest.raises(ShaderConsentError, match="outside/bsdf_shader.py"):
        load_scene(str(scene))
    assert not ran(path)


def test_bundled_shader_scenes_need_consent_too(repo):
    for name in ("glossy-spheres", "textured-object"):
        p = os.path.join(repo, "scenes", name, "scene.xml")
        with pytest.raises(ShaderConsentError, match=r"^" + p + r":\d+: "):
            load_scene(p)
        assert load_scene(p, allow_shaders=True).shapes


def test_a_missing_shader_file_is_still_reported_as_missing(tmp_path):
    scene = tmp_path / "scene.xml"
    scene.write_text(scene_xml("nope.py"))
    with pytest.raises(SceneError, match=r"shader file not found: .*nope\.py") as e:
        load_scene(str(scene))
    assert not isinstance(e.value, ShaderConsentError)
