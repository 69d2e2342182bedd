"""Third-party NIR readers: what each one computes on depthsnn's files, and reader dialects.

One module per reader (:mod:`.snntorch_dialect`, :mod:`.norse_dialect`), each declaring the
reader version it targets (``TARGET_VERSION``), its time step (``DT``), how it is loaded
(``LOAD``), what it does with every NIR node type (module docstring, read from the reader's
source) and the conventions of its dialect file ``<name>.<reader>.nir``. :mod:`.portability`
runs the installed readers on an exported file and on the dialects, and builds the table that
``depthsnn export`` prints and stores in ``manifest.json``.
"""

from .common import NotPortable, ReaderRun
from .portability import READERS, check_readers, format_table, reader_module, structural_notes

__all__ = ["READERS", "NotPortable", "ReaderRun", "check_readers", "format_table", "reader_module",
           "structural_notes"]
