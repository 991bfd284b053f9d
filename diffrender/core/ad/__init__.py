"""Derivatives of renders (the differentiable rooms of the renderer).

- ``replay.py``: :class:`DiffIntegrator`, path replay for parameters that do not move
  visibility (materials, textures, emitted radiance): reverse and forward mode;
- ``geometry.py``: :class:`GeoReplay`, the interior term of geometry, camera and point-light
  derivatives (the replay with differentiable vertices, camera and light positions);
- edge sampling, the boundary term of those: ``topology.py`` (mesh edges, silhouettes),
  ``samplers.py`` (primary, point-shadow and secondary edge samples), ``contraction.py``
  (samples x adjoint image or tangents);
- ``derivatives.py``: :class:`EdgeOptions`, :class:`GeometryDerivatives` (one Renderer's edge
  sampler and geometry replay) and the mapping to the scene's parameters.

Both replays run the forward integrator's bounce loop (``core/path.py``) with their recorders;
the camera model and its Jacobian are ``core/camera.py``'s; the film's adjoint is
``core/film.py``'s, beside its forward gather.
"""
from ...errors import GradientError
from .derivatives import EdgeOptions, GeometryDerivatives, geom_param
from .geometry import GeoReplay
from .replay import UNBOUNDED_DEPTH, DiffIntegrator, replay_depth

__all__ = ["DiffIntegrator", "EdgeOptions", "GeoReplay", "GeometryDerivatives", "GradientError",
           "UNBOUNDED_DEPTH", "geom_param", "replay_depth"]
