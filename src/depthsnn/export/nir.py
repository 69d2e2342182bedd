"""``depthsnn.export.nir``: the NIR entry points under the name the docs use.

``load(path)`` reads a NIR file written by depthsnn into a :class:`GraphExecutor` (torch);
the implementation lives in :mod:`depthsnn.export.nir_io` (absolute ``import nir`` inside the
package still refers to the NIR library).
"""

from .nir_io import from_nir, load, read_nir, to_nir, write_nir

__all__ = ["from_nir", "load", "read_nir", "to_nir", "write_nir"]
