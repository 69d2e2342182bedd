"""Vendor toolchains: our exported graphs converted into chip vendors' own formats and checked there.

Each converter builds the vendor's model from a :class:`~depthsnn.export.graph.NetGraph`, quantises
it as the chip requires (:mod:`depthsnn.simulate.quantize`) and verifies it against our simulator at
that precision, so this package sits above ``export``, ``simulate`` and ``hw_profiles``:

* :mod:`.akida`: BrainChip Akida (``akida`` 2.19, AKD1000), run in Akida's software backend.
* :mod:`.akida2`: the Akida 2.0 (IPv2) U-Net ``snn-akida2-*`` on IPv2 virtual devices.
* :mod:`.netx`: Intel Loihi 2 through lava-dl netx HDF5 (checked in lava-dl by ``make interop``).

:func:`export_with_vendors` is ``depthsnn export``: :func:`~depthsnn.export.api.export_checkpoint`
with the vendor formats (``akida``) plugged in.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def export_with_vendors(checkpoint: str | Path, out_dir: str | Path, formats: str | None = None,
                        **kwargs: Any) -> dict[str, Any]:
    """:func:`~depthsnn.export.api.export_checkpoint` that also writes the vendor formats
    (``akida``: :func:`.akida.export_akida`); same arguments, returns the manifest."""
    from ..export.api import export_checkpoint
    from .akida import export_akida
    from .akida2 import export_akida2

    return export_checkpoint(checkpoint, out_dir, formats, vendor_writers={"akida": export_akida, "akida2": export_akida2},
                             **kwargs)
