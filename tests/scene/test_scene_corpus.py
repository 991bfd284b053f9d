"""Every stored corpus scene (``tests/data/corpus``: public Mitsuba 3 scenes written by others,
see SOURCES.md) either loads unchanged or fails with a one-line SceneError that names the file,
the line and the plugin (or element) at fault."""
import json
import os
import re
import warnings

import pytest

from diffrender.errors import SceneError
from diffrender.scene import load_scene

CORPUS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "data",
                      "corpus")
with open(os.path.join(CORPUS, "corpus.json"), encoding="utf-8") as _f:
    MANIFEST = json.load(_f)["scenes"]
STORED = [e for e in MANIFEST if e["stored"]]
WHERE_RE = re.compile(r"^(?P<file>[^\n]+?\.xml):(?P<line>\d+): (?P<msg>.+)$")


def _path(entry):
    return os.path.join(CORPUS, entry["repo"].split("/")[1], entry["path"])


def test_manifest_lists_every_stored_file_with_its_source():
    assert len(MANIFEST) >= 30 and len(STORED) >= 20
    for e in MANIFEST:
        assert re.fullmatch(r"[0-9a-f]{40}", e["commit"]) and e["licence"] and e["repo"]
    for e in STORED:
        assert os.path.isfile(_path(e)), e["path"]
        assert os.path.isfile(os.path.join(CORPUS, e["repo"].split("/")[1], "LICENSE"))
    stored_xml = {os.path.relpath(os.path.join(d, f), CORPUS)
                  for d, _, fs in os.walk(CORPUS) for f in fs if f.endswith(".xml")}
    assert stored_xml == {os.path.relpath(_path(e), CORPUS) for e in STORED}
    sources = open(os.path.join(CORPUS, "SOURCES.md"), encoding="utf-8").read()
    for e in MANIFEST:
        assert e["path"] in sources


@pytest.mark.parametrize("entry", STORED, ids=[e["path"].rsplit("/", 1)[-1] for e in STORED])
def test_corpus_scene_loads_or_fails_in_one_line(entry):
    path = _path(entry)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            load_scene(path)
        return
    except SceneError as exc:
        msg = str(exc)
    assert "\n" not in msg
    m = WHERE_RE.match(msg)
    assert m, msg
    with open(m["file"], encoding="utf-8", errors="replace") as f:
        text = f.read()
    assert 1 <= int(m["line"]) <= text.count("\n") + 1, msg
    # names a plugin of that file: a type="..." value quoted, or an element <tag>
    types = set(re.findall(r'type="([^"]+)"', text))
    tags = set(re.findall(r"<([A-Za-z_]+)", text))
    assert any(f"'{t}'" in m["msg"] for t in types) or any(
        f"<{t}>" in m["msg"] for t in tags), msg
