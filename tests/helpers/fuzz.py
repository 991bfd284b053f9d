"""A seeded fuzzer of diffrender's input readers (issue #19, item 3).

``generate(n, seed)`` makes ``n`` cases: mutations of the bundled scenes (``scenes/``,
``tests/data/scenes/``; XML, and the same scenes written as JSON and YAML), their meshes and
textures, the ``optimize`` config and the filter pipelines of ``examples/`` — byte flips,
truncation, random unicode, undecodable bytes, huge / negative / NaN numbers, 5000-digit
integers, deep nesting, self and circular includes, include bombs, YAML alias cycles, wrong
types — plus Python API cases (NaN parameter writes, cyclic dicts, absurd defines) and a few runs
of the CLI's ``info`` command in a subprocess.

``run(cases, workdir)`` feeds them through the readers in a worker process (``python -m
tests.helpers.fuzz WORKDIR``): one JSON line per case with its outcome. The parent kills a worker
that takes longer than :data:`CASE_TIMEOUT_S` on one case (``hang``) or that dies (``crash``) and
starts another for the remaining cases. Outcomes:

- ``ok``: loaded, and every number that came out is finite;
- ``error``: a :class:`~diffrender.errors.DiffrenderError` of one line naming the file;
- ``bad``: anything else (another exception type, a multi-line or anonymous message, NaN output,
  a numpy warning leaking to stderr), ``hang``, ``crash``.
"""
from __future__ import annotations

import json
import math
import os
import random
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CASE_TIMEOUT_S = 30.0  # a loader that needs longer on these small inputs is hanging
WORKER_STARTUP_S = 30.0  # allowance for a worker's imports (Taichi) on a loaded machine
EXIT_WAIT_S = 5.0  # a worker whose stdout closed has that long to exit before it counts as hung
WORKER_MEMORY_BYTES = 6 << 30  # address-space limit of a worker: a blow-up is a MemoryError

SCENES = ["scenes/cornell-box/scene.xml", "scenes/glass/scene.xml",
          "scenes/glossy-spheres/scene.xml", "scenes/normal-map/scene.xml",
          "scenes/shadow/scene.xml", "scenes/textured-object/scene.xml",
          "scenes/textured-plane/scene.xml", "tests/data/scenes/area_light_direct.xml",
          "tests/data/scenes/normalmap.xml", "tests/data/scenes/rfilter.xml",
          "tests/data/scenes/shapes_textured.xml", "tests/data/scenes/sphere_plane_point.xml",
          "tests/data/scenes/wall_onesided.xml", "tests/data/scenes/wall_twosided.xml"]
MESHES = ["scenes/cornell-box/meshes/short_block.obj", "scenes/normal-map/meshes/uvsphere.obj",
          "tests/data/scenes/meshes/pyramid.ply", "tests/data/scenes/meshes/quad_uv.obj"]
IMAGES = ["tests/data/scenes/textures/quadrants.png", "scenes/textured-object/textures/grout.png",
          "scenes/glossy-spheres/textures/sky.exr", "examples/cornell-albedo/target.exr"]
CONFIGS = ["examples/cornell-albedo/config.yaml"]
PIPELINES = ["examples/filters/look.yaml", "examples/filters/recover.yaml"]

WEIRD_NUMBERS = ["1e12", "1000000000000", "-1", "0", "-0", "nan", "NaN", "inf", "-inf", "1e400",
                 "-1e400", "1e38", "3.5e38", "1e-400", "9" * 5000, "0x10", "1_000", "", " ",
                 "2147483648", "-2147483649", "18446744073709551616", "1e308", "0.5e",
                 "4294967296"]
WEIRD_VALUES = [1e12, 10 ** 12, -1, 0, float("nan"), float("inf"), float("-inf"), 1e308,
                -1e308, 10 ** 5000, "x", "", True, None, [], {}, [1, 2], [[1]], {"type": "x"},
                "$undefined", "1e12", [float("nan")] * 3, 3.4e38, 2 ** 63]
RANDOM_UNICODE = ["\u0000", "\ufffe", "\ud7ff", "\U0001f600", "\u202e", "\u00e9", "\u200b",
                  "\x7f", "\uffff", "\u0085", "\u2028"]


# --------------------------------------------------------------------------------------------
# Cases
# --------------------------------------------------------------------------------------------

def _read(rel: str) -> bytes:
    with open(os.path.join(REPO, rel), "rb") as f:
        return f.read()


def _case(kind: str, entry: str, files: dict, note: str, **extra) -> dict:
    """``files`` maps repo-relative paths to bytes (a mutated file, or a new one beside it);
    the worker mirrors the repository around them with symlinks."""
    return {"kind": kind, "entry": entry, "files": {k: v.decode("latin-1") for k, v in files.items()},
            "note": note, **extra}


def _byte_flip(rng: random.Random, data: bytes) -> bytes:
    b = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        if b:
            b[rng.randrange(len(b))] = rng.randrange(256)
    return bytes(b)


def _truncate(rng: random.Random, data: bytes) -> bytes:
    return data[:rng.randrange(max(1, len(data)))]


def _insert_unicode(rng: random.Random, data: bytes) -> bytes:
    text = data.decode("utf-8", errors="replace")
    for _ in range(rng.randint(1, 5)):
        i = rng.randrange(len(text) + 1)
        text = text[:i] + rng.choice(RANDOM_UNICODE) + text[i:]
    return text.encode("utf-8", errors="surrogatepass")


def _undecodable(rng: random.Random, data: bytes) -> bytes:
    i = rng.randrange(len(data) + 1)
    return data[:i] + bytes([rng.choice([0x80, 0xC3, 0xFF, 0xFE, 0xE2])]) * rng.randint(1, 3) + data[i:]


def _replace_number(rng: random.Random, data: bytes) -> bytes:
    import re

    text = data.decode("utf-8", errors="replace")
    nums = list(re.finditer(r"(?<![\w.])-?\d+(\.\d+)?(e-?\d+)?", text))
    if not nums:
        return data + b"1e400"
    for m in rng.sample(nums, min(len(nums), rng.randint(1, 3))):
        text = text[:m.start()] + rng.choice(WEIRD_NUMBERS) + text[m.end():]
        break  # offsets move: one replacement per pass
    return text.encode("utf-8")


def _text_mutation(rng: random.Random, data: bytes) -> tuple[bytes, str]:
    kind = rng.choice(["flip", "truncate", "unicode", "undecodable", "number", "number",
                       "number"])
    f = {"flip": _byte_flip, "truncate": _truncate, "unicode": _insert_unicode,
         "undecodable": _undecodable, "number": _replace_number}[kind]
    return f(rng, data), kind


def _xml_cases(rng: random.Random, rel: str) -> dict:
    data = _read(rel)
    d = os.path.dirname(rel)
    pick = rng.random()
    if pick < 0.55:
        out, kind = _text_mutation(rng, data)
        return _case("scene", rel, {rel: out}, f"xml {kind}")
    text = data.decode("utf-8")
    body_at = text.index(">", text.index("<scene")) + 1
    head, tail = text[:body_at], text[body_at:]
    r = rng.random()
    if r < 0.12:  # deep nesting
        depth = rng.choice([200, 5000, 100000])
        inner = "<bsdf type=\"twosided\">" * depth + "</bsdf>" * depth
        return _case("scene", rel, {rel: (head + inner + tail).encode()}, f"xml nesting {depth}")
    if r < 0.24:  # self include / circular include
        inc = os.path.join(d, "other.xml")
        a = head + "<include filename=\"" + os.path.basename(rel) + "\"/>" + tail
        if rng.random() < 0.5:
            return _case("scene", rel, {rel: a.encode()}, "xml self include")
        b = "<scene version=\"3.0.0\"><include filename=\"" + os.path.basename(rel) + "\"/></scene>"
        a = head + "<include filename=\"other.xml\"/>" + tail
        return _case("scene", rel, {rel: a.encode(), inc: b.encode()}, "xml circular include")
    if r < 0.36:  # include bomb: each level includes the next k times
        k, levels = rng.choice([(10, 9), (4, 14), (100, 4)])
        files = {}
        for lv in range(levels):
            nxt = f"bomb{lv + 1}.xml"
            inner = (f"<include filename=\"{nxt}\"/>" * k if lv + 1 < levels else
                     "<bsdf type=\"diffuse\"/>")
            files[os.path.join(d, f"bomb{lv}.xml")] = (
                f"<scene version=\"3.0.0\">{inner}</scene>").encode()
        files[rel] = (head + "<include filename=\"bomb0.xml\"/>" + tail).encode()
        return _case("scene", rel, files, f"xml include bomb {k}^{levels}")
    if r < 0.48:  # an encoding declaration
        enc = rng.choice(["klingon-8", "utf-7", "utf-16", "latin-1", "ebcdic", "x" * 300])
        body = text.split("?>", 1)[1] if text.lstrip().startswith("<?xml") else text
        return _case("scene", rel, {rel: (f"<?xml version=\"1.0\" encoding=\"{enc}\"?>" + body)
                                    .encode()}, f"xml encoding {enc[:20]}")
    if r < 0.6:  # absurd defaults through -D
        name = rng.choice(["spp", "res", "max_depth", "resx", "resy"])
        return _case("scene", rel, {}, f"define {name}", defines={name: rng.choice(
            ["1000000000000", "-5", "nan", "9" * 5000, "1e12", "0", "2147483648"])})
    if r < 0.75:  # entity expansion (billion laughs)
        ents = "".join(f"<!ENTITY e{i} \"{'&e%d;' % (i - 1) * 10 if i else 'lol'}\">"
                       for i in range(10))
        doc = (f"<?xml version=\"1.0\"?><!DOCTYPE scene [{ents}]>"
               f"<scene version=\"3.0.0\"><string name=\"x\" value=\"&e9;\"/></scene>")
        return _case("scene", rel, {rel: doc.encode()}, "xml billion laughs")
    # attribute values replaced by weird numbers across the file
    import re

    attrs = list(re.finditer(r'value="([^"]*)"', text))
    if not attrs:
        return _case("scene", rel, {rel: data}, "xml unchanged")
    m = rng.choice(attrs)
    val = rng.choice(WEIRD_NUMBERS + ["1e12, 1e12, 1e12", "nan, 0, 0", "3e38, 3e38, 3e38",
                                      "-3e38 3e38 1", "a, b", "1 2", "#zzzzzz", "$", "$$x"])
    return _case("scene", rel, {rel: (text[:m.start(1)] + val + text[m.end(1):]).encode()},
                 f"xml value {val[:20]}")


EVIL_SHADER = (b"import os\nopen(os.environ['DIFFRENDER_FUZZ_MARKER'], 'w').write('ran')\n"
               b"KIND = 'bsdf'\nPARAMETERS = {}\n")


def _shader_consent_case(rng: random.Random, rel: str) -> dict:
    """A scene naming a shader file that is not trusted: loading it must refuse before the
    file runs (the file writes a marker when imported)."""
    d = os.path.dirname(rel)
    where, ref = rng.choice([
        (os.path.join(d, "evil.py"), "evil.py"),
        (os.path.join(d, "sub", "evil.py"), "./sub/evil.py"),
        ("evil_root/evil.py", os.path.relpath("evil_root/evil.py", d)),  # ../.. outside
        ("evil_root/evil.py", "@ROOT@/evil_root/evil.py"),  # absolute
    ])
    text = _read(rel).decode("utf-8")
    body_at = text.index(">", text.index("<scene")) + 1
    tag = rng.choice(["bsdf", "texture"])
    inner = (f'<bsdf type="shader"><string name="filename" value="{ref}"/></bsdf>' if tag == "bsdf"
             else f'<bsdf type="diffuse"><texture type="shader" name="reflectance"><string '
                  f'name="filename" value="{ref}"/></texture></bsdf>')
    xml = text[:body_at] + f'<shape type="sphere">{inner}</shape>' + text[body_at:]
    return _case("scene", rel, {rel: xml.encode(), where: EVIL_SHADER},
                 f"shader consent {tag} {ref[:30]}")


def _set_random_leaf(rng: random.Random, obj, value):
    """Replace one random leaf (or key) of a JSON-like object by ``value``; returns a path."""
    path = []
    cur = obj
    while True:
        if isinstance(cur, dict) and cur:
            k = rng.choice(list(cur))
            path.append(str(k))
            if not isinstance(cur[k], (dict, list)) or not cur[k] or rng.random() < 0.3:
                cur[k] = value
                return ".".join(path)
            cur = cur[k]
        elif isinstance(cur, list) and cur:
            i = rng.randrange(len(cur))
            path.append(str(i))
            if not isinstance(cur[i], (dict, list)) or not cur[i] or rng.random() < 0.3:
                cur[i] = value
                return ".".join(path)
            cur = cur[i]
        else:
            return ".".join(path)


_dict_forms: dict[str, dict] = {}


def _dict_form(rel: str) -> dict:
    """The scene's dict form (as written by ``write_scene`` to JSON), cached."""
    if rel not in _dict_forms:
        import tempfile

        from diffrender.scene import load_scene, write_scene

        scene = load_scene(os.path.join(REPO, rel), allow_shaders=True)  # bundled: trusted
        with tempfile.TemporaryDirectory() as tmp:
            out = os.path.join(tmp, "scene.json")
            write_scene(scene, out)
            with open(out) as f:
                _dict_forms[rel] = json.load(f)
    return json.loads(json.dumps(_dict_forms[rel]))


def _dump(obj, fmt: str) -> bytes:
    if fmt == "json":
        return json.dumps(obj, allow_nan=True).encode()
    import yaml

    return yaml.safe_dump(obj, sort_keys=False).encode()


def _structured_cases(rng: random.Random, kind: str, rel: str, obj, fmt: str) -> dict:
    """Mutations of a JSON/YAML document (scene dict form, config, pipeline) at ``rel``."""
    base = os.path.splitext(rel)[0] + "." + fmt
    r = rng.random()
    if r < 0.35:
        out, what = _text_mutation(rng, _dump(obj, fmt))
        return _case(kind, base, {base: out}, f"{fmt} {what}")
    if r < 0.75:
        value = rng.choice(WEIRD_VALUES)
        big = isinstance(value, int) and abs(value) > 10 ** 100
        where = _set_random_leaf(rng, obj, "@@big@@" if big else value)
        data = _dump(obj, fmt)
        if big:  # json / yaml cannot write a 5000-digit integer themselves
            data = data.replace(b"'@@big@@'", b"9" * 5000).replace(b'"@@big@@"', b"9" * 5000)
            data = data.replace(b"@@big@@", b"9" * 5000)
        shown = "5000 digits" if big else str(value)[:20]
        return _case(kind, base, {base: data}, f"{fmt} {where} = {shown}")
    if r < 0.87:
        depth = rng.choice([500, 3000, 100000])
        if fmt == "json":
            text = "[" * depth + "]" * depth if rng.random() < 0.5 else \
                '{"a":' * depth + "1" + "}" * depth
        else:
            text = "[" * depth + "]" * depth if rng.random() < 0.5 else \
                "".join("  " * i + "a:\n" for i in range(min(depth, 3000))) + "  " * 3000 + "1\n"
        if kind == "scene" and rng.random() < 0.5:
            k = min(depth, 5000)
            nested = '{"type": "twosided", "bsdf": ' * k + '{"type": "diffuse"}' + "}" * k
            obj2 = obj if isinstance(obj, dict) else {}
            text = json.dumps({**obj2, "deep": "@@"}).replace('"@@"', nested)
        return _case(kind, base, {base: text.encode()}, f"{fmt} nesting {depth}")
    if r < 0.94 and fmt == "yaml":  # alias cycle / alias bomb
        if rng.random() < 0.5:
            text = "a: &a [*a]\n" if kind != "scene" else "type: scene\nx: &a {type: diffuse, b: *a}\n"
        else:
            text = "a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n"
            for i in range(1, 9):
                text += f"{chr(97 + i)}: &{chr(97 + i)} [" + ", ".join(
                    [f"*{chr(96 + i)}"] * 9) + "]\n"
            if kind == "scene":
                text = "type: scene\nbsdf: {type: diffuse, reflectance: {type: rgb, value: [1,1,1]}}\n" + text
        return _case(kind, base, {base: text.encode()}, "yaml alias cycle/bomb")
    # wrong top-level type
    value = rng.choice([[1, 2], "text", 5, None, [{"type": "scene"}], {"type": None}])
    return _case(kind, base, {base: _dump(value, fmt)}, f"{fmt} top-level {value!r}"[:60])


def _mesh_case(rng: random.Random) -> dict:
    rel = rng.choice(MESHES)
    data = _read(rel)
    ext = os.path.splitext(rel)[1]
    r = rng.random()
    if r < 0.7:
        out, what = _text_mutation(rng, data)
    elif r < 0.8:
        out, what = b"", "empty"
    elif r < 0.9 and ext == ".ply":
        out, what = data.replace(b"element vertex ", b"element vertex 99999999999"), "ply count"
    else:
        n = rng.choice([1, 3])
        out = b"".join(b"v 3e38 3e38 3e38\n" for _ in range(3)) + b"f 1 2 3\n" if ext == ".obj" \
            else data
        what = f"overflow {n}"
    d = os.path.dirname(rel)
    scene = os.path.join(d, "fuzz_mesh_scene.xml")
    xml = (f"<scene version=\"3.0.0\"><shape type=\"{ext[1:]}\"><string name=\"filename\" "
           f"value=\"{os.path.basename(rel)}\"/></shape></scene>")
    return _case("scene", scene, {rel: out, scene: xml.encode()}, f"mesh {ext} {what}")


def _image_case(rng: random.Random) -> dict:
    rel = rng.choice(IMAGES)
    data = _read(rel)
    r = rng.random()
    if r < 0.5:
        out, what = _byte_flip(rng, data), "flip"
    elif r < 0.75:
        out, what = _truncate(rng, data), "truncate"
    else:  # a header that claims a huge image
        import struct

        if data[:8] == b"\x89PNG\r\n\x1a\n":
            out = data[:16] + struct.pack(">II", 100000, 100000) + data[24:]
        else:
            out = data
            i = data.find(b"dataWindow")
            if i >= 0:
                j = data.index(b"\x00", i + 11) + 1 + 4 + 4  # name, type, size
                out = data[:j + 8] + struct.pack("<ii", 10 ** 6, 10 ** 6) + data[j + 16:]
        what = "huge header"
    if rng.random() < 0.5:
        return _case("image", rel, {rel: out}, f"image {what}")
    d = os.path.dirname(rel)
    scene = os.path.join(d, "fuzz_texture_scene.xml")
    xml = (f"<scene version=\"3.0.0\"><shape type=\"rectangle\"><bsdf type=\"diffuse\">"
           f"<texture type=\"bitmap\" name=\"reflectance\"><string name=\"filename\" "
           f"value=\"{os.path.basename(rel)}\"/></texture></bsdf></shape></scene>")
    return _case("scene", scene, {rel: out, scene: xml.encode()}, f"texture {what}")


def _api_case(rng: random.Random) -> dict:
    what = rng.choice(["param", "param", "param", "cyclic", "deep_dict", "define", "dict_value",
                       "source"])
    value = rng.choice(["nan", "inf", "-inf", "str", "none", "huge", "shape", "obj", "complex"])
    return _case("api", rng.choice(SCENES), {}, f"api {what} {value}", api=what, value=value,
                 seed=rng.randrange(1 << 30))


def generate(n: int, seed: int = 0) -> list[dict]:
    """``n`` cases, the same for the same ``(n, seed)`` prefix-wise: case ``i`` depends only on
    ``seed`` and ``i``."""
    cases = []
    for i in range(n):
        rng = random.Random(seed * 1_000_003 + i)
        r = rng.random()
        if i % 150 == 149:
            rel = rng.choice(SCENES[:7])
            c = _xml_cases(rng, rel)
            c["kind"] = "cli"
        elif r < 0.03:
            c = _shader_consent_case(rng, rng.choice(SCENES))
        elif r < 0.30:
            c = _xml_cases(rng, rng.choice(SCENES))
        elif r < 0.45:
            rel = rng.choice(SCENES)
            c = _structured_cases(rng, "scene", rel, _dict_form(rel), rng.choice(["json", "yaml"]))
        elif r < 0.55:
            c = _mesh_case(rng)
        elif r < 0.63:
            c = _image_case(rng)
        elif r < 0.75:
            import yaml

            rel = rng.choice(CONFIGS)
            c = _structured_cases(rng, "config", rel, yaml.safe_load(_read(rel)),
                                  rng.choice(["yaml", "json"]))
        elif r < 0.87:
            import yaml

            rel = rng.choice(PIPELINES)
            c = _structured_cases(rng, "pipeline", rel, yaml.safe_load(_read(rel)),
                                  rng.choice(["yaml", "json"]))
        else:
            c = _api_case(rng)
        c["id"] = i
        cases.append(c)
    return cases


# --------------------------------------------------------------------------------------------
# Worker: runs cases in this process
# --------------------------------------------------------------------------------------------

def _materialise(case: dict, root: str) -> str:
    """Write the case's files under ``root`` and mirror the rest of the repository's
    directories on their path with symlinks; returns the entry file's path."""
    files = {k: v.encode("latin-1") for k, v in case["files"].items()}
    real_dirs = {""}
    for rel in list(files) + [case["entry"]]:
        d = os.path.dirname(rel)
        while d:
            real_dirs.add(d)
            d = os.path.dirname(d)
    for d in sorted(real_dirs):
        os.makedirs(os.path.join(root, d), exist_ok=True)
        src = os.path.join(REPO, d)
        if not os.path.isdir(src):
            continue
        for name in os.listdir(src):
            rel = os.path.join(d, name) if d else name
            if rel in real_dirs or rel in files or name.startswith("."):
                continue
            dst = os.path.join(root, rel)
            if not os.path.lexists(dst):
                os.symlink(os.path.join(src, name), dst)
    for rel, data in files.items():
        data = data.replace(b"@ROOT@", root.encode())
        path = os.path.join(root, rel)
        if os.path.islink(path):
            os.unlink(path)
        with open(path, "wb") as f:
            f.write(data)
    return os.path.join(root, case["entry"])


def _finite_tree(x) -> bool:
    import numpy as np

    if isinstance(x, dict):
        return all(_finite_tree(v) for v in x.values())
    if isinstance(x, (list, tuple)):
        return all(_finite_tree(v) for v in x)
    if isinstance(x, (bool, str)) or x is None:
        return True
    if isinstance(x, (int, float, np.ndarray, np.generic)):
        a = np.asarray(x)
        return a.dtype.kind not in "fc" or bool(np.all(np.isfinite(a)))
    return True


def _scene_finite(scene) -> bool:
    import numpy as np

    params = scene.parameters()
    return all(bool(np.all(np.isfinite(np.asarray(params[k], np.float64)))) for k in params)


def _api(case: dict, path: str):
    import numpy as np

    import diffrender

    rng = random.Random(case["seed"])
    v = {"nan": float("nan"), "inf": float("inf"), "-inf": -float("inf"), "str": "red",
         "none": None, "huge": 10 ** 400, "shape": np.zeros((7, 5)), "obj": object(),
         "complex": 1 + 2j}[case["value"]]
    what = case["api"]
    if what == "param":
        scene = diffrender.load_scene(path)
        params = diffrender.traverse(scene)
        name = rng.choice(sorted(params))
        params[name] = v
        return scene
    if what == "cyclic":
        d = {"type": "scene", "b": {"type": "diffuse"}}
        d["b"]["reflectance"] = d["b"]
        return diffrender.load_scene(d)
    if what == "deep_dict":
        d = 0.5
        for _ in range(rng.choice([2000, 50000])):
            d = {"type": "twosided", "bsdf": d}
        return diffrender.load_scene({"type": "scene", "b": d})
    if what == "define":
        return diffrender.load_scene(path, spp=v if case["value"] != "huge" else 10 ** 12)
    if what == "source":  # not a path nor a dict
        return diffrender.load_scene(v if case["value"] != "str" else path + "\0")
    d = {"type": "scene", "s": {"type": "sphere", "radius": v},
         "sensor": {"type": "perspective", "film": {"type": "hdrfilm", "width": v}}}
    return diffrender.load_scene(d)


def _run_case(case: dict, root: str) -> dict:
    import warnings

    from diffrender.errors import DiffrenderError

    path = _materialise(case, root)
    kind = case["kind"]
    if kind == "selftest":  # the harness's own test: what a broken reader would do
        action = case["action"]
        if action == "hang":
            time.sleep(3600)
        elif action == "crash":
            os.abort()
        elif action == "nan":
            return {"outcome": "ok"} if _finite_tree([float("nan")]) else \
                {"outcome": "bad", "why": "non-finite output"}
        try:
            raise ValueError("a reader's internal error")
        except ValueError as exc:
            return {"outcome": "bad", "why": type(exc).__name__, "message": str(exc)}
    if kind == "cli":
        proc = subprocess.run([sys.executable, "-m", "diffrender", "info", path],
                              capture_output=True, text=True, timeout=CASE_TIMEOUT_S, cwd=root,
                              env={**os.environ, "PYTHONPATH": REPO})
        err = proc.stderr.strip()
        if proc.returncode == 0:
            return {"outcome": "ok"}
        lines = [ln for ln in err.splitlines() if ln.strip() and "Warning" not in ln]
        if proc.returncode == 1 and len(lines) == 1 and lines[0].startswith("diffrender: error:"):
            return {"outcome": "error", "message": lines[0]}
        return {"outcome": "bad", "why": f"exit {proc.returncode}", "message": err[-500:]}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            if kind == "scene":
                from diffrender.scene.loader import load_scene

                out = load_scene(path, **case.get("defines", {}))
                finite = _scene_finite(out)
            elif kind == "config":
                from diffrender.inverse.config import load_config

                out = load_config(path)
                finite = _finite_tree(out.model_dump())
            elif kind == "pipeline":
                from diffrender.filters.pipeline import Pipeline

                out = Pipeline.load(path)
                finite = _finite_tree(out.to_config()) if hasattr(out, "to_config") else True
            elif kind == "image":
                from diffrender.image import read_image

                out = read_image(path)
                finite = _finite_tree(out)
            else:
                out = _api(case, path)
                finite = _scene_finite(out)
            result = {"outcome": "ok"} if finite else {"outcome": "bad", "why": "non-finite output"}
        except DiffrenderError as exc:
            msg = str(exc)
            names = {os.path.basename(p) for p in case["files"]} | {os.path.basename(path),
                                                                   "<dict>"}
            if "\n" in msg or not msg.strip():
                result = {"outcome": "bad", "why": "multi-line message", "message": msg[:500]}
            elif kind != "api" and not any(n in msg for n in names):
                result = {"outcome": "bad", "why": "message names no file", "message": msg[:300]}
            else:
                result = {"outcome": "error", "message": msg[:300]}
        except BaseException as exc:  # noqa: BLE001 - what the fuzz looks for
            import traceback

            tb = traceback.extract_tb(exc.__traceback__)
            at = f"{tb[-1].filename}:{tb[-1].lineno}" if tb else ""
            result = {"outcome": "bad", "why": type(exc).__name__,
                      "message": f"{str(exc)[:300]} at {at}"}
    leaked = [str(w.message)[:200] for w in caught
              if issubclass(w.category, RuntimeWarning) and "diffrender" not in w.category.__module__]
    if leaked and result["outcome"] != "bad":
        result = {"outcome": "bad", "why": "warning leaked", "message": leaked[0]}
    return result


def worker(workdir: str) -> None:
    import resource
    import shutil

    os.environ.setdefault("TI_SKIP_VERSION_CHECK", "ON")
    # the bundled shaders are trusted; a shader anywhere else must not run without consent
    os.environ["DIFFRENDER_SHADER_PATH"] = os.path.join(REPO, "shaders")
    marker = os.environ["DIFFRENDER_FUZZ_MARKER"] = os.path.join(workdir, "shader-ran")
    resource.setrlimit(resource.RLIMIT_AS, (WORKER_MEMORY_BYTES, WORKER_MEMORY_BYTES))
    out = os.fdopen(os.dup(1), "w")  # results; anything printed by libraries goes to stderr
    os.dup2(2, 1)
    for line in sys.stdin:
        case = json.loads(line)
        root = os.path.join(workdir, f"case{case['id']}")
        t0 = time.perf_counter()
        result = _run_case(case, root)
        if os.path.exists(marker):
            os.unlink(marker)
            result = {"outcome": "bad", "why": "code executed without consent"}
        result.update(id=case["id"], note=case["note"], kind=case["kind"],
                      seconds=round(time.perf_counter() - t0, 3))
        shutil.rmtree(root, ignore_errors=True)
        print(json.dumps(result), file=out, flush=True)


# --------------------------------------------------------------------------------------------
# Parent
# --------------------------------------------------------------------------------------------

def run(cases: list[dict], workdir: str, timeout: float = CASE_TIMEOUT_S) -> list[dict]:
    """Outcomes of ``cases`` in order (one worker process at a time, restarted after a hang or
    a crash)."""
    import select

    results: list[dict] = []
    todo = list(cases)
    env = {**os.environ, "PYTHONPATH": REPO + os.pathsep + os.environ.get("PYTHONPATH", ""),
           "PYTHONWARNINGS": "ignore::DeprecationWarning"}
    while todo:
        proc = subprocess.Popen([sys.executable, "-m", "tests.helpers.fuzz", workdir], cwd=REPO,
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, env=env)
        stderr_chunks = []
        startup = WORKER_STARTUP_S  # a new worker imports its modules first
        try:
            while todo:
                case = todo[0]
                proc.stdin.write(json.dumps(case) + "\n")
                proc.stdin.flush()
                deadline = time.monotonic() + timeout + startup
                startup = 0.0
                line = ""
                while time.monotonic() < deadline:
                    ready, _, _ = select.select([proc.stdout, proc.stderr], [], [], 0.5)
                    if proc.stderr in ready:
                        chunk = os.read(proc.stderr.fileno(), 65536).decode(errors="replace")
                        stderr_chunks.append(chunk)
                    if proc.stdout in ready:
                        line = proc.stdout.readline()
                        break
                    if proc.poll() is not None:
                        break
                todo.pop(0)
                if line:
                    results.append(json.loads(line))
                    continue
                if proc.poll() is None and proc.stdout in ready:
                    # end of file on stdout: the worker is exiting (its exit status can lag its
                    # closed pipes by a moment), not hanging
                    try:
                        proc.wait(timeout=EXIT_WAIT_S)
                    except subprocess.TimeoutExpired:
                        pass
                if proc.poll() is None:
                    results.append({"id": case["id"], "note": case["note"], "kind": case["kind"],
                                    "outcome": "bad", "why": "hang"})
                else:
                    results.append({"id": case["id"], "note": case["note"], "kind": case["kind"],
                                    "outcome": "bad", "why": f"crash (exit {proc.returncode})",
                                    "message": "".join(stderr_chunks)[-300:]})
                break
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
    return results


def summarise(results: list[dict]) -> dict:
    out: dict[str, int] = {}
    for r in results:
        key = r["outcome"] if r["outcome"] != "bad" else "bad: " + r["why"]
        out[key] = out.get(key, 0) + 1
    return out


if __name__ == "__main__":
    worker(sys.argv[1])
