"""The front door: ``import diffrender as dr`` is the public surface, and the examples use
nothing else."""
import ast
import pathlib
import subprocess
import sys

import diffrender

ROOT = pathlib.Path(__file__).resolve().parents[1]
PUBLIC = ["load_scene", "render", "render_vjp", "render_jvp", "Renderer", "traverse", "project",
          "init", "Pipeline", "tune", "optimize", "Adam", "get_loss", "load_dataset",
          "read_image", "write_image", "linear_to_srgb", "srgb_to_linear", "compare",
          "error_image", "psnr", "relative_mse", "rmse", "ssim", "DiffrenderError", "SceneError",
          "ShaderConsentError", "ImageError", "EngineError", "ConfigError", "__version__"]


def test_public_names_are_locked():
    """Adding or removing a public name is a decision: change this list with it."""
    assert diffrender.__all__ == PUBLIC


def test_every_public_name_resolves_and_importing_does_not_start_the_engine():
    code = ("import sys, diffrender as dr; before = 'taichi_forge' in sys.modules or 'taichi' in sys.modules;"
            "missing = [n for n in dr.__all__ if getattr(dr, n, None) is None];"
            "print(before, missing, callable(dr.render), callable(dr.optimize), dr.Renderer.__name__)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                       cwd=ROOT)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["False", "[]", "True", "True", "Renderer"]


#: the interop modules are public (optional extras: torch, jax)
PUBLIC_MODULES = ("diffrender.torch", "diffrender.jax")


def _diffrender_imports(path):
    """The ``diffrender.<submodule>`` imports of a Python file: (line, module), other than the
    public interop modules."""
    bad = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            bad += [(node.lineno, a.name) for a in node.names if a.name.startswith("diffrender.")]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module.startswith("diffrender."):
                bad.append((node.lineno, node.module))
            elif node.module == "diffrender":  # from diffrender import <submodule>
                mods = {p.stem for p in (ROOT / "diffrender").iterdir()
                        if p.suffix == ".py" or (p / "__init__.py").exists()}
                bad += [(node.lineno, f"diffrender.{a.name}") for a in node.names if a.name in mods]
    return [(line, m) for line, m in bad if m not in PUBLIC_MODULES]


def test_examples_import_only_the_public_surface():
    files = sorted((ROOT / "examples").rglob("*.py"))
    assert len(files) >= 10  # the examples are there (the check below is not vacuous)
    bad = {str(f.relative_to(ROOT)): _diffrender_imports(f) for f in files}
    assert {f: b for f, b in bad.items() if b} == {}


def test_the_import_check_catches_deep_imports(tmp_path):
    f = tmp_path / "x.py"
    f.write_text("import diffrender as dr\nfrom diffrender.core.camera import project\n"
                 "import diffrender.engine\nfrom diffrender import optim, render\n")
    assert _diffrender_imports(f) == [(2, "diffrender.core.camera"), (3, "diffrender.engine"),
                                      (4, "diffrender.optim")]
