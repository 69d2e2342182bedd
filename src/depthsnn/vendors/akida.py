"""Exported chain networks -> BrainChip Akida models (``akida`` 2.19.3, AKD1000 / IPv1 layers).

Targets ``akida`` 2.19.x (checked with 2.19.3: numpy its only dependency, a software backend and
virtual devices; design.md s.9). ``cnn2snn``/``quantizeml``, BrainChip's converters, need
TensorFlow/Keras models and TensorFlow 2.19, and they quantise ReLU CNNs, not IF neurons: so the
model is built here by hand, layer by layer, from our :class:`~depthsnn.export.graph.NetGraph`.

What maps to what (AKD1000, Akida's IPv1 layer set; probed on akida 2.19.3):

* ``input`` [C, H, W] -> ``akida.InputData((H, W, C), input_bits)``: integer event counts
  0..2**input_bits - 1 (Akida takes (H, W, C) order; counts above are clipped by the caller).
* ``conv`` (3x3, stride 1 or 2, padding 1, no bias) + ``if`` -> ``akida.Convolutional`` with
  ``weights_bits`` = 4 (integers -7..7), ``act_bits`` = 1 and one integer ``threshold`` per
  filter. Akida convolves (flips the kernel; torch cross-correlates), so weights are flipped and
  stored (kh, kw, C_in, C_out). Akida's ``Same`` padding equals torch's padding 1 on odd sizes
  only (for an even size with stride 2 Akida pads one row at the bottom/right only): the
  portable net's ``8m + 1`` input sizes make every stride-2 input odd.
* ``conv`` + ``integrator`` (the non-firing output) -> ``akida.Convolutional(activation=False)``:
  Akida returns the integer potential.
* Weights: our :func:`~depthsnn.simulate.quantize.quantize_graph` at 4 bits, power-of-two scale
  ``s`` per layer (``W = s * q``, ``|q| <= 7``), the same quantisation our simulator runs, so both
  sides compute the same integers. An Akida 1-bit activation fires when its integer potential is
  strictly above ``threshold`` (measured); ours fires when ``s * sum >= v_threshold`` (spikingjelly's
  ``>=``), i.e. ``sum >= v_threshold / s``: ``threshold = ceil(v_threshold / s) - 1``, exact since
  ``v_threshold / s`` is a product of a float32 and a power of two. The output is
  ``s_head * potential``.
* Time: Akida runs each input frame through a stateless network. One step of an IF neuron from
  rest (T = 1) is exactly that binary step function; with T > 1 bins our IF neurons carry
  membrane potential between bins and Akida does not, so the two networks are equal only for
  T = 1 (a model meant for Akida is trained with ``num_bins = 1``, or the caller sums the bins
  into one frame, which is a different network).

Only chains map: upsampling, converging edges (skips, SEW blocks), LIF neurons and graded
conv -> conv edges have no IPv1 layer, and :func:`~depthsnn.hw_profiles.structure.akida_structure` names each such node.
Akida's own mapper then places the model on a virtual device (``model.map(akida.AKD1000())``):
:func:`mapping_report` lists its sequences, passes and neural processors (NPs) per layer.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import ConfigError
from ..export.graph import NetGraph
from ..hw_profiles.structure import AKIDA_VERSION, akida_structure

WEIGHT_BITS = 4  # IPv1 Convolutional: 1, 2 or 4-bit weights
INPUT_BITS = 4  # InputData default: event counts 0..15
DEVICES = ("AKD1000",)  # IPv1 virtual devices the layers here map onto


def require_akida():
    """Import ``akida`` or raise ConfigError saying how to get it."""
    try:
        import akida
    except ImportError:
        raise ConfigError("the akida package is not installed (pip install 'akida==2.19.*', numpy its only "
                          "dependency)") from None
    if not akida.__version__.startswith(AKIDA_VERSION + "."):
        raise ConfigError(f"akida {akida.__version__} found, this converter targets akida {AKIDA_VERSION}.x")
    return akida


@dataclass
class AkidaModel:
    """An Akida model and what it needs to be compared with our graph.

    ``qgraph``: our graph quantised as Akida stores it (run it in the simulator for the
    comparison); ``scales``: weight scale per conv layer; ``thresholds``: Akida thresholds per
    spiking layer (integer, per filter; all equal); ``out_scale``: multiply Akida's output by it.
    """

    model: Any
    qgraph: NetGraph
    input_bits: int
    weight_bits: int
    scales: list[float] = field(default_factory=list)
    thresholds: list[int] = field(default_factory=list)
    out_scale: float = 1.0
    layer_names: list[str] = field(default_factory=list)  # our neuron/integrator node per Akida layer


def to_akida(graph: NetGraph, input_bits: int = INPUT_BITS, weight_bits: int = WEIGHT_BITS) -> AkidaModel:
    """Build the Akida model of chain ``graph`` (see the module doc); ConfigError naming what does not map."""
    from ..simulate.quantize import QuantConfig, quantize_graph

    require_akida()
    problems = akida_structure(graph)
    if problems:
        raise ConfigError(f"the graph does not map onto Akida (IPv1): {problems[0]}"
                          + (f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""))
    if weight_bits not in (1, 2, 4) or input_bits not in (1, 2, 4):
        raise ConfigError(f"Akida IPv1 takes 1, 2 or 4-bit weights and inputs, got {weight_bits} and {input_bits}")
    q = quantize_graph(graph, QuantConfig(weight_bits=max(weight_bits, 2), scheme="power-of-two per-layer"))
    return _build(q, input_bits, weight_bits)


def _build(q: NetGraph, input_bits: int, weight_bits: int, layers: int | None = None) -> AkidaModel:
    """The Akida model of quantised chain ``q``, truncated after ``layers`` conv layers if given
    (a truncated model's last layer keeps its activation: it returns spikes)."""
    akida = require_akida()
    c, h, w = q.input.shape
    model = akida.Model()
    model.add(akida.InputData(input_shape=(h, w, c), input_bits=input_bits, name="input"))
    res = AkidaModel(model, q, input_bits, weight_bits)
    for conv in q.of_op("conv")[:layers]:
        act = q.consumers(conv.name)[0]
        wq = conv.params["weight_q"]  # [C_out, C_in, kh, kw]
        spiking = act.op == "if"
        layer = akida.Convolutional(kernel_size=(3, 3), filters=int(wq.shape[0]), name=conv.name,
                                    kernel_stride=(conv.params["stride"],) * 2, weights_bits=weight_bits,
                                    activation=spiking, act_bits=1, padding=akida.Padding.Same)
        model.add(layer)
        # Akida convolves (torch cross-correlates) and stores (kh, kw, C_in, C_out).
        layer.set_variable("weights", np.ascontiguousarray(wq[:, :, ::-1, ::-1].transpose(2, 3, 1, 0)).astype(np.int8))
        s = float(conv.params["weight_scale"])
        res.scales.append(s)
        res.layer_names.append(act.name)
        if spiking:
            th = math.ceil(float(np.float32(act.params["threshold_sj"])) / s) - 1
            layer.set_variable("threshold", np.full(wq.shape[0], th, np.int32))
            layer.set_variable("act_step", np.ones(wq.shape[0], np.float32))
            res.thresholds.append(th)
        else:
            res.out_scale = s
    return res


def run_akida(am: AkidaModel, frames: np.ndarray, upto: int | None = None) -> np.ndarray:
    """Akida's software backend on ``frames`` [B, C, H, W] (integer counts within ``input_bits``):
    the output in our units, [B, 1, h, w]; with ``upto = k`` the spikes of Akida layer k instead
    (a copy of the model truncated after it), [B, C_k, h_k, w_k]."""
    x = np.asarray(frames)
    top = 2**am.input_bits - 1
    if x.min() < 0 or x.max() > top or not np.array_equal(x, np.rint(x)):
        raise ConfigError(f"Akida input must be integer counts 0..{top} (input_bits={am.input_bits})")
    model = am.model if upto is None else _build(am.qgraph, am.input_bits, am.weight_bits, upto + 1).model
    y = model.forward(np.ascontiguousarray(x.transpose(0, 2, 3, 1)).astype(np.uint8))
    y = np.asarray(y).transpose(0, 3, 1, 2)
    return y.astype(np.float64) * (am.out_scale if upto is None else 1.0)


def simulate_quantized(am: AkidaModel, frames: np.ndarray):
    """Our event-driven simulator on the same quantised graph, one step (T = 1) per frame:
    (output [B, 1, h, w], spikes per neuron node [B, C, h, w])."""
    from ..simulate.engine import EventSimulator

    sim = EventSimulator(am.qgraph, np.float64)
    res = sim.run(np.asarray(frames, np.float64)[None], record_spikes=True)  # [1, B, C, H, W]
    return res.outputs[-1], {k: v[-1] for k, v in res.spikes.items()}


def compare_with_simulator(am: AkidaModel, frames: np.ndarray) -> dict[str, Any]:
    """Akida vs our simulator at Akida's precision on ``frames`` [B, C, H, W]: spike mismatches per
    layer (each Akida prefix model vs our node), output max |difference|, and the counts."""
    ours_out, ours_spk = simulate_quantized(am, frames)
    layers = []
    for k, name in enumerate(am.layer_names[:-1]):
        theirs = run_akida(am, frames, upto=k) > 0
        mine = ours_spk[name].astype(bool)
        layers.append({"layer": name, "spikes_ours": int(mine.sum()), "spikes_akida": int(theirs.sum()),
                       "mismatches": int((mine != theirs).sum()), "neurons": int(mine.size)})
    out = run_akida(am, frames)
    diff = float(np.abs(out - ours_out).max())
    return {"frames": int(len(frames)), "layers": layers, "spike_mismatches": sum(x["mismatches"] for x in layers),
            "output_max_abs_diff": diff, "output_max_abs": float(np.abs(ours_out).max())}


def map_model(model, device: str, devices: tuple[str, ...], **map_kwargs) -> dict[str, Any]:
    """Map an ``akida.Model`` onto the virtual ``device`` (one of ``devices``) with Akida's own
    mapper and walk what it placed: sequences, passes, NPs per layer. Shared by the IPv1 chains and
    the IPv2 U-Net. ConfigError with Akida's first line when it does not map."""
    akida = require_akida()
    if device not in devices:
        raise ConfigError(f"Akida device {device!r} unknown (known: {', '.join(devices)})")
    dev = getattr(akida, device)()
    try:
        model.map(dev, **map_kwargs)
    except Exception as exc:  # Akida raises RuntimeError/ValueError with the layer and its reason
        raise ConfigError(f"Akida's mapper rejects the model on {device}: {str(exc).splitlines()[0]}") from None
    sequences, per_layer, total = [], {}, 0
    for seq in model.sequences:
        passes = []
        for p in seq.passes:
            names = []
            for layer in p.layers:
                names.append(layer.name)
                nps = list(layer.mapping.nps) if layer.mapping is not None else []
                per_layer[layer.name] = {"nps": len(nps), "np_types": sorted({str(n.type).split(".")[-1] for n in nps})}
                total += len(nps)
            passes.append(names)
        sequences.append({"name": seq.name, "backend": str(seq.backend).split(".")[-1], "passes": passes})
    return {"akida_version": akida.__version__, "device": device, "ip_version": str(dev.version),
            "nps_available": len(dev.mesh.nps), "nps_used": total, "sequences": sequences,
            "layers": per_layer, "all_on_hardware": all(s["backend"] == "Hardware" for s in sequences),
            "program_bytes": sum(len(s.program) for s in model.sequences if s.program is not None)}


def mapping_report(am: AkidaModel, device: str = "AKD1000") -> dict[str, Any]:
    """Map the model onto an Akida virtual device with Akida's own mapper; sequences, passes and
    NPs per layer. Raises ConfigError with Akida's message when it does not map."""
    return map_model(am.model, device, DEVICES)


def random_counts(shape: tuple[int, ...], input_bits: int, samples: int, seed: int = 0,
                  density: float = 0.05) -> np.ndarray:
    """Random event-count frames [samples, C, H, W]: a ``density`` share of pixels holds 1..2**input_bits - 1."""
    rng = np.random.default_rng(seed)
    counts = rng.integers(1, 2**input_bits, size=(samples, *shape))
    return ((rng.random((samples, *shape)) < density) * counts).astype(np.float64)


def export_akida(graph: NetGraph, path, num_bins: int, *, verify: bool = True, device: str = "AKD1000",
                 samples: int = 2, seed: int = 0) -> dict[str, Any]:
    """Write the Akida model of ``graph`` to ``path`` (``.fbz``, Akida's own format, mapped onto
    ``device``) and return its manifest entry: file hash, quantisation, Akida's mapping beside our
    per-toolchain structure verdicts and, with ``verify``, the comparison with our simulator on
    random event counts (DataError if they differ)."""
    import hashlib
    from pathlib import Path

    from ..atomic import atomic_path
    from ..errors import DataError

    path = Path(path)
    am = to_akida(graph)
    comparison = None
    if verify:
        x = random_counts(graph.input.shape, am.input_bits, samples, seed)
        comparison = compare_with_simulator(am, x)
        if comparison["spike_mismatches"] or comparison["output_max_abs_diff"]:
            raise DataError(f"Akida differs from the simulator at Akida's precision: {comparison['spike_mismatches']} "
                            f"spikes, output diff {comparison['output_max_abs_diff']:g}", path)
    mapping = mapping_report(am, device)
    from ..hw_profiles.structure import toolchain_verdicts

    verdicts = {t: v.to_dict() for t, v in toolchain_verdicts(graph).items()}
    with atomic_path(path) as tmp:
        am.model.save(str(tmp))
    c, h, w = graph.input.shape
    return {"format": "akida", "path": path.name, "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
            "size_bytes": path.stat().st_size, "akida_version": mapping["akida_version"],
            "input_shape": [h, w, c], "input_bits": am.input_bits, "weight_bits": am.weight_bits,
            "weight_scales": am.scales, "thresholds": am.thresholds, "out_scale": am.out_scale,
            "output_shape": [int(v) for v in graph.output.shape[1:]] + [1],
            "host_step": graph.metadata.get("host_upsample"), "mapping": mapping, "verification": comparison,
            "structure_verdicts": verdicts,
            "equal_to_nir_graph": num_bins == 1,
            "note": ("input: integer event counts (H, W, C), one frame; output: integer potential x out_scale = "
                     "the coarse depth map. Akida layers are stateless: equal to the NIR graph (quantised to "
                     f"{am.weight_bits}-bit power-of-two per-layer weights) for T = 1; this model uses T = {num_bins}"
                     + ("" if num_bins == 1 else ", so Akida computes a different (stateless per bin) network"))}
