"""User shaders: a material (BSDF) or a texture written as a Taichi function in a Python file,
referenced from a scene and compiled into the renderer's kernels (``docs/shaders.md``).

A shader file defines::

    KIND = "bsdf"            # or "texture"
    PARAMETERS = {           # name -> (kind, default); kind is "float" or "rgb"
        "base_color": ("rgb", (0.8, 0.3, 0.2)),
        "bands": ("float", 3.0),
    }

    @ti.func
    def eval(p, wi, wo):     # bsdf: f(wi, wo) cos(theta_o), local frame (z = normal), RGB
        ...
    # optional (bsdf): @ti.func sample(p, wi, u1, u2) -> (wo, pdf) and pdf(p, wi, wo);
    # without them the renderer samples a cosine-weighted hemisphere.

    @ti.func
    def eval(p, uv):         # texture: RGB at surface coordinates uv
        ...

``p`` is a Taichi struct with one member per parameter (``p.bands`` a float, ``p.base_color``
an RGB vector). Parameters are scene parameters (``<bsdf_id>.<name>``), BSDF parameters can
be textured, and every one of them is differentiable (they are texture slots).

Errors in the file (syntax, missing or misnamed functions, wrong signatures, bad
``PARAMETERS``, Taichi compile errors) are reported as one-line ``SceneError`` naming the file
and line.
"""
from __future__ import annotations

import importlib.util
import inspect
import linecache
import os
import re
import sys
import traceback
from contextlib import contextmanager

import numpy as np

from ..engine import ti
from ..errors import SceneError
from ..scene.model import Texture
from ..scene.spec import Param
from .types import INV_PI, BSDFSample
from .warp import square_to_cosine_hemisphere

MAX_PARAMS = 8
_SIGNATURES = {("bsdf", "eval"): ("p", "wi", "wo"), ("bsdf", "pdf"): ("p", "wi", "wo"),
               ("bsdf", "sample"): ("p", "wi", "u1", "u2"), ("texture", "eval"): ("p", "uv")}
_cache: dict[tuple[str, float], "Shader"] = {}
_counter = [0]


def _user_line(path: str, tb) -> int | None:
    """Line of the deepest traceback frame inside ``path``."""
    line = None
    for fr in traceback.extract_tb(tb):
        if os.path.abspath(fr.filename) == path:
            line = fr.lineno
    return line


def load_shader(path: str, expected_kind: str, where: str | None = None) -> "Shader":
    """Import and check a shader file; returns the (cached) Shader."""
    path = os.path.abspath(path)
    key = (path, os.path.getmtime(path))
    if key in _cache:
        sh = _cache[key]
    else:
        sh = Shader(path)
        _cache[key] = sh
    if sh.kind != expected_kind:
        raise SceneError(f"{path}: KIND is '{sh.kind}', but it is used as a {expected_kind}",
                         where)
    return sh


class Shader:
    """A checked user shader module (see the module docstring)."""

    def __init__(self, path: str):
        self.path = path
        self.name = os.path.splitext(os.path.basename(path))[0]
        _counter[0] += 1
        modname = f"diffrender_shader_{_counter[0]}_{re.sub(r'[^0-9A-Za-z_]', '_', self.name)}"
        try:
            with open(path, encoding="utf-8") as f:
                src = f.read()
            compile(src, path, "exec")
        except SyntaxError as exc:
            raise SceneError(f"{path}:{exc.lineno}: syntax error: {exc.msg}") from None
        except OSError as exc:
            raise SceneError(f"{path}: cannot read shader: {exc.strerror}") from None
        spec = importlib.util.spec_from_file_location(modname, path)
        mod = importlib.util.module_from_spec(spec)
        sys.modules[modname] = mod
        try:
            spec.loader.exec_module(mod)
        except Exception as exc:  # user code: report where it failed
            line = _user_line(path, exc.__traceback__)
            loc = f"{path}:{line}" if line else path
            raise SceneError(f"{loc}: error while loading the shader: "
                             f"{type(exc).__name__}: {exc}") from None
        self.module = mod
        kind = getattr(mod, "KIND", None)
        if kind not in ("bsdf", "texture"):
            raise SceneError(f"{path}: KIND must be \"bsdf\" or \"texture\", got {kind!r}")
        self.kind = kind
        self.params = self._check_parameters(getattr(mod, "PARAMETERS", None))
        self.param_names = list(self.params)
        self.funcs = {}
        for fname in ("eval", "pdf", "sample"):
            if (kind, fname) not in _SIGNATURES:
                continue
            fn = getattr(mod, fname, None)
            if fn is None:
                if fname == "eval":
                    raise SceneError(f"{path}: a {kind} shader must define "
                                     f"@ti.func eval({', '.join(_SIGNATURES[(kind, fname)])})")
                continue
            self._check_func(fname, fn)
            self.funcs[fname] = fn
        if ("sample" in self.funcs) != ("pdf" in self.funcs):
            raise SceneError(f"{path}: define both sample() and pdf(), or neither (cosine "
                             "hemisphere sampling)")
        self.struct = ti.types.struct(**{n: (ti.types.vector(3, ti.f32) if k == "rgb" else ti.f32)
                                         for n, (k, _) in self.params.items()}) if self.params \
            else ti.types.struct(_unused=ti.f32)

    def _check_parameters(self, params):
        path = self.path
        if params is None:
            return {}
        if not isinstance(params, dict):
            raise SceneError(f"{path}: PARAMETERS must be a dict name -> (kind, default)")
        if len(params) > MAX_PARAMS:
            raise SceneError(f"{path}: at most {MAX_PARAMS} PARAMETERS, got {len(params)}")
        out = {}
        for name, spec in params.items():
            if not (isinstance(name, str) and name.isidentifier()) or name.startswith("_") \
                    or name in ("filename", "type", "id"):
                raise SceneError(f"{path}: PARAMETERS name {name!r} is not a valid parameter "
                                 "name")
            if not (isinstance(spec, tuple) and len(spec) == 2 and spec[0] in ("float", "rgb")):
                raise SceneError(f"{path}: PARAMETERS['{name}'] must be (\"float\" | \"rgb\", "
                                 f"default), got {spec!r}")
            kind, default = spec
            d = np.asarray(default, np.float32).reshape(-1)
            if (kind == "float" and d.size != 1) or (kind == "rgb" and d.size not in (1, 3)):
                raise SceneError(f"{path}: PARAMETERS['{name}'] default {default!r} does not fit "
                                 f"kind '{kind}'")
            out[name] = (kind, d if kind == "float" else np.broadcast_to(d, (3,)).copy())
        return out

    def _check_func(self, fname, fn):
        path = self.path
        want = _SIGNATURES[(self.kind, fname)]
        line = getattr(getattr(inspect.unwrap(fn), "__code__", None), "co_firstlineno", None)
        loc = f"{path}:{line}" if line else path
        if not getattr(fn, "_is_taichi_function", False):
            raise SceneError(f"{loc}: {fname} must be decorated with @ti.func")
        try:
            got = tuple(inspect.signature(fn).parameters)
        except (TypeError, ValueError):
            got = ()
        if got != want:
            raise SceneError(f"{loc}: {fname} must have the signature {fname}({', '.join(want)}), "
                             f"got {fname}({', '.join(got)})")

    # --- reading scene parameters ------------------------------------------------------------

    def param_specs(self) -> dict:
        """The shader's ``PARAMETERS`` as loader specs (name -> Param)."""
        return {name: Param("spectrum" if kind == "rgb" else "float_texture",
                            float(default[0]) if kind == "float" else 0.0, diff=True)
                for name, (kind, default) in self.params.items()}

    def read_params(self, r) -> dict:
        """The shader's parameters from a scene node (a loader Reader extended with
        :meth:`param_specs`), as Textures; unknown names are errors naming the supported
        ones."""
        out = {}
        for name, (kind, default) in self.params.items():
            if r.has(name):
                t = r.get(name)
            else:
                t = Texture.constant(np.array(default, np.float32))
            out[name] = t
        for prop in r.node.props.values():
            if not prop.used and prop.name not in self.params:
                sup = ", ".join(self.params) or "none"
                raise SceneError(f"shader {self.path} has no parameter '{prop.name}'; its "
                                 f"PARAMETERS: {sup}", str(prop.loc))
        return out

    def defaults(self) -> dict:
        return {n: Texture.constant(np.array(d, np.float32)) for n, (k, d) in self.params.items()}

    # --- generated Taichi glue -------------------------------------------------------------

    def _compile(self, src: str, fname: str, env: dict):
        """Compile generated source under a unique file name registered in linecache (Taichi
        reads function sources through inspect)."""
        _counter[0] += 1
        file = f"<diffrender shader glue {_counter[0]} for {self.path}>"
        linecache.cache[file] = (len(src), None, src.splitlines(True), file)
        ns = dict(env)
        exec(compile(src, file, "exec"), ns)
        return ns[fname]

    def bsdf_glue(self):
        """@ti.data_oriented object with eval/pdf/sample(table, r, uv, ...) for BSDFTable."""
        if hasattr(self, "_bsdf_glue"):
            return self._bsdf_glue
        args = []
        for j, (n, (k, _)) in enumerate(self.params.items()):
            args.append(f"{n}=table.textures.eval(info.sp[{j}], uv){'.x' if k == 'float' else ''}")
        if not args:
            args = ["_unused=0.0"]
        src = ("def params(table, r, uv):\n    info = table.info[r]\n"
               f"    return S({', '.join(args)})\n")
        params = ti.func(self._compile(src, "params", {"S": self.struct}))
        user = self.funcs

        @ti.data_oriented
        class Glue:
            @ti.func
            def eval(self, table, r, uv, wi, wo):
                p = params(table, r, uv)
                res = ti.Vector([0.0, 0.0, 0.0])
                if wi.z > 0.0 and wo.z > 0.0:
                    res = user["eval"](p, wi, wo)
                return res

            @ti.func
            def pdf(self, table, r, uv, wi, wo):
                res = 0.0
                if wi.z > 0.0 and wo.z > 0.0:
                    if ti.static("pdf" in user):
                        p = params(table, r, uv)
                        res = user["pdf"](p, wi, wo)
                    else:
                        res = wo.z * INV_PI
                return res

            @ti.func
            def sample(self, table, r, uv, wi, u1, u2):
                p = params(table, r, uv)
                wo = ti.Vector([0.0, 0.0, 1.0])
                pd = 0.0
                if ti.static("sample" in user):
                    wo, pd = user["sample"](p, wi, u1, u2)
                else:
                    wo = square_to_cosine_hemisphere(u2)
                    pd = wo.z * INV_PI
                res = BSDFSample(wo=wo, weight=ti.Vector([0.0, 0.0, 0.0]), pdf=0.0, delta=0)
                if wi.z > 0.0 and wo.z > 0.0 and pd > 0.0:
                    res.pdf = pd
                    res.weight = user["eval"](p, wi, wo) / pd
                return res

        self._bsdf_glue = Glue()
        return self._bsdf_glue

    def texture_glue(self):
        """@ti.data_oriented object with eval(table, slot, uv) for TextureTable."""
        if hasattr(self, "_tex_glue"):
            return self._tex_glue
        args = []
        for j, (n, (k, _)) in enumerate(self.params.items()):
            args.append(f"{n}=table.value(table.shader_params[slot][{j}], 0, uv)"
                        f"{'.x' if k == 'float' else ''}")
        if not args:
            args = ["_unused=0.0"]
        src = f"def params(table, slot, uv):\n    return S({', '.join(args)})\n"
        params = ti.func(self._compile(src, "params", {"S": self.struct}))
        user = self.funcs

        @ti.data_oriented
        class Glue:
            @ti.func
            def eval(self, table, slot, uv):
                return user["eval"](params(table, slot, uv), uv)

        self._tex_glue = Glue()
        return self._tex_glue


class ShaderParams:
    """Owner of a texture shader's parameters (``params``: name -> Texture), so that they are
    scene parameters like any BSDF's."""

    def __init__(self, params: dict):
        self.params = params
        self.type = "shader_texture"


@contextmanager
def reported(shaders):
    """Turn Taichi compile errors raised in user shader code into a one-line SceneError naming
    the shader file and line."""
    try:
        yield
    except Exception as exc:
        comp = getattr(ti.lang.exception, "TaichiCompilationError", ())
        if not shaders or not isinstance(exc, comp):
            raise
        text = str(exc)
        for sh in shaders:
            hits = re.findall(r'File "' + re.escape(sh.path) + r'", line (\d+)', text)
            if hits:
                lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
                msg = lines[-1] if lines else type(exc).__name__
                raise SceneError(f"{sh.path}:{hits[-1]}: Taichi cannot compile the shader: "
                                 f"{msg}") from None
        raise
