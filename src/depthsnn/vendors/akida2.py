"""The Akida 2.0 (IPv2) U-Net (``snn-akida2-*``) -> a BrainChip Akida model (``akida`` 2.19.3).

:class:`~depthsnn.models.akida2.Akida2Core` is trained with Akida IPv2's integer arithmetic
(8-bit weights per-layer power-of-two scale, 8-bit shifted biases, 8-bit activations re-quantised
by a rounding right shift, saturating skip ``Add``, 16-bit readout), so the model built here holds
exactly the integers the torch model computes with, layer for layer, in its plan's order:

* ``input`` -> ``akida.InputData((H, W, C), input_bits=8)`` (int8: event counts 0..127; the T
  bins summed into one frame, as the core does);
* ``conv`` -> ``akida.Conv2D`` 3x3, stride 1 or 2, ``Padding.Same``, ReLU, ``output_bits=8``;
  Akida convolves (torch cross-correlates): weights flipped and stored (kh, kw, C_in, C_out);
  ``bias`` int8 with ``bias_shift`` per channel; ``output_scales`` 1 and ``output_shift = -k``
  (the right shift ``k`` from the accumulator's scale to the activation's, rounded half up:
  measured on Akida's software backend);
* ``transpose`` -> ``akida.Conv2DTranspose`` 4x4 (stride 2, "same": torch's ``padding=1``),
  weights stored (kh, kw, C_in, C_out) without flipping (measured);
* ``add`` -> ``akida.Add`` of the transposed conv and the encoder output on the same scale
  (``a_shift = b_shift = output_shift = 0``; Akida saturates the sum at 127 as the core does);
* ``head`` -> ``akida.Conv2D`` without activation, ``output_bits=28`` (IPv2 takes 8 or 28), then ``akida.Dequantizer``
  with the head's accumulator scale ``2**(ACT_EXP + weight exponent)``: Akida's float output is the normalised log depth the core predicts.

Akida's mapper places the model on a virtual IPv2 device (``SixNodesIPv2`` by default,
``hw_only=True``: one hardware sequence, no software layer): :func:`mapping_report_v2` lists
sequences, passes and NPs per layer. :func:`compare` runs Akida's software backend (the mapping
does not change what it computes) and our torch model in float64 on the same frames, and compares
the output and, with ``layers=True``, every layer's integers (a copy of the Akida model truncated
after it).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import ConfigError, DataError
from ..models.akida2 import ACT_EXP, HEAD_BITS, INPUT_MAX, Akida2Core
from .akida import map_model, require_akida

INPUT_BITS = 8  # int8 input (Akida's InputData is signed above 4 bits): counts 0..127
DEVICES_V2 = ("SixNodesIPv2", "TwelveNodesIPv2", "FourNodesIPv2", "TwoNodesIPv2")  # akida's IPv2 virtual devices
DEFAULT_DEVICE = "SixNodesIPv2"


@dataclass
class Akida2Model:
    """An Akida model built from an :class:`Akida2Core` for input (H, W), and the exponents that
    turn each layer's integers into our units (``value = integer * 2**exps[name]``)."""

    model: Any
    core: Akida2Core
    input_hw: tuple[int, int]
    exps: dict[str, int] = field(default_factory=dict)
    quant: dict[str, dict[str, Any]] = field(default_factory=dict)


def _conv_layer(akida, step, conv, q):
    """The Akida layer of conv ``conv`` (QConv) with its integers ``q`` (QuantParams) set."""
    cout = conv.out_channels
    if conv.transpose:
        layer = akida.Conv2DTranspose(filters=cout, kernel_size=conv.weight.shape[-1], output_bits=8,
                                      activation=akida.ActivationType.ReLU, weights_bits=8, name=step.name)
        wq = q.weight_q.numpy().transpose(2, 3, 0, 1)  # (C_in, C_out, kh, kw) -> (kh, kw, C_in, C_out)
    else:
        head = step.op == "head"
        layer = akida.Conv2D(filters=cout, kernel_size=3, kernel_stride=conv.stride, padding=akida.Padding.Same,
                             output_bits=HEAD_BITS if head else 8, weights_bits=8,
                             activation=akida.ActivationType.NoActivation if head else akida.ActivationType.ReLU,
                             name=step.name)
        wq = q.weight_q.numpy()[:, :, ::-1, ::-1].transpose(2, 3, 1, 0)  # Akida convolves
    return layer, np.ascontiguousarray(wq).astype(np.int8)


def _set_conv(layer, wq, q, cout: int) -> None:
    layer.set_variable("weights", wq)
    if q.bias_q is not None:
        layer.set_variable("bias", q.bias_q.numpy().astype(np.int8))
        layer.set_variable("bias_shift", q.bias_shift.numpy().astype(np.uint8))
    # A right shift k >= 0: output_shift = -k (rounds half up); a left shift (k < 0, small
    # weights against a fine output scale) is an exact multiplication by output_scales = 2**-k.
    layer.set_variable("output_scales", np.full(cout, 2 ** max(-q.shift, 0), np.uint8))
    layer.set_variable("output_shift", np.full(cout, -max(q.shift, 0), np.int8))


def to_akida2(core: Akida2Core, input_hw: tuple[int, int], upto: str | None = None) -> Akida2Model:
    """Akida's model of ``core`` for a padded input of ``input_hw`` (divisible by ``2**levels``);
    with ``upto`` a copy truncated after that layer (integer output, no Dequantizer)."""
    akida = require_akida()
    h, w = (int(v) for v in input_hw)
    m = core.cfg.multiple
    if h % m or w % m:
        raise ConfigError(f"input size {h}x{w} is not divisible by {m}")
    for step in core.plan:
        if step.op in ("conv", "head", "transpose"):
            q = core.convs[step.name].quant()
            if not -7 <= q.shift <= 127:
                raise ConfigError(f"Akida layer {step.name}: rescale by 2**{-q.shift} is outside Akida's "
                                  "output_scales (uint8) and output_shift (int8)")
    model = akida.Model()
    layers = {"input": akida.InputData(input_shape=(h, w, core.cfg.channels), input_bits=INPUT_BITS, name="input")}
    model.add(layers["input"])
    res = Akida2Model(model, core, (h, w), {"input": 0})
    for step in core.plan:
        if step.op == "add":
            layer = akida.Add(output_bits=8, name=step.name)
            model.add(layer, [layers[i] for i in step.inputs])
            c = core.convs[step.inputs[0]].out_channels
            for var in ("a_shift", "b_shift"):
                layer.set_variable(var, np.zeros(c, np.uint8))
            layer.set_variable("output_shift", np.zeros(c, np.int8))
            res.exps[step.name] = ACT_EXP
        else:
            conv = core.convs[step.name]
            q = conv.quant()
            layer, wq = _conv_layer(akida, step, conv, q)
            model.add(layer, [layers[step.inputs[0]]])
            _set_conv(layer, wq, q, conv.out_channels)
            res.exps[step.name] = conv.out_exp if conv.relu else q.acc_exp
            res.quant[step.name] = {"weight_exp": q.weight_exp, "output_shift": -q.shift,
                                    "bias_shift_max": int(q.bias_shift.max()) if q.bias_shift is not None else None}
        layers[step.name] = layer
        if step.name == upto:
            return res
    deq = akida.Dequantizer(name="dequantizer")
    model.add(deq)
    deq.set_variable("scales", np.full(1, 2.0 ** res.exps["head"], np.float32))
    return res


def frames_to_input(frames) -> np.ndarray:
    """Event frames [B, T, C, H, W] or [B, C, H, W] (already padded) -> Akida's int8 input
    [B, H, W, C]: the core's own input quantisation (bins summed, rounded, clipped to 0..127)."""
    x = torch.as_tensor(np.asarray(frames), dtype=torch.float64)
    if x.ndim == 4:
        x = x[:, None]
    q = torch.clamp(torch.round(x.sum(1)), 0, INPUT_MAX)
    return np.ascontiguousarray(q.numpy().transpose(0, 2, 3, 1)).astype(np.int8)


def run_akida2(am: Akida2Model, x_int8: np.ndarray) -> np.ndarray:
    """Akida's software backend on int8 input [B, H, W, C]: the output [B, 1, H, W] in our units
    (for a truncated model: the last layer's integers times its scale, [B, C, h, w])."""
    y = np.asarray(am.model.forward(np.ascontiguousarray(x_int8)))
    y = y.transpose(0, 3, 1, 2).astype(np.float64)
    last = am.model.layers[-1].name
    return y if last == "dequantizer" else y * 2.0 ** am.exps[last]


def run_ours(core: Akida2Core, x_int8: np.ndarray) -> dict[str, np.ndarray]:
    """Our torch model (a float64 copy, eval) on the same input: every layer's output in our units."""
    import copy

    c = copy.deepcopy(core).double().eval()
    frame = torch.as_tensor(x_int8.transpose(0, 3, 1, 2).astype(np.float64))
    with torch.no_grad():
        return {k: v.numpy() for k, v in c.run(frame).items()}


def compare(core: Akida2Core, input_hw: tuple[int, int], x_int8: np.ndarray, layers: bool = False,
            am: Akida2Model | None = None) -> dict[str, Any]:
    """Akida's software backend vs our model at Akida's precision on int8 input [B, H, W, C]:
    output max |difference| (and per layer, integer mismatches, with ``layers``)."""
    am = am or to_akida2(core, input_hw)
    ours = run_ours(core, x_int8)
    theirs = run_akida2(am, x_int8)
    out = {"frames": int(len(x_int8)), "output_max_abs_diff": float(np.abs(theirs - ours["head"]).max()),
           "output_max_abs": float(np.abs(ours["head"]).max()),
           "output_mismatches": int((theirs != ours["head"]).sum()), "outputs": int(theirs.size)}
    if layers:
        per = []
        for step in core.plan[:-1]:
            t = run_akida2(to_akida2(core, input_hw, upto=step.name), x_int8)
            o = ours[step.name]
            per.append({"layer": step.name, "mismatches": int((t != o).sum()), "values": int(o.size),
                        "nonzero": int((o != 0).sum())})
        out["layers"] = per
        out["layer_mismatches"] = sum(p["mismatches"] for p in per)
    return out


def mapping_report_v2(am: Akida2Model, device: str = DEFAULT_DEVICE, hw_only: bool = True) -> dict[str, Any]:
    """Map the model onto an Akida IPv2 virtual device with Akida's own mapper: sequences, passes,
    NPs per layer, whether every layer runs on hardware. ConfigError naming the layer Akida refuses
    and its reason when it does not map."""
    report = map_model(am.model, device, DEVICES_V2, hw_only=hw_only)
    mapped = {n for s in report["sequences"] for p in s["passes"] for n in p}
    report.update(hw_only=hw_only, passes=sum(len(s["passes"]) for s in report["sequences"]),
                  layers_total=len(am.model.layers),
                  # InputData is no NP layer: every other layer must have been placed
                  all_on_hardware=report["all_on_hardware"] and len(mapped) == len(am.model.layers) - 1)
    return report


def smallest_device(am_factory, devices: tuple[str, ...] = ("SixNodesIPv2", "TwelveNodesIPv2")) -> dict[str, Any]:
    """Map onto each device in turn (smallest first) and return the first mapping with every
    layer on hardware in one sequence; ConfigError with every device's refusal otherwise.
    ``am_factory()`` builds a fresh (unmapped) :class:`Akida2Model`."""
    refusals = []
    for dev in devices:
        try:
            rep = mapping_report_v2(am_factory(), dev)
        except ConfigError as exc:
            refusals.append(str(exc))
            continue
        if rep["all_on_hardware"]:
            return rep
        refusals.append(f"{dev}: not every layer on hardware")
    raise ConfigError("the model does not map onto any IPv2 virtual device with every layer on hardware: "
                      + "; ".join(refusals))


def random_input(shape_chw: tuple[int, int, int], samples: int, seed: int = 0, density: float = 0.1) -> np.ndarray:
    """Random int8 event counts [samples, H, W, C]: a ``density`` share of pixels holds 1..127."""
    rng = np.random.default_rng(seed)
    c, h, w = shape_chw
    counts = rng.integers(1, INPUT_MAX + 1, size=(samples, h, w, c))
    return ((rng.random((samples, h, w, c)) < density) * counts).astype(np.int8)


def export_akida2(model, path, input_hw: tuple[int, int], *, verify: bool = True, device: str | None = None,
                  samples: int = 2, seed: int = 0, frames=None) -> dict[str, Any]:
    """Write the Akida IPv2 model of ``model`` (a :class:`~depthsnn.models.DepthNet` of arch
    ``akida2``) for input ``input_hw`` to ``path`` (``.fbz``), mapped onto ``device`` (default: the
    smallest IPv2 virtual device that takes every layer on hardware), and return its manifest entry.
    With ``verify``: Akida's software backend vs our model at Akida's precision on ``samples``
    random inputs (and on ``frames`` [B, T, C, H, W] real event frames when given), layer by layer,
    and the saved file reloaded; DataError on any difference."""
    from ..atomic import atomic_path

    akida = require_akida()
    path = Path(path)
    core = model.core
    if not isinstance(core, Akida2Core):
        raise ConfigError(f"export_akida2 takes an snn-akida2-* model, got arch {model.cfg.arch!r}")
    phw = model.padded_size(*input_hw)
    am = to_akida2(core, phw)
    checks = {}
    if verify:
        inputs = {"random": random_input((core.cfg.channels, *phw), samples, seed)}
        if frames is not None:
            f = torch.as_tensor(np.asarray(frames), dtype=torch.float64)
            f = torch.nn.functional.pad(f, (0, phw[1] - f.shape[-1], 0, phw[0] - f.shape[-2]))
            inputs["real"] = frames_to_input(f.numpy())
        for what, x in inputs.items():
            r = compare(core, phw, x, layers=True, am=am)
            r.pop("layers")
            checks[what] = r
            if r["output_mismatches"] or r["layer_mismatches"]:
                raise DataError(f"Akida differs from our model at Akida's precision on {what} input: "
                                f"{r['layer_mismatches']} layer values, {r['output_mismatches']} outputs", path)
    if device is None:
        mapping = smallest_device(lambda: to_akida2(core, phw))
        device = mapping["device"]
    mapping = mapping_report_v2(am, device)
    if not mapping["all_on_hardware"]:
        raise ConfigError(f"Akida maps the model on {device} with layers outside hardware: {mapping['sequences']}")
    with atomic_path(path) as tmp:
        am.model.save(str(tmp))
    if verify:  # the file is the model: reloaded, it computes what ours computes
        x = inputs.get("real", inputs["random"])
        loaded = akida.Model(str(path))
        got = np.asarray(loaded.forward(x)).transpose(0, 3, 1, 2).astype(np.float64)
        ours = run_ours(core, x)["head"]
        checks["file_reloaded_mismatches"] = int((got != ours).sum())
        if checks["file_reloaded_mismatches"]:
            raise DataError(f"the saved .fbz differs from our model: {checks['file_reloaded_mismatches']} outputs", path)
    h, w = phw
    card = path.with_name(path.name[: -len(path.suffix)] + ".card.md") if path.suffix else path.with_name(path.name + ".card.md")
    from ..atomic import atomic_write_text

    atomic_write_text(card, model_card(model, path.name, phw, mapping, checks or None))
    return {"format": "akida", "akida_ip": "IPv2", "path": path.name, "model_card": card.name,
            "sha256": hashlib.sha256(path.read_bytes()).hexdigest(), "size_bytes": path.stat().st_size,
            "akida_version": mapping["akida_version"], "input_shape": [h, w, core.cfg.channels],
            "input_bits": INPUT_BITS, "weight_bits": 8, "activation_bits": 8,
            "output_shape": [h // core.stride, w // core.stride, 1], "output_scale": 2.0 ** am.exps["head"],
            "layers": [{"name": s.name, "op": s.op, "inputs": list(s.inputs), **am.quant.get(s.name, {})}
                       for s in core.plan],
            "host_step": {"op": "upsample", "mode": "bilinear", "align_corners": False, "factor": core.stride,
                          "size": [h, w], "where": "host (torch), not on Akida, in no chip energy"},
            "mapping": mapping, "verification": checks or None,
            "note": ("input: the window's event counts summed over its bins, int8 (H, W, C), clipped to 0..127; "
                     "output: float32 = normalised log depth at 1/2 resolution (Akida's Dequantizer applies "
                     "output_scale); the host upsamples it x2 (bilinear). Activations on chip are 8-bit graded "
                     "events (0..127), not binary spikes; the network is stateless.")}


def _taps(conv, mask: torch.Tensor, cin: int, cout: int) -> float:
    """MACs when the inputs marked in ``mask`` [B, C_in, H, W] (1 = an event) each meet every in-bounds
    weight of ``conv`` (QConv) they reach: the sum over outputs of the marked inputs in their window x C_out."""
    import torch.nn.functional as F

    if conv.transpose:
        k = conv.weight.shape[-1]
        ones = torch.ones(cin, 1, k, k, dtype=mask.dtype)
        return float(F.conv_transpose2d(mask, ones, stride=2, padding=1).sum()) * cout
    ones = torch.ones(1, cin, 3, 3, dtype=mask.dtype)
    if conv.stride == 2:
        return float(F.conv2d(F.pad(mask, (0, 1, 0, 1)), ones, stride=2).sum()) * cout
    return float(F.conv2d(mask, ones, padding=1).sum()) * cout


def layer_counts(core: Akida2Core, x_int8: np.ndarray) -> list[dict[str, Any]]:
    """Per Akida conv layer, summed over the frames of ``x_int8`` [B, H, W, C]: ``input_events``
    (non-zero input activations: what Akida's event-based NPs process), ``event_macs`` (each input
    event times the in-bounds weights it meets: the work an event-based NP does) and ``dense_macs``
    (every in-bounds weight at every output, what a dense accelerator does). ``Add`` layers are
    element-wise sums inside the next layer's NPs: no MACs."""

    outs = run_ours(core, x_int8)
    rows = []
    for step in core.plan:
        if step.op == "add":
            continue
        conv = core.convs[step.name]
        src = torch.as_tensor(outs[step.inputs[0]])
        cin, cout = src.shape[1], conv.out_channels

        nz = (src != 0).double()
        rows.append({"layer": step.name, "op": step.op, "input_events": int(nz.sum()),
                     "inputs": int(nz.numel()), "event_macs": _taps(conv, nz, cin, cout),
                     "dense_macs": _taps(conv, torch.ones_like(nz), cin, cout),
                     "outputs": int(np.prod(outs[step.name].shape)), "weights": int(conv.weight.numel())})
    return rows


def energy(rows: list[dict[str, Any]], samples: int, profile_name: str, window_s: float) -> dict[str, Any]:
    """Energy per depth map of counts ``rows`` (:func:`layer_counts` over ``samples`` frames) on a
    hardware profile, one map per ``window_s`` (the sensor's rate; static power over the window):
    :func:`~depthsnn.hw_profiles.energy.energy_per_inference` on the counts as graded-input MACs."""
    from ..hw_profiles import get_profile
    from ..hw_profiles.energy import energy_per_inference
    from ..simulate.counts import LayerCounts, SimCounts

    layers = [LayerCounts(r["layer"], "conv", macs=int(r["event_macs"]), dense_ops=int(r["dense_macs"]),
                          input_events=r["input_events"], weights=r["weights"], graded=True) for r in rows]
    counts = SimCounts(layers=layers, samples=samples, timesteps=1)
    b = energy_per_inference(counts, get_profile(profile_name), latency_s=window_s)
    return {"profile": profile_name, "per_map_mj": b.per_map_mj, "dynamic_mj": b.dynamic_mj,
            "static_mj": b.static_mj, "latency_s": b.latency_s, "estimated_fields": b.estimated_fields,
            "event_macs": counts.per_inference("macs"), "dense_macs": counts.per_inference("dense_ops")}


def model_card(model, fbz_name: str, phw: tuple[int, int], mapping: dict[str, Any], checks: dict | None) -> str:
    """The model card written beside the ``.fbz``: what the network is on chip, its input and
    output, how it was checked, and what it is not."""
    core, cfg = model.core, model.cfg
    h, w = phw
    params = sum(p.numel() for p in model.parameters())
    verified = ("not run (--no-verify)" if not checks else
                f"Akida's software backend equals our model on {checks['random']['frames']} random inputs, every "
                f"layer's integers ({checks['random']['layer_mismatches']} mismatches) and the output "
                f"({checks['random']['output_mismatches']} mismatches); the saved file reloaded: "
                f"{checks['file_reloaded_mismatches']} mismatches")
    layers = ", ".join(f"{s.name} ({s.op})" for s in core.plan)
    return f"""# Model card: {fbz_name}

- **Network**: depthsnn `{cfg.arch}` depth U-Net, base {cfg.base_channels} channels, {cfg.levels} levels,
  {cfg.residual_blocks} bottom convs, {params} parameters, {cfg.modality} ({cfg.channels} input channels).
- **What it is on chip**: an Akida 2.0 (IPv2) quantised convolutional network, *not* a spiking network:
  hidden activations are 8-bit graded events (integers 0..127 on a 1/16 step; zeros are not sent), weights
  8-bit (one power-of-two scale per layer), biases 8-bit shifted. It is stateless: one frame per window.
- **Layers** (Akida, in order): input (InputData, int8), {layers}, dequantizer.
- **Input**: the window's event counts per pixel and polarity{' and camera' if cfg.channels == 4 else ''},
  summed over its time bins, clipped to 0..127, int8, shape (H, W, C) = ({h}, {w}, {cfg.channels}); the sensor
  frame is zero-padded at the bottom/right to this size.
- **Output**: float32 normalised log depth at 1/2 resolution ({h // 2}, {w // 2}, 1) (Akida's Dequantizer
  applies the readout's scale). Host step: bilinear x2 upsampling (torch `interpolate`, `align_corners=False`)
  to ({h}, {w}), then crop; it runs on the host, not on Akida, and is in no chip energy figure.
- **Mapping** (akida {mapping['akida_version']}, Akida's own mapper, `hw_only`): {mapping['device']}
  ({mapping['nps_available']} NPs), {mapping['nps_used']} NPs used over {mapping['passes']} pass(es),
  all layers on hardware: {mapping['all_on_hardware']}.
- **Verified at export**: {verified}.
- **Trained** with this arithmetic (quantisation-aware, straight-through gradients), so depthsnn's
  evaluation of the checkpoint is what the chip computes. Accuracy and energy: BENCHMARKS.md
  ("Akida 2.0 (IPv2) U-Net").
- **Not checked**: a physical Akida 2.0 chip (virtual devices and Akida's software backend only); energy
  on IPv2 silicon (no published figures: the AKD1000 profile is used as an estimate).
"""
