"""Limits on what an input may ask for, checked while reading it, before anything large is
allocated (issue #19): a scene, mesh, texture, config or pipeline beyond them is refused with a
one-line error naming the file and the value, instead of a memory blow-up, a hang or an engine
allocation error. Each is far above what a real scene of this renderer uses.
"""
from __future__ import annotations

# Films and sampling (checked by the scene loader on every sensor)
MAX_FILM_SIDE = 1 << 16          # pixels along one side of a film
MAX_FILM_PIXELS = 1 << 27        # width x height (134 M pixels: 1.6 GB of float32 RGB)
MAX_SPP = 1 << 20                # samples per pixel of a sampler (progressive passes)
MAX_PATH_DEPTH = 1 << 10         # an integrator's max_depth / rr_depth (-1 = unbounded)

# Meshes and images
MAX_MESH_ELEMENTS = 1 << 27      # vertices or faces of one mesh file (PLY header counts)
MAX_MESH_FILE_BYTES = 1 << 32    # size of one OBJ / PLY file (read whole)
MAX_IMAGE_PIXELS = 1 << 27       # width x height of an image / texture file (read from its header)
MAX_IMAGE_SIDE = 1 << 17         # pixels along one side of an image file
MAX_VOLUME_VALUES = 1 << 28      # values (voxels x channels) of a grid volume file (.vol)

# Structure of scene files
MAX_NESTING = 64                 # nesting depth of XML elements / dict and list levels
MAX_INCLUDED_FILES = 1000        # <include> elements expanded in one scene, all levels together
MAX_SCENE_ELEMENTS = 1_000_000   # XML elements of a scene with its includes expanded
MAX_DOCUMENT_VALUES = 2_000_000   # values in a JSON / YAML document (YAML aliases expanded)

# Numbers: the renderer works in float32
FLOAT32_MAX = 3.4028234663852886e38
