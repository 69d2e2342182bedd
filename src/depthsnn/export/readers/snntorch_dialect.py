"""snnTorch 1.0.0 (``snntorch.import_nir.import_from_nir(nir.read(path))``) and its dialect.

What snnTorch 1.0.0 does with each NIR node (``snntorch/import_nir.py``, checked in the source;
it builds the module with ``nirtorch.nir_to_torch`` (nirtorch 2.x), which casts to float32 and
sums converging edges with ``torch.add``):

- ``Conv2d`` / ``Affine`` / ``Linear`` / ``Flatten`` / ``AvgPool2d``: the torch layer.
- ``IF``: asserts ``r == 1`` (``AssertionError: r != 1 not supported``: depthsnn's main file has
  ``r = 1/dt``) and then builds ``snn.Leaky(beta=0.9, threshold=v_threshold)``: a *leaky*
  neuron with subtract reset that returns ``(spk, mem)`` (``init_hidden=False``), so an NIR IF
  does not run as an IF whatever its parameters.
- ``LIF``: asserts ``v_leak == 0``; fixed ``dt = 1e-4``; ``snn.Leaky(beta = 1 - dt/tau,
  threshold = v_threshold * tau / (r * dt) (unless r*dt/tau == 1), reset_mechanism="zero",
  reset_delay=False, init_hidden=True)``: ``mem <- beta*mem + x``; spike when ``mem -
  threshold > 0``; ``mem <- 0`` in the step of the spike (``v_reset`` is not read). The
  membrane stays in the module (``module.mem``); the module returns the spikes only.
- ``I``, ``LI``, ``CubaLI``, ``Threshold``, ``Delay``: no mapping (``ValueError: Unknown node
  type``). A nested ``NIRGraph`` is run as a subgraph of the same layers (depthsnn's upsampling
  subgraph: zeros).

Dialect conventions (``<name>.snntorch.nir``):

- ``dt = 1e-4`` (snnTorch's fixed value), stored in the graph metadata.
- ``if`` -> ``LIF(tau = 1e16 s, r = tau/dt, v_leak = 0, v_threshold, v_reset = 0)``: snnTorch
  builds ``Leaky(beta = 1.0, threshold = v_threshold, reset to zero)`` = depthsnn's IF, bit for
  bit (``r*dt/tau == 1`` so the threshold is not rescaled). In NIR's continuous time it is an IF
  with ``r = 1/dt`` and a leak of 1e-20 per step.
- ``lif`` -> ``LIF(tau = tau_steps * 1e-4, r, v_leak = 0, v_threshold, v_reset = 0)``: snnTorch's
  membrane is ``tau_steps / r`` times depthsnn's and its threshold likewise, so spikes agree up to
  the rounding of that scaling (checked on the export sample).
- ``integrator`` -> the IF form above with ``v_threshold = float32 max``: it never fires; the
  depth is its membrane, ``getattr(module, 'integrator').mem`` after each step.
- Requires ``v_reset = 0``, thresholds > 0, no upsampling (see :func:`common.check_portable`).
"""

from __future__ import annotations

import functools
from typing import Any

import nir
import torch

from ..graph import NetGraph, Node, tau_steps
from .common import (
    FLOAT32_MAX,
    LONG_TAU,
    ReaderRun,
    check_portable,
    dialect_graph,
    full,
    quiet,
    readout_node,
    run_dialect,
    torch_name,
)

NAME = "snntorch"
DISTRIBUTION = "snntorch"
TARGET_VERSION = "1.0.0"
DT = 1e-4
LOAD = "snntorch.import_nir.import_from_nir(nir.read(path))"
READOUT = "membrane of node {node!r}: getattr(module, {attr!r}).mem after each step (module(x_t) per step)"


def load(path) -> torch.nn.Module:
    with quiet():  # snnTorch prints while importing; torch warns on its import
        from snntorch.import_nir import import_from_nir

        return import_from_nir(nir.read(path))


def _step(module: torch.nn.Module, x: torch.Tensor, state: Any):
    return module(x) if state is None else module(x, state)


def run(path, x: torch.Tensor, graph: NetGraph, readout: str = "output",
        module: torch.nn.Module | None = None, monitor: Any = None) -> ReaderRun:
    """Load ``path`` with snnTorch's defaults and run ``x`` [T, B, C, H, W] step by step.
    ``readout``: ``output`` (what the module returns) or ``membrane`` (the dialect convention);
    ``module``: the module ``load(path)`` already returned; ``monitor``: see :func:`~.common.run_steps`."""
    module = load(path) if module is None else module
    return run_dialect(module, x, graph, readout, _step, lambda m, st, attr: getattr(m, attr).mem, monitor=monitor)


def _neuron(n: Node, meta: dict[str, Any], dt: float) -> nir.NIRNode:
    shape, p = tuple(n.shape), n.params
    if n.op == "lif":
        meta["note"] = "depthsnn LIF at snnTorch's dt = 1e-4"
        return nir.LIF(tau=full(shape, tau_steps(p["tau"], dt) * DT), r=full(shape, p["r"]),
                       v_leak=full(shape, 0.0), v_threshold=full(shape, p["v_threshold"]),
                       v_reset=full(shape, 0.0), metadata=meta)
    th = p["v_threshold"] if n.op == "if" else FLOAT32_MAX
    meta["note"] = ("depthsnn IF as a LIF with tau = 1e16 s (snnTorch maps NIR IF to a leaky neuron)" if n.op == "if"
                    else "depthsnn integrator (NIR I) as a never-firing IF-like LIF: the depth is its membrane")
    return nir.LIF(tau=full(shape, LONG_TAU), r=full(shape, LONG_TAU / DT), v_leak=full(shape, 0.0),
                   v_threshold=full(shape, th), v_reset=full(shape, 0.0), metadata=meta)


def dialect(graph: NetGraph, source: str = "") -> nir.NIRGraph:
    """The snnTorch dialect of ``graph``; raises :class:`~.common.NotPortable` with the reason."""
    check_portable(graph, "snnTorch")
    node = readout_node(graph).name
    return dialect_graph(graph, functools.partial(_neuron, dt=graph.dt), reader=NAME, reader_version=TARGET_VERSION, dt=DT,
                         readout=READOUT.format(node=node, attr=torch_name(node)), source=source)


def limits(graph: NetGraph) -> list[str]:
    """Why snnTorch computes something else than depthsnn on the *main* file (from its source)."""
    out = []
    if graph.of_op("integrator"):
        out.append("no mapping for NIR I (the integrator output)")
    ifs = graph.of_op("if")
    if ifs:
        out.append(f"IF: asserts r == 1 (file: r = {ifs[0].params['r']:g}) and maps IF to a leaky neuron "
                   "(beta 0.9, subtract reset)")
    if graph.of_op("upsample"):
        out.append("runs the tagged upsampling subgraph literally (zeros)")
    if graph.of_op("lif") and abs(graph.dt - DT) > 1e-12:
        out.append(f"LIF read at dt = 1e-4, file dt = {graph.dt:g}")
    return out
