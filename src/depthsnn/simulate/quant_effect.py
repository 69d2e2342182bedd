"""How much fixed-point weights and potentials change a network's spikes, output and depth error.

Kept apart from :mod:`.quantize` (which :mod:`.engine` imports to quantise a graph) so that the
engine depends on the quantiser and this comparison depends on both, with no import circle.
"""

from __future__ import annotations

import numpy as np

from ..export.graph import NetGraph, host_output
from .engine import EventSimulator
from .quantize import QuantConfig


def quantization_effect(graph: NetGraph, cfg: QuantConfig, x_seq: np.ndarray, target: np.ndarray | None = None,
                        mask: np.ndarray | None = None, dtype: type = np.float64) -> dict[str, float]:
    """Float vs fixed-point simulation of one input ``[T, C, H, W]``.

    Returns the fraction of mismatched spikes (over the float network's spikes), both firing
    rates, the largest output change relative to the float output's range, and - given the
    ground-truth ``target`` depth ``[H', W']`` (cropped from the top left of the output) and
    its valid ``mask`` - the mean depth error (MDE) of both and its change.
    """
    ref = EventSimulator(graph, dtype).run(x_seq, record_spikes=True)
    q = EventSimulator(graph, dtype, quantization=cfg).run(x_seq, record_spikes=True)
    bad = sum(int((ref.spikes[k] != q.spikes[k]).sum()) for k in ref.spikes)
    total = sum(int(s.sum()) for s in ref.spikes.values())
    scale = max(float(np.abs(ref.final).max()), 1e-30)
    out = {"spike_mismatch_fraction": bad / max(total, 1),
           "firing_rate_float": ref.counts.firing_rate(), "firing_rate_quant": q.counts.firing_rate(),
           "output_rel_change": float(np.abs(q.final - ref.final).max()) / scale}
    if target is not None:
        h, w = target.shape[-2:]
        valid = np.ones(target.shape, bool) if mask is None else np.asarray(mask, bool)
        mde = [float(np.abs(host_output(graph, r.final)[0, :h, :w] - target)[valid].mean()) for r in (ref, q)]
        out.update(mde_float=mde[0], mde_quant=mde[1], mde_change=mde[1] - mde[0])
    return out
