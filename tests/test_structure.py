"""The package's structure (docs/architecture.md): no import cycles, imports at the top of modules
except for optional dependencies, heavy libraries that only some inputs need, and the lazy engine
start, one bounce loop."""
from __future__ import annotations

import ast
import os
import re
from pathlib import Path

PKG = Path(__file__).resolve().parents[1] / "diffrender"
#: optional dependencies (extras): imported where used, so the package works without them
OPTIONAL = {"torch", "jax", "jaxlib", "ray", "mitsuba", "drjit", "pycolmap"}
#: required libraries that cost a process tens of MB and a fraction of a second to import, used
#: only for some inputs: imported where used (trimesh: PLY files; OpenCV: Radiance files, 16-bit
#: PNGs, the bilateral filter's borders, photo resampling; scipy: Beckmann coat tables, the
#: optimisers and the inverse-rendering tools); see docs/benchmarks.md, *Memory of a gradient
#: process*
HEAVY = {"trimesh", "cv2", "scipy"}
ENGINE = "diffrender.engine"


def _module_name(path: Path) -> str:
    rel = path.relative_to(PKG.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _resolve(mod: str, is_pkg: bool, node) -> list[str]:
    """Absolute names of the diffrender modules an import statement loads."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names]
    base = mod.split(".") if is_pkg else mod.split(".")[:-1]
    if node.level:
        base = base[:len(base) - (node.level - 1)] if node.level > 1 else base
        target = ".".join(base + ([node.module] if node.module else []))
    else:
        target = node.module or ""
    subs = [f"{target}.{a.name}" for a in node.names]
    # `from . import x` of a submodule x loads x (and the package, already being imported);
    # any other name comes from the module `target` itself
    return [target] + subs


def _modules():
    mods = {}
    for p in PKG.rglob("*.py"):
        name = _module_name(p)
        mods[name] = (p, p.name == "__init__.py", ast.parse(p.read_text(encoding="utf-8")))
    return mods


def _graph(mods):
    """Module-level import edges between diffrender modules (TYPE_CHECKING blocks excluded)."""
    edges = {m: set() for m in mods}
    for m, (_, is_pkg, tree) in mods.items():
        for node in tree.body:
            stmts = [node]
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                continue
            if isinstance(node, (ast.Try, ast.If)):
                stmts = [n for n in ast.walk(node) if isinstance(n, (ast.Import, ast.ImportFrom))]
            for s in stmts:
                if isinstance(s, (ast.Import, ast.ImportFrom)):
                    targets = _resolve(m, is_pkg, s)
                    if isinstance(s, ast.ImportFrom) and all(t in mods for t in targets[1:]):
                        targets = targets[1:]  # only submodules named
                    for t in targets:
                        if t in mods and t != m:
                            edges[m].add(t)
    return edges


def _cycles(edges):
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


def _closure(edges, start):
    seen, todo = set(), [start]
    while todo:
        v = todo.pop()
        for w in edges.get(v, ()):
            if w not in seen:
                seen.add(w)
                todo.append(w)
    return seen


def test_no_import_cycles():
    # python3 -m pytest tests/test_structure.py -k cycles  (the check: module-level imports)
    assert _cycles(_graph(_modules())) == []


def test_imports_inside_functions_only_for_optional_dependencies_and_the_engine():
    mods = _modules()
    edges = _graph(mods)
    starts_engine = {m for m in mods if m == ENGINE or ENGINE in _closure(edges, m)}
    bad = []
    for m, (path, is_pkg, tree) in mods.items():
        for fn in ast.walk(tree):
            if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for node in ast.walk(fn):
                if not isinstance(node, (ast.Import, ast.ImportFrom)):
                    continue
                targets = _resolve(m, is_pkg, node)
                top = targets[0].split(".")[0]
                if top in OPTIONAL or top in HEAVY:
                    continue
                if any(t in starts_engine for t in targets):
                    continue  # the lazy engine start (importing Taichi takes about a second)
                bad.append(f"{path.relative_to(PKG.parent)}:{node.lineno} {ast.unparse(node)}")
    assert bad == []


def test_a_scene_without_ply_files_loads_renders_and_differentiates_without_the_heavy_libraries(tmp_path):
    """Loading the Cornell box (OBJ files), rendering it, a gradient and a PNG written: none of
    :data:`HEAVY` is imported (they cost a gradient process ~90 MB: docs/benchmarks.md)."""
    import subprocess
    import sys

    code = (
        "import sys, numpy as np\n"
        "import diffrender as dr\n"
        "from diffrender.image import write_image\n"
        "sc = dr.load_scene('scenes/cornell-box/scene.xml', res=8)\n"
        "r = dr.Renderer(sc)\n"
        "img = r.render(spp=1)\n"
        "r.vjp(np.ones_like(img), ['red.reflectance'], spp=1)\n"
        "write_image(sys.argv[1], img)\n"
        f"print(sorted(m for m in {sorted(HEAVY)!r} if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "cornell.png")],
                         cwd=PKG.parent, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_one_bounce_loop():
    """The forward integrator and both replays run the same loop (core/path.py)."""
    loops = []
    for p in (PKG / "core").rglob("*.py"):
        text = p.read_text(encoding="utf-8")
        for m in re.finditer(r"^\s*while active\b", text, re.M):
            loops.append(f"{p.relative_to(PKG.parent)}:{text[:m.start()].count(os.linesep) + 1}")
    assert len(loops) == 1, loops
