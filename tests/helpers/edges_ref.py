"""Analytic references for visibility derivatives, independent of the renderer's edge code.

For a film whose radiance is piecewise smooth with a polygonal discontinuity (a flat emissive
polygon over an emissive background, or a hard shadow on a plane), the derivative of
``sum(adj * I)`` (Gaussian pixel filter, no sample border) is the boundary integral

    sum_edges  int  A(x) (L_in(x) - L_out(x)) v_n(x) dl,     A(x) = sum_p adj_p k_p(x) / K_p,

with ``v_n`` the outward normal velocity of the screen polygon. Here it is evaluated by
deterministic quadrature along the screen edges, the polygon's motion ``dP`` by central
differences of :func:`diffrender.core.camera.project` (smooth, so exact to ~1e-8).
"""
import numpy as np


def _gauss(sigma=0.5):
    r = 4 * sigma
    bias = np.exp(-r * r / (2 * sigma * sigma))
    return (lambda d: np.maximum(0.0, np.exp(-d * d / (2 * sigma * sigma)) - bias)), r


def _norms(n, f, r):
    t = np.linspace(-r, r, 8001)
    c = np.arange(n) + 0.5
    xs = c[:, None] + t[None, :]
    return np.trapezoid(f(t)[None, :] * ((xs >= 0) & (xs <= n)), t, axis=1)


def adjoint_density(adj, x, sigma=0.5):
    """A(x) (N, 3) for crop-relative film positions x (N, 2)."""
    H, W = adj.shape[:2]
    f, r = _gauss(sigma)
    Kx, Ky = _norms(W, f, r), _norms(H, f, r)
    wx = f(np.arange(W)[None, :] + 0.5 - x[:, 0:1]) / Kx[None, :]      # (N, W)
    wy = f(np.arange(H)[None, :] + 0.5 - x[:, 1:2]) / Ky[None, :]      # (N, H)
    inside = ((x[:, 0] >= 0) & (x[:, 0] <= W) & (x[:, 1] >= 0) & (x[:, 1] <= H))[:, None]
    return np.einsum("nx,ny,yxc->nc", wx, wy, adj) * inside


def polygon_boundary_grad(P, dP, L_in, L_out, adj, nq=3000, sigma=0.5):
    """``P`` (n, 2) convex screen polygon, ``dP`` its vertex velocities; ``L_in`` / ``L_out``:
    colours (3,) or callables of screen positions (N, 2) -> (N, 3)."""
    P = np.asarray(P, np.float64)
    dP = np.asarray(dP, np.float64)
    cen = P.mean(0)
    u = (np.arange(nq) + 0.5) / nq
    total = 0.0
    n = len(P)
    for i in range(n):
        a, b = P[i], P[(i + 1) % n]
        tng = b - a
        ln = np.linalg.norm(tng)
        if ln == 0:
            continue
        nrm = np.array([-tng[1], tng[0]]) / ln
        if np.dot(nrm, cen - a) > 0:
            nrm = -nrm
        x = a[None] + u[:, None] * tng[None]
        vn = ((1 - u)[:, None] * dP[i][None] + u[:, None] * dP[(i + 1) % n][None]) @ nrm
        lin = L_in(x) if callable(L_in) else np.broadcast_to(np.asarray(L_in, float), (nq, 3))
        lout = L_out(x) if callable(L_out) else np.broadcast_to(np.asarray(L_out, float), (nq, 3))
        A = adjoint_density(adj, x, sigma)
        total += float(((A * (lin - lout)).sum(1) * vn).sum() * ln / nq)
    return total


def convex_hull(P):
    """Counter-clockwise convex hull of 2D points (monotone chain); returns indices."""
    idx = sorted(range(len(P)), key=lambda i: (P[i][0], P[i][1]))

    def cross(o, a, b):
        return (P[a][0] - P[o][0]) * (P[b][1] - P[o][1]) - (P[a][1] - P[o][1]) * (P[b][0] - P[o][0])
    lower, upper = [], []
    for i in idx:
        while len(lower) >= 2 and cross(lower[-2], lower[-1], i) <= 0:
            lower.pop()
        lower.append(i)
    for i in reversed(idx):
        while len(upper) >= 2 and cross(upper[-2], upper[-1], i) <= 0:
            upper.pop()
        upper.append(i)
    return lower[:-1] + upper[:-1]


def unproject_to_plane_y(sensor, x, crop=(0, 0), y0=0.0):
    """World points on the plane y = y0 seen through crop-relative film positions x (N, 2)."""
    m = np.asarray(sensor.to_world, np.float64)
    W, H = sensor.film.width, sensor.film.height
    T = np.tan(np.radians(sensor.fov_x()) / 2)
    fx, fy = x[:, 0] + crop[0], x[:, 1] + crop[1]
    d = np.stack([(1 - 2 * fx / W) * T, (1 - 2 * fy / H) * T / (W / H), np.ones(len(x))], 1) @ m[:3, :3].T
    o = m[:3, 3]
    t = (y0 - o[1]) / d[:, 1]
    return o[None] + t[:, None] * d


def rect_form_factor(q, x1, x2, z1, z2, h):
    """Form factor from a point on the plane y = 0 (normal +y) at (q[:, 0], q[:, 2]) to the
    axis-aligned rectangle [x1, x2] x [z1, z2] (arrays) in the plane y = h facing it."""
    def F(x, z):
        X, Z = x / h, z / h
        a, b = np.sqrt(1 + X * X), np.sqrt(1 + Z * Z)
        return (X / a * np.arctan(Z / a) + Z / b * np.arctan(X / b)) / (2 * np.pi)
    x1, x2 = x1 - q[:, 0], x2 - q[:, 0]
    z1, z2 = z1 - q[:, 2], z2 - q[:, 2]
    ok = (x2 > x1) & (z2 > z1)
    return np.where(ok, F(x2, z2) - F(x1, z2) - F(x2, z1) + F(x1, z1), 0.0)


def expected_image(sensor, radiance_fn, S=16, sigma=0.5):
    """sum_p-normalised filtered image of a smooth radiance function of crop-relative film
    positions (N, 2) -> (N, 3), Gaussian filter, no sample border, by S x S quadrature."""
    W, H = sensor.film.width, sensor.film.height
    xs = (np.arange(W * S) + 0.5) / S
    ys = (np.arange(H * S) + 0.5) / S
    X, Y = np.meshgrid(xs, ys)
    L = radiance_fn(np.stack([X.ravel(), Y.ravel()], 1)).reshape(H * S, W * S, 3)
    f, r = _gauss(sigma)
    wx = f(xs[None, :] - (np.arange(W)[:, None] + 0.5))
    wy = f(ys[None, :] - (np.arange(H)[:, None] + 0.5))
    wx /= wx.sum(1, keepdims=True)
    wy /= wy.sum(1, keepdims=True)
    return np.einsum("ys,stc,xt->yxc", wy, L, wx)
