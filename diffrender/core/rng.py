"""Counter-based random numbers: a hash of (seed, pixel, sample, dimension).

Every random number of a render is a pure function of those four integers, so an image does not
depend on the number of threads, the pass size or the order in which samples run. The hash is
the PCG output permutation used as a hash (Jarzynski & Olano, "Hash Functions for GPU
Rendering", JCGT 2020), chained over the key's components (seed, pixel, sample: three hashes per
sample); each number of a sample is then ONE hash of the key plus a Weyl step per dimension,
``pcg(key + dim * 0x9E3779B9)`` (numbers of a sample are independent hashes, so they can be
computed in any order and in parallel). Floats take the top 24 bits, so they lie in [0, 1)
exactly.

The layout of a camera path's dimensions is written here once (the forward integrator and the
gradient replays draw through these functions, so they see the same numbers): 0-1 the position
in the pixel; for the path vertex k (0 = the camera ray's hit), ``DIMS_PER_BOUNCE`` dimensions
from ``bounce_base(k)``: the emitter sample (2D), the BSDF's lobe choice (1D), the BSDF's
direction (2D), Russian roulette (1D). The ``direct`` integrator draws its ``n_em`` emitter
samples and ``n_bsdf`` BSDF samples after the pixel position (``direct_*``). With participating
media the path's events (surface, null crossing, medium) are numbered by an event counter that
takes the place of k, and each event's free-flight sample has two dimensions from
``DIM_MEDIUM``.
"""

import numpy as np

from ..engine import ti


@ti.func
def pcg_hash(v: ti.u32) -> ti.u32:
    state = v * ti.u32(747796405) + ti.u32(2891336453)
    word = ((state >> ((state >> ti.u32(28)) + ti.u32(4))) ^ state) * ti.u32(277803737)
    return (word >> ti.u32(22)) ^ word


@ti.func
def sample_key(seed: ti.u32, pixel: ti.u32, sample: ti.u32) -> ti.u32:
    """The key of one sample (one camera path)."""
    return pcg_hash(pcg_hash(pcg_hash(seed) + pixel) + sample)


@ti.func
def rand(key: ti.u32, dim: ti.i32) -> ti.f32:
    """The uniform [0, 1) number of dimension ``dim`` of the sample ``key``."""
    h = pcg_hash(key + ti.u32(dim) * ti.u32(0x9E3779B9))
    return ti.f32(h >> ti.u32(8)) * (1.0 / 16777216.0)


@ti.func
def roulette(throughput, depth, rr_depth, key, dim):
    """Mitsuba's path-integrator Russian roulette, shared by the forward integrator and the
    gradient replays (they must make the same decisions). From ``depth >= rr_depth`` on, a path
    survives with probability ``q = min(max(throughput), 0.95)`` (random number ``dim`` of
    ``key``); a path with zero throughput stops. Returns (survives, 1/q or 1)."""
    tp_max = throughput.max()
    alive = tp_max > 0.0
    inv_q = 1.0
    if depth >= rr_depth and alive:
        q = ti.min(tp_max, 0.95)
        if rand(key, dim) < q:
            inv_q = 1.0 / q
        else:
            alive = False
    return alive, inv_q


@ti.func
def rand2(key: ti.u32, dim: ti.i32):
    return ti.Vector([rand(key, dim), rand(key, dim + 1)])


# The dimensions of a camera path -----------------------------------------------------------

DIM_PIXEL = 0           # 2D: position in the pixel
DIMS_PER_BOUNCE = 6     # per path vertex: emitter 2D, lobe 1D, direction 2D, roulette 1D
_EMITTER, _LOBE, _DIRECTION, _ROULETTE = 0, 2, 3, 5


@ti.func
def bounce_base(k):
    """The first dimension of path vertex ``k``."""
    return DIM_PIXEL + 2 + DIMS_PER_BOUNCE * k


@ti.func
def rand_pixel(key):
    """The sample's position in its pixel (2D)."""
    return rand2(key, DIM_PIXEL)


@ti.func
def rand_emitter(key, k):
    """The emitter sample of vertex ``k`` (2D: emitter choice and point / direction)."""
    return rand2(key, bounce_base(k) + _EMITTER)


@ti.func
def rand_lobe(key, k):
    """The BSDF's lobe choice at vertex ``k`` (1D)."""
    return rand(key, bounce_base(k) + _LOBE)


@ti.func
def rand_direction(key, k):
    """The BSDF's direction sample at vertex ``k`` (2D)."""
    return rand2(key, bounce_base(k) + _DIRECTION)


@ti.func
def roulette_dim(k):
    """The dimension of the Russian-roulette decision after vertex ``k``."""
    return bounce_base(k) + _ROULETTE


#: participating media (``media.py``): per path event k, the distance sample's channel and
#: distance (2D), laid out after every bounce's dimensions
DIM_MEDIUM = 1 << 20


@ti.func
def rand_medium(key, k):
    """The free-flight sample of event ``k`` in a medium (2D: channel, distance)."""
    return rand2(key, DIM_MEDIUM + 2 * k)


@ti.func
def direct_emitter_dim(i):
    """``direct``: first dimension of its emitter sample ``i`` (2D)."""
    return DIM_PIXEL + 2 + 2 * i


@ti.func
def direct_bsdf_dim(j, n_em):
    """``direct``: first dimension of its BSDF sample ``j`` (lobe 1D, direction 2D)."""
    return DIM_PIXEL + 2 + 2 * n_em + 3 * j


# numpy twins (tests, host-side checks) ------------------------------------------------------

def pcg_hash_np(v):
    v = np.asarray(v, np.uint32)
    with np.errstate(over="ignore"):
        state = v * np.uint32(747796405) + np.uint32(2891336453)
        word = ((state >> ((state >> np.uint32(28)) + np.uint32(4))) ^ state) * np.uint32(277803737)
    return (word >> np.uint32(22)) ^ word


def rand_np(seed, pixel, sample, dim):
    with np.errstate(over="ignore"):
        key = pcg_hash_np(pcg_hash_np(pcg_hash_np(seed) + np.uint32(pixel)) + np.uint32(sample))
        h = pcg_hash_np(key + np.asarray(dim, np.uint32) * np.uint32(0x9E3779B9))
    return (h >> np.uint32(8)).astype(np.float64) / 16777216.0
