"""Norse 1.1.0 (``norse.torch.from_nir(nir.read(path))``) and its dialect.

What Norse 1.1.0 does with each NIR node (``norse/torch/utils/import_nir.py``, checked in the
source; it builds the module with the deprecated ``nirtorch.load`` (nirtorch 2.x's old
``GraphExecutor``), which calls ``module(x_t, state) -> (out, state)`` and sums converging edges
with ``torch.stack(...).sum(0)``):

- ``Conv2d`` / ``Affine`` / ``Linear`` / ``Flatten`` / ``SumPool2d``: the torch layer.
- ``IF``: ``IAFCell(v_th = v_threshold)``: ``v <- v + x`` (``r`` and ``dt`` are ignored; a
  warning is logged when ``r != 1``), spike when ``v - v_th > 0``, ``v <- 0`` in the step of the
  spike (``v_reset`` is not read). Norse writes its own IAF as ``IF(r = 1)``.
- ``LIF``: ``LIFBoxCell(tau_mem_inv = 1/tau, v_th, v_leak)`` with ``dt = 1e-3`` by default:
  ``v <- v + dt/tau * ((v_leak - v) + x)`` (``r`` ignored with a warning), reset to 0.
- ``CubaLIF``: synapse + LIF box cells.
- ``I``, ``LI``, ``CubaLI``, ``Threshold``, ``Delay``: no mapping: the node is *dropped* and the
  module runs without it (depthsnn's integrator output: the output becomes the integrator's
  per-step input). A nested ``NIRGraph`` runs as a subgraph (depthsnn's upsampling: zeros).

Dialect conventions (``<name>.norse.nir``):

- ``dt = 1e-3`` (Norse's default ``from_nir(dt=...)``), stored in the graph metadata.
- ``if`` -> ``IF(r = 1, v_threshold, v_reset = 0)``: Norse's IAF = depthsnn's IF bit for bit
  (Norse's own convention: ``r = 1`` means the input is added once per step).
- ``lif`` -> ``LIF(tau = tau_steps * 1e-3, r = 1, v_leak = 0, v_threshold, v_reset = 0)``: Norse's
  ``v + (dt/tau) * (x - v)`` is depthsnn's ``v + (x - v) / tau_steps`` up to the rounding of
  ``dt/tau`` (exact for power-of-two ``tau_steps``; checked on the export sample).
- ``integrator`` -> ``IF(r = 1, v_threshold = float32 max)``: it never fires; the depth is its
  membrane, ``state.state['integrator'][0].v`` of ``out, state = module(x_t, state)``.
- Requires ``v_reset = 0``, thresholds > 0, LIF ``r = 1``, no upsampling.
"""

from __future__ import annotations

import functools
from typing import Any

import nir
import torch

from ..graph import NetGraph, Node, tau_steps
from .common import (
    FLOAT32_MAX,
    NotPortable,
    ReaderRun,
    check_portable,
    dialect_graph,
    full,
    quiet,
    readout_node,
    run_dialect,
)

NAME = "norse"
DISTRIBUTION = "norse"
TARGET_VERSION = "1.1.0"
DT = 1e-3
LOAD = "norse.torch.from_nir(nir.read(path))"
READOUT = "membrane of node {node!r}: state.state[{attr!r}][0].v of out, state = module(x_t, state)"


def _name(name: str) -> str:  # nirtorch.load's sanitize_name
    return name.replace(".", "_")


def load(path) -> torch.nn.Module:
    with quiet():  # norse logs a warning per node with r != 1; torch warns on its import
        import norse.torch

        return norse.torch.from_nir(nir.read(path))


def _step(module: torch.nn.Module, x: torch.Tensor, state: Any):
    return module(x, state)


def run(path, x: torch.Tensor, graph: NetGraph, readout: str = "output",
        module: torch.nn.Module | None = None, monitor: Any = None) -> ReaderRun:
    """Load ``path`` with Norse's defaults and run ``x`` [T, B, C, H, W] step by step.
    ``readout``: ``output`` (what the module returns) or ``membrane`` (the dialect convention);
    ``module``: the module ``load(path)`` already returned; ``monitor``: see :func:`~.common.run_steps`."""
    module = load(path) if module is None else module
    return run_dialect(module, x, graph, readout, _step, lambda m, st, key: st.state[key][0].v, _name, monitor)


def _neuron(n: Node, meta: dict[str, Any], dt: float) -> nir.NIRNode:
    shape, p = tuple(n.shape), n.params
    if n.op == "lif":
        meta["note"] = "depthsnn LIF at Norse's dt = 1e-3"
        return nir.LIF(tau=full(shape, tau_steps(p["tau"], dt) * DT), r=full(shape, 1.0), v_leak=full(shape, 0.0),
                       v_threshold=full(shape, p["v_threshold"]), v_reset=full(shape, 0.0), metadata=meta)
    th = p["v_threshold"] if n.op == "if" else FLOAT32_MAX
    if n.op == "integrator":
        meta["note"] = "depthsnn integrator (NIR I) as a never-firing IF: the depth is its membrane"
    return nir.IF(r=full(shape, 1.0), v_threshold=full(shape, th), v_reset=full(shape, 0.0), metadata=meta)


def dialect(graph: NetGraph, source: str = "") -> nir.NIRGraph:
    """The Norse dialect of ``graph``; raises :class:`~.common.NotPortable` with the reason."""
    check_portable(graph, "Norse")
    for n in graph.of_op("lif"):
        if n.params["r"] != 1.0:
            raise NotPortable(f"node {n.name}: LIF r = {n.params['r']:g} != 1 (Norse ignores r)")
    node = readout_node(graph).name
    return dialect_graph(graph, functools.partial(_neuron, dt=graph.dt), reader=NAME,
                         reader_version=TARGET_VERSION, dt=DT, readout=READOUT.format(node=node, attr=_name(node)),
                         source=source)


def limits(graph: NetGraph) -> list[str]:
    """Why Norse computes something else than depthsnn on the *main* file (from its source)."""
    out = []
    if graph.of_op("integrator"):
        out.append("drops NIR I (no mapping): its output is the integrator's per-step input")
    if graph.of_op("upsample"):
        out.append("runs the tagged upsampling subgraph literally (zeros)")
    if graph.of_op("lif") and abs(graph.dt - DT) > 1e-12:
        out.append(f"LIF integrated at dt = 1e-3, file dt = {graph.dt:g}")
    if any(n.params["v_reset"] != 0.0 for n in graph.of_op("if", "lif")):
        out.append("resets to 0, not v_reset")
    return out
