"""The ``diffrender optimize`` loop: render, compare with the targets, back-propagate, step.

Outputs in the config's ``output`` folder:

- ``params.json``: final parameter values (with ``average_from``: the mean of the iterates
  from that iteration on); ``trajectory.csv``: loss and parameter values per iteration;
  ``loss.png`` / ``params.png``: plots (matplotlib);
- ``renders/iter_XXXXX.png`` every ``render_every`` iterations and ``progress.gif`` (or ``.mp4``);
- ``final.exr``: the render with the final parameters; ``scene_optimized.<ext>``: the scene
  written back in its input format with the optimized values (when a writer exists for it);
- ``checkpoint.json``: optimizer state every ``checkpoint_every`` iterations, on Ctrl-C and at the
  end; ``--resume`` continues from it and reaches the same result as an uninterrupted run (seeds
  depend only on the config's seed and the iteration).
"""
from __future__ import annotations

import contextlib
import csv
import fcntl
import fnmatch
import io
import json
import os
import re
import sys
import time
from dataclasses import dataclass, replace

import numpy as np
from matplotlib.figure import Figure
from scipy.ndimage import binary_dilation, binary_erosion

from ..datasets import focal_from_exif, load_dataset
from ..errors import ConfigError, SceneError
from ..image import read_image, write_animation, write_image
from ..optim import LBFGS, SGD, Adam, Schedule, UniformAdam, get_loss
from ..optim.losses import silhouette as silhouette_loss
from ..scene.loader import load_scene
from ..scene.writer import atomic_write_bytes, write_scene
from .config import DEFAULT_BOUNDS, OptimizeConfig, load_config, param_init_value, parse_config
from .geometry import Direct, Mesh, Pose
from .resample import resample, undistort
from .silhouette import Silhouette

FINAL_MIN_SPP = 64          # final.exr: at least this many samples per pixel
FINAL_ITERATION = 10**6     # the seed stream of final.exr
PLOT_SIZE = (6, 4)  # inches, loss.png and params.png
PLOT_DPI = 100

SILHOUETTE_STREAM = 0x5A5A5A5  # seed offset of the silhouette renders (independent of the colour's)
HALF_STREAM = 0x3C3C3C3  # seed offset of a target render's second half (learnable filters)
JPEG_EXTENSIONS = (".jpg", ".jpeg")
JPEG_NOTE = ("its compression shifts colours and blurs chroma (4:2:0 at quality 95 raised the blue of "
             "red and green surfaces by 6% in benchmarks/jpeg_effect.py); prefer PNG / EXR targets, or use "
             "a robust loss (loss: charbonnier)")


def pinhole_of(camera):
    """The ideal pinhole camera of the same size and pose as ``camera``: principal point at the
    image centre, fy = fx, no distortion (the camera a sensor renders today)."""
    return replace(camera, cx=0.5 * camera.width, cy=0.5 * camera.height, fy=camera.fx, distortion={})


@dataclass
class Target:
    sensor: int
    image: np.ndarray          # (H, W, 3) linear, at the film's size
    weight: float              # the target's weight in the total loss
    pixel_weights: np.ndarray | None = None  # (H, W) mask / weights, None = all 1
    name: str = ""             # the image's name (as configured, or the photo set's frame name)
    mask: np.ndarray | None = None  # (H, W) the target's mask (alpha / mask image), for the silhouette

CHECKPOINT = "checkpoint.json"
RUN_CONFIG = "config.json"  # the validated config, for `diffrender export RUN_DIR`


RUN_MARKER = ".diffrender-run"  # a folder holding it was made by optimize and may be written
LOCK = ".lock"


@contextlib.contextmanager
def atomic_path(path: str):
    """Yield a temporary path (same folder, same extension) to write; on success it replaces
    ``path`` in one step, so ``path`` always holds a complete file, old or new."""
    root, ext = os.path.splitext(path)
    tmp = f"{root}.tmp-{os.getpid()}{ext}"
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def atomic_json(path: str, obj, **kw) -> None:
    atomic_write_bytes(path, json.dumps(obj, **kw).encode("utf-8"))


def prepare_output(out: str, where: str):
    """Make ``out`` the run's folder, or refuse: it must be new, empty, or a run folder (holding
    :data:`RUN_MARKER`). Returns the open lock file (held while the run lives: a second run on the
    same folder is refused)."""
    if os.path.exists(out) and not os.path.isdir(out):
        raise ConfigError(f"output '{out}' exists and is not a folder", where)
    if os.path.isdir(out):
        # a run killed while it marked the folder leaves only the marker's temporary file
        entries = [e for e in os.listdir(out) if e != LOCK and not _is_temporary(e, RUN_MARKER)]
        if entries and RUN_MARKER not in entries:
            raise ConfigError(f"output folder '{out}' holds other files and was not made by "
                              "`diffrender optimize`: choose a new or empty folder", where)
    try:
        os.makedirs(out, exist_ok=True)
        marker = os.path.join(out, RUN_MARKER)
        if not os.path.exists(marker):  # first, so that the folder is ours from here on
            atomic_write_bytes(marker, b"diffrender optimize output folder\n")
        os.makedirs(os.path.join(out, "renders"), exist_ok=True)
        lock = open(os.path.join(out, LOCK), "a+")
    except OSError as exc:
        raise ConfigError(f"cannot write the output folder '{out}': {exc.strerror or exc}",
                          where) from None
    try:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        lock.close()
        raise ConfigError(f"output folder '{out}' is in use by another optimize run", where) from None
    remove_stale_temporaries(out)
    return lock


_TEMPORARY = re.compile(r"\.tmp-\d+(\.[A-Za-z0-9]+)?$")  # atomic_path's and atomic_write_bytes' names


def _is_temporary(name: str, of: str | None = None) -> bool:
    """Whether ``name`` is the temporary file of an atomic write (of the file ``of``, if given)."""
    m = _TEMPORARY.search(name)
    return m is not None and (of is None or name[:m.start()] == of)


def remove_stale_temporaries(out: str) -> list[str]:
    """Delete the temporary files that runs killed in the middle of an atomic write left in the
    run folder ``out`` and its ``renders``. Call it holding the folder's lock: no other run is
    writing there. Returns the paths removed."""
    removed = []
    for d in (out, os.path.join(out, "renders")):
        for name in os.listdir(d) if os.path.isdir(d) else ():
            path = os.path.join(d, name)
            if _is_temporary(name) and os.path.isfile(path):
                os.remove(path)
                removed.append(path)
    return removed


def save_run_config(cfg: OptimizeConfig, out: str) -> None:
    data = {"config": cfg.model_dump(mode="json", exclude={"path", "base_dir"}, exclude_none=True),
            "path": cfg.path, "base_dir": cfg.base_dir}
    atomic_write_bytes(os.path.join(out, RUN_CONFIG), json.dumps(data, indent=2).encode())


def _seed(base: int, it: int, stream: int) -> int:
    # distinct, reproducible seeds per iteration and pass (primal / adjoint / target index)
    return (base * 1_000_003 + it * 7919 + stream * 104_729) & 0x7FFFFFFF


class Problem:
    """Everything the loop needs, validated before any kernel compiles."""

    def __init__(self, cfg: OptimizeConfig, allow_shaders: bool = False):
        self.cfg = cfg
        scene_path = cfg.resolve(cfg.scene)
        if not os.path.exists(scene_path):
            raise ConfigError(f"no such scene file '{cfg.scene}'", f"{cfg.path}: scene")
        self.scene = load_scene(scene_path, allow_shaders=allow_shaders,
                                **{k: str(v) for k, v in cfg.defines.items()})
        self.targets = []
        for i, t in enumerate(cfg.targets):
            where = f"{cfg.path}: targets[{i}]"
            sidx = self._sensor_index(t.sensor, where)
            path = cfg.resolve(t.image)
            if not os.path.exists(path):
                raise ConfigError(f"no such image file '{t.image}'", where + ".image")
            if t.fov_from_exif:
                self._fov_from_exif(sidx, path, t.image, where)
            self.targets.append(self._target(sidx, path, t.image, t.weight, where,
                                             mask=t.mask, weights=t.weights,
                                             mask_weights=t.mask_weights, mask_edge=t.mask_edge))
        if cfg.dataset is not None:
            self._add_dataset(cfg.dataset)
        self.pmap = self.scene.parameters()   # after the dataset's sensors: they have names too
        self.names = []      # optimizer variables
        self.bounds = {}
        self.lrs = {}
        self.init = {}
        self.transforms = []  # geometry.Direct | Pose | Mesh, one per configured parameter
        params, wheres = self._expand_patterns(cfg)
        self.param_configs = params  # cfg.parameters with patterns expanded
        for name, pc in params.items():
            if name.startswith("filters."):
                continue  # learning-rate / bounds overrides of filter parameters, checked below
            where = wheres[name]
            try:
                p = self.pmap.resolve(name)
            except SceneError as exc:
                raise ConfigError(str(exc), where) from None
            kind = self.pmap.kind(p.name)
            if kind in ("to_world", "vertex_positions"):
                other = "vertex_positions" if kind == "to_world" else "to_world"
                if any(q.owner is p.owner and self.pmap.kind(q.name) == other
                       for q in (self.pmap.resolve(n) for n in params if not n.startswith("filters."))):
                    raise ConfigError(f"a shape's to_world and vertex_positions cannot both be optimized "
                                      f"(a new to_world re-derives the vertices from the object-space mesh)",
                                      where)
            tr = self._transform(p, kind, pc, where)
            self.transforms.append(tr)
            for var, v0 in tr.init.items():
                part = var[len(p.name) + 1:] if var != p.name else None
                sub = getattr(pc, part) if part else pc
                b = sub.bounds if sub.bounds is not None else (None if part or kind in ("vertex_positions",)
                                                               else DEFAULT_BOUNDS.get(kind))
                if b is not None:
                    self.bounds[var] = (b[0], b[1])
                self.lrs[var] = sub.lr if sub.lr is not None else cfg.optimizer.lr
                if b is not None:
                    v0 = np.clip(v0, -np.inf if b[0] is None else b[0], np.inf if b[1] is None else b[1])
                self.names.append(var)
                self.init[var] = v0
        self.pipeline = None
        self.per_view = set()
        self.reference_view = None
        self.silhouette = None
        if cfg.silhouette_weight > 0:
            self._load_silhouette()
        if cfg.filters is not None:
            self._load_pipeline()
        for name in cfg.parameters:
            if name.startswith("filters.") and name not in self.names:
                known = ", ".join(n for n in self.names if n.startswith("filters.")) or "none"
                raise ConfigError(f"'{name}' is not a learnable parameter of the filter pipeline "
                                  f"(learnable: {known})", f"{cfg.path}: parameters.{name}")

    def _expand_patterns(self, cfg):
        """``parameters:`` with shell-style patterns expanded: a key with ``*``, ``?`` or ``[``
        (``sensor_*.fov``) stands for every scene parameter whose name it matches, each with the
        key's settings; a name given on its own wins over a pattern. Returns the parameters in
        order and, per name, where an error about it points."""
        out, wheres = {}, {}
        names = list(self.pmap)
        for key, pc in cfg.parameters.items():
            where = f"{cfg.path}: parameters.{key}"
            if key.startswith("filters.") or not any(c in key for c in "*?["):
                out[key], wheres[key] = pc, where
                continue
            hits = [n for n in names if fnmatch.fnmatchcase(n, key)]
            if not hits:
                raise ConfigError(f"no parameter matches the pattern '{key}' "
                                  "(`diffrender info SCENE` lists them)", where)
            for n in hits:
                if n not in cfg.parameters and n not in out:
                    out[n], wheres[n] = pc, f"{where} ({n})"
        return out, wheres

    def _fov_from_exif(self, sidx, path, name, where):
        try:
            found = focal_from_exif(path)
        except OSError as exc:
            raise ConfigError(f"cannot read EXIF data of '{name}': {exc}", where + ".image") from None
        if found is None:
            raise ConfigError(f"fov_from_exif: '{name}' has no EXIF focal length", where)
        f_px, how = found
        width = read_image(path).shape[1]
        sensor = self.scene.sensors[sidx]
        sensor.fov = float(np.degrees(2.0 * np.arctan(0.5 * width / f_px)))
        sensor.fov_axis = "x"
        print(f"diffrender: note: {where}: sensor {sidx} fov = {sensor.fov:.4g} degrees (x) from "
              f"{how}", file=sys.stderr)

    def _add_dataset(self, dc):
        """One sensor (a copy of the template sensor looking through the frame's camera) and one
        target per image of the photo set."""
        where = f"{self.cfg.path}: dataset"
        ds = load_dataset(self.cfg.resolve(dc.path), subset=dc.subset, downscale=dc.downscale,
                          masks=None if dc.masks is None else self.cfg.resolve(dc.masks),
                          images=None if dc.images is None else self.cfg.resolve(dc.images))
        template = self.scene.sensors[self._sensor_index(dc.sensor, where)]
        for frame in ds.frames:
            fw = f"{where}: {frame.name}"
            if not os.path.exists(frame.image):
                raise ConfigError(f"no such image file '{frame.image}'", fw)
            camera = frame.camera
            if dc.undistort:
                frame = replace(frame, camera=pinhole_of(camera))
            sensor = frame.sensor(template, fw)
            # named by its index whatever the scene's own sensors are called: sensor_<i>
            sensor.id = f"sensor_{len(self.scene.sensors)}"
            if any(s.id == sensor.id for s in self.scene.sensors):
                raise ConfigError(f"the scene already has a sensor with id '{sensor.id}', the name of "
                                  "the photo set's sensor with that index: rename the scene's sensor", fw)
            self.scene.sensors.append(sensor)
            self.targets.append(self._target(len(self.scene.sensors) - 1, frame.image,
                                             frame.name, dc.weight, fw, mask=frame.mask,
                                             camera=camera if dc.undistort else None,
                                             mask_weights=dc.mask_weights, mask_edge=dc.mask_edge))
        if dc.undistort:
            print(f"diffrender: note: {where}: photos resampled to pinhole cameras (principal point "
                  "at the centre, fy = fx, no distortion; bilinear)", file=sys.stderr)

    def _target(self, sidx, path, name, weight, where, mask=None, weights=None,
                camera=None, mask_weights=True, mask_edge=0) -> Target:
        """Read a target image (and its mask / weights), resampled to the sensor's film;
        ``camera``: the photo's camera, to undistort the image (and mask) with first;
        ``mask_weights``: the mask also weights the photometric loss (else it is only the
        silhouette's); ``mask_edge``: pixels within that many film pixels of the mask's
        boundary get weight 0 in the photometric loss."""
        img = read_image(path)
        if camera is not None:
            cam = camera.scaled(img.shape[1] / camera.width)
            if (cam.width, cam.height) != (img.shape[1], img.shape[0]):
                raise ConfigError(f"'{name}' is {img.shape[1]}x{img.shape[0]}, its camera "
                                  f"{camera.width}x{camera.height}: undistort needs the same aspect",
                                  where + ".image")
            img = undistort(img, cam, pinhole_of(cam))
        film = self.scene.sensors[sidx].film
        size = (film.height, film.width)
        pix = None
        has_alpha = img.shape[2] in (2, 4)
        if mask == "alpha" and not has_alpha:
            raise ConfigError(f"mask: alpha, but '{name}' has no alpha channel", where + ".mask")
        if has_alpha and mask in (None, "alpha"):
            pix = img[:, :, -1]
        elif mask not in (None, "none", "alpha"):
            pix = self._weight_image(mask, where + ".mask") > 0.0
            if camera is not None:
                if pix.shape != img.shape[:2]:
                    raise ConfigError(f"the mask of '{name}' is not the image's size", where + ".mask")
                pix = undistort(pix.astype(np.float32)[:, :, None], cam, pinhole_of(cam))[:, :, 0]
        color = img[:, :, :3] if img.shape[2] >= 3 else np.repeat(img[:, :, :1], 3, axis=2)
        color = self._fit(color, size, name, where + ".image")
        if pix is not None:
            pix = self._fit(np.asarray(pix, np.float32)[:, :, None], size, f"the mask of '{name}'",
                            where + ".mask")[:, :, 0]
        silhouette = pix
        if not mask_weights:
            pix = None
        if mask_edge:
            if silhouette is None:
                raise ConfigError(f"mask_edge: '{name}' has no mask (an alpha channel, 'mask:', or the "
                                  "dataset's masks)", where + ".mask_edge")
            inside = silhouette > 0.5
            square = np.ones((3, 3), bool)   # diagonal neighbours count: within N pixels
            band = (binary_dilation(inside, square, iterations=mask_edge)
                    & ~binary_erosion(inside, square, iterations=mask_edge, border_value=1))
            pix = np.where(band, 0.0, 1.0 if pix is None else pix).astype(np.float32)
        if weights is not None:
            wi = self._fit(self._weight_image(weights, where + ".weights")[:, :, None], size,
                           f"'{weights}'", where + ".weights")[:, :, 0]
            pix = wi if pix is None else pix * wi
        if os.path.splitext(path)[1].lower() in JPEG_EXTENSIONS:
            print(f"diffrender: note: {where}: '{name}' is a JPEG (8-bit sRGB, lossy, usually "
                  f"chroma-subsampled): {JPEG_NOTE}", file=sys.stderr)
        return Target(sidx, color.astype(np.float32), weight, pix, str(name), silhouette)

    def _weight_image(self, p, where):
        path = self.cfg.resolve(p) if not os.path.isabs(p) else p
        if not os.path.exists(path):
            raise ConfigError(f"no such image file '{p}'", where)
        w = read_image(path, linear=True)
        w = w[:, :, -1] if w.shape[2] in (2, 4) else w[:, :, 0]
        if not np.all(np.isfinite(w)) or np.any(w < 0):
            raise ConfigError(f"'{p}': weights must be finite and >= 0", where)
        return w

    def _fit(self, img, size, name, where):
        if img.shape[:2] == size:
            return img
        h, w = img.shape[:2]
        if self.cfg.resample == "error":
            raise ConfigError(f"target {name} is {w}x{h} but the sensor renders {size[1]}x{size[0]} "
                              "(resample: error)", where)
        how = ("area average of the pixels each film pixel covers" if self.cfg.resample == "area"
               else "bilinear")
        print(f"diffrender: note: {where}: {name} is {w}x{h}, resampled to the film's "
              f"{size[1]}x{size[0]} ({how})", file=sys.stderr)
        return resample(img, size, self.cfg.resample)

    def _load_pipeline(self):
        """A filter pipeline applied to the render before the loss; its learnable parameters are
        optimized with the scene's, as ``filters.<stage>.<param>``."""
        from ..filters.pipeline import Pipeline  # lazy engine start (the filter stack imports Taichi)

        cfg = self.cfg
        src = cfg.filters
        if isinstance(src, str):
            path = cfg.resolve(src)
            if not os.path.exists(path):
                raise ConfigError(f"no such pipeline file '{src}'", f"{cfg.path}: filters")
            self.pipeline = Pipeline.load(path)
        else:
            self.pipeline = Pipeline.from_config(src, source=f"{cfg.path}: filters")
        names = self.pipeline.learnable_names()
        stages = [s.name for s in self.pipeline.stages]
        for i, sname in enumerate(cfg.filters_per_view):
            where = f"{cfg.path}: filters_per_view[{i}]"
            if sname not in stages:
                raise ConfigError(f"no stage named '{sname}' in filters (stages: {', '.join(stages)})",
                                  where)
            if not any(n.startswith(sname + ".") for n in names):
                raise ConfigError(f"stage '{sname}' has no learnable parameter", where)
        #: filter parameters with one value per view (target): ``filters.<stage>.<param>`` is a
        #: vector whose entry k is target k's value
        self.per_view = {f"filters.{n}" for n in names if n.split(".", 1)[0] in cfg.filters_per_view}
        nv = len(self.targets)
        self.reference_view = cfg.filters_reference_view
        if self.reference_view is not None and self.reference_view >= nv:
            raise ConfigError(f"view {self.reference_view} does not exist (there are {nv} targets)",
                              f"{cfg.path}: filters_reference_view")
        for n, (lo, hi) in zip(names, self.pipeline.bounds_of(names)):
            full = f"filters.{n}"
            pc = cfg.parameters.get(full)
            self.names.append(full)
            b = pc.bounds if pc is not None and pc.bounds is not None else (lo, hi)
            self.bounds[full] = (b[0], b[1])
            self.lrs[full] = pc.lr if pc is not None and pc.lr is not None else cfg.optimizer.lr
            v = np.asarray(float(self.pipeline.get(n)) if pc is None or pc.init is None else pc.init,
                           np.float64)
            where = f"{cfg.path}: parameters.{full}.init"
            if full in self.per_view:
                if v.ndim > 1 or v.size not in (1, nv):
                    raise ConfigError(f"expected a number or {nv} numbers (one per view), got "
                                      f"shape {v.shape}", where)
                self.init[full] = np.broadcast_to(v.reshape(-1), (nv,)).astype(np.float64).copy()
            else:
                if v.size != 1:
                    raise ConfigError(f"expected a number, got shape {v.shape}", where)
                self.init[full] = np.array(float(v.reshape(-1)[0]), np.float64)

    def _load_silhouette(self):
        cfg = self.cfg
        for i, tg in enumerate(self.targets):
            if tg.mask is None:
                raise ConfigError(f"target {i} ('{tg.name}') has no mask for the silhouette loss "
                                  "(give it an alpha channel, 'mask:', or the dataset's masks)",
                                  f"{cfg.path}: silhouette_weight")
        geo = [n for n in self.param_configs if not n.startswith("filters.")
               and self.pmap.info(self.pmap.resolve(n).name).discontinuous]
        if not geo:
            raise ConfigError("the silhouette loss needs a parameter that moves geometry or a camera "
                              "(to_world, vertex_positions, fov)", f"{cfg.path}: silhouette_weight")
        self.silhouette = Silhouette(self.scene, cfg.silhouette_shapes,
                                     f"{cfg.path}: silhouette_shapes")

    def set_filters(self, values, view: int = 0):
        """Set the filter pipeline's learnable parameters to their values for ``view`` (a
        target index): a per-view parameter takes its entry ``view``, a shared one its value."""
        for k, v in values.items():
            if k.startswith("filters."):
                v = np.asarray(v, np.float64).reshape(-1)
                self.pipeline.set(k[len("filters."):], float(v[view] if k in self.per_view else v[0]))

    def view_filters(self, values) -> list[dict]:
        """Each view's filter parameters (``views.json``): its target image and sensor, and the
        value of every learnable filter parameter that view sees."""
        out = []
        for i, tg in enumerate(self.targets):
            f = {k[len("filters."):]: float(np.asarray(v, np.float64).reshape(-1)[i if k in self.per_view else 0])
                 for k, v in values.items() if k.startswith("filters.")}
            out.append({"view": i, "image": tg.name, "sensor": tg.sensor, "filters": f})
        return out

    def _transform(self, p, kind, pc, where):
        if kind != "to_world" and any(x is not None for x in (pc.translate, pc.rotate, pc.pivot)):
            raise ConfigError("translate / rotate / pivot apply to a to_world parameter only", where)
        if kind != "vertex_positions" and pc.smoothing is not None:
            raise ConfigError("smoothing applies to vertex_positions only", where)
        if kind == "to_world":
            if pc.translate is None and pc.rotate is None:
                raise ConfigError("a to_world parameter is optimized as a rigid pose: give 'translate' "
                                  "and/or 'rotate' (e.g. translate: {init: [0, 0, 0]})", where)
            if pc.init is not None or pc.bounds is not None:
                raise ConfigError("to_world takes no init/bounds of its own: set them on translate / rotate",
                                  where)
            owner = p.owner
            M0 = np.asarray(p.get(), np.float64)
            if pc.pivot is not None and not isinstance(pc.pivot, str):
                centre = np.asarray(pc.pivot, np.float64)
            elif any(owner is s for s in self.scene.sensors):
                centre = M0[:3, 3]
            else:
                v = np.asarray(owner.vertices, np.float64)
                centre = 0.5 * (v.min(0) + v.max(0))
            if pc.translate is not None and pc.translate.axis is not None:
                raise ConfigError("translate.axis: an axis applies to rotate only (use translate.mask "
                                  "to move along some axes)", where)
            axis = pc.rotate.axis if pc.rotate is not None else None
            if axis is not None:
                if pc.rotate.mask is not None:
                    raise ConfigError("rotate: give either axis (one angle) or mask (a rotation "
                                      "vector with some components fixed), not both", where)
                if not np.linalg.norm(axis) > 0:
                    raise ConfigError("rotate.axis must not be zero (e.g. [0, 1, 0])", where)

            def part(c, name):
                if c is None:
                    return None
                v = np.zeros(3) if c.init is None else np.asarray(c.init, np.float64)
                if name == "rotate" and axis is not None:
                    if v.size != 1 and c.init is not None:
                        raise ConfigError("rotate.init must be one angle in degrees when rotate.axis is "
                                          "given", where)
                    return v.reshape(-1)[:1].copy()
                try:
                    return np.broadcast_to(v, (3,)).astype(np.float64)
                except ValueError:
                    raise ConfigError(f"{name}.init must be a number or 3 numbers", where) from None
            masks = {n: c.mask for n, c in (("translate", pc.translate), ("rotate", pc.rotate))
                     if c is not None and c.mask is not None}
            return Pose(p.name, M0, centre, part(pc.translate, "translate"), part(pc.rotate, "rotate"),
                        axis=axis, masks=masks)
        if kind == "vertex_positions":
            sm = pc.smoothing
            return Mesh(p.name, param_init_value(self.cfg, p.name, pc, p.get()), p.owner.faces,
                        method=sm.method if sm else "none", weight=sm.weight if sm else 0.0)
        return Direct(p.name, param_init_value(self.cfg, p.name, pc, p.get()))

    def apply(self, values: dict):
        """Set the scene parameters (through the pose / mesh parametrizations) and the filter
        pipeline's parameters from the optimizer's variables."""
        if self.pipeline is not None:
            self.set_filters(values, 0)
        for k, v in self.scene_values(values).items():
            self.pmap[k] = v

    def scene_values(self, values):
        out = {}
        for tr in self.transforms:
            out.update(tr.scene_values(values))
        return out

    def chain(self, values, scene_grads):
        g = {}
        for tr in self.transforms:
            g.update(tr.chain(values, scene_grads))
        return g

    def regularizer(self, values):
        loss, g = 0.0, {}
        for tr in self.transforms:
            l, gg = tr.regularizer(values)
            loss += l
            g.update(gg)
        return loss, g

    def _sensor_index(self, s, where) -> int:
        sensors = self.scene.sensors
        if isinstance(s, int):
            if not 0 <= s < len(sensors):
                raise ConfigError(f"sensor {s} does not exist (the scene has {len(sensors)})", where + ".sensor")
            return s
        for i, sens in enumerate(sensors):
            if sens.id == s:
                return i
        raise ConfigError(f"no sensor with id '{s}'", where + ".sensor")


@dataclass
class ViewResult:
    """One target's part of the loss and gradients at an iteration."""
    index: int                 # the target's index (the order of the sum)
    loss: float                # weight * loss of this target
    scene_grads: dict          # scene parameter -> float64 gradient (the scene value's shape)
    filter_grads: dict         # 'filters.<stage>.<param>' -> float64 gradient
    image: np.ndarray          # the render after the filter pipeline


class Views:
    """The targets of a :class:`Problem` rendered and back-propagated in this process.

    Views whose sensors share a film (size, crop, pixel filter) share one
    :class:`~diffrender.core.Renderer` (one upload, one compile) and are rendered through
    :meth:`Renderer.viewing`; each target keeps its own seeds, so the result does not depend on
    how the views are grouped or where they run (``diffrender.distributed`` runs a ``Views`` in
    each Ray actor)."""

    def __init__(self, problem: Problem):
        self.problem = problem
        self._renderers = {}  # film key -> Renderer

    def renderer(self, sensor: int):
        """A context in which a Renderer renders sensor ``sensor``."""
        from ..core import Renderer  # lazy engine start

        sensors = self.problem.scene.sensors
        key = Renderer._film_key(sensors[sensor])
        r = self._renderers.get(key)
        if r is None:
            r = self._renderers[key] = Renderer(self.problem.scene, sensor=sensor)
        return r.viewing(sensor)

    def compile(self):
        """Build the renderers before the first iteration."""
        for tg in self.problem.targets:
            with self.renderer(tg.sensor):
                pass

    def evaluate(self, values: dict, it: int, indices=None) -> list[ViewResult]:
        """Render and back-propagate the targets ``indices`` (default: all) at ``values``."""
        p = self.problem
        p.apply(values)
        cfg = p.cfg
        loss_fn = get_loss(cfg.loss)
        shapes = {k: np.shape(v) for k, v in p.scene_values(values).items()}
        ec = cfg.edges
        edges = dict(enabled=ec.enabled, primary=ec.primary, secondary=ec.secondary, spp=ec.spp,
                     interior=ec.interior)
        pipe = p.pipeline
        sil = p.silhouette
        if sil is not None:
            sil.set(p.scene_values(values))
        out = []
        for ti_ in range(len(p.targets)) if indices is None else indices:
            tg = p.targets[ti_]
            sgrads = {k: np.zeros(shape, np.float64) for k, shape in shapes.items()}
            sil_loss = 0.0
            if sil is not None:
                sil_loss = self._silhouette_term(sil, tg, it, ti_, sgrads, edges)
            with self.renderer(tg.sensor) as r:
                seed = _seed(cfg.seed, it, 2 * ti_)
                halves = None
                # crossed filter gradients for the stochastic optimizers; L-BFGS's line search
                # needs the derivative of the loss it is given (the render's own samples)
                if (pipe is not None and pipe.learnable_names() and cfg.spp >= 2
                        and cfg.optimizer.type != "lbfgs"):
                    halves = self._render_halves(r, cfg.spp, seed, cfg.max_depth)
                    img = halves[2]
                else:
                    img = r.render(spp=cfg.spp, seed=seed, max_depth=cfg.max_depth)
                if pipe is not None:
                    p.set_filters(values, ti_)  # this view's exposure, white balance, ...
                image = pipe(img) if pipe is not None else img
                loss, adj = loss_fn(image, tg.image, weights=tg.pixel_weights)
                adj = tg.weight * adj
                fgrads = {}
                if pipe is not None:
                    # with two halves the filter parameters' gradient is the crossed one:
                    # this pass back-propagates to the render only
                    adj, pgrads = pipe.vjp(img, adj, wrt="none" if halves is not None else "learnable")
                    if halves is not None:
                        pgrads = self._filter_grads_crossed(pipe, loss_fn, tg, *halves[:2])
                    fgrads = {f"filters.{n}": g for n, g in pgrads.items()}
                if shapes:
                    g = r.vjp(adj, list(shapes), spp=cfg.spp_adjoint,
                              seed=_seed(cfg.seed, it, 2 * ti_ + 1), max_depth=cfg.max_depth,
                              edges=edges)
                    for k in shapes:
                        sgrads[k] += np.asarray(g[k], np.float64).reshape(shapes[k])
            out.append(ViewResult(ti_, tg.weight * loss + sil_loss, sgrads, fgrads, image))
        return out

    @staticmethod
    def _render_halves(r, spp, seed, max_depth):
        """The target's render as two independent halves of its samples (their weighted mean
        has the variance of one render of ``spp`` samples): ``(half_a, half_b, mean)``."""
        na = spp // 2
        a = r.render(spp=na, seed=seed, max_depth=max_depth)
        b = r.render(spp=spp - na, seed=seed ^ HALF_STREAM, max_depth=max_depth)
        return a, b, (na * a + (spp - na) * b) / spp

    @staticmethod
    def _filter_grads_crossed(pipe, loss_fn, tg, a, b):
        """The learnable filter parameters' gradient with the loss's residual taken from one
        half of the samples and the stage's derivative (which holds the image: exposure's is
        2^ev ln2 x image) from the other, averaged both ways. With both from the same samples
        the product has the render's variance in its mean: every view's exposure was pushed
        darker in proportion to the Monte Carlo noise (docs/photos.md)."""
        out = {}
        for res, fac in ((a, b), (b, a)):
            _, d = loss_fn(pipe(res), tg.image, weights=tg.pixel_weights)
            _, g = pipe.vjp(fac, tg.weight * d)
            for k, v in g.items():
                out[k] = out.get(k, 0.0) + 0.5 * v
        return out

    def _silhouette_term(self, sil, tg, it, ti_, sgrads, edges):
        """The target's silhouette loss (weighted); its gradient is added to ``sgrads``."""
        cfg = self.problem.cfg
        w = cfg.silhouette_weight * tg.weight
        seed = _seed(cfg.seed, it, 2 * ti_) ^ SILHOUETTE_STREAM
        loss, d_alpha = silhouette_loss(sil.alpha(tg.sensor, cfg.spp, seed), tg.mask)
        names = [k for k in sgrads if sil.has(k)]
        if names:
            g = sil.vjp(tg.sensor, w * d_alpha, names, cfg.spp_adjoint,
                        _seed(cfg.seed, it, 2 * ti_ + 1) ^ SILHOUETTE_STREAM, edges)
            for k in names:
                sgrads[k] += np.asarray(g[k], np.float64).reshape(sgrads[k].shape)
        return w * loss

    def final_image(self, values: dict) -> np.ndarray:
        """The render of the first target's sensor at ``values`` (more samples), filtered."""
        p = self.problem
        p.apply(values)
        cfg = p.cfg
        with self.renderer(p.targets[0].sensor) as r:
            img = r.render(spp=max(cfg.spp, FINAL_MIN_SPP), seed=_seed(cfg.seed, FINAL_ITERATION, 0),
                           max_depth=cfg.max_depth)
        return p.pipeline(img) if p.pipeline is not None else img

    def close(self):
        self._renderers.clear()


class Run:
    def __init__(self, cfg: OptimizeConfig, resume: bool = False, overwrite: bool = False,
                 allow_shaders: bool = False):
        self.cfg = cfg
        self.problem = Problem(cfg, allow_shaders)  # validates everything before compiling
        self.out = cfg.resolve(cfg.output)
        ck = os.path.join(self.out, CHECKPOINT)
        if resume and not os.path.exists(ck):
            raise ConfigError(f"--resume: no checkpoint in '{self.out}'", cfg.path)
        if not resume and os.path.exists(ck) and not overwrite:
            raise ConfigError(f"output folder '{self.out}' already holds a run: use --resume to continue it "
                              "or --overwrite to start again", cfg.path)
        self._lock = prepare_output(self.out, cfg.path)
        save_run_config(cfg, self.out)
        self.resume = resume
        self.trajectory: list[dict] = []
        self.start = 0
        # Running sum of the iterates since cfg.average_from, and their number.
        self.avg_sum: dict = {}
        self.avg_n = 0

    # -- optimisation state -------------------------------------------------------------
    def _make_optimizer(self):
        oc = self.cfg.optimizer
        sched = Schedule(oc.schedule.kind, gamma=oc.schedule.gamma, step_size=oc.schedule.step_size,
                         total=self.cfg.iterations, min_factor=oc.schedule.min_factor)
        p = self.problem
        if oc.type in ("adam", "uniform_adam"):
            cls = Adam if oc.type == "adam" else UniformAdam
            return cls(p.init, lr=p.lrs, bounds=p.bounds, schedule=sched, beta1=oc.beta1, beta2=oc.beta2)
        if oc.type == "sgd":
            return SGD(p.init, lr=p.lrs, bounds=p.bounds, schedule=sched, momentum=oc.momentum)
        return LBFGS(p.init, bounds=p.bounds)

    def _apply(self, values: dict):
        self.problem.apply(values)

    def evaluate(self, views, values: dict, it: int):
        """Loss and gradients at ``values`` (common random numbers for a given iteration) and the
        targets' renders. ``views`` (:class:`Views` here, a ``distributed.ViewPool`` on Ray)
        renders and back-propagates each target; their parts are summed here in target order,
        so that the sum does not depend on where the views ran."""
        results = views.evaluate(values, it, self.step_views(it))
        total = 0.0
        svals = self.problem.scene_values(values)
        sgrads = {k: np.zeros_like(np.asarray(v, np.float64)) for k, v in svals.items()}
        fgrads = {k: np.zeros_like(np.asarray(v, np.float64)) for k, v in values.items()
                  if k.startswith("filters.")}
        per_view, ref = self.problem.per_view, self.problem.reference_view
        for r in sorted(results, key=lambda r: r.index):
            total += r.loss
            for k, g in r.filter_grads.items():
                if k in per_view:  # one entry per view; the reference view stays put
                    if r.index != ref:
                        fgrads[k][r.index] += g
                elif k in fgrads:
                    fgrads[k] += g
            for k, g in r.scene_grads.items():
                sgrads[k] += g
        grads = self.problem.chain(values, sgrads)
        grads.update(fgrads)
        reg, rg = self.problem.regularizer(values)
        total += reg
        for k, v in rg.items():
            grads[k] = grads[k] + v
        return total, grads, [r.image for r in sorted(results, key=lambda r: r.index)]

    def step_views(self, it: int):
        """The targets iteration ``it`` evaluates: all of them (None), or ``views_per_step`` of
        them in turn."""
        k, n = self.cfg.views_per_step, len(self.problem.targets)
        if k is None or k >= n:
            return None
        return [(it * k + j) % n for j in range(k)]

    def _record(self, it, loss, values, dt):
        row = {"iteration": it, "loss": loss, "seconds": dt}
        for k, v in values.items():
            v = np.ravel(np.asarray(v))
            if v.size <= 16:
                for j, x in enumerate(v):
                    row[f"{k}[{j}]" if v.size > 1 else k] = float(x)
            else:
                row[f"{k}.mean"] = float(v.mean())
        self.trajectory.append(row)

    def _accumulate(self, it, values):
        if self.cfg.average_from is not None and it >= self.cfg.average_from:
            for k, v in values.items():
                v = np.asarray(v, np.float64)
                self.avg_sum[k] = self.avg_sum.get(k, 0.0) + v
            self.avg_n += 1

    def result(self, opt) -> dict:
        """The run's answer: the last iterate, or the mean of the iterates since
        ``average_from`` once there is one."""
        if self.avg_n:
            return {k: v / self.avg_n for k, v in self.avg_sum.items()}
        return {k: np.asarray(v) for k, v in opt.params.items()}

    def release(self):
        """Let another run use the output folder (also when this object is collected)."""
        lock, self._lock = getattr(self, "_lock", None), None
        if lock is not None:
            lock.close()

    def __del__(self):
        self.release()

    def _checkpoint(self, opt, it_next):
        state = {"iteration": it_next, "optimizer": opt.state_dict(), "trajectory": self.trajectory,
                 "average": {"n": self.avg_n,
                             "sum": {k: np.asarray(v).tolist() for k, v in self.avg_sum.items()}},
                 "config": self.cfg.path}
        atomic_json(os.path.join(self.out, CHECKPOINT), state)

    def _write_outputs(self, opt, views, final=True):
        values = self.result(opt)
        atomic_json(os.path.join(self.out, "params.json"),
                    {k: np.asarray(v).tolist() for k, v in values.items()}, indent=2)
        if self.trajectory:
            keys = list(dict.fromkeys(k for r in self.trajectory for k in r))
            buf = io.StringIO(newline="")
            wr = csv.DictWriter(buf, fieldnames=keys)
            wr.writeheader()
            wr.writerows(self.trajectory)
            atomic_write_bytes(os.path.join(self.out, "trajectory.csv"), buf.getvalue().encode())
            self._plot()
        if final:
            self._apply(values)
            img = views.final_image(values)
            for name in ("final.exr", "final.png"):
                with atomic_path(os.path.join(self.out, name)) as tmp:
                    write_image(tmp, img)
            self._video()
            self._write_scene()
            self._write_pipeline(values)

    def _plot(self):
        its = [r["iteration"] for r in self.trajectory]
        fig = Figure(figsize=PLOT_SIZE)
        ax = fig.subplots()
        ax.semilogy(its, [max(r["loss"], 1e-30) for r in self.trajectory])
        ax.set_xlabel("iteration")
        ax.set_ylabel(f"loss ({self.cfg.loss})")
        ax.grid(True, alpha=0.3)
        fig.tight_layout()
        with atomic_path(os.path.join(self.out, "loss.png")) as tmp:
            fig.savefig(tmp, dpi=PLOT_DPI)
        keys = [k for k in self.trajectory[0] if k not in ("iteration", "loss", "seconds")]
        if keys:
            fig = Figure(figsize=PLOT_SIZE)
            ax = fig.subplots()
            for k in keys[:24]:
                ax.plot(its, [r.get(k, np.nan) for r in self.trajectory], label=k)
            ax.set_xlabel("iteration")
            ax.legend(fontsize=6)
            ax.grid(True, alpha=0.3)
            fig.tight_layout()
            with atomic_path(os.path.join(self.out, "params.png")) as tmp:
                fig.savefig(tmp, dpi=PLOT_DPI)

    def _video(self):
        if self.cfg.video == "none":
            return

        d = os.path.join(self.out, "renders")
        files = sorted(f for f in os.listdir(d)
                       if f.startswith("iter_") and f.endswith(".png") and ".tmp-" not in f)
        if files:
            frames = [read_image(os.path.join(d, f)) for f in files]
            with atomic_path(os.path.join(self.out, f"progress.{self.cfg.video}")) as tmp:
                write_animation(tmp, frames, fps=8)

    def _write_pipeline(self, values):
        """``pipeline_optimized.yaml`` (the first view's values) and, with per-view stages,
        ``views.json``: every view's filter parameters."""
        if self.problem.pipeline is not None:
            with atomic_path(os.path.join(self.out, "pipeline_optimized.yaml")) as tmp:
                self.problem.pipeline.save(tmp)
            if self.problem.per_view:
                atomic_json(os.path.join(self.out, "views.json"),
                            self.problem.view_filters(values), indent=2)

    def _write_scene(self):
        src = self.problem.scene.source or "scene.xml"
        ext = os.path.splitext(src)[1] or ".xml"
        write_scene(self.problem.scene, os.path.join(self.out, f"scene_optimized{ext}"))

    # -- the loop -----------------------------------------------------------------------
    def run(self, progress=None, stop_after: int | None = None, views=None) -> dict:
        """Optimize; the output folder's lock is released when this returns or raises.
        ``views`` renders and back-propagates the targets: :class:`Views` in this process
        (the default) or a ``diffrender.distributed.ViewPool`` (Ray actors)."""
        try:
            return self._run(progress, stop_after, views if views is not None else Views(self.problem))
        finally:
            self.release()

    def _run(self, progress, stop_after, views) -> dict:
        cfg = self.cfg
        opt = self._make_optimizer()
        if self.resume:
            with open(os.path.join(self.out, CHECKPOINT)) as f:
                state = json.load(f)
            opt.load_state_dict(state["optimizer"])
            self.trajectory = state["trajectory"]
            self.start = int(state["iteration"])
            avg = state.get("average", {"n": 0, "sum": {}})
            self.avg_n = int(avg["n"])
            self.avg_sum = {k: np.asarray(v, np.float64) for k, v in avg["sum"].items()}
        self._apply(opt.params)
        views.compile()  # compile before the first iteration
        it = self.start
        try:
            while it < cfg.iterations:
                if stop_after is not None and it - self.start >= stop_after:
                    raise KeyboardInterrupt
                t0 = time.perf_counter()
                if cfg.optimizer.type == "lbfgs":
                    def fun(vals, _it=it):
                        loss, g, _ = self.evaluate(views, vals, _it)
                        return loss, g

                    opt.step(fun)
                    loss = opt.loss
                    images = None
                else:
                    loss, grads, images = self.evaluate(views, opt.params, it)
                    opt.step(grads)
                dt = time.perf_counter() - t0
                self._record(it, loss, opt.params, dt)
                self._accumulate(it, opt.params)
                if it % cfg.render_every == 0 or it == cfg.iterations - 1:
                    if images is None:
                        _, _, images = self.evaluate(views, opt.params, it)
                    with atomic_path(os.path.join(self.out, "renders", f"iter_{it:05d}.png")) as tmp:
                        write_image(tmp, images[0])
                it += 1
                if progress:
                    progress(it, cfg.iterations, loss)
                if it % cfg.checkpoint_every == 0:
                    self._checkpoint(opt, it)
        except KeyboardInterrupt:
            self._checkpoint(opt, it)
            self._write_outputs(opt, views, final=False)
            raise
        self._checkpoint(opt, it)
        result = self.result(opt)
        self._apply(result)
        self._write_outputs(opt, views, final=True)
        return result


def optimize(config, resume=False, overwrite=False, progress=None, allow_shaders=False):
    """Run an optimization from a config path, a config dict (the YAML's content) or an
    :class:`OptimizeConfig`; returns the result (parameters, loss, output folder)."""
    if isinstance(config, dict):
        cfg = parse_config(config)
    elif isinstance(config, (str, os.PathLike)):
        cfg = load_config(str(config))
    else:
        cfg = config
    return Run(cfg, resume=resume, overwrite=overwrite,
               allow_shaders=allow_shaders).run(progress=progress)
