"""Errors that reach the user: each names the file, the element and what was expected."""
from __future__ import annotations


class DiffrenderError(Exception):
    """Base class: the CLI prints these as one line, with no traceback."""


class EngineError(DiffrenderError):
    """The Taichi engine could not do what was asked (device, distribution)."""


class SceneError(DiffrenderError):
    """A scene file or dict is invalid.

    ``where`` is ``file:line`` for XML, ``file: key.path`` for JSON/YAML/dicts.
    """

    def __init__(self, message: str, where: str | None = None):
        self.where = where
        super().__init__(f"{where}: {message}" if where else message)


class ShaderConsentError(SceneError):
    """A scene names a shader file (a program) that the user has not allowed to run."""


class ImageError(DiffrenderError):
    """An image could not be read or written."""


class ConfigError(DiffrenderError):
    """An optimize / tune / pipeline configuration is invalid."""

    def __init__(self, message: str, where: str | None = None):
        self.where = where
        super().__init__(f"{where}: {message}" if where else message)


class GradientError(DiffrenderError):
    """A parameter cannot be differentiated (yet), or a gradient request is malformed."""
