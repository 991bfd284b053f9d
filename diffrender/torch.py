"""PyTorch interop: renders and filter pipelines as differentiable torch operations.

    import diffrender as dr, diffrender.torch as drt
    scene = dr.load_scene("scenes/cornell-box/scene.xml", res=64)
    albedo = torch.tensor([0.5, 0.5, 0.5], requires_grad=True)
    img = drt.render(scene, {"red.reflectance": albedo}, spp=16, seed=it)   # (H, W, 3) float32
    loss = ((img - target) ** 2).mean(); loss.backward()                    # albedo.grad

Reverse mode calls :meth:`Renderer.vjp` (path replay), forward mode (``torch.autograd.forward_ad``
and ``torch.func.jvp``) calls :meth:`Renderer.jvp`. Geometry and camera parameters
(``*.vertex_positions``, ``*.to_world``, ``sensor.fov``, ``light.position``) are differentiated
with edge sampling (``edges=``: see docs/edge-sampling.md).

Needs the optional extra ``torch`` (``pip install "diffrender[torch]"``). Images cross through
DLPack where the kernels run (CPU tensors on the CPU backend, CUDA tensors on CUDA): the film
is developed into the output tensor and the backward's gradient image is read in place, with
no copy. Elsewhere (a Vulkan backend, upstream ``taichi``, a tensor on another device) they go
through the host. Parameter values are small: they cross as NumPy arrays.
"""
from __future__ import annotations

import contextlib

import numpy as np

from ._interop import adjoint_seed, binding, check_spp, views_of
from .engine import takes_in_place
from .errors import ConfigError, ImageError, SceneError

try:
    import torch
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError("diffrender.torch needs PyTorch: pip install \"diffrender[torch]\"") from exc

__all__ = ["render", "filter", "PipelineModule", "adjoint_seed", "renderer_of"]


def _plain(t):
    """``t`` without torch.func's wrappers (a tangent reaches ``jvp`` wrapped under
    ``torch.func.jvp``); the values are the same."""
    fn = getattr(torch._C, "_functorch", None)
    while fn is not None and fn.is_functorch_wrapped_tensor(t):
        t = fn.get_unwrapped(t)
    return t


def _plain_ops():
    """A context in which tensor operations make plain tensors (not torch.func's wrappers)."""
    return getattr(torch._C, "_DisableFuncTorch", contextlib.nullcontext)()


def _host(t) -> np.ndarray:
    """A NumPy view of a tensor's values (no copy for a contiguous CPU tensor)."""
    t = _plain(t.detach())
    with _plain_ops():
        if t.device.type != "cpu" or t.is_neg():
            t = t.cpu().resolve_neg()
        return t.numpy()


class _RenderJob:
    """The non-tensor arguments of one render: the cached Renderer, names and settings."""

    def __init__(self, bind, names, spp, seed, spp_grad, seed_grad, max_depth, edges, views):
        self.bind, self.names, self.views = bind, names, views
        self.spp, self.seed, self.max_depth, self.edges = spp, seed, max_depth, edges
        self.spp_grad = spp_grad if spp_grad is not None else spp
        self.seed_grad = seed_grad

    def values(self, tensors) -> dict:
        return {n: _host(t) for n, t in zip(self.names, tensors)}


class _Render(torch.autograd.Function):
    @staticmethod
    def forward(job, *tensors):
        device = tensors[0].device if tensors else torch.device("cpu")
        with _plain_ops():
            out = torch.empty(job.bind.image_shape(job.views), dtype=torch.float32, device=device)
        if takes_in_place(out):  # developed into the tensor (DLPack)
            return job.bind.render(job.values(tensors), job.spp, job.seed, job.max_depth,
                                   job.views, out=out)
        img = job.bind.render(job.values(tensors), job.spp, job.seed, job.max_depth, job.views)
        return torch.from_numpy(np.ascontiguousarray(img, np.float32)).to(device)

    @staticmethod
    def setup_context(ctx, inputs, output):
        job, *tensors = inputs
        ctx.job = job
        ctx.save_for_backward(*tensors)
        ctx.save_for_forward(*tensors)

    @staticmethod
    def backward(ctx, grad_image):
        job = ctx.job
        tensors = ctx.saved_tensors
        want = [n for n, need in zip(job.names, ctx.needs_input_grad[1:]) if need]
        if not want:
            return (None,) + (None,) * len(tensors)
        with _plain_ops():
            adj = _plain(grad_image.detach()).to(torch.float32).contiguous().resolve_neg()
        if not takes_in_place(adj):
            adj = _host(adj)
        g = job.bind.vjp(job.values(tensors), adj, want, job.spp_grad, job.seed_grad,
                         job.max_depth, job.edges, job.views)
        out = [None]
        for n, t in zip(job.names, tensors):
            out.append(torch.from_numpy(g[n]).to(dtype=t.dtype, device=t.device) if n in g else None)
        return tuple(out)

    @staticmethod
    def jvp(ctx, _job_tangent, *tangents):
        job = ctx.job
        tensors = ctx.saved_tensors
        tan = {n: _host(t) for n, t in zip(job.names, tangents) if t is not None}
        shape = job.bind.image_shape(job.views)
        if not tan:
            return torch.zeros(shape, dtype=torch.float32)
        img = job.bind.jvp(job.values(tensors), tan, job.spp_grad, job.seed_grad,
                           job.max_depth, job.edges, job.views)
        return torch.from_numpy(np.ascontiguousarray(img, np.float32)).to(tensors[0].device)


def render(scene_or_renderer, params=None, spp=None, seed=0, spp_grad=None, seed_grad=None,
           sensor=0, max_depth=None, edges=None):
    """Render and return an ``(H, W, 3)`` float32 tensor (linear RGB) that is differentiable with
    respect to every tensor in ``params`` (``{parameter name: tensor}``, names as listed by
    ``diffrender info``; each tensor shaped like the parameter, or a single number for an RGB
    one). The values are written into the scene before rendering.

    ``scene_or_renderer``: a Scene (its :class:`~diffrender.Renderer` for ``sensor`` is built on
    the first call and kept on the scene, so a loop uploads and compiles once) or a Renderer.

    Seeds: the image uses ``seed`` with ``spp`` samples per pixel; the gradient (backward, and
    forward-mode tangents) replays ``spp_grad`` samples (default ``spp``) with ``seed_grad``,
    which by default is a hash of ``seed`` (``adjoint_seed(seed)``) — the primal and adjoint
    random numbers are *decorrelated*, as in Mitsuba, so that a loss gradient such as
    ``2 (I - T) . dI/dtheta`` is unbiased. Pass ``seed_grad=seed`` (and ``spp_grad=spp``) for
    the exact derivative of the returned image (common random numbers).

    ``sensor``: an index, or a list of indices — a batch of views rendered by one Renderer
    (:meth:`Renderer.render_views`: the sensors share the film size and filter), returned as a
    ``(V, H, W, 3)`` stack; view ``k`` uses ``Renderer.view_seed(seed, k)``.

    ``max_depth`` overrides the scene's integrator depth; ``edges`` are the edge-sampling
    options for geometry / camera parameters (see :meth:`Renderer.vjp`).
    """
    params = dict(params or {})
    first, views = views_of(sensor)
    bind = binding(scene_or_renderer, first, batch=views is not None)
    spp = check_spp(spp)
    spp_grad = check_spp(spp_grad, "spp_grad")
    names, tensors = [], []
    for name, t in params.items():
        if not isinstance(t, torch.Tensor):
            raise SceneError(f"params['{name}'] must be a torch.Tensor, got {type(t).__name__}")
        if not t.is_floating_point():
            raise SceneError(f"params['{name}'] must be a floating-point tensor, got {t.dtype}")
        bind.check(name, t.shape)
        names.append(name)
        tensors.append(t)
    seed = int(seed)
    job = _RenderJob(bind, tuple(names), spp, seed, spp_grad,
                     adjoint_seed(seed) if seed_grad is None else int(seed_grad), max_depth, edges,
                     views)
    return _Render.apply(job, *tensors)


# --- filter pipelines --------------------------------------------------------------------------


def _np_dtype(pipeline):
    from .filters.base import np_dtype

    return np_dtype(pipeline.dtype)


def _set_pipeline(pipeline, names, values):
    for n, v in zip(names, values):
        pipeline.set(n, float(v))


class _Filter(torch.autograd.Function):
    @staticmethod
    def forward(pipeline, names, image, *values):
        _set_pipeline(pipeline, names, [float(v) for v in values])
        out = pipeline(np.ascontiguousarray(_host(image), _np_dtype(pipeline)))
        return torch.from_numpy(np.ascontiguousarray(out)).to(image.device)

    @staticmethod
    def setup_context(ctx, inputs, output):
        pipeline, names, image, *values = inputs
        ctx.pipeline, ctx.names = pipeline, names
        ctx.save_for_backward(image, *values)

    @staticmethod
    def backward(ctx, grad_out):
        image, *values = ctx.saved_tensors
        p, names = ctx.pipeline, ctx.names
        need_img = ctx.needs_input_grad[2]
        want = [n for n, need in zip(names, ctx.needs_input_grad[3:]) if need]
        if not need_img and not want:
            return (None, None, None) + (None,) * len(values)
        _set_pipeline(p, names, [float(v) for v in values])
        d_img, g = p.vjp(np.ascontiguousarray(_host(image), _np_dtype(p)), _host(grad_out), wrt=want)
        d_img = d_img.reshape(image.shape) if d_img.size == image.numel() else d_img
        out = [None, None,
               torch.from_numpy(np.ascontiguousarray(d_img)).to(dtype=image.dtype, device=image.device)
               if need_img else None]
        for n, v in zip(names, values):
            out.append(torch.tensor(g[n], dtype=v.dtype, device=v.device).reshape(v.shape)
                       if n in g else None)
        return tuple(out)


def filter(pipeline, image, params=None):  # noqa: A001 - the functional form of a pipeline
    """Apply a :class:`~diffrender.Pipeline` to an ``(H, W, C)`` tensor, differentiably with
    respect to the image and to the tensors in ``params`` (``{"<stage>.<param>": scalar
    tensor}``; parameters not given keep the pipeline's values). The pipeline's dtype
    (float32 / float64) is the output's. The values in ``params`` are written into the pipeline.
    """
    if not isinstance(image, torch.Tensor):
        raise ImageError(f"image must be a torch.Tensor, got {type(image).__name__}")
    params = dict(params or {})
    known = set(pipeline.param_names())
    names, values = [], []
    for n, v in params.items():
        if n not in known:
            pipeline.get(n)  # a one-line ConfigError naming the stage / parameter
        if not isinstance(v, torch.Tensor) or v.numel() != 1:
            raise ConfigError(f"params['{n}'] must be a scalar torch.Tensor", pipeline._where())
        names.append(n)
        values.append(v)
    return _Filter.apply(pipeline, tuple(names), image, *values)


class PipelineModule(torch.nn.Module):
    """A filter :class:`~diffrender.Pipeline` as a ``torch.nn.Module``: every parameter marked
    ``learnable`` in the pipeline is an ``nn.Parameter`` (a scalar), named
    ``params.<stage>.<param>`` in ``named_parameters()``; ``module(image)`` applies the pipeline
    (see :func:`filter`). ``project_()`` clamps the parameters into the pipeline's bounds (call
    it after an optimizer step); ``sync_()`` writes them into the pipeline (e.g. before
    ``pipeline.save``)."""

    def __init__(self, pipeline, learnable=None):
        super().__init__()
        self.pipeline = pipeline
        names = pipeline.learnable_names() if learnable is None else list(learnable)
        dtype = torch.float64 if _np_dtype(pipeline) == np.float64 else torch.float32
        self.params = torch.nn.ModuleDict()
        self._names = []
        for n in names:
            v = pipeline.get(n)  # validates the name
            stage, key = n.split(".", 1)
            if stage not in self.params:
                self.params[stage] = torch.nn.Module()
            self.params[stage].register_parameter(key, torch.nn.Parameter(torch.tensor(v, dtype=dtype)))
            self._names.append(n)

    @classmethod
    def load(cls, path, dtype="float32"):
        """A module of the pipeline file ``path`` (YAML / JSON, docs/filters.md)."""
        from .filters.pipeline import Pipeline

        return cls(Pipeline.load(path, dtype=dtype))

    def values(self) -> dict:
        """``{"<stage>.<param>": nn.Parameter}``."""
        return {n: getattr(self.params[n.split(".", 1)[0]], n.split(".", 1)[1]) for n in self._names}

    def forward(self, image):
        return filter(self.pipeline, image, self.values())

    @torch.no_grad()
    def project_(self):
        bounds = dict(zip(self._names, self.pipeline.bounds_of(self._names)))
        for n, p in self.values().items():
            lo, hi = bounds[n]
            p.clamp_(lo, hi)
        return self

    @torch.no_grad()
    def sync_(self):
        _set_pipeline(self.pipeline, self._names, [float(p) for p in self.values().values()])
        return self


def renderer_of(scene_or_renderer, sensor=0):
    """The :class:`~diffrender.Renderer` that :func:`render` uses for ``scene_or_renderer``."""
    return binding(scene_or_renderer, sensor).renderer
