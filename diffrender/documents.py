"""Reading JSON / YAML documents (scenes in dict form, optimize configs, filter pipelines)
safely: UTF-8 text with the line of a bad byte, parser errors, nesting beyond the parsers,
huge integers, self-references and alias bombs all become one-line errors of the caller's
class (:class:`~diffrender.errors.SceneError`, :class:`~diffrender.errors.ConfigError`)
naming the file, checked before anything walks the document recursively (issue #19).
"""
from __future__ import annotations

import json

import yaml

from . import limits
from .errors import SceneError


def decode_text(data: bytes, display: str, error=SceneError) -> str:
    """UTF-8 text of a file (a UTF-8 BOM is dropped); bytes that are not UTF-8 are an error
    naming the line and column."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        col = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise error(f"the file is not UTF-8 text (byte 0x{data[exc.start]:02x} at column "
                    f"{col})", f"{display}:{line}") from None


def read_text(path: str, display: str, error=SceneError) -> str:
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as exc:
        raise error(f"cannot read the file ({exc.strerror})", display) from None
    return decode_text(data, display, error)


def parse_structured(text: str, display: str, fmt: str, error=SceneError, what: str = ""):
    """``text`` parsed as JSON or YAML (safe loader). Malformed text, nesting too deep for the
    parser and numbers Python refuses (a 5000-digit integer) are ``error``s naming the file."""
    if fmt == "json":
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise error(f"malformed {what}JSON: {exc.msg} (column {exc.colno})",
                        f"{display}:{exc.lineno}") from None
        except RecursionError:
            raise error(f"{what}JSON nested too deeply (more than {limits.MAX_NESTING} levels "
                        "are refused)", display) from None
        except ValueError as exc:  # int() limits of huge integers
            raise error(f"invalid {what}JSON: {str(exc).splitlines()[0][:120]}",
                        display) from None
    try:
        return yaml.safe_load(text)
    except RecursionError:
        raise error(f"{what}YAML nested too deeply (more than {limits.MAX_NESTING} levels are "
                    "refused)", display) from None
    except (ValueError, OverflowError) as exc:
        raise error(f"invalid {what}YAML: {str(exc).splitlines()[0][:120]}", display) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc).replace("\n", " ")
        if mark is not None:
            raise error(f"malformed {what}YAML: {problem} (column {mark.column + 1})",
                        f"{display}:{mark.line + 1}") from None
        raise error(f"malformed {what}YAML: {problem}", display) from None


def check_structure(data, display: str, error=SceneError) -> None:
    """Refuse a JSON / YAML / dict document that nests deeper than :data:`limits.MAX_NESTING`,
    refers to itself (a YAML alias cycle, a Python dict containing itself) or expands to more
    than :data:`limits.MAX_DOCUMENT_VALUES` values (YAML aliases of aliases), before anything
    walks it recursively."""
    count = 0
    stack = [(data, 0, "")]
    on_path: dict[int, int] = {}
    path_ids: list[int] = []
    while stack:
        x, depth, key = stack.pop()
        if x is None and depth < 0:  # end of a container
            on_path.pop(path_ids.pop(), None)
            continue
        count += 1
        if count > limits.MAX_DOCUMENT_VALUES:
            raise error(f"more than {limits.MAX_DOCUMENT_VALUES} values (YAML aliases that "
                        "expand to a huge document?)", display)
        if not isinstance(x, (dict, list, tuple)):
            continue
        where = f"{display}: {key}" if key else display
        if id(x) in on_path:
            raise error("the document contains itself (a circular reference)", where)
        if depth >= limits.MAX_NESTING:
            raise error(f"nested more than {limits.MAX_NESTING} levels deep", where)
        on_path[id(x)] = depth
        path_ids.append(id(x))
        stack.append((None, -1, ""))
        items = x.items() if isinstance(x, dict) else enumerate(x)
        for k, v in items:
            sub = f"{key}[{k}]" if isinstance(k, int) else (f"{key}.{k}" if key else str(k))
            stack.append((v, depth + 1, sub))
