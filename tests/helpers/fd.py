"""Finite-difference checks shared by the gradient tests: central differences of a function,
of a render (with common random numbers), and the comparison of a gradient with them."""
from __future__ import annotations

import numpy as np


def central_difference(f, x, eps=1e-6, indices=None):
    """d f / d x by central differences; ``f`` maps a float64 array of x's shape to a scalar.

    ``indices`` limits the check to some flat indices (returns their derivatives only)."""
    x = np.array(x, dtype=np.float64)
    flat = x.reshape(-1)
    idx = range(flat.size) if indices is None else indices
    out = []
    for i in idx:
        old = flat[i]
        flat[i] = old + eps
        fp = f(x.copy())
        flat[i] = old - eps
        fm = f(x.copy())
        flat[i] = old
        out.append((fp - fm) / (2 * eps))
    out = np.array(out)
    return out.reshape(x.shape) if indices is None else out


def assert_grad_close(actual, expected, rtol=1e-4, atol=1e-8, what="gradient"):
    actual = np.asarray(actual, np.float64)
    expected = np.asarray(expected, np.float64)
    err = np.abs(actual - expected)
    ok = err <= atol + rtol * np.abs(expected)
    if not np.all(ok):
        i = np.argmax(err - rtol * np.abs(expected))
        raise AssertionError(f"{what}: {actual.ravel()[i]} vs finite difference {expected.ravel()[i]} "
                             f"(worst of {actual.size}; max abs err {err.max():.3g})")


def render_fd(renderer, scene, adj, name, index, spp, seed, eps_rel=1e-2, eps=None,
              reupload=False):
    """Central difference of <adj, render> with respect to component ``index`` of scene
    parameter ``name``, with common random numbers (the same ``seed`` on both sides), so that
    it equals the replayed derivative up to float32 round-off; the parameter is restored.

    The step is ``eps`` when given, else ``eps_rel * max(|value|, 1e-2)``. ``reupload``: upload
    the restored value at once (``renderer.update()``): a pending ``to_world`` change would
    otherwise be applied together with the next ``vertex_positions`` change and overwrite it."""
    p = scene.parameters()
    v0 = np.array(p[name], np.float64)
    if eps is None:
        eps = eps_rel * max(abs(v0.flat[index]), 1e-2)
    vals = []
    for sgn in (1, -1):
        v = v0.copy()
        v.flat[index] += sgn * eps
        p[name] = v
        vals.append(float((renderer.render(spp=spp, seed=seed).astype(np.float64) * adj).sum()))
    p[name] = v0
    if reupload:
        renderer.update()
    return (vals[0] - vals[1]) / (2 * eps)


def assert_interior_matches_fd(renderer, scene, adj, cases, spp, seed, eps):
    """The interior-only (``edges=False``) ``vjp`` of each (name, component) in ``cases`` within
    1 % (+ 1e-3) of central differences with common random numbers (step ``eps``, re-uploaded),
    each of which must be visibly non-zero."""
    names = sorted({n for n, _ in cases})
    g = renderer.vjp(adj, names, spp=spp, seed=seed, edges=False)
    for name, idx in cases:
        ref = render_fd(renderer, scene, adj, name, idx, spp, seed, eps=eps, reupload=True)
        got = float(np.asarray(g[name]).flat[idx])
        assert abs(ref) > 1e-2, (name, idx, ref)
        assert abs(got - ref) <= 1e-2 * abs(ref) + 1e-3, (name, idx, got, ref)


def assert_vjp_matches_fd(renderer, scene, adj, name, idx, spp, seed, rtol=2e-3, atol=1e-5):
    """``renderer.vjp`` of parameter ``name`` has the parameter's shape, and its components
    ``idx`` equal central differences of ``sum(adj * render)`` (common random numbers), each
    of which must be visibly non-zero."""
    g = renderer.vjp(adj, [name], spp=spp, seed=seed)[name]
    assert g.shape == np.shape(scene.parameters()[name])
    expected = np.array([render_fd(renderer, scene, adj, name, i, spp, seed) for i in idx])
    assert np.all(np.abs(expected) > 1e-5), "test components must have a visible effect"
    assert_grad_close(g.ravel()[idx], expected, rtol=rtol, atol=atol, what=name)
