"""What the reader dialects share: the portability checks every reader needs, the dialect file
builder, and running a reader's torch module one step at a time on a sample.

A *dialect* file (``<name>.<reader>.nir``) is an NIR graph of the same network whose node types
and parameters are chosen so that one reader, loading it with its own defaults, computes what
depthsnn computes. It stays a truthful NIR description (only the representation changes: an
``IF`` may be written as a ``LIF`` whose time constant is 1e16 s, the integrator ``I`` as a
neuron whose threshold no finite potential exceeds) but other readers may read it differently.
The readout convention of every dialect: the network's output (the depth map) is the membrane
potential of the node that feeds ``Output`` (the integrator), read from the reader's state; the
graph's own ``Output`` carries that node's spikes, which are always zero.
"""

from __future__ import annotations

import contextlib
import io
import keyword
import logging
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import nir
import numpy as np
import torch

from ..graph import NetGraph, Node, step_gain

FLOAT32_MAX = float(np.finfo(np.float32).max)  # no finite float32 potential is strictly above it
LONG_TAU = 1e16  # seconds: a LIF leak so slow that 1 - dt/tau == 1.0 in float64 (an IF)


class NotPortable(Exception):
    """The network has a structure this reader cannot run right; the message says which (one line)."""


class StopRun(Exception):
    """Raised by a run monitor to end a reader run early (it has seen a difference)."""


@dataclass
class ReaderRun:
    """What a reader computed on a sample ``[T, B, C, H, W]``: the output it gives per step
    ``[steps, B, ...]`` and the spikes of every neuron node whose module could be observed (our
    node name -> ``[steps, B, C, H, W]``). ``stopped``: a monitor ended the run early, after
    ``len(outputs)`` complete steps."""

    outputs: torch.Tensor
    spikes: dict[str, torch.Tensor] = field(default_factory=dict)
    stopped: bool = False


def upsample_names(graph: NetGraph) -> list[str]:
    return [n.name for n in graph.of_op("upsample")]


def readout_node(graph: NetGraph) -> Node | None:
    """The integrator that feeds the output node, if the output is an integrator's potential."""
    src = graph.output.inputs
    if len(src) == 1 and graph.node(src[0]).op == "integrator":
        return graph.node(src[0])
    return None


def _short(names: list[str], k: int = 3) -> str:
    return ", ".join(names[:k]) + (f" and {len(names) - k} more" if len(names) > k else "")


def check_portable(graph: NetGraph, reader: str) -> None:
    """Raise :class:`NotPortable` for what no dialect can express for ``reader`` (the same list
    for snnTorch 1.0.0 and Norse 1.1.0, both read from their sources)."""
    ups = upsample_names(graph)
    if ups:
        raise NotPortable(f"the network upsamples ({_short(ups)}): NIR 1.0 has no upsampling node and {reader} runs "
                          "depthsnn's tagged subgraph literally (zeros)")
    if readout_node(graph) is None:
        raise NotPortable("the output is not an integrator's potential (dialects read the depth from one)")
    for n in graph.of_op("if", "lif", "integrator"):
        p = n.params
        if n.op != "lif" and step_gain(p["r"], graph.dt) != 1.0:
            raise NotPortable(f"node {n.name}: per-step input gain r*dt = {p['r'] * graph.dt:g} != 1 "
                              f"({reader} adds the input unscaled)")
        if n.op != "integrator" and p["v_reset"] != 0.0:
            raise NotPortable(f"node {n.name}: v_reset = {p['v_reset']:g} != 0 ({reader} resets to 0)")
        if n.op != "integrator" and not p["v_threshold"] > 0.0:
            raise NotPortable(f"node {n.name}: threshold {p['v_threshold']:g} <= 0 ({reader}'s reset assumes > 0)")
        if n.op == "lif" and p["v_leak"] != 0.0:
            raise NotPortable(f"node {n.name}: v_leak = {p['v_leak']:g} != 0 ({reader} assumes 0)")


def full(shape: tuple[int, ...], value: float) -> np.ndarray:
    return np.full(shape, value, dtype=np.float64)


def dialect_graph(graph: NetGraph, neuron: Callable[[Node, dict[str, Any]], nir.NIRNode], *, reader: str,
                  reader_version: str, dt: float, readout: str, source: str = "") -> nir.NIRGraph:
    """The NIR graph of ``graph`` with every ``if`` / ``lif`` / ``integrator`` node written by
    ``neuron(node, metadata)``; inputs, outputs and convolutions as in the main file."""
    from ..nir_io import _version

    nodes: dict[str, nir.NIRNode] = {}
    edges: list[tuple[str, str]] = []
    for n in graph.nodes:
        meta: dict[str, Any] = {"layer": n.name, "depthsnn_op": n.op}
        shape = tuple(n.shape)
        if n.op == "input":
            nodes[n.name] = nir.Input(np.asarray(shape, dtype=np.int64), metadata=meta)
        elif n.op == "output":
            nodes[n.name] = nir.Output(np.asarray(shape, dtype=np.int64), metadata=meta)
        elif n.op == "conv":
            w = np.asarray(n.params["weight"], dtype=np.float32)
            bias = n.params.get("bias")
            meta["has_bias"] = int(bias is not None)
            b = np.zeros(w.shape[0], np.float32) if bias is None else np.asarray(bias, dtype=np.float32)
            in_shape = graph.node(n.inputs[0]).shape
            nodes[n.name] = nir.Conv2d(tuple(in_shape[1:]), w, int(n.params["stride"]), int(n.params["padding"]),
                                       1, 1, b, metadata=meta)
        else:
            nodes[n.name] = neuron(n, meta)
        edges += [(i, n.name) for i in n.inputs]
    meta = {"producer": "depthsnn", "version": _version(), "dialect": reader, "reader_version": reader_version,
            "dt": float(dt), "readout": readout, "source": source,
            "note": f"written for {reader} {reader_version} and checked there at export; other readers may "
                    "read it differently: use the main .nir file with them"}
    return nir.NIRGraph(nodes, edges, metadata=meta)


def torch_name(name: str) -> str:
    """The module name nirtorch gives an NIR node ('.' -> '_', Python keywords prefixed)."""
    name = name.replace(".", "_")
    return "nir_node_" + name if keyword.iskeyword(name) else name


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Silence a reader's prints, log warnings and Python warnings while it loads or runs."""
    previous = logging.root.manager.disable
    logging.disable(logging.WARNING)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        logging.disable(previous)


def _first(o: Any) -> torch.Tensor:
    return o[0] if isinstance(o, (tuple, list)) else o


def run_steps(module: torch.nn.Module, x: torch.Tensor, step: Callable[[Any, torch.Tensor, Any], tuple[Any, Any]],
              read: Callable[[Any, Any, Any], torch.Tensor], neurons: list[str],
              name: Callable[[str], str] = torch_name, monitor: Any = None) -> ReaderRun:
    """Run ``module`` on ``x`` [T, B, C, H, W] one step at a time: ``step(module, x_t, state) ->
    (out, state)``; ``read(module, out, state)`` gives the step's output. Spikes of the nodes
    ``neurons`` are recorded by forward hooks on the modules nirtorch named after them.

    ``monitor`` (optional) sees every spike tensor as it is produced (``monitor.spikes(node, s)``)
    and every step's output (``monitor.output(out)``); it may raise :class:`StopRun` to end the
    run there (the result then holds the complete steps only)."""
    mods = dict(module.named_modules())
    rec: dict[str, list[torch.Tensor]] = {}

    def hook(node: str, o: Any) -> None:
        s = _first(o).detach().clone()
        rec.setdefault(node, []).append(s)
        if monitor is not None:
            monitor.spikes(node, s)

    hooks = [mods[name(n)].register_forward_hook(lambda _m, _i, o, n=n: hook(n, o)) for n in neurons if name(n) in mods]
    outs: list[torch.Tensor] = []
    stopped = False
    try:
        with torch.no_grad(), quiet():
            state = None
            for xt in x:
                out, state = step(module, xt, state)
                outs.append(_first(read(module, out, state)).detach().clone().float())
                if monitor is not None:
                    monitor.output(outs[-1])
    except StopRun:
        stopped = True
    finally:
        for h in hooks:
            h.remove()
    k = len(outs)
    spikes = {n: torch.stack(v[:k]) for n, v in rec.items() if len(v) >= k > 0}
    return ReaderRun(torch.stack(outs) if outs else torch.empty(0), spikes, stopped)


def run_dialect(module: torch.nn.Module, x: torch.Tensor, graph: NetGraph, readout: str,
                step: Callable[[Any, torch.Tensor, Any], Any], membrane: Callable[[Any, Any, str], torch.Tensor],
                name: Callable[[str], str] = torch_name, monitor: Any = None) -> ReaderRun:
    """A reader's ``run``: ``x`` [T, B, C, H, W] through ``module`` step by step with
    :func:`run_steps`. ``readout``: ``output`` (what the module returns) or ``membrane`` (the
    dialect convention: ``membrane(module, state, name(node))`` of the readout node)."""
    neurons = [n.name for n in graph.of_op("if", "lif")]
    if readout == "membrane":
        key = name(readout_node(graph).name)
        return run_steps(module, x, step, lambda m, out, st: membrane(m, st, key), neurons, name, monitor)
    return run_steps(module, x, step, lambda m, out, st: out, neurons, name, monitor)
