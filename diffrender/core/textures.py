"""Colour parameters: every reflectance / radiance / intensity is a *slot* of a texture table.

A slot is a constant RGB value, a bitmap (bilinear or nearest filtering, repeat / mirror /
clamp wrapping, a 2D affine ``to_uv`` transform), Mitsuba's ``checkerboard`` or a mesh
attribute (``mesh_attribute.py``; lookups take a texture point: :meth:`TextureTable.point`).
Constants and
texels live in Taichi fields, so assigning a new value (``Renderer.update`` after
``scene.parameters()[...] = ...``) is a field write, never a recompilation.

Conventions (Mitsuba 3's ``bitmap``, checked against Mitsuba 3.9.1 renders of
``scenes/textured-plane``): ``uv' = to_uv @ (u, v, 1)``; the image's row 0 (its top row) is at
v = 0, so the continuous texel position is ``(u' * W, v' * H)``.
Bilinear filtering samples at texel centres (``pos - 0.5``), as Mitsuba does.
"""

import numpy as np

from ..engine import ti
from ..errors import SceneError
from ..scene.model import Texture
from ..scene.spec import Param, PluginSpec
from . import mesh_attribute
from .mesh_attribute import KIND_MESH_ATTRIBUTE, POINT_DIM, UV_DIM, MeshAttributeTable, hit_point
from .types import HostRows, vec3
from .warp import floor_f

KIND_CONSTANT, KIND_BITMAP, KIND_CHECKER = 0, 1, 2
KIND_SHADER = 16  # user texture shader k: KIND_SHADER + k
MAX_SHADER_PARAMS = 8
FILTERS = {"nearest": 0, "bilinear": 1}
WRAPS = {"repeat": 0, "mirror": 1, "clamp": 2}

_TO_UV = Param("transform", None, "uv transform (2D affine part used)")
#: the texture plugins (the loader's and the docs' specs); ``code``: the slot kind
SPECS = (
    PluginSpec("texture", "bitmap", {
        "filename": Param("string", None, "image file (required); PNG/JPEG are sRGB-decoded"),
        "filter_type": Param("string", "bilinear", "", tuple(reversed(FILTERS))),
        "wrap_mode": Param("string", "repeat", "", tuple(WRAPS)),
        "raw": Param("boolean", False, "no sRGB decoding"),
        "format": Param("string", "variant", "texel storage: `variant` / `auto` (float32), "
                        "`float16` (rounded to half precision), `uint8` (raw only)",
                        ("variant", "auto", "float16", "uint8")),
        "to_uv": _TO_UV},
        doc="image texture (its texels are differentiable: `.data`)", code=KIND_BITMAP),
    PluginSpec("texture", "rawconstant", {
        "value": Param("point", None, "a float or a 3-vector (required), used as is: no colour "
                       "conversion (e.g. a normal map's constant normal)")},
        doc="constant texture without colour conversion", code=KIND_CONSTANT),
    PluginSpec("texture", "checkerboard", {
        "color0": Param("spectrum", 0.4, "", diff=True),
        "color1": Param("spectrum", 0.2, "", diff=True),
        "to_uv": _TO_UV}, doc="checkerboard texture", code=KIND_CHECKER),
    PluginSpec("texture", "shader", {
        "filename": Param("string", None, "Python file defining the shader (docs/shaders.md)"),
        "to_uv": _TO_UV}, doc="user texture (Taichi function)", code=KIND_SHADER),
    mesh_attribute.SPEC,
)

SlotInfo = ti.types.struct(kind=ti.i32, value=vec3, value2=vec3, bitmap=ti.i32,
                           uv0=vec3, uv1=vec3, swap=ti.i32)
BitmapInfo = ti.types.struct(offset=ti.i32, width=ti.i32, height=ti.i32, filter=ti.i32,
                             wrap=ti.i32)


def _rgb(value, where):
    v = np.asarray(value, np.float32).reshape(-1)
    if v.size == 1:
        return np.repeat(v, 3)
    if v.size != 3:
        raise SceneError(f"expected an RGB colour or a float, got {v.size} values", where)
    return v


def _bitmap_rgb(data, where):
    d = np.asarray(data, np.float32)
    if d.ndim == 2:
        d = d[:, :, None]
    if d.ndim != 3 or d.shape[2] not in (1, 3, 4):
        raise SceneError(f"bitmap data must be H x W x 1|3|4, got shape {d.shape}", where)
    if d.shape[2] == 1:
        d = np.repeat(d, 3, axis=2)
    return np.ascontiguousarray(d[:, :, :3])


@ti.data_oriented
class TextureTable:
    """Slots and packed bitmap texels (RGB float32)."""

    def __init__(self, textures: list[tuple[Texture, str]], shapes=()):
        """``textures``: (Texture, where) pairs; slot i is textures[i]; ``shapes``: the scene's
        shapes (their attributes, for ``mesh_attribute`` slots)."""
        self.n_slots = max(1, len(textures))
        # Mesh attributes: their values, and the texture point's size (static): lookups take
        # (u, v, b1, b2, triangle) when some slot reads an attribute, else the plain uv.
        self.mesh = MeshAttributeTable(textures, shapes)
        self.point_dim = POINT_DIM if self.mesh.enabled else UV_DIM
        self._bitmaps: list[tuple[int, tuple[int, int]]] = []  # slot -> (offset, (h, w))
        n_texels = 0
        self._slot_bitmap = {}
        for i, (tex, where) in enumerate(textures):
            if tex.type == "bitmap":
                if tex.data is None:
                    raise SceneError("bitmap texture has no data", where)
                h, w = np.shape(tex.data)[:2]
                self._slot_bitmap[i] = (len(self._bitmaps), n_texels, h, w)
                self._bitmaps.append((n_texels, (h, w)))
                n_texels += h * w
        self.slots = SlotInfo.field(shape=self.n_slots)
        self.bitmaps = BitmapInfo.field(shape=max(1, len(self._bitmaps)))
        self._slots = HostRows(self.slots)
        self._bitmap_rows = HostRows(self.bitmaps)
        # The values that parameters own live in plain vector fields with gradient (reverse)
        # and dual (forward mode) storage, so the differentiable integrator can read them:
        # values[slot, 0] is a constant colour (checkerboard: color0), values[slot, 1] the
        # checkerboard's color1; texels hold every bitmap.
        self.values = vec3.field(shape=(self.n_slots, 2), needs_grad=True, needs_dual=True)
        # The same values without derivative storage, and which slots' reads are differentiated
        # (``diff_slots[slot] != 0``: from ``values``; else from ``values_const``): a gradient
        # request differentiates the slots it asks for only, so the reverse kernels do no
        # atomic adds for the others. ``Renderer.vjp`` / ``jvp`` set it for their call; none
        # otherwise (renders read ``values_const``: no replica hash).
        self.values_const = vec3.field(shape=(self.n_slots, 2))
        self.diff_slots = ti.field(ti.i32, shape=self.n_slots)
        self.diff_slots.fill(0)
        self.texels = vec3.field(shape=max(1, n_texels), needs_grad=True, needs_dual=True)
        self.textures = [t for t, _ in textures]
        self.wheres = [w for _, w in textures]
        # User texture shaders: their parameters are constant slots of this table.
        self.shader_list = []
        self.shader_params = ti.Vector.field(MAX_SHADER_PARAMS, ti.i32, shape=self.n_slots)
        index = {id(t): i for i, t in enumerate(self.textures)}
        for i, (tex, where) in enumerate(textures):
            if tex.type == "shader":
                sh = tex.extra["shader"]
                if sh not in self.shader_list:
                    self.shader_list.append(sh)
                sp = np.full(MAX_SHADER_PARAMS, -1, np.int32)
                for j, n in enumerate(sh.param_names):
                    t = tex.extra["holder"].params[n]
                    if id(t) not in index:
                        raise SceneError(f"texture shader parameter '{n}' is not registered as "
                                         "a slot", where)
                    sp[j] = index[id(t)]
                self.shader_params[i] = sp
        self.tex_glue = [sh.texture_glue() for sh in self.shader_list]
        self.shader_key = tuple(f"{sh.path}#{id(sh)}" for sh in self.shader_list)
        # Static (compile-time) configuration: the slot kinds present (a plain tuple, so that
        # the renderer's pool notices a recycled table with other kinds). ``eval`` compiles the
        # lookups of these kinds only: a scene of constant colours has no bitmap code.
        self._slot_kinds = [self._kind_code(t) for t in self.textures]
        self.kinds = self.kinds_of(range(len(self.textures)))
        self._values_np = np.zeros(self.values.shape + (3,), np.float32)
        for i in range(len(textures)):
            self.upload(i, send=False)
        self._send()

    def _kind_code(self, tex) -> int:
        if tex.type == "bitmap":
            return KIND_BITMAP
        if tex.type == "checkerboard":
            return KIND_CHECKER
        if tex.type == "shader":
            return KIND_SHADER + self.shader_list.index(tex.extra["shader"])
        if tex.type == "mesh_attribute":
            return KIND_MESH_ATTRIBUTE
        return KIND_CONSTANT  # unknown types are refused by ``upload``

    def kinds_of(self, slots) -> tuple:
        """The sorted kind codes of these slots (negative indices: none), for
        :meth:`eval_as`; at least one kind, so that an empty set still compiles a lookup."""
        ks = {self._slot_kinds[s] for s in slots if 0 <= s < len(self._slot_kinds)}
        return tuple(sorted(ks)) or (KIND_CONSTANT,)

    def upload(self, i: int, send: bool = True) -> None:
        """(Re-)upload slot ``i`` from its Texture (same bitmap size as at construction);
        ``send=False`` only updates the host copies (the constructor sends them once)."""
        tex, where = self.textures[i], self.wheres[i]
        if tex.type in ("constant", "bitmap", "checkerboard", "shader", "mesh_attribute") \
                and self._kind_code(tex) != self._slot_kinds[i]:
            raise SceneError(f"a texture cannot change its type once the renderer is built "
                             f"(now '{tex.type}')", where)
        m = np.asarray(tex.to_uv, np.float64)
        if m.shape != (3, 3):
            raise SceneError(f"to_uv must be a 3x3 matrix, got shape {m.shape}", where)
        uv0 = m[0].astype(np.float32)
        uv1 = m[1].astype(np.float32)
        zero = np.zeros(3, np.float32)
        if tex.type == "constant":
            self._set_value(i, 0, _rgb(tex.value, where))
            self._set_value(i, 1, zero)
            self._slots[i] = SlotInfo(kind=KIND_CONSTANT, value=_rgb(tex.value, where), value2=zero,
                                     bitmap=-1, uv0=uv0, uv1=uv1, swap=0)
        elif tex.type == "bitmap":
            b, off, h, w = self._slot_bitmap[i]
            data = _bitmap_rgb(tex.data, where)
            if data.shape[:2] != (h, w):
                raise SceneError(f"bitmap is {h}x{w}; a new value must keep that size, got "
                                 f"{data.shape[0]}x{data.shape[1]}", where)
            if tex.filter_type not in FILTERS:
                raise SceneError(f"unknown filter_type '{tex.filter_type}' (expected "
                                 f"{' or '.join(FILTERS)})", where)
            if tex.wrap_mode not in WRAPS:
                raise SceneError(f"unknown wrap_mode '{tex.wrap_mode}' (expected "
                                 f"{', '.join(WRAPS)})", where)
            self._bitmap_rows[b] = BitmapInfo(offset=off, width=w, height=h,
                                         filter=FILTERS[tex.filter_type], wrap=WRAPS[tex.wrap_mode])
            self._write_texels(off, data.reshape(-1, 3))
            self._slots[i] = SlotInfo(kind=KIND_BITMAP, value=data.reshape(-1, 3).mean(0),
                                     value2=zero, bitmap=b, uv0=uv0, uv1=uv1, swap=0)
        elif tex.type == "checkerboard":
            c0 = _rgb(tex.extra.get("color0", 0.4), where)
            c1 = _rgb(tex.extra.get("color1", 0.2), where)
            self._set_value(i, 0, c0)
            self._set_value(i, 1, c1)
            # Mitsuba 3.9's checkerboard picks the other colour in eval_1 (the lookup of
            # float parameters: blend weight, mask opacity, alpha) than in eval; the loader
            # marks checkerboards read as floats (Texture.extra["eval_1"]).
            self._slots[i] = SlotInfo(kind=KIND_CHECKER, value=c0, value2=c1, bitmap=-1,
                                     uv0=uv0, uv1=uv1, swap=int(bool(tex.extra.get("eval_1"))))
        elif tex.type == "shader":
            k = self.shader_list.index(tex.extra["shader"])
            self._set_value(i, 0, np.full(3, 0.5, np.float32))
            self._set_value(i, 1, zero)
            self._slots[i] = SlotInfo(kind=KIND_SHADER + k, value=np.full(3, 0.5, np.float32),
                                     value2=zero, bitmap=-1, uv0=uv0, uv1=uv1, swap=0)
        elif tex.type == "mesh_attribute":
            scale = np.full(3, float(tex.extra.get("scale", 1.0)), np.float32)
            self._set_value(i, 0, zero)
            self._set_value(i, 1, zero)
            self._slots[i] = SlotInfo(kind=KIND_MESH_ATTRIBUTE, value=scale, value2=zero,
                                     bitmap=self.mesh.binding[i], uv0=uv0, uv1=uv1, swap=0)
        else:
            raise SceneError(f"unsupported texture type '{tex.type}' (expected constant, bitmap, "
                             "checkerboard, mesh_attribute or shader)", where)
        if send:
            self._send()

    def _send(self) -> None:
        """The host copies of the slot and bitmap tables and of the values to the device."""
        self._slots.flush()
        self._bitmap_rows.flush()
        self.values.from_numpy(self._values_np)
        self.values_const.from_numpy(self._values_np)

    def _set_value(self, i, j, rgb):
        """Write value j of slot i (host copy; ``upload`` sends it to both fields)."""
        self._values_np[i, j] = rgb

    def differentiate(self, slots=()) -> None:
        """Differentiate the reads of these value slots only (none by default)."""
        mask = np.zeros(self.n_slots, np.int32)
        mask[list(slots)] = 1
        self.diff_slots.from_numpy(mask)

    def _write_texels(self, off, flat):
        full = self.texels.to_numpy()
        full[off:off + flat.shape[0]] = flat
        self.texels.from_numpy(full)

    # --- Taichi side ---------------------------------------------------------------------

    @ti.func
    def point(self, geometry: ti.template(), si):
        """The texture point of the surface interaction ``si`` (what the lookups take): its uv,
        or in scenes with a mesh attribute (u, v, b1, b2, merged triangle index)."""
        if ti.static(self.point_dim == UV_DIM):
            return si.uv
        else:
            t = -1
            if si.valid != 0:
                t = geometry.tri_info[si.tri].orig
            return hit_point(si.uv, si.bc.x, si.bc.y, t)

    @ti.func
    def point_at(self, uv, b1, b2, tri):
        """The texture point of ``uv`` at barycentrics (b1, b2) of merged triangle ``tri``."""
        if ti.static(self.point_dim == UV_DIM):
            return uv
        else:
            return hit_point(uv, b1, b2, tri)

    @ti.func
    def point_uv(self, uv):
        """The texture point of plain texture coordinates (no surface: the environment)."""
        return self.point_at(uv, 0.0, 0.0, -1)

    @ti.func
    def _wrap(self, x, n, mode):
        r = x
        if mode == 0:  # repeat
            r = x % n  # Taichi's % follows Python (non-negative for n > 0)
        elif mode == 1:  # mirror
            m = x % (2 * n)
            r = m if m < n else 2 * n - 1 - m
        else:  # clamp
            r = ti.min(ti.max(x, 0), n - 1)
        return r

    @ti.func
    def _texel(self, b, x, y):
        info = self.bitmaps[b]
        xx = self._wrap(x, info.width, info.wrap)
        yy = self._wrap(y, info.height, info.wrap)
        return self.texels[info.offset + yy * info.width + xx]

    @ti.func
    def eval_bitmap(self, b, uv):
        info = self.bitmaps[b]
        w = ti.cast(info.width, ti.f32)
        h = ti.cast(info.height, ti.f32)
        x = uv.x * w
        y = uv.y * h
        res = ti.Vector([0.0, 0.0, 0.0])
        if info.filter == 0:
            res = self._texel(b, ti.cast(floor_f(x), ti.i32), ti.cast(floor_f(y), ti.i32))
        else:
            x -= 0.5
            y -= 0.5
            fx = floor_f(x)
            fy = floor_f(y)
            ix = ti.cast(fx, ti.i32)
            iy = ti.cast(fy, ti.i32)
            tx = x - fx
            ty = y - fy
            res = ((1.0 - tx) * (1.0 - ty) * self._texel(b, ix, iy)
                   + tx * (1.0 - ty) * self._texel(b, ix + 1, iy)
                   + (1.0 - tx) * ty * self._texel(b, ix, iy + 1)
                   + tx * ty * self._texel(b, ix + 1, iy + 1))
        return res

    @ti.func
    def value(self, slot, j, uv):
        """Constant value j (0 or 1) of ``slot`` (``uv``: unused, for shader glue symmetry);
        from the field with derivative storage only when the slot is differentiated."""
        res = self.values_const[slot, j]
        if self.diff_slots[slot] != 0:
            res = self.values[slot, j]
        return res

    @ti.func
    def eval(self, slot, uv):
        """RGB value of ``slot`` at surface coordinates ``uv``."""
        return self.eval_as(slot, uv, ti.static(self.kinds))

    @ti.func
    def eval_as(self, slot, uv, kinds: ti.template()):
        """:meth:`eval` for a slot whose kind is one of ``kinds`` (a tuple from
        :meth:`kinds_of`): only the lookups of those kinds are compiled."""
        s = self.slots[slot]
        res = ti.Vector([0.0, 0.0, 0.0])
        if ti.static(KIND_CONSTANT in kinds or KIND_CHECKER in kinds):
            res = self.value(slot, 0, uv)
        if ti.static(kinds != (KIND_CONSTANT,)):
            if s.kind != KIND_CONSTANT:
                uvh = ti.Vector([uv.x, uv.y, 1.0])
                tuv = ti.Vector([s.uv0.dot(uvh), s.uv1.dot(uvh)])
                if ti.static(KIND_BITMAP in kinds):
                    if s.kind == KIND_BITMAP:
                        res = self.eval_bitmap(s.bitmap, tuv)
                if ti.static(KIND_CHECKER in kinds):
                    if s.kind == KIND_CHECKER:
                        # color0 where both fractional parts are on the same side of .5
                        # (colours); where they are not, for a float parameter (Mitsuba's
                        # eval_1)
                        mx = (tuv.x - floor_f(tuv.x)) > 0.5
                        my = (tuv.y - floor_f(tuv.y)) > 0.5
                        if (mx != my) != (s.swap != 0):
                            res = self.value(slot, 1, uv)
                if ti.static(KIND_MESH_ATTRIBUTE in kinds):
                    if s.kind == KIND_MESH_ATTRIBUTE:
                        res = self.mesh.eval(s.bitmap, uv) * s.value.x
                for k in ti.static(range(len(self.tex_glue))):
                    if ti.static(KIND_SHADER + k in kinds):
                        if s.kind == KIND_SHADER + k:
                            res = self.tex_glue[k].eval(self, slot, tuv)
        return res

    @ti.func
    def _luma(self, c):
        # Mitsuba's luminance() of linear sRGB (a 1-channel bitmap is stored as 3 equal ones,
        # whose luminance is that value: the weights sum to 1).
        return 0.212671 * c.x + 0.715160 * c.y + 0.072169 * c.z

    @ti.func
    def eval_grad1(self, slot, uv):
        return self.eval_grad1_as(slot, uv, ti.static(self.kinds))

    @ti.func
    def eval_grad1_as(self, slot, uv, kinds: ti.template()):
        """(d/du, d/dv) of the slot's scalar value (luminance) at ``uv``: Mitsuba's
        ``eval_1_grad``. Bilinear bitmaps: the derivative of the bilinear interpolant, through
        the ``to_uv`` transform as Mitsuba writes it (``res * (M^T df/dxy)``); constants and
        nearest-filtered bitmaps: zero (piecewise constant). Linear in the texels, so it is
        differentiable with respect to them."""
        s = self.slots[slot]
        res = ti.Vector([0.0, 0.0])
        if ti.static(KIND_BITMAP in kinds):
            if s.kind == KIND_BITMAP:
                info = self.bitmaps[s.bitmap]
                if info.filter == 1:
                    uvh = ti.Vector([uv.x, uv.y, 1.0])
                    w = ti.cast(info.width, ti.f32)
                    h = ti.cast(info.height, ti.f32)
                    x = s.uv0.dot(uvh) * w - 0.5
                    y = s.uv1.dot(uvh) * h - 0.5
                    fx = floor_f(x)
                    fy = floor_f(y)
                    ix = ti.cast(fx, ti.i32)
                    iy = ti.cast(fy, ti.i32)
                    tx = x - fx
                    ty = y - fy
                    f00 = self._luma(self._texel(s.bitmap, ix, iy))
                    f10 = self._luma(self._texel(s.bitmap, ix + 1, iy))
                    f01 = self._luma(self._texel(s.bitmap, ix, iy + 1))
                    f11 = self._luma(self._texel(s.bitmap, ix + 1, iy + 1))
                    dx = (1.0 - ty) * (f10 - f00) + ty * (f11 - f01)
                    dy = (1.0 - tx) * (f01 - f00) + tx * (f11 - f10)
                    res = ti.Vector([w * (s.uv0.x * dx + s.uv1.x * dy),
                                     h * (s.uv0.y * dx + s.uv1.y * dy)])
        return res

    @ti.kernel
    def _grad_kernel(self, slot: ti.i32, uv: ti.types.ndarray(), out: ti.types.ndarray()):
        for i in range(uv.shape[0]):
            g = self.eval_grad1(slot, ti.Vector([uv[i, 0], uv[i, 1]]))
            out[i, 0] = g.x
            out[i, 1] = g.y

    def gradient(self, slot: int, uv: np.ndarray) -> np.ndarray:
        """:meth:`eval_grad1` at many uvs (N, 2) -> (N, 2) (tests, host-side use)."""
        uv = np.ascontiguousarray(uv, np.float32).reshape(-1, 2)
        out = np.zeros((uv.shape[0], 2), np.float32)
        self._grad_kernel(slot, uv, out)
        return out

    @ti.kernel
    def _eval_kernel(self, slot: ti.i32, pts: ti.types.ndarray(), out: ti.types.ndarray()):
        for i in range(pts.shape[0]):
            p = self.point_at(ti.Vector([pts[i, 0], pts[i, 1]]), pts[i, 2], pts[i, 3],
                              ti.cast(pts[i, 4], ti.i32))
            v = self.eval(slot, p)
            for c in ti.static(range(3)):
                out[i, c] = v[c]

    def evaluate(self, slot: int, uv: np.ndarray, bary=None, tri=None) -> np.ndarray:
        """Evaluate a slot at many uvs (N, 2) -> (N, 3) (tests, host-side use); a mesh
        attribute also needs the barycentrics ``bary`` (N, 2: b1, b2) and merged triangle
        indices ``tri`` (N,)."""
        uv = np.asarray(uv, np.float32).reshape(-1, 2)
        pts = np.zeros((uv.shape[0], 5), np.float32)
        pts[:, :2] = uv
        pts[:, 4] = -1.0
        if bary is not None:
            pts[:, 2:4] = np.asarray(bary, np.float32).reshape(-1, 2)
        if tri is not None:
            pts[:, 4] = np.asarray(tri, np.float32).reshape(-1)
        out = np.zeros((uv.shape[0], 3), np.float32)
        self._eval_kernel(slot, np.ascontiguousarray(pts), out)
        return out
