"""``diffrender optimize`` configuration: YAML or JSON, validated before anything compiles.

Example (every key but ``scene``, ``targets`` and ``parameters`` has a default)::

    scene: ../scenes/cornell-box/scene.xml
    defines: {res: 64}
    targets:
      - image: target.exr        # a photo or a render (resampled to the film if sizes differ)
        sensor: 0                # index or id of the sensor it was taken from (default 0)
        mask: mask.png           # optional: pixels where the mask is 0 are ignored (default:
                                 #   the target's alpha channel when it has one)
        mask_weights: true       # false: the mask feeds the silhouette loss only
        mask_edge: 0             # > 0: leave the mask's outline (N pixels each side) out of the loss
    dataset: {path: colmap/, downscale: 4}   # or a photo set: one sensor + target per image
    parameters:
      red.reflectance: {init: [0.5, 0.5, 0.5], lr: 0.02, bounds: [0, 1]}
      light.emitter.radiance: {lr: 0.5}          # bounds default to [0, inf) for emitters
      box.to_world:                              # a rigid pose on top of the scene's to_world
        translate: {init: [0, 0, 0], lr: 5.0}    #   world-space offset (scene units)
        rotate: {init: [0, 0, 0], lr: 2.0}       #   rotation vector (degrees) about the centre
      blob.vertex_positions:
        lr: 0.01
        smoothing: {method: large_steps, weight: 20}   # large_steps | laplacian | none
    edges: {primary: true, secondary: true, spp: 4}    # edge sampling (geometry / camera)
    optimizer: {type: adam, lr: 0.01}           # adam | sgd | lbfgs; schedule: {kind: step, ...}
    loss: l2                                    # l1 | l2 | relative_l2 | l2_srgb | charbonnier
    silhouette_weight: 0    # > 0: also fit each target's mask with the render's alpha (geometry)
    iterations: 100
    views_per_step: 1       # optional: each iteration renders this many targets in turn (round
                            #   robin) and steps on their gradient (default: all of them)
    spp: 16                 # primal samples per pixel
    spp_adjoint: 16         # adjoint (gradient) samples per pixel
    seed: 0
    output: runs/albedo
    render_every: 10        # write the current render every K iterations
    checkpoint_every: 10
    video: gif              # gif | mp4 | none
    filters: [{name: exposure, type: exposure, ev: {value: 0, learnable: true}}]  # camera pipeline
    filters_per_view: [exposure]   # stages learned per view (target): exposure, white balance
"""
from __future__ import annotations

import difflib
import os
from typing import Any, Literal, Optional, Union

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from .. import limits
from ..documents import check_structure, parse_structured, read_text
from ..errors import ConfigError
from ..image import read_image


MAX_ITERATIONS = 10_000_000
MAX_SEED = (1 << 32) - 1


class _Strict(BaseModel):
    # unknown keys and non-finite numbers (.inf, .nan) are errors
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


def _ordered_bounds(b):
    if b is not None and b[0] is not None and b[1] is not None and b[0] > b[1]:
        raise ValueError(f"bounds must be [min, max] with min <= max, got [{b[0]}, {b[1]}]")
    return b


class TargetConfig(_Strict):
    image: str
    sensor: Union[int, str] = 0
    weight: float = Field(1.0, gt=0)
    # per-pixel weights: a mask image ("alpha" = the target's alpha channel, the default when it
    # has one; "none" ignores an alpha channel) and/or a weight image; both multiply
    mask: Optional[str] = None
    weights: Optional[str] = None
    # false: the mask only outlines the object for the silhouette loss, and the photometric loss
    # sees every pixel (the background too: a floor of known colour pins exposure and light)
    mask_weights: bool = True
    # > 0: the colour loss leaves out the pixels within this many film pixels of the mask's
    # boundary (mixed pixels: lens and resampling blur, JPEG's colour bleeding, misalignment)
    mask_edge: int = Field(0, ge=0, le=16)
    # set the sensor's horizontal field of view from the photo's EXIF focal length
    fov_from_exif: bool = False


class DatasetConfig(_Strict):
    """A photo set whose images are the targets, one sensor per image (``docs/photos.md``)."""
    path: str                      # COLMAP model folder or transforms.json
    subset: Optional[Union[str, list[Union[int, str]]]] = None   # names, indices or "every:K"
    downscale: float = Field(1.0, ge=1)
    masks: Optional[str] = None    # folder of mask images
    mask_weights: bool = True      # false: the masks feed the silhouette loss only (see TargetConfig)
    mask_edge: int = Field(0, ge=0, le=16)   # see TargetConfig
    images: Optional[str] = None   # folder of the images (COLMAP)
    sensor: Union[int, str] = 0    # the scene sensor whose film / filter / clip planes are copied
    weight: float = Field(1.0, gt=0)
    # resample each photo (and mask) to an ideal pinhole camera (principal point at the centre,
    # fy = fx, no distortion) that the sensor renders; false: such cameras are refused
    undistort: bool = False


class PartConfig(_Strict):
    """One part of a pose (``translate`` or ``rotate``)."""
    init: Optional[Union[float, list[float]]] = None
    lr: Optional[float] = Field(None, gt=0)
    bounds: Optional[tuple[Optional[float], Optional[float]]] = None
    # the components that move (x, y, z); the others stay at init: e.g. [1, 1, 0]
    mask: Optional[tuple[bool, bool, bool]] = None
    # rotate only: one angle (degrees) about this fixed axis instead of a rotation vector
    axis: Optional[tuple[float, float, float]] = None

    _bounds = field_validator("bounds")(classmethod(lambda cls, v: _ordered_bounds(v)))


class SmoothingConfig(_Strict):
    method: Literal["large_steps", "laplacian", "none"] = "large_steps"
    weight: float = Field(10.0, ge=0)   # lambda of large_steps, or the Laplacian term's weight


class ParamConfig(_Strict):
    init: Optional[Union[float, list[float], list[list[float]], str]] = None
    lr: Optional[float] = Field(None, gt=0)
    bounds: Optional[tuple[Optional[float], Optional[float]]] = None
    # <shape|sensor>.to_world only: rigid pose on top of the scene's matrix
    translate: Optional[PartConfig] = None
    rotate: Optional[PartConfig] = None
    # the point the rotation turns about (world space): "centre" (the default: the shape's
    # bounding-box centre, or the camera's position) or 3 numbers, e.g. [0, 0, 0] for the origin
    pivot: Optional[Union[Literal["centre", "center"], tuple[float, float, float]]] = None
    # <shape>.vertex_positions only
    smoothing: Optional[SmoothingConfig] = None

    _bounds = field_validator("bounds")(classmethod(lambda cls, v: _ordered_bounds(v)))


class EdgeConfig(_Strict):
    """Edge sampling for parameters that move geometry or the camera."""
    enabled: bool = True
    primary: bool = True
    secondary: bool = True
    spp: int = Field(4, ge=1, le=limits.MAX_SPP)
    interior: bool = True   # the interior (shading) term of geometry / camera parameters


class ScheduleConfig(_Strict):
    kind: Literal["constant", "step", "exponential", "cosine"] = "constant"
    gamma: float = Field(0.5, gt=0, le=1)       # decay factor per step
    step_size: int = Field(100, ge=1)
    min_factor: float = Field(0.0, ge=0, le=1)


class OptimizerConfig(_Strict):
    type: Literal["adam", "uniform_adam", "sgd", "lbfgs"] = "adam"
    lr: float = Field(0.01, gt=0)
    beta1: float = Field(0.9, ge=0, lt=1)
    beta2: float = Field(0.999, ge=0, lt=1)
    momentum: float = Field(0.0, ge=0, lt=1)
    schedule: ScheduleConfig = ScheduleConfig()


class OptimizeConfig(_Strict):
    scene: str
    defines: dict[str, Union[str, int, float]] = {}
    targets: list[TargetConfig] = []
    dataset: Optional[DatasetConfig] = None
    # a target whose size differs from its sensor's film: "area" (each film pixel averages the
    # target pixels it covers), "bilinear", or "error"
    resample: Literal["area", "bilinear", "error"] = "area"
    parameters: dict[str, ParamConfig] = Field(min_length=1)
    optimizer: OptimizerConfig = OptimizerConfig()
    loss: Literal["l1", "l2", "relative_l2", "l2_srgb", "charbonnier"] = "l2"
    # weight of the silhouette loss: each target's mask against the render's coverage (alpha),
    # differentiated through primary edges (geometry and camera parameters); 0 = off
    silhouette_weight: float = Field(0.0, ge=0)
    # the shapes the masks outline (their coverage is the silhouette); default: every shape
    silhouette_shapes: Optional[list[str]] = None
    iterations: int = Field(100, ge=1, le=MAX_ITERATIONS)
    # each iteration renders and back-propagates this many targets, taken in turn (iteration i
    # starts at target i * views_per_step mod the number of targets), and steps on their
    # gradient: 1 steps after every view, as Mitsuba's shape-optimization tutorial does; None:
    # every target in every iteration
    views_per_step: Optional[int] = Field(None, ge=1)
    # Polyak-Ruppert averaging: the result is the mean of the iterates from this iteration on
    # (Monte Carlo gradients keep the last iterate wandering around the optimum).
    average_from: Optional[int] = Field(None, ge=0)
    spp: int = Field(16, ge=1, le=limits.MAX_SPP)
    spp_adjoint: int = Field(16, ge=1, le=limits.MAX_SPP)
    seed: int = Field(0, ge=0, le=MAX_SEED)
    output: str = "optimize-output"
    render_every: int = Field(10, ge=1)
    checkpoint_every: int = Field(10, ge=1)
    video: Literal["gif", "mp4", "none"] = "gif"
    max_depth: Optional[int] = Field(None, ge=-1, le=limits.MAX_PATH_DEPTH)
    edges: EdgeConfig = EdgeConfig()
    filters: Optional[Union[str, list[Any], dict[str, Any]]] = None
    # names of filter stages whose learnable parameters each view (target) learns on its own,
    # e.g. [exposure, wb] for per-photo exposure and white balance; the others are shared
    filters_per_view: list[str] = []
    # a view whose per-view parameters stay at their initial values (the others are relative to
    # it): removes the ambiguity between all views' exposures and the scene's brightness
    filters_reference_view: Optional[int] = Field(None, ge=0)

    # set by load_config
    path: Optional[str] = None
    base_dir: str = "."

    @field_validator("targets", mode="before")
    @classmethod
    def _single_target(cls, v):
        if isinstance(v, (str, dict)):
            return [v if isinstance(v, dict) else {"image": v}]
        if isinstance(v, list):
            return [{"image": t} if isinstance(t, str) else t for t in v]
        return v

    def resolve(self, p: str) -> str:
        return p if os.path.isabs(p) else os.path.normpath(os.path.join(self.base_dir, p))


def _is_union_tag(x) -> bool:
    """pydantic names a union member it tried (``float``, ``list[float]``) in the location."""
    return isinstance(x, str) and (x in ("float", "int", "str", "bool") or "[" in x
                                   or x.startswith("function-"))


def _format_loc(loc) -> str:
    parts = []
    for x in loc:
        if isinstance(x, int):
            parts.append(f"[{x}]")
        else:
            parts.append(("." if parts else "") + str(x))
    return "".join(parts)


def _known_keys() -> set[str]:
    keys = set()
    for model in (TargetConfig, DatasetConfig, PartConfig, SmoothingConfig, ParamConfig,
                  EdgeConfig, ScheduleConfig, OptimizerConfig, OptimizeConfig):
        keys.update(model.model_fields)
    return keys - {"path", "base_dir"}


def _message(err) -> str:
    t = err["type"]
    if t == "extra_forbidden":
        near = difflib.get_close_matches(str(err["loc"][-1]), sorted(_known_keys()), n=1)
        return "unknown key" + (f" (did you mean '{near[0]}'?)" if near else "")
    if t == "missing":
        return "required key is missing"
    return err["msg"][0].lower() + err["msg"][1:]


def parse_config(data: dict, where: str = "config", base_dir: str = ".") -> OptimizeConfig:
    if not isinstance(data, dict):
        raise ConfigError("expected a mapping of keys (scene, targets, parameters, ...)", where)
    try:
        cfg = OptimizeConfig.model_validate(data)
    except ValidationError as exc:
        # every error at once, on one line; a union's alternatives report the same place
        # several times: keep the first message per place
        # several times: for each field report the alternatives' errors that are not mere type
        # mismatches (e.g. "[1]: should be finite" rather than "should be a number")
        groups: dict = {}
        for e in exc.errors():
            cut = next((i for i, x in enumerate(e["loc"]) if _is_union_tag(x)), len(e["loc"]))
            groups.setdefault(_format_loc(e["loc"][:cut]), []).append(e)
        seen = {}
        for errs in groups.values():
            real = [e for e in errs if not e["type"].endswith("_type")] or errs[:1]
            for e in real:
                loc = _format_loc(tuple(x for x in e["loc"] if not _is_union_tag(x)))
                seen.setdefault(loc, _message(e))
        msgs = [f"{loc}: {m}" for loc, m in seen.items()]
        head = f"{len(msgs)} errors: " if len(msgs) > 1 else ""
        raise ConfigError(head + "; ".join(msgs), where) from None
    if not cfg.targets and cfg.dataset is None:
        raise ConfigError("targets: expected at least one target image (or a dataset)", where)
    if cfg.average_from is not None and cfg.average_from >= cfg.iterations:
        raise ConfigError(f"average_from: must be below iterations ({cfg.iterations}), got "
                          f"{cfg.average_from}", where)
    if cfg.views_per_step is not None and cfg.optimizer.type == "lbfgs":
        raise ConfigError("views_per_step: L-BFGS needs the same loss in every step (every target); "
                          "use adam, uniform_adam or sgd", where)
    _check_per_view(cfg, where)
    cfg.path = where
    cfg.base_dir = base_dir
    return cfg


def _inline_stage_names(filters) -> list[str] | None:
    """The stage names of an inline pipeline (None for a pipeline file: checked when it loads)."""
    stages = filters.get("stages") if isinstance(filters, dict) else filters
    if not isinstance(stages, list):
        return None
    return [str(st.get("name", st.get("type", f"stage{i}"))) if isinstance(st, dict) else f"stage{i}"
            for i, st in enumerate(stages)]


def _check_per_view(cfg: OptimizeConfig, where: str) -> None:
    names = cfg.filters_per_view
    if cfg.filters_reference_view is not None and not names:
        raise ConfigError("filters_reference_view: needs filters_per_view", where)
    if not names:
        return
    if cfg.filters is None:
        raise ConfigError("filters_per_view: needs a filter pipeline (the 'filters' key)", where)
    for i, n in enumerate(names):
        if not n:
            raise ConfigError(f"filters_per_view[{i}]: expected a stage name, got ''", where)
        if names.index(n) != i:
            raise ConfigError(f"filters_per_view[{i}]: stage '{n}' is listed twice", where)
    known = _inline_stage_names(cfg.filters)
    if known is not None:
        for i, n in enumerate(names):
            if n not in known:
                near = difflib.get_close_matches(n, known, n=1)
                raise ConfigError(f"filters_per_view[{i}]: no stage named '{n}' in filters"
                                  + (f" (did you mean '{near[0]}'?)" if near else "")
                                  + f" (stages: {', '.join(known)})", where)


def load_config(path: str) -> OptimizeConfig:
    path = str(path)
    if not os.path.exists(path):
        raise ConfigError("no such config file", path)
    if os.path.isdir(path):
        raise ConfigError("is a folder, expected a YAML or JSON config file", path)
    text = read_text(path, path, ConfigError)
    data = parse_structured(text, path, "json" if path.lower().endswith(".json") else "yaml",
                            ConfigError, "config ")
    check_structure(data, path, ConfigError)
    return parse_config(data or {}, where=path, base_dir=os.path.dirname(os.path.abspath(path)))


DEFAULT_BOUNDS = {"reflectance": (0.0, 1.0), "texture": (0.0, 1.0), "radiance": (0.0, None),
                  "intensity": (0.0, None), "fov": (1e-3, 179.0)}


def param_init_value(cfg: OptimizeConfig, name: str, pc: ParamConfig, current: np.ndarray) -> np.ndarray:
    """The initial value of a parameter: ``init`` (a number, list, or an image file for
    textures), broadcast to the parameter's shape, else the scene's value."""
    if pc.init is None:
        return np.array(current, np.float64)
    where = f"{cfg.path}: parameters.{name}.init"
    if isinstance(pc.init, str):
        path = cfg.resolve(pc.init)
        if not os.path.exists(path):
            raise ConfigError(f"no such image file '{pc.init}'", where[:-5] + ".init")
        v = read_image(path).astype(np.float64)
    else:
        v = np.asarray(pc.init, np.float64)
    try:
        return np.broadcast_to(v, np.shape(current)).astype(np.float64).copy()
    except ValueError:
        raise ConfigError(f"value of shape {v.shape} does not fit the parameter's shape {np.shape(current)}",
                          where) from None
