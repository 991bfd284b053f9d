"""The parameter tables of ``docs/scene-format.md``, generated from the plugin specs.

Each table sits between ``<!-- plugin-table CATEGORY -->`` and ``<!-- /plugin-table -->``::

    python3 -m diffrender.scene.plugins.doc_tables            # check: exit 1 if out of date
    python3 -m diffrender.scene.plugins.doc_tables --write    # regenerate the tables
"""
from __future__ import annotations

import argparse
import os
import re
import sys

from ..spec import spec_table
from .registry import CATEGORIES, PLUGINS

DOC = os.path.join(os.path.dirname(__file__), os.pardir, os.pardir, os.pardir, "docs",
                   "scene-format.md")
_REGION = re.compile(r"(<!-- plugin-table (\w+) -->\n)(.*?)(<!-- /plugin-table -->)", re.S)


def table(category: str) -> str:
    """The Markdown table of one category's plugins (in registry order)."""
    return spec_table(PLUGINS[category].values())


def regenerate(text: str) -> str:
    """``text`` with every plugin-table region replaced by the registry's table."""
    def sub(m):
        cat = m.group(2)
        if cat not in CATEGORIES and cat not in PLUGINS:
            raise ValueError(f"unknown plugin category '{cat}' in a plugin-table marker")
        return f"{m.group(1)}{table(cat)}\n{m.group(4)}"

    return _REGION.sub(sub, text)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python3 -m diffrender.scene.plugins.doc_tables",
                                 description=__doc__.splitlines()[0])
    ap.add_argument("--write", action="store_true", help="rewrite the tables in place")
    ap.add_argument("--doc", default=os.path.normpath(DOC), help="the Markdown file")
    a = ap.parse_args(argv)
    with open(a.doc, encoding="utf-8") as f:
        text = f.read()
    new = regenerate(text)
    if a.write:
        if new != text:
            with open(a.doc, "w", encoding="utf-8") as f:
                f.write(new)
        return 0
    if new != text:
        print(f"diffrender: error: the plugin tables of {a.doc} are out of date; run "
              "python3 -m diffrender.scene.plugins.doc_tables --write", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
