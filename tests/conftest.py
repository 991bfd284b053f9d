"""Suite-wide settings: how the tests are split over pytest-xdist workers.

The README's test command (and .ci/run) runs ``pytest -n 2``; pyproject.toml adds ``--dist
loadgroup --no-loadscope-reorder``. On an xdist worker every test gets
an ``xdist_group``, so a group runs on one worker, in the file's order, with its module-scoped
fixtures (scenes, compiled kernels, a Ray instance) built once:

- a test module is one group (as ``--dist loadfile``);
- ``tests/test_docs.py`` is one group per documentation page (a page's blocks share a scratch
  folder and run in order), except the pages that start Ray, which share one group with
  ``tests/inverse/test_distributed.py``: one Ray instance on the machine at a time;
- the groups listed in :data:`FIRST` are sent out first (longest first, so that neither worker
  is left with a long group at the end); the others follow in collection order.

Without ``-n`` (one process) nothing here changes the order or the tests.
"""
from __future__ import annotations

import json
import os
import time

import pytest

from diffrender import engine

DOCS = "tests/test_docs.py"
#: the tests that start a Ray instance (docs pages with Ray commands, the distributed tests)
RAY_GROUP = "ray"
RAY_MEMBERS = ("tests/inverse/test_distributed.py", "docs/cli.md", "docs/interop.md")
#: the longest groups (wall time of a cold one-process run on the shared 2-core machine), sent to
#: the workers first, in this order; a stale list only costs balance, never correctness
FIRST = (
    RAY_GROUP,                                  # ~450 s
    "tests/core/test_materials_reference.py",   # ~115 s
    "tests/test_cli.py",
    "tests/core/test_roughplastic_coat.py",
    "tests/core/test_material_gradients.py",
    "tests/core/test_reference_mitsuba.py",
    "tests/inverse/test_silhouette.py",
    "tests/core/test_shaders.py",
    "tests/core/test_principled.py",
    "tests/core/test_edges.py",
    "docs/benchmarks.md",
    "tests/core/test_geometry_interior.py",
    "README.md",
    "tests/core/test_edges_indirect.py",
    "tests/core/test_beckmann_gradients.py",
    "tests/test_torch.py",
    "tests/core/test_camera_gradients.py",      # ~45 s
)


def _group(item) -> str:
    path = item.nodeid.split("::", 1)[0]
    if path == DOCS and "[" in item.nodeid:
        block = item.nodeid.split("[", 1)[1].rstrip("]")
        path = block.rsplit(":", 1)[0]  # the page of the block
    return RAY_GROUP if path in RAY_MEMBERS else path


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook, which reads the group marks
def pytest_collection_modifyitems(config, items):
    if not hasattr(config, "workerinput"):  # not an xdist worker
        return
    groups = {}
    for item in items:
        g = _group(item)
        item.add_marker(pytest.mark.xdist_group(g))
        groups.setdefault(g, []).append(item)
    rank = {g: i for i, g in enumerate(FIRST)}
    order = sorted(groups, key=lambda g: rank.get(g, len(FIRST)))  # stable: collection order
    items[:] = [it for g in order for it in groups[g]]


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    """With ``DIFFRENDER_COMPILE_LOG`` set, append each test's kernel-compile seconds (this
    process only; subprocesses log their own at exit, see ``engine.compile_seconds``)."""
    path = os.environ.get(engine.COMPILE_LOG_ENV)
    if not path:
        yield
        return
    before = engine.compile_seconds()
    t0 = time.perf_counter()
    yield
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps({"test": item.nodeid, "compile_s": round(engine.compile_seconds() - before, 3),
                            "wall_s": round(time.perf_counter() - t0, 3),
                            "worker": os.environ.get("PYTEST_XDIST_WORKER", "main"),
                            "group": _group(item), "end": round(time.time(), 3)}) + "\n")
