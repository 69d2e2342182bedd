"""Event-driven simulator speed: synaptic events per second and the ratio to dense execution.

    python benchmarks/simulator_speed.py [--preset snn-tiny] [--T 4] [--densities 0.01 0.05 0.2]
                                         [--data SYNTHETIC_ROOT] [--repeats 2] [--low-gains 1.2 0.8]
                                         [--hw 260 346]

Runs ``preset`` at MVSEC resolution (260x346, padded to 272x352) on one core
(``torch.set_num_threads(1)``): the event-driven :class:`~depthsnn.simulate.EventSimulator`
(float32 state, float64 synaptic accumulation) against the dense torch
:class:`~depthsnn.export.executor.GraphExecutor` on the same input. Inputs are Bernoulli event
frames at each ``--densities`` value (counts 1..3), plus real samples of a synthetic data set
when ``--data`` points to one. Synaptic events = ACs + MACs counted by the simulator. Writes
the ``simulator-speed`` section of BENCHMARKS.md. :func:`run` is the same measurement for
``benchmarks/run_all.py`` and the smoke test.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
import torch.nn.functional as F

from _report import machine, today, write_section
from depthsnn.export.executor import GraphExecutor
from depthsnn.export.graph import from_model
from depthsnn.models import build_model
from depthsnn.simulate import EventSimulator


def best_time(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def measure(sim: EventSimulator, dense: GraphExecutor, x: np.ndarray, repeats: int) -> dict:
    result = sim.run(x)
    xt = torch.from_numpy(x)[:, None]
    t_event = best_time(lambda: sim.run(x), repeats)
    with torch.no_grad():
        t_dense = best_time(lambda: dense(xt), repeats)
    c = result.counts
    syn = c.total("acs") + c.total("macs")
    return {"input_density": float((x != 0).mean()), "firing_rate": c.firing_rate(), "syn_events": syn,
            "dense_ops": c.total("dense_ops"), "t_event": t_event, "t_dense": t_dense,
            "events_per_s": syn / t_event, "speedup": t_dense / t_event}


def synthetic_inputs(root: str, T: int, hw: tuple[int, int], count: int) -> list[tuple[str, np.ndarray]]:
    """``count`` test samples of a synthetic set, zero-padded to ``hw``."""
    from depthsnn.data.dataset import EventDepthDataset
    from depthsnn.data.encoding import EncodingConfig

    ds = EventDepthDataset(root, "synthetic", "test", encoding=EncodingConfig(num_bins=T))
    out = []
    for i in np.linspace(0, len(ds) - 1, count).astype(int):
        frames = ds[int(i)][0].float()
        h, w = frames.shape[-2:]
        out.append((f"synthetic #{i}", F.pad(frames, (0, hw[1] - w, 0, hw[0] - h)).numpy()))
    return out


def run(preset: str = "snn-tiny", T: int = 4, densities=(0.01, 0.05, 0.2), data: str | None = None,
        repeats: int = 2, low_gains=(1.2, 0.8), hw_in: tuple[int, int] = (260, 346),
        checkpoint: str | None = None) -> list[dict]:
    """Measure every input (and low-gain model), write the section; one dict per table row.

    Rows are :func:`measure`'s dicts plus ``name``. Runs on one torch thread and restores the
    caller's thread count afterwards (``run_all`` times other benchmarks in the same process).
    """
    threads = torch.get_num_threads()
    try:
        return _run(preset, T, densities, data, repeats, low_gains, hw_in, checkpoint)
    finally:
        torch.set_num_threads(threads)


def _run(preset, T, densities, data, repeats, low_gains, hw_in, checkpoint=None) -> list[dict]:
    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = build_model(preset)
    hw = model.padded_size(*hw_in)
    graph = from_model(model.core, hw)
    sim = EventSimulator(graph, np.float32)
    dense = GraphExecutor(graph, torch.float32)
    g = torch.Generator().manual_seed(0)
    inputs = []
    for d in densities:
        shape = (T, graph.input.shape[0], *hw)
        x = (torch.rand(shape, generator=g) < d).float() * torch.randint(1, 4, shape, generator=g).float()
        inputs.append((f"Bernoulli {d:.0%}", x.numpy()))
    if data:
        inputs += synthetic_inputs(data, T, hw, 2)
    lines = [
        "## Event-driven simulator speed (`benchmarks/simulator_speed.py`)",
        "",
        f"{today()}; {machine()}.",
        f"{preset} at {hw_in[0]}x{hw_in[1]} (padded {hw[0]}x{hw[1]}), T={T}, one sample, 1 torch thread, "
        "best of {r}. Event-driven: `EventSimulator` (float32 state, float64 accumulation); dense: "
        "`GraphExecutor` float32 (torch conv2d). Synaptic events = ACs + MACs per inference; "
        "dense ops = every in-bounds synapse every step. Untrained weights (init gain 2.5 unless stated; lower gains fire less).".format(r=repeats),
        "",
        "| input | input density | firing rate | synaptic events | dense ops | event-driven s | dense s "
        "| events/s | dense/event time |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    runs = [(name, sim, dense, x) for name, x in inputs]
    base_name, base_x = inputs[min(1, len(inputs) - 1)]  # the 5 % input with the default densities
    for gain in low_gains:
        torch.manual_seed(0)
        gm = from_model(build_model(preset, init_gain=gain).core, hw)
        runs.append((f"{base_name}, init gain {gain}", EventSimulator(gm, np.float32),
                     GraphExecutor(gm, torch.float32), base_x))
    if checkpoint:  # a trained network on real samples: the realistic firing rate
        from depthsnn.simulate.pipeline import load_network

        net = load_network(checkpoint)
        root = data or (net.data.root if net.data else None)
        if root:
            gt = net.graph
            st, dt_ = EventSimulator(gt, np.float32), GraphExecutor(gt, torch.float32)
            for name, x in synthetic_inputs(root, net.num_bins, gt.input.shape[1:], 2):
                runs.append((f"trained {net.name} (T={net.num_bins}), {name}", st, dt_, x))
    results = []
    for name, sim_, dense_, x in runs:
        m = measure(sim_, dense_, x, repeats)
        results.append({"name": name, **m})
        row = (f"| {name} | {m['input_density']:.3f} | {m['firing_rate']:.3f} | {m['syn_events'] / 1e6:.1f} M "
               f"| {m['dense_ops'] / 1e6:.0f} M | {m['t_event']:.2f} | {m['t_dense']:.2f} "
               f"| {m['events_per_s'] / 1e6:.0f} M | {m['speedup']:.2f}x |")
        print(row, flush=True)
        lines.append(row)
    lines += ["", "dense/event time > 1: the event-driven simulator is faster than dense torch on one core."]
    write_section("simulator-speed", "\n".join(lines))
    return results


def main(argv: list[str] | None = None) -> list[dict]:
    """Command line entry point (``argv`` for callers; default ``sys.argv``)."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", default="snn-tiny")
    ap.add_argument("--T", type=int, default=4)
    ap.add_argument("--densities", nargs="+", type=float, default=[0.01, 0.05, 0.2])
    ap.add_argument("--data", help="root of a synthetic data set generated at 346x260 (optional)")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--checkpoint", help="also time this trained SNN checkpoint on real samples of --data")
    ap.add_argument("--low-gains", nargs="*", type=float, default=[1.2, 0.8],
                    help="extra init gains (5%% input) giving lower firing rates")
    ap.add_argument("--hw", nargs=2, type=int, default=[260, 346], metavar=("H", "W"),
                    help="input size before padding")
    args = ap.parse_args(argv)
    return run(args.preset, args.T, args.densities, args.data, args.repeats, args.low_gains, tuple(args.hw),
               args.checkpoint)


if __name__ == "__main__":
    main()
