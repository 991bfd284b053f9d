"""Where a run's kernel compilation went, from a ``DIFFRENDER_COMPILE_LOG`` file.

    DIFFRENDER_COMPILE_LOG=compile.jsonl python3 -m pytest -n 2
    python3 benchmarks/compile_report.py compile.jsonl [--top 20]

Prints one JSON line per test file (compile seconds and wall seconds of its tests, in the pytest
processes), the most expensive tests, and the processes (pytest workers, CLI and docs
subprocesses, Ray workers: their compile seconds at exit), then a total line.
"""
from __future__ import annotations

import argparse
import collections
import json
import sys


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("log", help="the DIFFRENDER_COMPILE_LOG file")
    ap.add_argument("--top", type=int, default=20, help="rows per table (default 20)")
    a = ap.parse_args(argv)
    try:
        with open(a.log, encoding="utf-8") as f:
            rows = [json.loads(line) for line in f if line.strip()]
    except (OSError, json.JSONDecodeError) as e:
        print(f"compile_report: {a.log}: {e}", file=sys.stderr)
        return 2
    tests = [dict(r, test=r["test"].split("@", 1)[0]) for r in rows if "test" in r]  # xdist group
    procs = [r for r in rows if "pid" in r]
    by_file = collections.defaultdict(lambda: [0.0, 0.0, 0])
    for r in tests:
        f = by_file[r["test"].split("::", 1)[0]]
        f[0] += r["compile_s"]
        f[1] += r["wall_s"]
        f[2] += 1
    for name, (c, w, n) in sorted(by_file.items(), key=lambda kv: -kv[1][0])[:a.top]:
        print(json.dumps({"file": name, "tests": n, "compile_s": round(c, 1), "wall_s": round(w, 1)}))
    for r in sorted(tests, key=lambda r: -r["compile_s"])[:a.top]:
        print(json.dumps({"test": r["test"], "compile_s": r["compile_s"], "wall_s": r["wall_s"]}))
    for r in sorted(procs, key=lambda r: -r["compile_s"])[:a.top]:
        print(json.dumps({"process": r["argv"][:120], "compile_s": r["compile_s"], "cpu_s": r["cpu_s"]}))
    print(json.dumps({"total": {"tests": len(tests),
                                "test_compile_s": round(sum(r["compile_s"] for r in tests), 1),
                                "test_wall_s": round(sum(r["wall_s"] for r in tests), 1),
                                "processes": len(procs),
                                "process_compile_s": round(sum(r["compile_s"] for r in procs), 1)}}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
