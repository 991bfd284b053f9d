"""Every command and snippet in README.md and docs/*.md runs as written.

Fenced blocks are extracted and run in a scratch folder that mirrors the repository's top level
(copies of scenes/, examples/, shaders/, benchmarks/, docs/; links to the package and tests), so
relative paths work and outputs land in the scratch folder, never in the repository:

- ``bash`` / ``sh`` blocks: each line (comments stripped) is a shell command that must exit 0;
  ``diffrender`` runs this checkout (``python -m diffrender``), and the ``pip install`` steps of
  a ``&&`` chain are left out (the test runs this checkout; it never installs anything);
- ``python`` blocks: run as one script;
- ``yaml`` / ``json`` / ``xml`` blocks: must parse (an XML block may be a fragment of a scene);
- blocks without a language (signatures, sample output) are text.

An HTML comment right before a block steers it (it does not show when rendered):

- ``<!-- docs-test: skip: REASON -->`` — not run (installing the package, the test command);
- ``<!-- docs-test: setup: COMMAND -->`` — a shell command run first (to make the files the
  snippet needs; several allowed, one per comment);
- ``<!-- docs-test: needs: MODULE -->`` — skipped with the reason when MODULE cannot be
  imported (an optional peer such as mitsuba).

A page's blocks run in order in one scratch folder, so a snippet may use what an earlier one of
the same page wrote.
"""
from __future__ import annotations

import importlib.util
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml
from xml.etree import ElementTree

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
#: copied into the scratch folder (a snippet may write next to its inputs, e.g. a plot into
#: docs/): the repository is never written by this test
COPIED = ("scenes", "examples", "shaders", "benchmarks", "docs")
#: linked (read only by the snippets)
LINKED = ("tests", "diffrender", "pyproject.toml", "README.md")
DIRECTIVE = re.compile(r"<!--\s*docs-test:\s*(\w+)\s*(?::\s*(.*?))?\s*-->")
FENCE = re.compile(r"^```(\w*)\s*$")
COMMAND_TIMEOUT_S = 900


@dataclass
class Block:
    page: Path
    line: int
    lang: str
    text: str
    directives: list = field(default_factory=list)

    @property
    def id(self):
        return f"{self.page.relative_to(ROOT)}:{self.line}"

    def has(self, name):
        return [arg for d, arg in self.directives if d == name]


def blocks_of(page: Path) -> list[Block]:
    out, pending, cur = [], [], None
    for i, raw in enumerate(page.read_text(encoding="utf-8").splitlines(), start=1):
        if cur is None:
            m = DIRECTIVE.search(raw)
            if m:
                pending.append((m.group(1), m.group(2) or ""))
                continue
            f = FENCE.match(raw)
            if f:
                cur = Block(page, i, f.group(1).lower(), "", pending)
                pending = []
            elif raw.strip():
                pending = []
        elif raw.startswith("```"):
            out.append(cur)
            cur = None
        else:
            cur.text += raw + "\n"
    return out


ALL_BLOCKS = [b for p in PAGES for b in blocks_of(p)]


def _scratch(tmp_root: Path, page: Path) -> Path:
    d = tmp_root / page.stem
    if not d.exists():
        d.mkdir(parents=True)
        for name in COPIED:
            if (ROOT / name).exists():
                shutil.copytree(ROOT / name, d / name,
                                ignore=shutil.ignore_patterns("__pycache__", ".cache"))
        for name in LINKED:
            if (ROOT / name).exists():
                (d / name).symlink_to(ROOT / name)
    return d


def _env(bin_dir: Path):
    env = dict(os.environ)
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONPATH"] = f"{ROOT}{os.pathsep}{env.get('PYTHONPATH', '')}"
    env.setdefault("DIFFRENDER_DEVICE", "cpu")
    return env


@pytest.fixture(scope="module")
def shim(tmp_path_factory):
    """A ``diffrender`` on PATH that runs this checkout."""
    d = tmp_path_factory.mktemp("bin")
    exe = d / "diffrender"
    exe.write_text(f"#!/bin/sh\nexec {shlex.quote(sys.executable)} -m diffrender \"$@\"\n")
    exe.chmod(0o755)
    return d


@pytest.fixture(scope="module")
def scratch_root(tmp_path_factory):
    return tmp_path_factory.mktemp("docs")


def _run(cmd: str, cwd: Path, env, what: str):
    r = subprocess.run(cmd, shell=True, cwd=cwd, env=env, capture_output=True, text=True,
                       timeout=COMMAND_TIMEOUT_S, executable="/bin/bash")
    assert r.returncode == 0, (f"{what}: `{cmd}` exited {r.returncode}\n"
                               f"stdout: {r.stdout[-2000:]}\nstderr: {r.stderr[-4000:]}")


def _commands(text: str) -> list[str]:
    cmds, acc = [], ""
    for line in text.splitlines():
        line = re.sub(r"\s+#.*$", "", line) if not line.lstrip().startswith("#") else ""
        if line.rstrip().endswith("\\"):
            acc += line.rstrip()[:-1] + " "
            continue
        line = (acc + line).strip()
        acc = ""
        steps = [p.strip() for p in line.split("&&")]
        steps = [p for p in steps if p and not re.match(r"^(python3? -m )?pip install\b", p)]
        if steps:
            cmds.append(" && ".join(steps))
    return cmds


@pytest.mark.parametrize("block", ALL_BLOCKS, ids=lambda b: b.id)
def test_doc_block_runs(block, shim, scratch_root):
    skip = block.has("skip")
    if skip:
        pytest.skip(skip[0])
    for mod in block.has("needs"):
        if importlib.util.find_spec(mod) is None:
            pytest.skip(f"needs {mod}")
    if block.lang in ("", "text", "console"):
        return  # text: signatures, sample output
    if block.lang in ("yaml", "yml"):
        yaml.safe_load(block.text)
        return
    if block.lang == "json":
        json.loads(block.text)
        return
    if block.lang == "xml":
        ElementTree.fromstring(f"<fragment>{block.text}</fragment>")
        return
    cwd = _scratch(scratch_root, block.page)
    env = _env(shim)
    for cmd in block.has("setup"):
        _run(cmd, cwd, env, f"{block.id} setup")
    if block.lang in ("bash", "sh", "shell"):
        for cmd in _commands(block.text):
            _run(cmd, cwd, env, block.id)
    elif block.lang == "python":
        script = cwd / f"snippet_{block.line}.py"
        script.write_text(block.text)
        _run(f"{shlex.quote(sys.executable)} {script.name}", cwd, env, block.id)
    else:
        pytest.fail(f"{block.id}: unknown block language {block.lang!r} (add a docs-test directive)")


def test_the_extractor_sees_directives_and_blocks(tmp_path):
    page = tmp_path / "p.md"
    page.write_text("text\n<!-- docs-test: skip: installs -->\n```bash\npip install .\n```\n\n"
                    "<!-- docs-test: setup: touch a -->\n<!-- docs-test: needs: numpy -->\n"
                    "```python\nprint(1)\n```\nplain\n```\nsig\n```\n")
    b = blocks_of(page)
    assert [(x.lang, x.line) for x in b] == [("bash", 3), ("python", 9), ("", 13)]
    assert b[0].has("skip") == ["installs"] and b[1].has("setup") == ["touch a"]
    assert b[1].has("needs") == ["numpy"] and b[2].directives == []
    assert _commands("a \\\n  b  # c\n# d\n\ne") == ["a    b", "e"]
    assert _commands("pip install . && diffrender info x\npython3 -m pip install -e .\n") == \
        ["diffrender info x"]
