"""Every registered plugin has a gradient case: a BSDF, emitter, texture kind or filter stage
added to a registry without one makes this fail (then add a row to
tests/core/test_gradient_cases.py, or name the case that covers it below)."""
import ast
from pathlib import Path

import pytest

from diffrender.core import bsdfs, emitters, textures
from diffrender.core.bsdfs import composites
from diffrender.filters.base import registry as filter_registry

ROOT = Path(__file__).resolve().parents[1]

#: plugin -> the gradient cases that check it: (test file, test function, the parameter name the
#: case differentiates; it must appear in that file)
RENDER_CASES = {
    # BSDFs
    "diffuse": [("tests/core/test_gradients.py", "test_reverse_mode_matches_finite_differences",
                 "wallmat.reflectance")],
    "conductor": [("tests/core/test_material_gradients.py", "test_envmap_and_conductor_gradients",
                   "gold.eta")],
    "roughconductor": [("tests/core/test_material_gradients.py",
                        "test_rough_metal_and_light_gradients", "metal.alpha")],
    "plastic": [("tests/core/test_material_gradients.py",
                 "test_reverse_mode_matches_finite_differences", "coat.diffuse_reflectance")],
    "roughplastic": [("tests/core/test_material_gradients.py",
                      "test_reverse_mode_matches_finite_differences", "plastic.alpha.data")],
    "dielectric": [("tests/core/test_material_gradients.py",
                    "test_dielectric_eta_gradient_in_expectation", "glass.eta")],
    "thindielectric": [("tests/core/test_gradient_cases.py",
                        "test_thindielectric_eta_gradient_in_expectation", "glass.eta"),
                       ("tests/core/test_gradient_cases.py",
                        "test_reverse_mode_matches_finite_differences",
                        "tint.specular_transmittance")],
    "roughdielectric": [("tests/core/test_roughdielectric.py",
                         "test_gradients_match_finite_differences", "ggx.alpha")],
    "principled": [("tests/core/test_principled.py", "test_gradients_match_finite_differences",
                    "disney.base_color"),
                   ("tests/core/test_principled.py", "test_gradients_match_finite_differences",
                    "glassy.spec_trans")],
    "principledthin": [("tests/core/test_principled.py",
                        "test_gradients_match_finite_differences", "sheet.diff_trans")],
    # wrappers and composites
    "twosided": [("tests/core/test_gradients.py", "test_reverse_mode_matches_finite_differences",
                  "wallmat.reflectance")],
    "blendbsdf": [("tests/core/test_material_gradients.py",
                   "test_reverse_mode_matches_finite_differences", "blend.weight")],
    # no parameter of its own: a case whose paths cross a null surface (the checkerboard
    # floor seen through the invisible veil of test_gradient_cases.py's scene)
    "null": [("tests/core/test_gradient_cases.py", "test_reverse_mode_matches_finite_differences",
              "paint.reflectance.color1")],
    "mask": [("tests/core/test_material_gradients.py",
              "test_reverse_mode_matches_finite_differences", "cutout.opacity")],
    "normalmap": [("tests/core/test_normalmap.py", "test_reverse_mode_matches_finite_differences",
                   "tiles.normalmap.data")],
    "bumpmap": [("tests/core/test_normalmap.py", "test_reverse_mode_matches_finite_differences",
                 "ridges.scale")],
    "shader": [("tests/core/test_shaders.py", "test_shader_parameter_gradients", "toon.softness")],
    # emitters
    "area": [("tests/core/test_gradients.py", "test_reverse_mode_matches_finite_differences",
              "lamp.emitter.radiance")],
    "point": [("tests/core/test_gradients.py", "test_reverse_mode_matches_finite_differences",
               "bulb.intensity")],
    "spot": [("tests/core/test_material_gradients.py",
              "test_reverse_mode_matches_finite_differences", "spot.intensity")],
    "directional": [("tests/core/test_material_gradients.py",
                     "test_reverse_mode_matches_finite_differences", "sun.irradiance")],
    "projector": [("tests/core/test_gradient_cases.py",
                   "test_reverse_mode_matches_finite_differences", "proj.scale"),
                  ("tests/core/test_gradient_cases.py",
                   "test_reverse_mode_matches_finite_differences", "proj.irradiance")],
    "envmap": [("tests/core/test_material_gradients.py", "test_envmap_and_conductor_gradients",
                "sky.radiance.data")],
    "constant": [("tests/core/test_gradient_cases.py",
                  "test_reverse_mode_matches_finite_differences", "env.radiance")],
    # dropped by the loader, so it has no parameter to differentiate: Mitsuba 3.9.1's path
    # tracer gets nothing from it either (the case checks that it renders as nothing)
    "directionalarea": [("tests/scene/test_scene_emitter_refs.py",
                         "test_directionalarea_contributes_nothing_as_in_mitsuba",
                         "directionalarea")],
}
#: texture kinds -> cases (a constant is every rgb parameter; bitmap, checkerboard, shader)
TEXTURE_CASES = {
    "constant": [("tests/core/test_gradients.py", "test_reverse_mode_matches_finite_differences",
                  "wallmat.reflectance")],
    "bitmap": [("tests/core/test_gradients.py", "test_reverse_mode_matches_finite_differences",
                "floor.bsdf.reflectance.data")],
    "checkerboard": [("tests/core/test_gradient_cases.py",
                      "test_reverse_mode_matches_finite_differences", "paint.reflectance.color0")],
    "shader": [("tests/core/test_shaders.py", "test_shader_parameter_gradients",
                "wood.reflectance.frequency")],
    "mesh_attribute": [("tests/core/test_mesh_attribute.py",
                        "test_attribute_gradients_match_finite_differences", "quad.vertex_color")],
    # loads as a constant slot (the value without colour conversion): the constant case
    "rawconstant": [("tests/core/test_gradients.py", "test_reverse_mode_matches_finite_differences",
                     "wallmat.reflectance")],
}


def _registered_bsdfs():
    return set(bsdfs.TYPES) | {s.type for s in composites.SPECS}


def _registered_emitters():
    return set(emitters.TYPES)


def _registered_textures():
    # a constant is not a texture plugin but every rgb / float parameter: checked as one
    return {s.type for s in textures.SPECS} | {"constant"}


def _functions(path):
    tree = ast.parse((ROOT / path).read_text(encoding="utf-8"))
    return {n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)}


@pytest.mark.parametrize("kind,registered,table", [
    ("BSDF", _registered_bsdfs, RENDER_CASES),
    ("emitter", _registered_emitters, RENDER_CASES),
    ("texture", _registered_textures, TEXTURE_CASES),
])
def test_every_registered_render_plugin_has_a_gradient_case(kind, registered, table):
    names = registered()
    assert names, f"no {kind} registered: the registry moved?"
    missing = sorted(n for n in names if not table.get(n))
    assert missing == [], f"{kind}s without a gradient case: {missing}"


@pytest.mark.parametrize("table", [RENDER_CASES, TEXTURE_CASES], ids=["plugins", "textures"])
def test_the_named_cases_exist(table):
    for plugin, cases in table.items():
        for path, fn, param in cases:
            assert fn in _functions(path), f"{plugin}: {path} has no {fn}"
            assert param in (ROOT / path).read_text(encoding="utf-8"), \
                f"{plugin}: {path} does not differentiate {param}"


def test_every_filter_stage_has_a_gradient_case():
    from tests.filters.test_gradients import CASES

    covered = {cls.kind for _, cls, _, _ in CASES}
    missing = sorted(set(filter_registry()) - covered)
    assert missing == [], f"filter stages without a gradient case in tests/filters/test_gradients.py: {missing}"
