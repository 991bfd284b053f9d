"""BSDFs: one module per plugin (``eval``, ``pdf``, ``sample`` as ``ti.func`` in the local
shading frame), and :class:`BSDFTable`, the per-scene parameter fields and the dispatch.

``twosided`` wraps a one-sided BSDF as Mitsuba does: when ``wi`` is below the surface both
directions are mirrored (z -> -z) before the nested BSDF is evaluated / sampled, and the
sampled direction is mirrored back.
"""

from ...engine import ti
from ...errors import SceneError
from ..types import BSDFSample
from . import diffuse

#: plugin name -> type code
TYPES = {"diffuse": 0}

BSDFInfo = ti.types.struct(type=ti.i32, twosided=ti.i32, reflectance=ti.i32)


@ti.data_oriented
class BSDFTable:
    """``bsdfs``: list of (type code, twosided, reflectance texture slot)."""

    def __init__(self, textures, rows):
        self.textures = textures
        self.n = max(1, len(rows))
        self.info = BSDFInfo.field(shape=self.n)
        for i, (t, two, slot) in enumerate(rows):
            self.info[i] = BSDFInfo(type=t, twosided=int(two), reflectance=slot)

    @staticmethod
    def check(bsdf, where):
        """Raise a SceneError unless ``bsdf`` (model.BSDF) can be rendered."""
        if bsdf.type not in TYPES:
            raise SceneError(f"BSDF '{bsdf.type}' is not supported by the renderer yet "
                             f"(supported: {', '.join(TYPES)}, twosided)", where)

    @ti.func
    def _flip(self, b, wi):
        return self.info[b].twosided != 0 and wi.z < 0.0

    @ti.func
    def reflectance(self, b, uv):
        return self.textures.eval(self.info[b].reflectance, uv)

    @ti.func
    def eval_pdf(self, b, uv, wi, wo):
        """(f(wi, wo) cos(theta_o), pdf(wi -> wo)) in the local frame."""
        s = 1.0
        if self._flip(b, wi):
            s = -1.0
        wi2 = ti.Vector([wi.x, wi.y, s * wi.z])
        wo2 = ti.Vector([wo.x, wo.y, s * wo.z])
        r = self.reflectance(b, uv)
        return diffuse.eval(r, wi2, wo2), diffuse.pdf(wi2, wo2)

    @ti.func
    def sample(self, b, uv, wi, u1, u2):
        sg = 1.0
        if self._flip(b, wi):
            sg = -1.0
        wi2 = ti.Vector([wi.x, wi.y, sg * wi.z])
        r = self.reflectance(b, uv)
        s = diffuse.sample(r, wi2, u2)
        s.wo.z *= sg
        return s

    @ti.func
    def albedo(self, b, uv):
        """Diffuse reflectance (the ``albedo`` AOV)."""
        return self.reflectance(b, uv)


__all__ = ["BSDFTable", "TYPES", "BSDFSample", "diffuse"]


@ti.kernel
def _sample_kernel(table: ti.template(), b: ti.i32, wi: ti.types.ndarray(), u: ti.types.ndarray(),
                   out: ti.types.ndarray()):
    for i in range(u.shape[0]):
        w = ti.Vector([wi[i, 0], wi[i, 1], wi[i, 2]])
        s = table.sample(b, ti.Vector([0.5, 0.5]), w, u[i, 0], ti.Vector([u[i, 1], u[i, 2]]))
        f, p = table.eval_pdf(b, ti.Vector([0.5, 0.5]), w, s.wo)
        for k in ti.static(range(3)):
            out[i, k] = s.wo[k]
            out[i, 3 + k] = s.weight[k]
            out[i, 7 + k] = f[k]
        out[i, 6] = s.pdf
        out[i, 10] = p


def sample_np(table, b, wi, u):
    """Host-side BSDF sampling (tests): wi (N, 3) local, u (N, 3) -> dict of wo, weight, pdf,
    and the eval / pdf of the sampled direction."""
    import numpy as np

    u = np.ascontiguousarray(u, np.float32).reshape(-1, 3)
    wi = np.ascontiguousarray(np.broadcast_to(np.asarray(wi, np.float32), u.shape))
    out = np.zeros((u.shape[0], 11), np.float32)
    _sample_kernel(table, b, wi, u, out)
    return {"wo": out[:, 0:3], "weight": out[:, 3:6], "pdf": out[:, 6], "eval": out[:, 7:10],
            "eval_pdf": out[:, 10]}
