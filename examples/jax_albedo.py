"""Recover the Cornell box's red-wall albedo with JAX: the loss is a jitted function of the
albedo (and of the iteration's seed), `jax.value_and_grad` differentiates through
`diffrender.jax.render` (its backward is Renderer.vjp), and Adam comes from
`jax.example_libraries.optimizers`.

    python examples/jax_albedo.py [--res 64] [--iterations 100]

Starts from grey (0.3) and prints the albedo and its relative error against the true value
(0.63, 0.065, 0.05) that made the target.
"""
import argparse
import os

import jax
import jax.numpy as jnp
import numpy as np
from jax.example_libraries import optimizers

import diffrender as dr
import diffrender.jax as drj

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCENE = os.path.join(ROOT, "scenes", "cornell-box", "scene.xml")
NAME = "red.reflectance"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--res", type=int, default=64)
    ap.add_argument("--iterations", type=int, default=100)
    ap.add_argument("--spp", type=int, default=16)
    ap.add_argument("--lr", type=float, default=0.02)
    a = ap.parse_args()

    scene = dr.load_scene(SCENE, res=a.res, max_depth=5)
    true = np.array(scene.parameters()[NAME])
    target = drj.render(scene, {NAME: jnp.asarray(true, jnp.float32)}, spp=256, seed=12345)

    @jax.jit
    def loss(albedo, seed):
        img = drj.render(scene, {NAME: albedo}, spp=a.spp, seed=seed)
        return jnp.mean((img - target) ** 2)

    grad = jax.jit(jax.value_and_grad(loss))
    init, update, get = optimizers.adam(a.lr)
    state = init(jnp.full(3, 0.3, jnp.float32))

    def error(x):
        return float(np.linalg.norm(np.asarray(x) - true) / np.linalg.norm(true))

    print(f"start: albedo {np.round(np.asarray(get(state)), 4)}, relative error {error(get(state)):.3f}")
    for it in range(a.iterations):
        value, g = grad(get(state), it)
        state = update(it, g, state)
        if (it + 1) % 20 == 0 or it + 1 == a.iterations:
            x = get(state)
            print(f"iteration {it + 1:4d}: loss {float(value):.3e}, albedo {np.round(np.asarray(x), 4)}, "
                  f"relative error {error(x):.4f}")


if __name__ == "__main__":
    main()
