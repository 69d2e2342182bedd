"""Memory traffic and addressing of one inference, after Lemaire et al. 2022 (arXiv 2210.13107).

The per-op figures of the other profiles leave data movement out, yet at 45 nm a 32-bit read
from a 32 KiB SRAM (20 pJ) costs 200 times a 32-bit add (0.1 pJ) (Horowitz, ISSCC 2014). This
module counts, per layer, the word accesses of the three memories Lemaire et al. model and
prices each by the size of the memory it hits (linear between the profile's 8 KiB, 32 KiB and
1 MiB figures, from 0 at size 0, flat above 1 MiB):

* **parameters**: weights (and biases) read for every use;
* **in/out**: spikes read from and written to each layer's FIFO (``spike_fifo_words`` long),
  dense inputs read from and outputs written to a buffer the size of the whole tensor;
* **potentials**: membrane potentials read and written, in a memory of one layer's neurons.

The definitions are those of spikingjelly 2.0.0's ``estimate_lemaire_energy`` (checked
line by line against ``op_counter/analytical_energy.py``; tests/test_lemaire.py compares the two
on the same network), applied to the simulator's counts. Per conv with binary (spike) input, for
``E`` input events (after nearest upsampling, counted per converging source):

* synaptic ops ``E * C_out * ceil(k/s)**2`` (no border clipping), address adds
  ``E * C_out * k**2``, address MACs ``2 E`` (locating each spike's first output);
* reads: ``E`` spikes from the FIFO, ``E * C_out * k**2`` weights; the same number of potential
  reads and writes in a memory of the conv's output size.

Per conv with graded (non-binary) input, run densely as Lemaire's ANN layers, with ``N_in``,
``N_out`` the input and output elements of all ``T`` steps: ``N_out * C_in * k**2`` MACs (and as
many input and weight reads; the input buffer holds ``N_in`` words), address adds
``N_in + N_out + C_out * k**2``; in a network without neurons (an ANN) its ``N_out`` outputs are
written to a buffer of that size. A bias costs one add and one read per output element.

Per neuron layer: every neuron's potential is read and written every step; each spike costs one
add and one FIFO write; a LIF neuron's leak costs one MAC per update.

A profile with ``execution = "dense"`` runs the SNN as an ANN accelerator would (our extension;
spikingjelly has no such mode): every conv by the dense rule, and each neuron layer writes its
whole output map every step (``T * neurons`` words into a buffer of that size) instead of its
spikes to a FIFO. Our integrator output (a
neuron that never fires) is charged like a neuron without spikes; spikingjelly leaves it out.
Upsampling costs nothing itself: the events it copies are counted at the conv that reads them.

Written by hand because spikingjelly's estimator runs a torch model, while the energy stage must
price the exported graph from the event simulator's counts, on every profile with memory figures.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass

from ..errors import ConfigError
from ..simulate.counts import LayerCounts
from .profile import HardwareProfile

KIB = 1024.0

COMPONENTS = ("params", "inout", "potential")


@dataclass
class MemoryTraffic:
    """Counts (per inference) of the Lemaire dataflow and the memory energy they cost, in pJ.

    ``synops``, ``bias_adds``, ``spikes`` are adds; ``macs`` (dense, graded-input convs) and
    ``leak_macs`` (LIF) are MACs; ``acc_addr`` / ``mac_addr`` are the addressing adds / MACs;
    the ``*_words`` are memory accesses and ``*_pj`` their energies.
    """

    synops: float = 0.0
    bias_adds: float = 0.0
    spikes: float = 0.0
    macs: float = 0.0
    leak_macs: float = 0.0
    acc_addr: float = 0.0
    mac_addr: float = 0.0
    read_in_words: float = 0.0
    write_out_words: float = 0.0
    read_params_words: float = 0.0
    read_potential_words: float = 0.0
    write_potential_words: float = 0.0
    params_pj: float = 0.0
    inout_pj: float = 0.0
    potential_pj: float = 0.0

    @property
    def memory_pj(self) -> float:
        return self.params_pj + self.inout_pj + self.potential_pj

    def to_dict(self) -> dict:
        return {**asdict(self), "memory_pj": self.memory_pj}


def sram_word_pj(capacity_bytes: float, profile: HardwareProfile) -> float:
    """Energy of one word access to an SRAM of ``capacity_bytes``: piecewise linear through
    (0, 0), (8 KiB, e_8k), (32 KiB, e_32k), (1 MiB, e_1m), constant above 1 MiB (Lemaire et al.)."""
    points = ((0.0, 0.0), (8 * KIB, profile.e_sram_8kib_pj), (32 * KIB, profile.e_sram_32kib_pj),
              (KIB * KIB, profile.e_sram_1mib_pj))
    x = min(max(capacity_bytes, 0.0), points[-1][0])
    for (x0, y0), (x1, y1) in zip(points, points[1:], strict=False):
        if x <= x1:
            return y0 + (y1 - y0) / (x1 - x0) * (x - x0)
    return points[-1][1]  # pragma: no cover - x is clamped to the last point


class _Traffic:
    """Accumulates accesses (words into a memory of ``capacity`` words) into a MemoryTraffic."""

    def __init__(self, profile: HardwareProfile):
        self.profile = profile
        self.word_bytes = profile.word_bits / 8
        self.t = MemoryTraffic()

    def access(self, kind: str, words: float, capacity_words: float) -> None:
        setattr(self.t, f"{kind}_words", getattr(self.t, f"{kind}_words") + words)
        component = ("inout" if kind in ("read_in", "write_out") else
                     "params" if kind == "read_params" else "potential")
        pj = words * sram_word_pj(capacity_words * self.word_bytes, self.profile)
        setattr(self.t, f"{component}_pj", getattr(self.t, f"{component}_pj") + pj)


def memory_traffic(layers: Iterable[LayerCounts], timesteps: int, samples: int,
                   profile: HardwareProfile) -> MemoryTraffic:
    """Lemaire-dataflow counts and memory energy per inference of ``layers`` on ``profile``.

    ``layers`` are simulator counts (totals over ``samples`` inferences of ``timesteps`` steps) or
    an ANN's conv layers (:func:`depthsnn.compare.ops.dense_macs`, ``samples = 1``). The network
    counts as spiking (dense conv outputs go to the next neuron, not to a buffer) when it has an
    ``if``/``lif`` layer.
    """
    if not profile.models_memory:
        raise ValueError(f"profile {profile.name} has no [memory] section")
    layers = list(layers)
    n = max(samples, 1)
    spiking = any(lc.op in ("if", "lif") for lc in layers)
    dense = profile.execution == "dense"
    fifo = profile.spike_fifo_words
    acc = _Traffic(profile)
    t = acc.t
    for lc in layers:
        if lc.op == "conv":
            if lc.kernel <= 0 or lc.stride <= 0 or lc.out_size <= 0:
                raise ConfigError(f"conv {lc.name}: counts without layer shapes (written by an older version?); "
                                  f"simulate again to price memory traffic on {profile.name}")
            k2 = lc.kernel * lc.kernel
            n_out = timesteps * lc.out_size
            if lc.bias:
                t.bias_adds += n_out
            bias_words = n_out if lc.bias else 0
            if lc.graded or dense:
                n_in = timesteps * lc.in_size
                macs = n_out * lc.fan_in
                t.macs += macs
                t.acc_addr += n_in + n_out + lc.c_out * k2
                acc.access("read_in", macs, n_in)
                acc.access("read_params", macs + bias_words, lc.weights)
                if not spiking:
                    acc.access("write_out", n_out, n_out)
            else:
                events = lc.input_events / n
                fanout = events * lc.c_out * k2
                t.synops += events * lc.c_out * math.ceil(lc.kernel / lc.stride) ** 2
                t.acc_addr += fanout
                t.mac_addr += 2 * events
                acc.access("read_in", events, fifo)
                acc.access("read_params", fanout + bias_words, lc.weights)
                acc.access("read_potential", fanout, lc.out_size)
                acc.access("write_potential", fanout, lc.out_size)
        elif lc.op in ("if", "lif", "integrator"):
            updates = lc.neuron_updates / n
            acc.access("read_potential", updates, lc.neurons)
            acc.access("write_potential", updates, lc.neurons)
            spikes = lc.spikes / n
            t.spikes += spikes
            if lc.op != "integrator":
                if dense:
                    acc.access("write_out", updates, updates)
                else:
                    acc.access("write_out", spikes, fifo)
            if lc.op == "lif":
                t.leak_macs += updates
    return t
