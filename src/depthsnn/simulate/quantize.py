"""Fixed-point weights and membrane potentials, as a neuromorphic chip would store them.

:func:`quantize_graph` maps each conv's weights to signed integers ``q`` with one scale ``s``
per layer (``W ~ s * q``, ``|q| <= 2**(bits-1) - 1``), keeping the network in real units:
``params['weight']`` becomes ``s * q`` (so :class:`~depthsnn.export.executor.GraphExecutor`
runs the quantised network densely), ``params['weight_q']`` / ``params['weight_scale']`` hold
the integers and the scale the event simulator scatters with. Thresholds therefore stay
consistent without rescaling: in integer units a neuron fed by a layer of scale ``s`` has
threshold ``v_threshold / s`` (stored as ``threshold_int`` for reference).

Scheme ``symmetric per-layer``: ``s = max|W| / qmax``. Scheme ``power-of-two per-layer``:
``s = 2**ceil(log2(max|W| / qmax))`` - Loihi's 8-bit mantissa with a shared exponent; with it
every product and sum is an exact binary fraction, so float64 arithmetic on ``s * q`` *is*
integer arithmetic.

With ``state_bits`` every stateful node's potential is held as an integer multiple of its
input's unit (the product of the weight scales on the path from the last spiking layer or
the input events) and saturates at ``+-(2**(state_bits-1) - 1)`` units.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from ..errors import ConfigError
from ..export.graph import NEURON_OPS, STATEFUL_OPS, NetGraph

SCHEMES = ("symmetric per-layer", "power-of-two per-layer")


@dataclass(frozen=True)
class QuantConfig:
    """Fixed-point settings: ``weight_bits`` signed bits per weight (Loihi: 8), ``state_bits``
    bits of the membrane potential (None: not quantised), ``scheme`` (see module doc)."""

    weight_bits: int = 8
    state_bits: int | None = None
    scheme: str = "symmetric per-layer"

    def __post_init__(self) -> None:
        if not 2 <= self.weight_bits <= 32:
            raise ConfigError(f"weight_bits must be in 2..32, got {self.weight_bits}")
        if self.state_bits is not None and not 2 <= self.state_bits <= 32:
            raise ConfigError(f"state_bits must be in 2..32 or None, got {self.state_bits}")
        if self.scheme not in SCHEMES:
            raise ConfigError(f"quantisation scheme {self.scheme!r} unknown (known: {', '.join(SCHEMES)})")


def quantize_weights(w: np.ndarray, cfg: QuantConfig) -> tuple[np.ndarray, float]:
    """Integers ``q`` (int64) and scale ``s`` with ``w ~ s * q`` under ``cfg``."""
    qmax = 2 ** (cfg.weight_bits - 1) - 1
    m = float(np.abs(w).max())
    if m == 0.0:
        return np.zeros(w.shape, dtype=np.int64), 1.0
    s = m / qmax
    if cfg.scheme == "power-of-two per-layer":
        s = 2.0 ** math.ceil(math.log2(s))
    q = np.clip(np.rint(w.astype(np.float64) / s), -qmax, qmax).astype(np.int64)
    return q, s


def quantize_graph(graph: NetGraph, cfg: QuantConfig) -> NetGraph:
    """A copy of ``graph`` with per-layer fixed-point weights (and state quanta if ``cfg.state_bits``).

    Biases (absent in the spiking presets) are left in floating point.
    """
    g = graph.copy()
    unit: dict[str, float] = {}
    for n in g.nodes:
        if n.op == "input":
            unit[n.name] = 1.0  # event counts are integers
            continue
        u_in = min(unit[i] for i in n.inputs)
        if n.op == "conv":
            q, s = quantize_weights(n.params["weight"], cfg)
            n.params["weight_q"] = q
            n.params["weight_scale"] = s
            n.params["weight"] = (q * s).astype(np.float32)
            unit[n.name] = u_in * s
        elif n.op in STATEFUL_OPS:
            if cfg.state_bits is not None:
                n.params["state_quantum"] = u_in
                n.params["state_bits"] = cfg.state_bits
            if n.op in NEURON_OPS:
                n.params["threshold_int"] = n.params["v_threshold"] / u_in
            unit[n.name] = 1.0 if n.op in NEURON_OPS else u_in
        else:
            unit[n.name] = u_in
    g.metadata["quantization"] = asdict(cfg)
    return g
