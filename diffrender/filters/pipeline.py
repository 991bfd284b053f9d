"""Filter pipelines as data (YAML/JSON), evaluated with Taichi, differentiated both ways.

File format (YAML or JSON)::

    stages:
      - name: blur                 # stable name; parameters are "blur.sigma", ...
        type: gaussian_blur
        border: reflect101         # discrete options as plain values
        sigma: {value: 1.0, learnable: true, bounds: [0.3, 4.0]}
      - {name: gamma, type: gamma, gamma: {value: 1.0, learnable: true, bounds: [0.3, 3]}}
      - name: color
        type: color_matrix
        matrix: {value: [[1, 0, 0], [0, 1, 0], [0, 0, 1]], learnable: true, bounds: [-3, 3]}

A parameter is a number (fixed), or ``{value, learnable, bounds}``. Grouped parameters
(``matrix``, ``offset``, ``gains``, ``knots``, ...) take a list.
"""
from __future__ import annotations

import contextlib
import difflib
import json
import math
import os

import numpy as np
import yaml

from ..documents import check_structure, parse_structured, read_text
from ..engine import ensure_init, ti
from ..errors import ConfigError, ImageError
from .base import LANES, MAX_BAND_VALUES, np_dtype, registry, to_dtype


def _load_file(path):
    path = str(path)
    if not os.path.exists(path):
        raise ConfigError("no such pipeline file", path)
    if os.path.isdir(path):
        raise ConfigError("is a folder, expected a YAML or JSON pipeline file", path)
    text = read_text(path, path, ConfigError)
    data = parse_structured(text, path, "json" if path.lower().endswith(".json") else "yaml",
                            ConfigError, "pipeline ")
    check_structure(data, path, ConfigError)
    return data


def _short(x) -> str:
    """repr(x) cut to a readable length; never fails (a 5000-digit integer has no repr)."""
    try:
        r = repr(x)
    except ValueError:
        r = f"<{type(x).__name__} too large to print>"
    return r if len(r) <= 60 else r[:57] + "..."


#: keys of a pipeline file's top level, and of a parameter spec
TOP_KEYS = ("stages", "space")
SPEC_KEYS = ("value", "learnable", "bounds")
#: colour spaces a pipeline can work in (``space:`` in the file, ``tune --space``)
SPACES = ("srgb", "linear")


def _did_you_mean(key, known) -> str:
    near = difflib.get_close_matches(str(key), [str(k) for k in known], n=1)
    return f" (did you mean '{near[0]}'?)" if near else ""


def _strip_where(exc: ConfigError, src: str) -> str:
    """The message of a stage's ConfigError without the file/stage prefix (the caller adds it)."""
    msg = str(exc)
    where = getattr(exc, "where", None)
    if where and msg.startswith(f"{where}: "):
        return msg[len(where) + 2:]
    return msg


def load_pipeline_file(path):
    """The parsed content of a pipeline file (YAML/JSON), before any Taichi work."""
    return _load_file(path)


def _flatten(x):
    if isinstance(x, (list, tuple)):
        out = []
        for e in x:
            out.extend(_flatten(e))
        return out
    return [x]


class Pipeline:
    """An ordered list of filter stages with learnable flags and bounds per parameter.

    ``pipeline(image)`` applies it to a float (H, W, C) numpy image; ``pipeline.vjp(image, d_out)``
    returns ``(d_image, {param: grad})``; ``pipeline.jacobian(image)`` gives d(output)/d(params)
    from forward-mode autodiff. Parameters are addressed as ``"<stage>.<param>"``.
    """

    def __init__(self, stages, dtype="float32", dual=False, learnable=None, bounds=None, source=None):
        ensure_init()
        self.stages = list(stages)
        self.dtype = to_dtype(dtype)
        self.dual = bool(dual)
        self.source = source
        names = [s.name for s in self.stages]
        for s in self.stages:
            if s.dtype != self.dtype or (self.dual and not s.dual):
                raise ConfigError(f"stage '{s.name}' was created with dtype={s.dtype}, dual={s.dual}; "
                                  f"the pipeline needs dtype={self.dtype}, dual={self.dual}", self._where())
            if names.count(s.name) > 1:
                raise ConfigError(f"duplicate stage name '{s.name}'", self._where())
        self.learnable = dict(learnable or {})
        self.bounds = dict(bounds or {})
        #: the colour space the pipeline works in: "srgb" (sRGB-encoded values, as stored in
        #: PNG/JPEG), "linear" (linear light), or None (not declared: linear)
        self.space = None
        self._acts = {}
        self._lanes = {}  # (key, h, row stride) -> numpy buffers of __call__'s forward-only path

    def _where(self, stage=None):
        base = str(self.source) if self.source else "pipeline"
        return f"{base}: stage '{stage}'" if stage else base

    # ------------------------------------------------------------------ construction / files
    @classmethod
    def load(cls, path, dtype="float32", dual=False):
        data = _load_file(path)
        return cls.from_config(data, source=str(path), dtype=dtype, dual=dual)

    @classmethod
    def from_config(cls, data, source=None, dtype="float32", dual=False):
        """Build a pipeline from its config; every error in it is reported at once (one
        ConfigError whose message lists them, with did-you-mean for misspelt keys)."""
        src = str(source) if source else "pipeline"
        space = None
        if isinstance(data, dict):
            bad = [k for k in data if k not in TOP_KEYS]
            if bad:
                raise ConfigError("; ".join(f"unknown top-level key '{k}'{_did_you_mean(k, TOP_KEYS)}"
                                            for k in bad), src)
            if "stages" not in data:
                raise ConfigError("expected a 'stages' list at the top level", src)
            stages_cfg = data["stages"]
            space = data.get("space")
            if space is not None and space not in SPACES:
                raise ConfigError(f"space: expected one of {', '.join(SPACES)}, got {space!r}", src)
        else:
            stages_cfg = data
        if not isinstance(stages_cfg, list) or not stages_cfg:
            raise ConfigError("'stages' must be a non-empty list of stages", src)
        reg = registry()
        stages, learnable, bounds = [], {}, {}
        seen = set()
        errors = []  # every error of every stage, reported together at the end

        def err(where, msg):
            errors.append(f"{where}: {msg}")

        for i, st in enumerate(stages_cfg):
            if not isinstance(st, dict):
                err(f"stage {i}", f"must be a mapping with 'type', got {type(st).__name__}")
                continue
            st = dict(st)
            kind = st.pop("type", None)
            name = str(st.pop("name", kind if kind else f"stage{i}"))
            where = f"stage '{name}'"
            if kind is None:
                err(where, "missing 'type'")
                continue
            if not isinstance(kind, str) or kind not in reg:
                err(where, f"unknown stage type {_short(kind)}{_did_you_mean(kind, reg)} (expected "
                           f"one of {', '.join(sorted(reg))})")
                continue
            if name in seen:
                err(where, f"duplicate stage name '{name}'")
            seen.add(name)
            stage_cls = reg[kind]
            try:
                # split parameter specs from options
                probe = stage_cls.probe(st, f"{src}: {where}")
            except ConfigError as exc:
                err(where, _strip_where(exc, src))
                continue
            groups = probe.groups()
            pnames = probe.param_names()
            settings, specs = {}, {}
            n_before = len(errors)
            for key, val in st.items():
                if key in probe.OPTIONS:
                    settings[key] = val
                    continue
                if key not in pnames and key not in groups:
                    known = list(groups) + list(pnames) + list(probe.options)
                    err(where, probe._unknown(key, with_groups=True).replace(
                        f"'{key}' for", f"'{key}'{_did_you_mean(key, known)} for", 1))
                    continue
                spec = val if isinstance(val, dict) else {"value": val}
                extra = set(spec) - set(SPEC_KEYS)
                if extra:
                    err(where, "; ".join(f"parameter '{key}': unknown key '{k}'{_did_you_mean(k, SPEC_KEYS)} "
                                         f"(expected {', '.join(SPEC_KEYS)})" for k in sorted(extra)))
                    continue
                members = groups.get(key, [key])
                if "value" in spec:
                    vals = _flatten(spec["value"]) if key in groups else [spec["value"]]
                    if key in groups and len(vals) != len(members):
                        err(where, f"parameter '{key}' needs {len(members)} values, got {len(vals)}")
                        continue
                    if key not in groups and isinstance(spec["value"], (list, tuple, dict)):
                        err(where, f"parameter '{key}' must be a number, got {_short(spec['value'])}")
                        continue
                    for m, v in zip(members, vals):
                        settings[m] = v
                for m in members:
                    specs[m] = spec
            if len(errors) > n_before:
                continue
            try:
                stage = stage_cls(name=name, dtype=dtype, dual=dual, where=f"{src}: {where}", **settings)
            except ConfigError as exc:
                err(where, _strip_where(exc, src))
                continue
            stages.append(stage)
            for m in stage.param_names():
                spec = specs.get(m, {})
                full = f"{name}.{m}"
                lrn = spec.get("learnable", False)
                if not isinstance(lrn, bool):
                    err(where, f"parameter '{m}': learnable must be true or false, got {_short(lrn)}")
                    continue
                learnable[full] = lrn
                if "bounds" in spec:
                    b = spec["bounds"]
                    if not (isinstance(b, (list, tuple)) and len(b) == 2):
                        err(where, f"parameter '{m}': bounds must be [low, high], got {_short(b)}")
                        continue
                    if any(x is not None and (isinstance(x, bool) or not isinstance(x, (int, float))
                                              or math.isnan(x)) for x in b):
                        err(where, f"parameter '{m}': bounds must be two numbers (or null), got "
                                   f"{_short(b)}")
                        continue
                    lo = -math.inf if b[0] is None else float(b[0])
                    hi = math.inf if b[1] is None else float(b[1])
                    if not lo < hi:
                        err(where, f"parameter '{m}': bounds [{lo:g}, {hi:g}] are empty")
                        continue
                    pspec = stage.params_spec()[stage.param_names().index(m)]
                    dom_lo = max(pspec.lo, 1e-6 if pspec.positive else pspec.lo)
                    lo, hi = max(lo, dom_lo), min(hi, pspec.hi)
                    v = stage.get(m)
                    if lrn and not lo <= v <= hi:
                        err(where, f"parameter '{m}' = {v:g} is outside its bounds [{lo:g}, {hi:g}]")
                        continue
                    bounds[full] = (lo, hi)
        if errors:
            head = f"{len(errors)} errors: " if len(errors) > 1 else ""
            raise ConfigError(head + "; ".join(errors), src)
        pipe = cls(stages, dtype=dtype, dual=dual, learnable=learnable, bounds=bounds, source=src)
        pipe.space = space
        return pipe

    def config(self):
        out = []
        for s in self.stages:
            d = {"name": s.name, "type": s.kind}
            d.update(s.saved_options())
            done = set()
            for g, members in s.groups().items():
                vals = [float(s.get(m)) for m in members]
                full = [f"{s.name}.{m}" for m in members]
                if g in ("matrix",):
                    vals = [vals[0:3], vals[3:6], vals[6:9]]
                spec = {"value": vals}
                if any(self.learnable.get(f) for f in full):
                    spec["learnable"] = True
                if full[0] in self.bounds:
                    spec["bounds"] = list(self.bounds[full[0]])
                d[g] = spec if len(spec) > 1 else vals
                done.update(members)
            for m in s.param_names():
                if m in done:
                    continue
                full = f"{s.name}.{m}"
                spec = {"value": float(s.get(m))}
                if self.learnable.get(full):
                    spec["learnable"] = True
                if full in self.bounds:
                    spec["bounds"] = [None if not math.isfinite(x) else x for x in self.bounds[full]]
                d[m] = spec if len(spec) > 1 else spec["value"]
            out.append(d)
        cfg = {"stages": out}
        if self.space is not None:
            cfg = {"space": self.space, **cfg}
        return cfg

    def save(self, path):
        cfg = self.config()
        path = str(path)
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        with open(path, "w", encoding="utf-8") as fh:
            if path.lower().endswith(".json"):
                json.dump(cfg, fh, indent=2)
            else:
                yaml.safe_dump(cfg, fh, sort_keys=False, default_flow_style=None)

    # ------------------------------------------------------------------ parameters
    def stage(self, name):
        for s in self.stages:
            if s.name == name:
                return s
        raise ConfigError(f"no stage named '{name}'", self._where())

    def param_names(self, learnable_only=False):
        out = []
        for s in self.stages:
            for m in s.param_names():
                full = f"{s.name}.{m}"
                if not learnable_only or self.learnable.get(full):
                    out.append(full)
        return out

    def learnable_names(self):
        return self.param_names(learnable_only=True)

    def _split(self, full):
        if "." not in full:
            raise ConfigError(f"parameter name '{full}' must be '<stage>.<param>'", self._where())
        sname, m = full.split(".", 1)
        st = self.stage(sname)
        if m not in st.param_names():
            raise ConfigError(st._unknown(m), self._where(sname))
        return st, m

    def get(self, full):
        st, m = self._split(full)
        return st.get(m)

    def set(self, full, value):
        st, m = self._split(full)
        st.set(m, value)

    def params(self, names=None):
        names = self.param_names() if names is None else names
        return {n: self.get(n) for n in names}

    def set_params(self, values, names=None):
        if isinstance(values, dict):
            for k, v in values.items():
                self.set(k, v)
        else:
            names = self.learnable_names() if names is None else names
            for k, v in zip(names, np.asarray(values, dtype=np.float64).ravel()):
                self.set(k, float(v))

    def bounds_of(self, names=None):
        names = self.learnable_names() if names is None else names
        out = []
        for n in names:
            st, m = self._split(n)
            spec = st.params_spec()[st.param_names().index(m)]
            lo, hi = self.bounds.get(n, (spec.lo, spec.hi))
            if spec.positive:
                lo = max(lo, 1e-6)
            out.append((lo, hi))
        return out

    def support(self, over_bounds=False):
        """Total (ry, rx) support of the pipeline: an output pixel depends on input pixels at
        most this far away. ``over_bounds`` takes every learnable parameter at its upper bound."""
        ry = rx = 0
        for s in self.stages:
            if over_bounds:
                b = {m: self.bounds.get(f"{s.name}.{m}", (None, None)) for m in s.param_names()
                     if self.learnable.get(f"{s.name}.{m}")}
                a, c = s.max_support(b)
            else:
                a, c = s.support()
            ry += a
            rx += c
        return ry, rx

    # ------------------------------------------------------------------ evaluation
    def _channels(self, c0, where=None):
        cs = [c0]
        for s in self.stages:
            s.check_channels(cs[-1], where or "input image", self.source)
            cs.append(s.out_channels(cs[-1]))
        return cs

    def _fields(self, h, w, c0):
        key = (h, w, c0)
        if key not in self._acts:
            cs = self._channels(c0)
            acts = [ti.Vector.field(c, self.dtype, shape=(h, w), needs_dual=self.dual) for c in cs]
            self._acts[key] = {"acts": acts, "grads": None, "channels": cs}
        return self._acts[key]

    def _grads(self, entry, h, w):
        if entry["grads"] is None:
            entry["grads"] = [ti.Vector.field(c, self.dtype, shape=(h, w)) for c in entry["channels"]]
        return entry["grads"]

    def check_image(self, image, where=None, finite=True):
        """``image`` as an (H, W, C) float array, checked against the stages' channel counts;
        ``finite``: also an error for NaN or Inf values (else the caller checks them)."""
        img = np.asarray(image)
        label = where or "input image"
        if img.ndim == 2:
            img = img[:, :, None]
        if img.ndim != 3:
            raise ImageError(f"{label}: expected an (H, W, C) image, got shape {tuple(np.shape(image))}")
        if not np.issubdtype(img.dtype, np.floating):
            raise ImageError(f"{label}: expected a float image (linear), got dtype {img.dtype}")
        # min and max propagate NaN and show Inf: two vectorised passes, no boolean image
        if finite and img.size and not (np.isfinite(img.min()) and np.isfinite(img.max())):
            bad = ~np.isfinite(img)
            y, x, c = np.argwhere(bad)[0]
            kind = "NaN" if np.isnan(img[y, x, c]) else "Inf"
            raise ImageError(f"{label}: {kind} at pixel (row {y}, col {x}, channel {c}); "
                             f"{int(bad.sum())} non-finite values")
        self._channels(img.shape[2], label)
        return img

    def run_fields(self, image, frame=None, where=None, check=True):
        """Upload ``image`` and run every stage; returns the activation entry (fields)."""
        img = self.check_image(image, where) if check else np.asarray(image)
        if img.ndim == 2:
            img = img[:, :, None]
        h, w, c = img.shape
        entry = self._fields(h, w, c)
        entry["acts"][0].from_numpy(np.ascontiguousarray(img, dtype=np_dtype(self.dtype)))
        frame = frame or (0, 0, h, w)
        self._run(entry, frame, sync=True)
        entry["frame"] = frame
        return entry

    def _run(self, entry, frame, sync=True):
        acts = entry["acts"]
        for i, s in enumerate(self.stages):
            s.forward(acts[i], acts[i + 1], frame, sync=sync)

    def __call__(self, image, frame=None, where=None):
        lanes = self.dtype == ti.f32 and all(s.lanes_ok() for s in self.stages)
        img = self.check_image(image, where, finite=not lanes)  # the lane path checks its own
        if img.ndim == 2:
            img = img[:, :, None]
        if lanes:
            h, w, c = img.shape
            if 0 < h * -(-(w * c) // LANES) * LANES + LANES < MAX_BAND_VALUES:
                return self._call_lanes(img, where)
            self.check_image(img, where)  # too large for the band kernels: the field path
        entry = self.run_fields(img, frame, where, check=False)
        return entry["acts"][-1].to_numpy().astype(np_dtype(self.dtype), copy=False)

    def _call_lanes(self, img, where=None):
        """Forward only, numpy in and out (see ``base.lane_separable``): no activations kept
        for vjp. A float32 C-contiguous image whose rows fill whole lane blocks is read in
        place, and checked for NaN / Inf by the first stage's kernel; others are copied first
        (and checked by numpy)."""
        h, w, c = img.shape
        nv = w * c
        xs = -(-nv // LANES) * LANES
        direct = img.dtype == np.float32 and img.flags.c_contiguous and xs == nv
        if direct:
            x = img.reshape(-1)
        else:
            self.check_image(img, where)
            x = self._lane_buf("in", h, xs)
            x.reshape(h, xs)[:, :nv] = img.reshape(h, nv)
        out = np.empty(h * nv, dtype=np.float32)
        for k, s in enumerate(self.stages):
            last = k == len(self.stages) - 1
            y = out if last else self._lane_buf(k % 2, h, xs)
            s._sync()
            ok = s.forward_lanes(x, y, (h, w, c), xs, nv if last else xs, check=direct and k == 0)
            if not ok:
                self.check_image(img, where)  # raises, naming the first bad pixel
                raise ImageError(f"{where or 'input image'}: NaN or Inf values")
            x = y
        return out.reshape(h, w, c)

    def _lane_buf(self, key, h, xs):
        """A zero-initialised float32 buffer of h rows of xs values (the values past a row's end
        stay 0: the kernels read them but never write them)."""
        buf = self._lanes.get((key, h, xs))
        if buf is None:
            buf = self._lanes[(key, h, xs)] = np.zeros(h * xs, dtype=np.float32)
        return buf

    def vjp(self, image, d_out, wrt="learnable", frame=None, where=None, return_output=False):
        """Vector-Jacobian product: ``(d_image, {param: d<d_out, f(image)>/d param})``.

        ``wrt``: "learnable" (default), "all", "none", or a list of parameter names."""
        entry = self.run_fields(image, frame, where)
        return self.vjp_fields(entry, d_out, wrt, return_output)

    def vjp_fields(self, entry, d_out, wrt="learnable", return_output=False):
        acts = entry["acts"]
        h, w = acts[0].shape
        grads = self._grads(entry, h, w)
        d = np.asarray(d_out)
        if d.ndim == 2:
            d = d[:, :, None]
        if d.shape != (h, w, entry["channels"][-1]):
            raise ImageError(f"d_out has shape {d.shape}, expected {(h, w, entry['channels'][-1])}")
        grads[-1].from_numpy(np.ascontiguousarray(d, dtype=np_dtype(self.dtype)))
        if wrt == "learnable":
            want = set(self.learnable_names())
        elif wrt == "all":
            want = set(self.param_names())
        elif wrt == "none" or wrt is None:
            want = set()
        else:
            want = set(wrt)
            for n in want:
                self._split(n)
        out = {}
        frame = entry.get("frame") or (0, 0, h, w)
        for i in range(len(self.stages) - 1, -1, -1):
            s = self.stages[i]
            names = [f"{s.name}.{m}" for m in s.param_names()]
            need = any(n in want for n in names)
            g = s.backward(acts[i], acts[i + 1], grads[i + 1], grads[i], frame, want_params=need)
            for n, v in zip(names, g):
                if n in want:
                    out[n] = float(v)
        ordered = {n: out[n] for n in self.param_names() if n in out}
        d_img = grads[0].to_numpy()
        if return_output:
            return d_img, ordered, acts[-1].to_numpy()
        return d_img, ordered

    # ------------------------------------------------------------------ forward mode
    @contextlib.contextmanager
    def _fwd_mode(self):
        for s in self.stages:
            s.fwd_mode = True
        try:
            yield
        finally:
            for s in self.stages:
                s.fwd_mode = False

    def jacobian(self, image, names=None, frame=None, where=None):
        """(output, J) with J[k] = d output / d names[k] (shape (n, H, W, C)) by ``ti.ad.FwdMode``.
        The pipeline must have been created with ``dual=True``."""
        from ..engine import require_forward_mode

        require_forward_mode("Pipeline.jacobian")
        if not self.dual:
            raise ConfigError("jacobian() needs a pipeline created with dual=True", self._where())
        names = self.learnable_names() if names is None else list(names)
        entry = self.run_fields(image, frame, where)
        frame = entry["frame"]
        out = entry["acts"][-1].to_numpy()
        J = np.zeros((len(names),) + out.shape, dtype=out.dtype)
        for k, n in enumerate(names):
            st, m = self._split(n)
            idx = st.param_names().index(m)
            seed = np.zeros(st.p.shape[0])
            seed[idx] = 1.0
            with ti.ad.FwdMode(loss=st.p, param=st.p, seed=list(seed)), self._fwd_mode():
                self._run(entry, frame, sync=False)
            J[k] = entry["acts"][-1].dual.to_numpy()
        return out, J

    def jvp_image(self, image, direction, frame=None):
        """d output along an image direction (forward mode), for cross-checks."""
        from ..engine import require_forward_mode

        require_forward_mode("Pipeline.jvp_image")
        if not self.dual:
            raise ConfigError("jvp_image() needs a pipeline created with dual=True", self._where())
        entry = self.run_fields(image, frame)
        a0 = entry["acts"][0]
        d = np.asarray(direction, dtype=np_dtype(self.dtype))
        if d.ndim == 2:
            d = d[:, :, None]
        with ti.ad.FwdMode(loss=self.stages[0].p, param=a0, seed=d), self._fwd_mode():
            self._run(entry, entry["frame"], sync=False)
        return entry["acts"][-1].dual.to_numpy()

    def __repr__(self):
        return "Pipeline([" + ", ".join(repr(s) for s in self.stages) + "])"
