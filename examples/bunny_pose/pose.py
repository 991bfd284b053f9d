"""Mitsuba 3's object-pose tutorial (``inverse_rendering/object_pose_estimation.ipynb``) with
diffrender: recover the pose of the Stanford bunny in front of a wall, lit by a small sphere
light, from a target image.

The pose is the tutorial's: ``angle`` (a rotation about the world's y axis by ``100 * angle``
degrees) and ``trans`` = (tx, ty) (a translation in x and y), applied after the bunny's scale:
``to_world = T(tx, ty, 0) R_y(100 angle) S(6.5)``. Target: the scene as loaded (pose 0),
rendered at 1024 spp; start: angle 0.25, trans (0.1, -0.25); Adam with learning rate 0.025,
the variables clipped to [-0.5, 0.5]; loss: the mean of the squared differences over pixels and
channels; ``--iterations`` (the tutorial: 100) renders and gradients of ``--spp`` (16) samples
per pixel, seed = iteration. The gradient of ``bunny.to_world`` (edge sampling: silhouettes,
the bunny's shadow on the wall and on itself) is chained to (angle, tx, ty).

    python examples/bunny_pose/pose.py                     # the tutorial: 100 iterations
    python examples/bunny_pose/pose.py --iterations 40 --edge-spp 8
"""
import argparse
import os
import time

import numpy as np

import diffrender as dr

HERE = os.path.dirname(os.path.abspath(__file__))
SCENE = os.path.join(HERE, "scene.xml")
SHAPE = "bunny.to_world"
ANGLE_UNIT = 100.0              # degrees per unit of the tutorial's angle variable
START = (0.25, 0.1, -0.25)      # angle, tx, ty
CLIP = 0.5                      # the tutorial clips every variable to [-0.5, 0.5]
LEARNING_RATE = 0.025
ITERATIONS = 100
SPP = 16
TARGET_SPP = 1024


def rotation_y(degrees):
    a = np.radians(degrees)
    c, s = np.cos(a), np.sin(a)
    return np.array([[c, 0, s, 0], [0, 1, 0, 0], [-s, 0, c, 0], [0, 0, 0, 1.0]])


def pose_matrix(M0, pose):
    """``to_world`` of the pose (angle, tx, ty) on top of the scene's matrix ``M0``."""
    T = np.eye(4)
    T[0, 3], T[1, 3] = pose[1], pose[2]
    return T @ rotation_y(ANGLE_UNIT * pose[0]) @ M0


def pose_gradient(M0, pose, g_matrix):
    """d loss / d(angle, tx, ty) from d loss / d to_world (4 x 4)."""
    a = np.radians(ANGLE_UNIT * pose[0])
    c, s = np.cos(a), np.sin(a)
    dR = np.array([[-s, 0, c, 0], [0, 0, 0, 0], [-c, 0, -s, 0], [0, 0, 0, 0.0]])
    T = np.eye(4)
    T[0, 3], T[1, 3] = pose[1], pose[2]
    dM = T @ dR @ M0 * np.radians(ANGLE_UNIT)
    g = np.asarray(g_matrix, np.float64)
    return np.array([np.sum(g * dM), g[0, 3], g[1, 3]])


class PoseTask:
    """The tutorial's scene, target and loss around one :class:`diffrender.Renderer`."""

    def __init__(self, res=None, target_spp=TARGET_SPP):
        defines = {} if res is None else {"res": str(res)}
        self.scene = dr.load_scene(SCENE, **defines)
        self.params = dr.traverse(self.scene)
        self.M0 = np.array(self.params[SHAPE], np.float64)
        self.renderer = dr.Renderer(self.scene)
        self.set_pose((0.0, 0.0, 0.0))
        self.target = self.renderer.render(spp=target_spp, seed=0).astype(np.float64)

    def set_pose(self, pose):
        self.params[SHAPE] = pose_matrix(self.M0, pose)

    def loss(self, image):
        return float(np.mean((np.asarray(image, np.float64) - self.target) ** 2))

    def adjoint(self, image):
        """d loss / d image."""
        return (2.0 * (np.asarray(image, np.float64) - self.target) / self.target.size).astype(np.float32)

    def gradient(self, pose, spp, seed, edges, image=None):
        """(loss, d loss / d(angle, tx, ty)) at ``pose``; the adjoint from ``image`` (default:
        a render with the same spp and seed, as the tutorial's ``dr.backward``)."""
        self.set_pose(pose)
        if image is None:
            image = self.renderer.render(spp=spp, seed=seed)
        g = self.renderer.vjp(self.adjoint(image), [SHAPE], spp=spp, seed=seed, edges=edges)
        return self.loss(image), pose_gradient(self.M0, pose, g[SHAPE])


def optimize(task, iterations=ITERATIONS, spp=SPP, edges=None, lr=LEARNING_RATE, log=None):
    """The tutorial's loop; returns (final pose, [loss per iteration], CPU seconds per
    iteration)."""
    opt = dr.Adam({"pose": np.array(START, np.float64)}, lr=lr, bounds={"pose": (-CLIP, CLIP)})
    losses = []
    cpu = time.process_time()
    for it in range(iterations):
        loss, g = task.gradient(opt.params["pose"], spp, it, edges)
        losses.append(loss)
        opt.step({"pose": g})
        if log is not None:
            log(it, loss, opt.params["pose"])
    per_it = (time.process_time() - cpu) / max(iterations, 1)
    return opt.params["pose"].copy(), losses, per_it


def pose_error(pose):
    """(angle error in degrees, translation error) from the truth (pose 0)."""
    return abs(ANGLE_UNIT * float(pose[0])), float(np.hypot(pose[1], pose[2]))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--iterations", type=int, default=ITERATIONS)
    ap.add_argument("--spp", type=int, default=SPP)
    ap.add_argument("--edge-spp", type=int, default=4, help="edge samples per pixel")
    ap.add_argument("--res", type=int, default=None, help="film size (default: the scene's 64)")
    a = ap.parse_args(argv)
    task = PoseTask(a.res)

    def log(it, loss, pose):
        if it % 10 == 0 or it == a.iterations - 1:
            print(f"iteration {it:3d}: loss {loss:.3e}, angle {pose[0]:.4f}, "
                  f"trans [{pose[1]:.4f}, {pose[2]:.4f}]", flush=True)
    wall = time.perf_counter()
    pose, losses, per_it = optimize(task, a.iterations, a.spp, {"spp": a.edge_spp}, log=log)
    wall = (time.perf_counter() - wall) / max(a.iterations, 1)
    ea, et = pose_error(pose)
    sa, st = pose_error(START)
    print(f"start error: {sa:.2f} deg, {st:.4f}; final error after {a.iterations} iterations: "
          f"{ea:.2f} deg, {et:.4f} (angle {pose[0]:.4f}, trans [{pose[1]:.4f}, {pose[2]:.4f}])")
    print(f"time per iteration: {per_it:.2f} s CPU, {wall:.2f} s wall (the first includes "
          f"kernel compilation)")


if __name__ == "__main__":
    main()
