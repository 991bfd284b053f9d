"""Deterministic seeds for tests: Python's ``hash`` of a string changes from one process to the
next (``PYTHONHASHSEED``), so a test seeded by it is not reproducible."""
import zlib


def stable_seed(label: str) -> int:
    """A 32-bit seed that depends only on ``label``."""
    return zlib.crc32(label.encode("utf-8"))


__all__ = ["stable_seed"]
