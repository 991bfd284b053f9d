"""The pool of device sets: Renderers of same-shaped scenes share fields and compiled kernels.

Taichi compiles a kernel for the fields (and the Python constants) it touches, and our kernels
are methods of the component objects. A Renderer therefore takes its component objects from the
pool: when a Renderer is garbage collected its objects (with their fields and compiled kernels)
go back to the pool, and the next Renderer whose scene has the same *key* (field sizes: size
classes of the geometry, counts of texture slots, BSDFs, emitters; the film's size class and filter;
the kernels' static configuration) re-runs their constructors in place, with
``engine.recycle_fields`` handing back the same fields. Nothing is recompiled.

The replay is checked: any field allocated differently, or (for classes not marked
``RECYCLE_SAFE``) any plain attribute (number, string, ``None``, tuple of them) that differs
from the previous owner's, discards the set and builds a fresh one, so a recycled kernel can
never see stale constants: components keep their compile-time configuration in plain
attributes, and their run-time state in lists or dicts.
"""
from __future__ import annotations

import gc
import weakref

from ..engine import on_reset, recycle_fields

PLAIN = (int, float, str, bool, type(None))
_PROXIES = (weakref.ProxyType, weakref.CallableProxyType)


class DeviceSet:
    """The component objects of one Renderer (``objs``: name -> object) and the field logs
    that let their constructors run again on the same fields (``logs``)."""

    def __init__(self, key, gen):
        self.key = key
        self.gen = gen
        self.objs: dict = {}
        self.logs: dict = {}


class Mismatch(Exception):
    """A recycled object allocated other fields or has another static configuration."""


def static_config(obj) -> dict:
    """The plain attributes of ``obj`` (numbers, strings, booleans, ``None`` and tuples of them):
    the static configuration that a compiled kernel may have baked in. Containers that are not
    tuples (lists, dicts) are state by convention, and are not compared."""
    return {k: v for k, v in vars(obj).items() if type(v) not in _PROXIES and (
        isinstance(v, PLAIN) or (isinstance(v, tuple) and all(isinstance(x, PLAIN) for x in v)))}


class DevicePool:
    """Free device sets by key, and how many sets of each key are in use."""

    def __init__(self):
        self.gen = 0
        self.free: dict = {}
        self.live: dict = {}

    def reset(self) -> None:
        """The engine was reset: every pooled field is gone."""
        self.gen += 1
        self.free.clear()
        self.live.clear()

    def acquire(self, key) -> DeviceSet:
        """A free set of ``key`` (a dropped Renderer's), or a new empty one."""
        free = self.free.get(key)
        if not free and self.live.get(key):
            gc.collect()  # a dropped Renderer of this key may be waiting in a reference cycle
            free = self.free.get(key)
        dset = free.pop() if free else DeviceSet(key, self.gen)
        self.live[key] = self.live.get(key, 0) + 1
        return dset

    def fresh(self, key) -> DeviceSet:
        """A new empty set of ``key`` (after a recycled one did not fit)."""
        self.live[key] = self.live.get(key, 0) + 1
        return DeviceSet(key, self.gen)

    def release(self, dset: DeviceSet) -> None:
        """``dset``'s Renderer is gone: its objects may serve the next Renderer of that key."""
        if dset.gen != self.gen:
            return  # the engine was reset: the fields are gone
        self.live[dset.key] = max(0, self.live.get(dset.key, 0) - 1)
        self.free.setdefault(dset.key, []).append(dset)

    def discard(self, dset: DeviceSet) -> None:
        """Drop ``dset`` (it failed while being built or recycled)."""
        if dset.gen == self.gen:
            self.live[dset.key] = max(0, self.live.get(dset.key, 0) - 1)


def make(dset: DeviceSet, name, cls, *args):
    """``cls(*args)``, re-using ``dset``'s object of that name (same fields) when it has one.

    Raises :class:`Mismatch` when the recycled object does not fit; ``dset`` no longer holds an
    object of that name then (its constructor ran half on other arguments)."""
    obj = dset.objs.get(name)
    if obj is None:
        with recycle_fields() as log:
            obj = cls(*args)
        dset.objs[name] = obj
    else:
        before = static_config(obj)
        with recycle_fields(dset.logs[name]) as log:
            try:
                obj.__init__(*args)
            except BaseException:
                dset.objs.pop(name, None)
                dset.logs.pop(name, None)
                raise
        if not log.complete() or (not getattr(cls, "RECYCLE_SAFE", False)
                                  and static_config(obj) != before):
            dset.objs.pop(name, None)
            dset.logs.pop(name, None)
            raise Mismatch(name)
    dset.logs[name] = log
    return obj


#: The process's pool (one per engine: an engine reset empties it).
POOL = DevicePool()
on_reset(POOL.reset)

__all__ = ["DeviceSet", "DevicePool", "Mismatch", "POOL", "make", "static_config"]
