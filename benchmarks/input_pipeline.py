"""Training input pipeline alone (no model): samples/s delivered at 260x346.

    python benchmarks/input_pipeline.py [--data DIR] [--batch 8]

Side by side in one run, on the same samples: the DataLoader that bins every window from HDF5
per step (0 and N worker processes: what `depthsnn train` used before), the one-off binning of
the in-memory store (``depthsnn.data.memory``), and batches served from that store (what
`depthsnn train` uses now). Target (issue 25): at least 1,000 samples/s on 2 cores, so that a GPU
training at a few hundred samples/s never waits for its input. Writes the ``input-pipeline``
section of BENCHMARKS.md. :func:`serve_rate` measures the store alone on random counts. The
target is checked here, not in the test suite: a timed assertion fails whenever the machine is
busy (it read 40 samples/s beside two trainings on 2026-12-06).
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader, DistributedSampler, TensorDataset

from _report import machine, today, write_section
from depthsnn.data.memory import InMemorySamples, MemoryBatches


def _epochs(loader_of_epoch, epochs: int) -> float:
    """Samples/s of the fastest of ``epochs`` passes (``loader_of_epoch(e)`` -> iterable of batches):
    the best pass is the pipeline's own speed, the others also measure whatever else ran meanwhile."""
    best = 0.0
    for e in range(epochs):
        n, t0 = 0, time.perf_counter()
        for frames, _, _ in loader_of_epoch(e):
            n += frames.shape[0]
        best = max(best, n / (time.perf_counter() - t0))
    return best


def serve_rate(samples: int = 64, batch: int = 8, epochs: int = 3, hw: tuple[int, int] = (260, 346),
               device: str = "cpu") -> float:
    """Samples/s of :class:`MemoryBatches` over random event counts (binocular, T = 1, ~10 % active)."""
    g = torch.Generator().manual_seed(0)
    frames = (torch.rand(samples, 1, 4, *hw, generator=g) < 0.1).float() * torch.randint(1, 5, (1, 1, 4, *hw),
                                                                                         generator=g)
    depth = torch.rand(samples, *hw, generator=g)
    store = InMemorySamples.load(TensorDataset(frames, depth, depth > 0.2)).to(device)
    sampler = DistributedSampler(range(samples), num_replicas=1, rank=0, shuffle=True, seed=0)

    def epoch(e):
        sampler.set_epoch(e)
        return MemoryBatches(store, sampler, batch, device)

    epoch(0)  # warm-up
    return _epochs(epoch, epochs)


def _dataset(data: Path | None, tmp: Path):
    from depthsnn.data.dataset import EventDepthDataset
    from depthsnn.data.splits import default_split
    from depthsnn.data.synthetic import SynthConfig, generate_dataset

    if data is None:
        data = tmp / "synthetic"
        if not data.exists():
            generate_dataset(data, SynthConfig(sequences=12), progress=False)
    return EventDepthDataset(data, default_split(data), "train")


WORKDIR = Path(__file__).resolve().parent.parent / "build" / "bench_pipeline"


def run(data: Path | None = None, batch: int = 8, workdir: Path = WORKDIR) -> dict:
    ds = _dataset(data, workdir)
    n = len(ds)
    workers = min(os.cpu_count() or 1, 8)
    rates = {}
    for w in (0, workers):
        rates[f"DataLoader, bins per step, {w} workers"] = _epochs(
            lambda e, w=w: DataLoader(ds, batch_size=batch, shuffle=True, num_workers=w), 1)
    t0 = time.perf_counter()
    store = InMemorySamples.load(ds, num_workers=workers)
    preload_s = time.perf_counter() - t0
    sampler = DistributedSampler(range(n), num_replicas=1, rank=0, shuffle=True, seed=0)

    def served(e):
        sampler.set_epoch(e)
        return MemoryBatches(store, sampler, batch, "cpu")

    rates["in-memory store (depthsnn train), served"] = _epochs(served, 5)
    rates["in-memory store, random 260x346 counts"] = serve_rate(batch=batch)
    lines = [
        "## Input pipeline (`benchmarks/input_pipeline.py`)",
        "",
        f"{today()}, {machine()}.",
        f"{n} training samples of {data or 'a generated 12-sequence synthetic set'} at 260x346, binocular, "
        f"T = {ds.encoding.num_bins}, batch {batch}; pipeline alone (no model). One-off binning into the "
        f"store: {preload_s:.1f} s ({n / preload_s:.0f} samples/s, {workers} workers), "
        f"{store.nbytes / n / 1e6:.2f} MB per sample held (frames as {str(store.frames.dtype).replace('torch.', '')}).",
        "",
        "| pipeline | samples/s |",
        "| :--- | ---: |",
        *(f"| {k} | {v:.0f} |" for k, v in rates.items()),
    ]
    write_section("input-pipeline", "\n".join(lines))
    print("\n".join(lines))
    return rates


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, help="data folder (default: a generated 12-sequence synthetic set)")
    ap.add_argument("--batch", type=int, default=8)
    args = ap.parse_args(argv)
    return run(args.data, args.batch)


if __name__ == "__main__":
    main()
