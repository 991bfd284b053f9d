"""``diffrender optimize`` configuration: YAML or JSON, validated before anything compiles.

Example (every key but ``scene``, ``targets`` and ``parameters`` has a default)::

    scene: ../scenes/cornell-box/scene.xml
    defines: {res: 64}
    targets:
      - image: target.exr        # a photo or a render; its size must match the sensor's film
        sensor: 0                # index or id of the sensor it was taken from (default 0)
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
    loss: l2                                    # l1 | l2 | relative_l2 | l2_srgb
    iterations: 100
    spp: 16                 # primal samples per pixel
    spp_adjoint: 16         # adjoint (gradient) samples per pixel
    seed: 0
    output: runs/albedo
    render_every: 10        # write the current render every K iterations
    checkpoint_every: 10
    video: gif              # gif | mp4 | none
"""
from __future__ import annotations

import os
from typing import Any, Literal, Optional, Union

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from .. import limits
from ..errors import ConfigError

MAX_ITERATIONS = 10_000_000
MAX_SEED = (1 << 32) - 1


class _Strict(BaseModel):
    # NaN and infinities are refused in every float (lr: .inf, init: .nan)
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


def _check_bounds(v):
    if v is not None and v[0] is not None and v[1] is not None and v[0] > v[1]:
        raise ValueError(f"bounds [{v[0]:g}, {v[1]:g}] are empty (min > max)")
    return v


class TargetConfig(_Strict):
    image: str
    sensor: Union[int, str] = 0
    weight: float = Field(1.0, gt=0)


class PartConfig(_Strict):
    """One part of a pose (``translate`` or ``rotate``)."""
    init: Optional[Union[float, list[float]]] = None
    lr: Optional[float] = Field(None, gt=0)
    bounds: Optional[tuple[Optional[float], Optional[float]]] = None
    _bounds = field_validator("bounds")(classmethod(lambda cls, v: _check_bounds(v)))


class SmoothingConfig(_Strict):
    method: Literal["large_steps", "laplacian", "none"] = "large_steps"
    weight: float = Field(10.0, ge=0)   # lambda of large_steps, or the Laplacian term's weight


class ParamConfig(_Strict):
    init: Optional[Union[float, list[float], list[list[float]], str]] = None
    lr: Optional[float] = Field(None, gt=0)
    bounds: Optional[tuple[Optional[float], Optional[float]]] = None
    _bounds = field_validator("bounds")(classmethod(lambda cls, v: _check_bounds(v)))
    # <shape|sensor>.to_world only: rigid pose on top of the scene's matrix
    translate: Optional[PartConfig] = None
    rotate: Optional[PartConfig] = None
    # <shape>.vertex_positions only
    smoothing: Optional[SmoothingConfig] = None


class EdgeConfig(_Strict):
    """Edge sampling for parameters that move geometry or the camera."""
    enabled: bool = True
    primary: bool = True
    secondary: bool = True
    spp: int = Field(4, ge=1, le=limits.MAX_SPP)
    interior: bool = True   # the interior (shading) term of geometry / camera parameters


class ScheduleConfig(_Strict):
    kind: Literal["constant", "step", "exponential", "cosine"] = "constant"
    gamma: float = Field(0.5, gt=0, le=1)   # the learning rate decays, never grows
    step_size: int = Field(100, ge=1)
    min_factor: float = Field(0.0, ge=0, le=1)


class OptimizerConfig(_Strict):
    type: Literal["adam", "sgd", "lbfgs"] = "adam"
    lr: float = Field(0.01, gt=0)
    beta1: float = Field(0.9, ge=0, lt=1)
    beta2: float = Field(0.999, ge=0, lt=1)
    momentum: float = Field(0.0, ge=0, lt=1)
    schedule: ScheduleConfig = ScheduleConfig()


class OptimizeConfig(_Strict):
    scene: str
    defines: dict[str, Union[str, int, float]] = {}
    targets: list[TargetConfig] = Field(min_length=1)
    parameters: dict[str, ParamConfig] = Field(min_length=1)
    optimizer: OptimizerConfig = OptimizerConfig()
    loss: Literal["l1", "l2", "relative_l2", "l2_srgb"] = "l2"
    iterations: int = Field(100, ge=1, le=MAX_ITERATIONS)
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


def _format_loc(loc) -> str:
    parts = []
    for x in loc:
        if isinstance(x, int):
            parts.append(f"[{x}]")
        else:
            parts.append(("." if parts else "") + str(x))
    return "".join(parts)


MAX_REPORTED = 10  # validation errors listed in one message


def _message(err) -> str:
    t = err["type"]
    if t == "extra_forbidden":
        return "unknown key"
    if t == "missing":
        return "required key is missing"
    if t == "value_error":
        return err["msg"].split(", ", 1)[-1]
    return err["msg"][0].lower() + err["msg"][1:]


def parse_config(data: dict, where: str = "config", base_dir: str = ".") -> OptimizeConfig:
    if not isinstance(data, dict):
        raise ConfigError("expected a mapping of keys (scene, targets, parameters, ...)", where)
    try:
        cfg = OptimizeConfig.model_validate(data)
    except ValidationError as exc:  # every error, on one line
        errs = exc.errors()
        msg = "; ".join(f"{_format_loc(e['loc'])}: {_message(e)}" for e in errs[:MAX_REPORTED])
        more = f"; and {len(errs) - MAX_REPORTED} more" if len(errs) > MAX_REPORTED else ""
        raise ConfigError(msg + more, where) from None
    except RecursionError:
        raise ConfigError(f"nested more than {limits.MAX_NESTING} levels deep", where) from None
    if cfg.average_from is not None and cfg.average_from >= cfg.iterations:
        raise ConfigError(f"average_from: must be below iterations ({cfg.iterations}), got "
                          f"{cfg.average_from}", where)
    cfg.path = where
    cfg.base_dir = base_dir
    return cfg


def load_config(path: str) -> OptimizeConfig:
    from ..scene.loader import check_structure, parse_structured, read_text

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
        from ..image import read_image

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
