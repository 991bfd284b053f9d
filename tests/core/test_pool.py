"""Renderers of same-shaped scenes share compiled kernels (recycled device sets), and a
recycled set renders exactly what a freshly built one does."""
import gc

import numpy as np
import pytest

from diffrender.engine import ti, recycle_fields
from diffrender.errors import SceneError
from diffrender.core import Renderer
from diffrender.core.geometry import capacity_class
from diffrender.core.bsdfs import TYPES as BSDF_TYPES
from diffrender.core.bsdfs import RowBuilder
from diffrender.scene.model import BSDF, Texture
from tests.helpers.scenes import area_light, diffuse, make_scene, quad, sensor


def box_scene(rho=0.5, n_extra=0, lift=0.0, res=12, wrap=None):
    """A lit floor, a wall, and ``n_extra`` small triangles floating above the floor; with
    ``wrap``, the floor's reflectance is a 2x2 bitmap with that wrap mode."""
    mat = diffuse(rho, id="mat")
    if wrap is not None:
        mat.params["reflectance"] = Texture(type="bitmap", data=np.full((2, 2, 3), rho),
                                            wrap_mode=wrap)
    shapes = [quad((0, lift, 0), (4, 0, 0), (0, 0, -4), bsdf=mat, id="floor"),
              quad((0, 1, -2), (4, 0, 0), (0, 2, 0), bsdf=diffuse(0.3, id="wall"), id="wall")]
    if n_extra:
        from diffrender.scene.model import Shape

        rng = np.random.default_rng(n_extra)
        c = rng.uniform([-1, 0.5, -1], [1, 1.5, 1], (n_extra, 3))
        v = np.concatenate([c, c + [0.2, 0, 0], c + [0, 0, 0.2]])
        f = np.stack([np.arange(n_extra), np.arange(n_extra) + n_extra,
                      np.arange(n_extra) + 2 * n_extra], axis=1)
        shapes.append(Shape(type="mesh", vertices=v, faces=f, bsdf=shapes[1].bsdf, id="bits"))
    light = area_light(quad((0, 3, 0), (0.5, 0, 0), (0, 0, 0.5)), 5.0)
    cam = sensor(origin=(0, 2, 3), target=(0, 0.5, 0), width=res, height=res, spp=4)
    return make_scene(shapes + [light], [], sensors=[cam], max_depth=4)


def test_field_replay_returns_the_same_fields_or_reports_a_mismatch():
    vec3 = ti.types.vector(3, ti.f32)

    class Thing:
        def __init__(self, n):
            self.a = ti.field(ti.f32, shape=n)
            self.b = vec3.field(shape=(n, 2), needs_grad=True)

    with recycle_fields() as log:
        t = Thing(5)
    a, b = t.a, t.b
    with recycle_fields(log) as again:
        t.__init__(5)
    assert again.complete() and t.a is a and t.b is b
    with recycle_fields(again) as other:
        t.__init__(6)
    assert not other.complete() and t.a is not a


def test_a_second_renderer_reuses_the_first_ones_objects_and_renders_identically():
    r1 = Renderer(box_scene(0.5, n_extra=5))
    r1.render(seed=3)
    integ, geo, film = r1.integrator, r1.geometry, r1.film
    del r1
    gc.collect()
    # Another scene of the same size class: other colours, other triangle count, moved floor.
    assert capacity_class(2 + 2 + 5 + 2) == capacity_class(2 + 2 + 9 + 2)
    sc = box_scene(0.7, n_extra=9, lift=0.1)
    r2 = Renderer(sc)
    assert r2.integrator is integ and r2.geometry is geo and r2.film is film
    img2 = r2.render(seed=3)
    r3 = Renderer(box_scene(0.7, n_extra=9, lift=0.1))  # r2 is alive: a fresh set
    assert r3.integrator is not integ
    img3 = r3.render(seed=3)
    assert img2.mean() > 0
    np.testing.assert_array_equal(img2, img3)


def test_films_of_one_size_class_share_a_set():
    """Fields have the film's size class (``film.film_class``), the kernels read the actual
    size: a 10x10 film re-uses a dropped 12x12 film's set, and each renders what a fresh set
    renders, bit for bit."""
    r1 = Renderer(box_scene(res=12))
    integ = r1.integrator
    del r1
    gc.collect()
    r2 = Renderer(box_scene(res=10))
    assert r2.integrator is integ
    small = r2.render(seed=1)
    assert small.shape == (10, 10, 3)
    fresh_small = Renderer(box_scene(res=10))  # r2 is alive: a set of its own
    assert fresh_small.integrator is not integ
    np.testing.assert_array_equal(fresh_small.render(seed=1), small)
    big = Renderer(box_scene(res=12))
    np.testing.assert_array_equal(big.render(seed=1), Renderer(box_scene(res=12)).render(seed=1))


def test_another_film_size_class_gets_its_own_set():
    r1 = Renderer(box_scene(res=12))
    integ = r1.integrator
    del r1
    gc.collect()
    r2 = Renderer(box_scene(res=40))  # above 32: another size class
    assert r2.integrator is not integ
    assert r2.render(seed=1).shape == (40, 40, 3)


def test_a_set_that_failed_while_being_recycled_is_dropped():
    r1 = Renderer(box_scene(wrap="repeat"))
    integ = r1.integrator
    ref = r1.render(seed=2)
    del r1
    gc.collect()
    with pytest.raises(SceneError, match="unknown wrap_mode 'wobble'"):
        Renderer(box_scene(wrap="wobble"))  # same key: fails inside the recycled set
    r2 = Renderer(box_scene(wrap="repeat"))
    assert r2.integrator is not integ
    np.testing.assert_array_equal(r2.render(seed=2), ref)


def test_recycled_replay_integrator_gives_the_same_gradients():
    adj = np.ones((8, 8, 3), np.float32)
    r1 = Renderer(box_scene(0.5, res=8))
    r1.vjp(adj, ["mat.reflectance"], spp=2, seed=4)
    diff = r1._diff
    del r1
    gc.collect()
    r2 = Renderer(box_scene(0.6, res=8))
    g2 = r2.vjp(adj, ["mat.reflectance"], spp=2, seed=4)["mat.reflectance"]
    assert r2._diff is diff  # replay buffers and kernels re-used
    r3 = Renderer(box_scene(0.6, res=8))  # r2 alive: fresh objects
    g3 = r3.vjp(adj, ["mat.reflectance"], spp=2, seed=4)["mat.reflectance"]
    assert r3._diff is not diff
    assert np.all(np.abs(g2) > 0)
    np.testing.assert_array_equal(g2, g3)


def test_texture_kinds_are_part_of_the_key():
    """Lookups are compiled for the texture kinds each parameter reads: a scene of the same
    shape whose floor reads a checkerboard instead of a constant gets its own set, and a
    texture cannot change its kind under a built renderer."""
    r1 = Renderer(box_scene(0.5, res=10))
    integ = r1.integrator
    r1.render(seed=1)
    del r1
    gc.collect()
    sc = box_scene(0.5, res=10)
    sc.shapes[0].bsdf.params["reflectance"] = Texture(
        type="checkerboard", extra={"color0": 0.9, "color1": 0.1},
        to_uv=np.diag([4.0, 4.0, 1.0]))
    r2 = Renderer(sc)
    assert r2.integrator is not integ
    img = r2.render(seed=1)
    assert img.std() > 0.1 * img.mean() > 0  # the checks are there
    tex = sc.shapes[1].bsdf.params["reflectance"]  # the wall's constant
    tex.type = "checkerboard"
    with pytest.raises(SceneError, match="cannot change its type"):
        r2.textures.upload(r2._slot_of[id(tex)])


def test_a_recycled_set_renders_the_same_aovs():
    """A Film allocates its AOV buffers on the first AOV render, after its constructor, and its
    kernels are compiled against them: a set whose film grew them must not be recycled with
    buffers the constructor drops (the next owner would read back empty AOVs)."""
    r1 = Renderer(box_scene(0.5, res=8))
    first = r1.render(seed=5, aovs=("depth", "albedo"))
    assert first["depth"].max() > 0 and first["albedo"].max() > 0
    del r1
    gc.collect()
    r2 = Renderer(box_scene(0.5, res=8))
    again = r2.render(seed=5, aovs=("depth", "albedo"))
    np.testing.assert_array_equal(again["color"], first["color"])
    np.testing.assert_array_equal(again["depth"], first["depth"])
    np.testing.assert_array_equal(again["albedo"], first["albedo"])


def test_rows_of_short_lived_bsdfs_are_their_own():
    """The order-dependent bug behind the ``engine.reset()`` that ``test_bsdfs.py`` needed: the
    row builder of the scene upload de-duplicates BSDFs by ``id()``, and a BSDF that was added
    and then dropped (``test_bsdfs.py``'s library builds each material in a lambda) frees its
    id for the next one. The next BSDF then got the dropped one's row: "dielectric" became a
    blendbsdf, and the table had no dielectric code at all. Whether CPython hands out the same
    address again depends on what ran before, hence the test order."""
    slots = []

    def slot(tex, where):
        slots.append(tex)
        return len(slots) - 1

    rb = RowBuilder(slot, [])
    names = list(BSDF_TYPES) * 3  # every leaf type, each made, added and dropped at once
    rows = [rb.add(BSDF(name, {}), name) for name in names]
    assert len(set(rows)) == len(names)
    assert [rb.rows[i]["type"] for i in rows] == [BSDF_TYPES[n] for n in names]
    table_types = {r["type"] for r in rb.rows if r["kind"] == 0}
    assert table_types == set(BSDF_TYPES.values())


def test_a_new_renderers_tables_are_written_without_kernels():
    """The tables of a new Renderer (camera, film filter, BSDF, emitter and texture rows) go up
    with one ``from_numpy`` each (``types.HostRows``): writing struct elements from Python ran
    a writer kernel per scalar member, compiled for every new field (104 for this scene)."""
    import os
    import subprocess
    import sys
    import tempfile

    code = ("import diffrender as dr\n"
            "from diffrender import engine\n"
            "dr.init('cpu')\n"
            "engine.count_compiles()\n"
            "sc = dr.load_scene('scenes/cornell-box/scene.xml', res=16)\n"
            "n = engine.compiled_kernels()\n"
            "r = dr.Renderer(sc)\n"
            "print(engine.compiled_kernels() - n)\n")
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    with tempfile.TemporaryDirectory() as cache:  # a cold kernel cache: every kernel compiles
        env = dict(os.environ, XDG_CACHE_HOME=cache, DIFFRENDER_DEVICE="cpu")
        out = subprocess.run([sys.executable, "-c", code], cwd=root, env=env, capture_output=True,
                             text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert int(out.stdout.split()[-1]) <= 8, out.stdout


def test_host_rows_write_rows_and_zero_the_rest():
    from diffrender.core.types import HostRows

    Info = ti.types.struct(a=ti.i32, v=ti.types.vector(3, ti.f32), m=ti.types.matrix(2, 2, ti.f32))
    f = Info.field(shape=(3,))
    rows = HostRows(f)
    rows[1] = Info(a=7, v=[1.0, 2.0, 3.0], m=[[1.0, 2.0], [3.0, 4.0]])
    rows.flush()
    got = f.to_numpy()
    assert got["a"].tolist() == [0, 7, 0]
    assert got["v"][1].tolist() == [1.0, 2.0, 3.0] and not got["v"][[0, 2]].any()
    assert got["m"][1].tolist() == [[1.0, 2.0], [3.0, 4.0]]
    with pytest.raises(KeyError, match="members"):
        rows[0] = {"a": 1}
