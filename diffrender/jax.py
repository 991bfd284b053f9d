"""JAX interop: a render as a ``jax.custom_vjp`` function, usable under ``jax.grad``, ``jax.jit``
and ``jax.vmap``.

    import diffrender as dr, diffrender.jax as drj, jax, jax.numpy as jnp
    scene = dr.load_scene("scenes/cornell-box/scene.xml", res=64)

    @jax.jit
    def loss(albedo, seed):
        img = drj.render(scene, {"red.reflectance": albedo}, spp=16, seed=seed)
        return jnp.mean((img - target) ** 2)

    g = jax.grad(loss)(jnp.array([0.5, 0.5, 0.5]), 0)

The renderer runs on the host through ``jax.pure_callback`` (the primal calls
:meth:`Renderer.render`, the cotangent :meth:`Renderer.vjp`); values cross as NumPy arrays.
Reverse mode only (a ``custom_vjp`` function has no forward mode: ``jax.jvp`` raises).
Needs the optional extra ``jax`` (``pip install "diffrender[jax]"``).
"""
from __future__ import annotations

import numpy as np

from ._interop import adjoint_seed, binding, check_spp, views_of
from .errors import SceneError

try:
    import jax
    import jax.numpy as jnp
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError("diffrender.jax needs JAX: pip install \"diffrender[jax]\"") from exc

__all__ = ["render", "adjoint_seed", "renderer_of"]

_FUNCS_ATTR = "jax_functions"  # on the binding: {settings: custom_vjp function}


def _seeds(seeds) -> tuple[int, int]:
    """(primal seed, adjoint seed) from the uint32 operand [seed, seed_grad, seed_grad given]."""
    s = np.asarray(seeds).astype(np.int64)
    primal = int(s[0])
    return primal, int(s[1]) if s[2] else adjoint_seed(primal)


def _u32(x):
    """A seed as a uint32 scalar: Python / NumPy integers modulo 2**32, traced values cast."""
    if isinstance(x, (int, np.integer)) and not isinstance(x, bool):
        return jnp.asarray(np.uint32(int(x) & 0xFFFFFFFF))
    return jnp.asarray(x).astype(jnp.uint32)


def _function(bind, names, spp, spp_grad, max_depth, edges, views):
    """The custom_vjp function of (seeds, *values) for these settings (built once each)."""
    funcs = bind.__dict__.setdefault(_FUNCS_ATTR, {})
    key = (names, spp, spp_grad, max_depth, repr(edges), None if views is None else tuple(views))
    if key in funcs:
        return funcs[key]
    out_shape = jax.ShapeDtypeStruct(bind.image_shape(views), jnp.float32)
    spp_g = spp_grad if spp_grad is not None else spp

    def host_render(seeds, *values):
        primal, _ = _seeds(seeds)
        img = bind.render(dict(zip(names, values)), spp, primal, max_depth, views)
        return np.ascontiguousarray(img, np.float32)

    def host_vjp(seeds, d_image, *values):
        _, grad = _seeds(seeds)
        vals = dict(zip(names, values))
        g = bind.vjp(vals, d_image, names, spp_g, grad, max_depth, edges, views)
        return tuple(np.asarray(g[n], np.asarray(v).dtype) for n, v in zip(names, values))

    @jax.custom_vjp
    def f(seeds, *values):
        return jax.pure_callback(host_render, out_shape, seeds, *values, vmap_method="sequential")

    def f_fwd(seeds, *values):
        return f(seeds, *values), (seeds, values)

    def f_bwd(res, d_image):
        seeds, values = res
        shapes = tuple(jax.ShapeDtypeStruct(jnp.shape(v), jnp.result_type(v)) for v in values)
        grads = jax.pure_callback(host_vjp, shapes, seeds, d_image, *values,
                                  vmap_method="sequential")
        return (None, *grads)

    f.defvjp(f_fwd, f_bwd)
    funcs[key] = f
    return f


def render(scene_or_renderer, params=None, spp=None, seed=0, spp_grad=None, seed_grad=None,
           sensor=0, max_depth=None, edges=None):
    """Render and return an ``(H, W, 3)`` float32 array, differentiable (reverse mode) with
    respect to every array in ``params`` (``{parameter name: array}``). ``seed`` and
    ``seed_grad`` may be traced integers (a loop inside ``jax.jit``).

    Same contract as :func:`diffrender.torch.render`: the Renderer is cached per scene and
    sensor; the gradient replays ``spp_grad`` samples (default ``spp``) with ``seed_grad``,
    by default a hash of ``seed`` (``adjoint_seed``): primal and adjoint random numbers are
    decorrelated, as in Mitsuba. ``seed_grad=seed`` gives the exact derivative of the returned
    image (common random numbers). ``sensor`` may be a list of indices: a ``(V, H, W, 3)``
    stack of views (:meth:`Renderer.render_views`)."""
    params = dict(params or {})
    first, views = views_of(sensor)
    bind = binding(scene_or_renderer, first, batch=views is not None)
    spp = check_spp(spp)
    spp_grad = check_spp(spp_grad, "spp_grad")
    names, values = [], []
    for name, v in params.items():
        if isinstance(v, (str, bytes)) or v is None:
            raise SceneError(f"params['{name}'] must be an array, got {type(v).__name__}")
        v = jnp.asarray(v)
        if not jnp.issubdtype(v.dtype, jnp.floating):
            v = v.astype(jnp.float32)
        bind.check(name, v.shape)
        names.append(name)
        values.append(v)
    f = _function(bind, tuple(names), spp, spp_grad, max_depth, edges, views)
    seeds = jnp.stack([_u32(seed), _u32(0 if seed_grad is None else seed_grad),
                       _u32(int(seed_grad is not None))])
    return f(seeds, *values)


def renderer_of(scene_or_renderer, sensor=0):
    """The :class:`~diffrender.Renderer` that :func:`render` uses for ``scene_or_renderer``."""
    return binding(scene_or_renderer, sensor).renderer
