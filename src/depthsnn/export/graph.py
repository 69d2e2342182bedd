"""``NetGraph``: the exported form of a depth network, between the torch model and NIR/ONNX.

A ``NetGraph`` is a list of nodes in topological order; every node sums the outputs of its
``inputs`` (NIR's rule: edges converge by addition) and applies one operation:

``input`` | ``conv`` (2-D convolution, weights and optional bias) | ``upsample`` (nearest,
integer factor) | ``if`` / ``lif`` (spiking neurons, hard reset, NIR threshold semantics
``v > v_threshold``) | ``integrator`` (NIR ``I``: accumulates, never fires; its potential is the
depth) | ``output``.

Time is discrete with step ``dt`` (seconds, NIR has none: it is chosen at export and stored in
metadata). Neuron parameters are stored in NIR's continuous-time form (``r``, ``tau``) and turned
back into per-step gains by :func:`step_gain` so that the update is spikingjelly's, bit for bit:
IF ``v <- v + x``; LIF (decay_input) ``v <- v + (x - v) / tau``; spike when ``v >= th``, which
NIR's strict ``v > th'`` reproduces with ``th' = nextafter(th, -inf)`` in float32.

``from_model`` walks :class:`~depthsnn.models.UNetCore` explicitly. Written by hand because the
generic tracers (nirtorch's ``torch_to_nir``, spikingjelly's ``nir_exchange.export_to_nir``)
cannot map the parts of this network that matter: the non-firing integrator output, nearest
upsampling (no NIR node exists for it), the additive skips/SEW blocks as converging edges, and
the >= vs > threshold boundary. A :class:`~depthsnn.models.portable.PortableCore` (the chip-fit
chain) exports as input -> (conv -> if/lif)* -> conv -> integrator -> output; its graph's output is
the coarse depth map and ``metadata["host_upsample"]`` names the host step (not in the graph)
that brings it to full size: :func:`host_output` applies it.
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from spikingjelly.activation_based import neuron as sj_neuron
from torch import nn

from ..errors import ConfigError
from ..models.fold import fold_norms, has_norms

OPS = ("input", "conv", "upsample", "if", "lif", "integrator", "output")
NEURON_OPS = ("if", "lif")
STATEFUL_OPS = ("if", "lif", "integrator")
DEFAULT_DT = 1e-4  # the value spikingjelly's own NIR exporter and most NIR readers use


@dataclass
class Node:
    """One operation; ``inputs`` name the nodes whose outputs are summed to form its input."""

    name: str
    op: str
    inputs: list[str] = field(default_factory=list)
    params: dict[str, Any] = field(default_factory=dict)
    shape: tuple[int, ...] = ()  # output shape (C, H, W) per sample


@dataclass
class NetGraph:
    """A feed-forward graph of :class:`Node` in topological order, with discretisation ``dt``."""

    nodes: list[Node]
    dt: float = DEFAULT_DT
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._by_name = {n.name: n for n in self.nodes}

    def node(self, name: str) -> Node:
        return self._by_name[name]

    @property
    def input(self) -> Node:
        return next(n for n in self.nodes if n.op == "input")

    @property
    def output(self) -> Node:
        return next(n for n in self.nodes if n.op == "output")

    def of_op(self, *ops: str) -> list[Node]:
        return [n for n in self.nodes if n.op in ops]

    def consumers(self, name: str) -> list[Node]:
        return [n for n in self.nodes if name in n.inputs]

    def validate(self) -> NetGraph:
        """Check ops, topological order, and shapes; raise ConfigError naming the node."""
        seen: set[str] = set()
        if sum(n.op == "input" for n in self.nodes) != 1 or sum(n.op == "output" for n in self.nodes) != 1:
            raise ConfigError("graph needs exactly one input and one output node")
        for n in self.nodes:
            if n.op not in OPS:
                raise ConfigError(f"node {n.name}: unsupported operation {n.op!r}")
            missing = [i for i in n.inputs if i not in seen]
            if missing:
                raise ConfigError(f"node {n.name}: input {missing[0]!r} is not defined before it")
            if n.op != "input" and not n.inputs:
                raise ConfigError(f"node {n.name}: has no inputs")
            in_shapes = {self._by_name[i].shape for i in n.inputs}
            if len(in_shapes) > 1:
                raise ConfigError(f"node {n.name}: summed inputs have different shapes {sorted(in_shapes)}")
            expected = infer_shape(n, next(iter(in_shapes)) if in_shapes else n.shape)
            if tuple(n.shape) != tuple(expected):
                raise ConfigError(f"node {n.name}: shape {tuple(n.shape)} inconsistent with its input ({expected})")
            seen.add(n.name)
        return self

    def copy(self) -> NetGraph:
        return NetGraph([dataclasses.replace(n, inputs=list(n.inputs), params=dict(n.params)) for n in self.nodes],
                        self.dt, dict(self.metadata))


def infer_shape(node: Node, in_shape: tuple[int, ...]) -> tuple[int, ...]:
    """Output shape of ``node`` given the (summed) input shape ``in_shape`` = (C, H, W)."""
    if node.op == "input":
        return tuple(node.shape)
    c, h, w = in_shape
    if node.op == "conv":
        wt = node.params["weight"]
        if wt.ndim != 4 or wt.shape[1] != c:
            raise ConfigError(f"node {node.name}: weight {tuple(wt.shape)} does not take {c} input channels")
        k, s, p = wt.shape[-1], node.params["stride"], node.params["padding"]
        return (wt.shape[0], (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1)
    if node.op == "upsample":
        f = node.params["scale"]
        return (c, h * f, w * f)
    return (c, h, w)


def float32_below(x: float) -> float:
    """Largest float32 strictly below ``x``: ``v > float32_below(th)`` iff ``v >= th`` for float32 ``v``."""
    return float(np.nextafter(np.float32(x), np.float32(-np.inf)))


def step_gain(r: float, dt: float) -> float:
    """Per-step input gain ``dt * r`` of an IF / I node, snapped to 1 when it is 1 up to rounding.

    ``dt`` and ``r = 1/dt`` are rarely exact binary fractions (1e-4), and a gain of
    1.0000000000000002 would break bit-exact parity with spikingjelly's ``v + x``.
    """
    g = dt * r
    return 1.0 if abs(g - 1.0) < 1e-9 else g


def tau_steps(tau: float, dt: float) -> float:
    """Membrane time constant in steps (``tau / dt``), rounded to 9 significant digits likewise."""
    return float(f"{tau / dt:.9g}")


def charge(op: str, p: dict[str, Any], v, inp, dt: float):
    """Membrane potential after one step of input, before firing: NIR's IF / LIF / I dynamics
    discretised at ``dt`` and written exactly as spikingjelly computes them.

    The single definition shared by the dense executor, the dense reference and the event-driven
    simulator, so that all three agree bit for bit. ``v`` and ``inp`` are torch tensors.
    """
    if op == "lif":
        # tau dv/dt = (v_leak - v) + r I, one Euler step: spikingjelly's v + (x - v) / tau.
        return v + (p["r"] * inp + p["v_leak"] - v) / tau_steps(p["tau"], dt)
    gain = step_gain(p["r"], dt)
    return v + inp if gain == 1.0 else v + gain * inp


def fire(p: dict[str, Any], v):
    """Spikes (NIR: strictly above threshold) and the hard-reset potential: ``(s, v_after)``."""
    s = (v > p["v_threshold"]).to(v.dtype)
    return s, s * p["v_reset"] + (1.0 - s) * v


def from_model(core: nn.Module, input_hw: tuple[int, int], dt: float = DEFAULT_DT) -> NetGraph:
    """The :class:`NetGraph` of a :class:`~depthsnn.models.UNetCore` for input size ``input_hw``.

    ``input_hw`` must be divisible by ``2**levels`` (use ``DepthNet.padded_size``).
    """
    from ..models.portable import PortableCore
    from ..models.unet import UNetCore

    if isinstance(core, PortableCore):
        return _from_portable(core, input_hw, dt)
    if not isinstance(core, UNetCore):
        raise ConfigError(f"can only export a UNetCore or PortableCore, got {type(core).__name__}")
    cfg = core.cfg
    if cfg.kind == "ann":
        raise ConfigError("an ANN has no spiking graph: export it to ONNX (format onnx)")
    if has_norms(core):  # norm = "batch" or "threshold": the graph holds the folded convolutions
        core = fold_norms(copy.deepcopy(core).eval())
    h, w = input_hw
    if h % cfg.multiple or w % cfg.multiple:
        raise ConfigError(f"input size {h}x{w} is not divisible by {cfg.multiple}")
    b = _Builder(dt)
    x = [b.add(Node("input", "input", [], {}, (cfg.channels, h, w))).name]
    x = b.unit("bottom", core.bottom, x)
    skips = [x]
    for i, enc in enumerate(core.encoders):
        x = b.unit(f"encoders.{i}", enc, x)
        skips.append(x)
    skips.pop()
    for j, blk in enumerate(core.bottleneck):
        y = b.conv(f"bottleneck.{j}.conv1", blk.conv1, x)
        y = b.act(f"bottleneck.{j}.act1", blk.act1, y)
        y = b.conv(f"bottleneck.{j}.conv2", blk.conv2, y)
        y = b.act(f"bottleneck.{j}.act2", blk.act2, y)
        x = x + y  # SEW ADD: converging edges into the next consumer
    heads = []
    for i, (dec, head) in enumerate(zip(core.decoders, core.heads, strict=True)):
        u = b.add(Node(f"decoders.{i}.up", "upsample", list(x), {"scale": _scale(dec.up)}))
        x = b.unit(f"decoders.{i}", dec, [u.name]) + skips.pop()
        hx = list(x)
        if hasattr(head, "up"):
            hx = [b.add(Node(f"heads.{i}.up", "upsample", hx, {"scale": _scale(head.up)})).name]
        heads.append(b.conv(f"heads.{i}.conv", head.conv, hx)[0])
    integ = b.add(Node("integrator", "integrator", heads, {"r": 1.0 / dt}))
    b.add(Node("output", "output", [integ.name]))
    g = NetGraph(b.nodes, dt, {"model_config": dataclasses.asdict(cfg), "input_hw": [h, w]})
    return g.validate()


def _from_portable(core: nn.Module, input_hw: tuple[int, int], dt: float) -> NetGraph:
    from ..models.portable import host_step, padded_size

    cfg = core.cfg
    h, w = input_hw
    if padded_size(cfg, h, w) != (h, w):
        raise ConfigError(f"input size {h}x{w} is not of the form {core.stride}*m+1 (use DepthNet.padded_size)")
    b = _Builder(dt)
    x = [b.add(Node("input", "input", [], {}, (cfg.channels, h, w))).name]
    for i, unit in enumerate(core.layers):
        x = b.unit(f"layers.{i}", unit, x)
    x = b.conv("head", core.head, x)
    integ = b.add(Node("integrator", "integrator", x, {"r": 1.0 / dt}))
    b.add(Node("output", "output", [integ.name]))
    meta = {"model_config": dataclasses.asdict(cfg), "input_hw": [h, w], "host_upsample": host_step(cfg, (h, w))}
    return NetGraph(b.nodes, dt, meta).validate()


def host_output(graph: NetGraph, out):
    """The graph's output [..., h, w] after the host step its metadata names (portable nets:
    upsampling to the input size, outside the graph); unchanged for graphs without one."""
    from ..models.portable import apply_host_step

    return apply_host_step(graph.metadata.get("host_upsample"), out)


def _scale(up: nn.Module) -> int:
    f = up.scale_factor
    f = f[0] if isinstance(f, (tuple, list)) else f
    if getattr(up, "mode", "nearest") != "nearest" or float(f) != int(f):
        raise ConfigError("only nearest upsampling by an integer factor can be exported")
    return int(f)


class _Builder:
    def __init__(self, dt: float):
        self.dt = dt
        self.nodes: list[Node] = []
        self.shapes: dict[str, tuple[int, ...]] = {}

    def add(self, node: Node) -> Node:
        if node.op != "input":
            node.shape = infer_shape(node, self.shapes[node.inputs[0]])
        self.nodes.append(node)
        self.shapes[node.name] = node.shape
        return node

    def conv(self, name: str, conv: nn.Module, inputs: list[str]) -> list[str]:
        if isinstance(conv, nn.Sequential):  # conv_norm's (conv, folded norm = Identity)
            rest = [m for m in list(conv)[1:] if not isinstance(m, nn.Identity)]
            if rest:
                raise ConfigError(f"{name}: {type(rest[0]).__name__} after the convolution has no NIR equivalent")
            conv = conv[0]
        if conv.groups != 1 or conv.padding_mode != "zeros" or conv.dilation not in ((1, 1), 1):
            raise ConfigError(f"{name}: only plain zero-padded convolutions can be exported")
        params = {
            "weight": conv.weight.detach().cpu().numpy().astype(np.float32),
            "bias": None if conv.bias is None else conv.bias.detach().cpu().numpy().astype(np.float32),
            "stride": int(conv.stride[0]),
            "padding": int(conv.padding[0]),
        }
        return [self.add(Node(name, "conv", list(inputs), params)).name]

    def act(self, name: str, act: nn.Module, inputs: list[str]) -> list[str]:
        if isinstance(act, nn.Identity):  # analog HNN layer: graded values flow on
            return inputs
        if isinstance(act, sj_neuron.LIFNode):
            if act.v_reset is None or not act.decay_input:
                raise ConfigError(f"{name}: only hard-reset LIF with decay_input can be exported")
            th = float(act.v_threshold)
            params = {"tau": float(act.tau) * self.dt, "r": 1.0, "v_leak": float(act.v_reset),
                      "v_threshold": float32_below(th), "v_reset": float(act.v_reset), "threshold_sj": th}
            return [self.add(Node(name, "lif", list(inputs), params)).name]
        if isinstance(act, sj_neuron.IFNode):
            if act.v_reset is None:
                raise ConfigError(f"{name}: soft reset cannot be exported (NIR resets to v_reset)")
            th = float(act.v_threshold)
            params = {"r": 1.0 / self.dt, "v_threshold": float32_below(th), "v_reset": float(act.v_reset),
                      "threshold_sj": th}
            return [self.add(Node(name, "if", list(inputs), params)).name]
        raise ConfigError(f"{name}: activation {type(act).__name__} has no NIR equivalent "
                          "(an HNN must use hnn_analog='identity' to be exported to NIR)")

    def unit(self, prefix: str, unit: nn.Module, inputs: list[str]) -> list[str]:
        return self.act(f"{prefix}.act", unit.act, self.conv(f"{prefix}.conv", unit.conv, inputs))
