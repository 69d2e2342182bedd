"""Chain networks -> lava-dl netx HDF5 (Loihi 2), at Loihi's fixed-point precision.

lava-dl netx 0.6.0 (design.md s.9) builds a chain of blocks from an HDF5 file: ``layer/<i>``
groups with ``type`` (``input`` | ``conv`` | ``dense`` | ``flatten``), ``shape`` (C, H, W),
conv ``weight`` [C_out, C_in, kh, kw] (integers), ``stride``/``padding``/``dilation`` (H, W order)
and ``groups``, and a ``neuron`` group (``type = CUBA``, ``iDecay``, ``vDecay``, ``vThMant``,
``refDelay``). Its fixed-point CUBA neuron (lava-nc 0.10 ``PyLifModelBitAcc``) computes
``u = u * (4096 - iDecay) >> 12 + (a_in << 6)``, ``v = v * (4096 - vDecay) >> 12 + u``, spikes
when ``v > vThMant << 6`` and resets to 0. With ``iDecay = 4096`` and ``vDecay = 0`` that is our
IF neuron in units of 64: ``v = v + 64 * sum``. Weights: 8-bit power-of-two per layer
(:func:`~depthsnn.simulate.quantize.quantize_graph`), so our neuron fires when
``sum >= v_threshold / s``, i.e. ``vThMant = ceil(v_threshold / s) - 1``.

Mapping: the input events feed the first ``conv`` block directly (no netx ``input`` layer, as
in slayer's own exports; ``netx.hdf5.Network(..., input_shape=(W, H, C))``); each conv + IF is a
``conv`` block; the head conv + integrator a ``conv`` block whose threshold is never reached (its
voltage / 64, read with a lava Monitor, is the potential in integer units). Each block adds one
step of latency in Lava, which the check measures (block k: k + 1 steps). Only binary input
events map (unary spikes into the first block).

:func:`write_interop_case` writes the file with an input and our simulator's spikes and output
at that precision; ``interop/netx_check.py``, run with lava-dl in its own Python 3.10 venv
(``make interop``), runs netx on ``Loihi2SimCfg(select_tag='fixed_pt')`` and compares.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import h5py
import numpy as np

from ..errors import ConfigError
from ..export.graph import NetGraph

WEIGHT_BITS = 8
NEVER_FIRES = 2**16  # vThMant above any reachable potential: the integrator block reads out v


def netx_structure(graph: NetGraph) -> list[str]:
    """Blocking structures for netx (same chain rules as the Akida converter, plus kernel/stride
    limits lifted: any odd kernel with symmetric padding maps)."""
    from ..hw_profiles.structure import akida_structure

    return [p for p in akida_structure(graph) if "only 3x3" not in p]


def write_netx(graph: NetGraph, path: str | Path) -> dict:
    """Write ``graph`` (a chain, quantised here to 8-bit power-of-two weights) as netx HDF5;
    returns the quantisation (scales, thresholds, output scale) and the quantised graph."""
    from ..simulate.quantize import QuantConfig, quantize_graph

    problems = netx_structure(graph)
    if problems:
        raise ConfigError(f"the graph does not map onto lava-dl netx: {problems[0]}")
    q = quantize_graph(graph, QuantConfig(weight_bits=WEIGHT_BITS, scheme="power-of-two per-layer"))
    info = {"scales": [], "thresholds": [], "out_scale": None, "blocks": []}
    path = Path(path)
    with h5py.File(path, "w") as f:
        layers = f.create_group("layer")

        def neuron(g, vth: int) -> None:
            n = g.create_group("neuron")
            n.create_dataset("type", data=np.bytes_("CUBA"))
            n.create_dataset("iDecay", data=4096)
            n.create_dataset("vDecay", data=0)
            n.create_dataset("vThMant", data=int(vth))
            n.create_dataset("refDelay", data=1)

        for i, conv in enumerate(q.of_op("conv")):
            act = q.consumers(conv.name)[0]
            s = float(conv.params["weight_scale"])
            if act.op == "if":
                vth = math.ceil(float(np.float32(act.params["threshold_sj"])) / s) - 1
                info["thresholds"].append(vth)
            else:
                vth = NEVER_FIRES
                info["out_scale"] = s
            info["scales"].append(s)
            info["blocks"].append(act.name)
            g = layers.create_group(str(i))
            g.create_dataset("type", data=np.bytes_("conv"))
            g.create_dataset("shape", data=np.asarray(act.shape, np.int64))
            g.create_dataset("weight", data=conv.params["weight_q"].astype(np.int64))
            for key, v in (("stride", conv.params["stride"]), ("padding", conv.params["padding"]), ("dilation", 1)):
                g.create_dataset(key, data=np.asarray([v, v], np.int64))
            g.create_dataset("groups", data=1)
            neuron(g, vth)
    return {**info, "qgraph": q}


def write_interop_case(graph: NetGraph, out_dir: str | Path, steps: int = 4, density: float = 0.1,
                       seed: int = 0) -> Path:
    """``net.h5`` plus ``case.npz`` (binary input events [T, C, H, W], our simulator's spikes per
    block and integrator potential per step at netx's precision) and ``case.json`` in ``out_dir``."""
    from ..simulate.engine import EventSimulator

    problems = netx_structure(graph)
    if problems:
        raise ConfigError(f"the graph does not map onto lava-dl netx: {problems[0]}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    info = write_netx(graph, out / "net.h5")
    rng = np.random.default_rng(seed)
    x = (rng.random((steps, *graph.input.shape)) < density).astype(np.float64)
    res = EventSimulator(info["qgraph"], np.float64).run(x, record_spikes=True)
    arrays = {"input": x, "output": res.outputs[:, 0] / info["out_scale"]}  # potential in integer units
    for k, name in enumerate(info["blocks"][:-1]):
        arrays[f"spikes_{k}"] = res.spikes[name].astype(np.uint8)
    np.savez(out / "case.npz", **arrays)
    (out / "case.json").write_text(json.dumps({"steps": steps, "blocks": info["blocks"], "scales": info["scales"],
                                               "thresholds": info["thresholds"], "out_scale": info["out_scale"]},
                                              indent=2))
    return out


def main(argv: list[str] | None = None) -> int:
    """``python -m depthsnn.vendors.netx OUT_DIR [PRESET]``: an interop case of a fresh ``PRESET``
    (default snn-portable-tiny) on a 33x49 input, for ``interop/netx_check.py``."""
    import sys

    import torch

    from ..export.graph import from_model
    from ..models import build_model

    args = sys.argv[1:] if argv is None else argv
    if not args:
        raise SystemExit("usage: python -m depthsnn.vendors.netx OUT_DIR [PRESET]")
    torch.manual_seed(0)
    model = build_model(args[1] if len(args) > 1 else "snn-portable-tiny")
    g = from_model(model.core, model.padded_size(33, 49))
    print(f"wrote {write_interop_case(g, args[0])}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
