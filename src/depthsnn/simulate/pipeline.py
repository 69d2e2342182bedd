"""Simulate a trained network over a data set: depth metrics, operation counts and parity.

``load_network`` accepts a training checkpoint (the graph is built from the model) or a NIR
file written by ``depthsnn export`` (the graph is read back; data options come from the
command line). ``simulate_dataset`` runs the event-driven simulator on each sample, crops the
integrator potential to the frame, scores it like ``depthsnn evaluate`` and accumulates the
counts; with ``check_dense`` it also runs the dense reference (``reference.dense_reference``:
the exporter's neuron arithmetic, convolutions summed in float64 and rounded once, exactly as
the simulator does) on the same input and reports mismatched spikes and the output difference.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from ..data.dataset import DataConfig, EventDepthDataset
from ..data.depth import denormalize_depth
from ..errors import ConfigError, DataError
from ..export.graph import DEFAULT_DT, NetGraph, from_model, host_output
from ..metrics import DepthMetrics
from .counts import SimCounts
from .engine import EventSimulator
from .quantize import QuantConfig
from .reference import dense_reference


@dataclass
class Network:
    """A spiking graph ready to simulate, with what is needed to feed and score it."""

    graph: NetGraph
    name: str
    kind: str  # snn | hnn
    input_hw: tuple[int, int]  # frame size before padding
    num_bins: int
    data: DataConfig | None  # the training data options (None for a bare NIR file)
    to_metres: Callable[[torch.Tensor], torch.Tensor] | None
    source: Path

    @property
    def node_ops(self) -> set[str]:
        return {n.op for n in self.graph.nodes if n.op not in ("input", "output")}


def load_network(path: str | Path, *, dt: float = DEFAULT_DT, normalized_depth: bool | None = None,
                 d_max: float = 10.0, alpha: float = 3.7) -> Network:
    """Checkpoint (``.pt``) or NIR file (``.nir``) -> :class:`Network`."""
    path = Path(path)
    if not path.is_file():
        raise DataError("model file not found", path)
    if path.suffix == ".nir":
        from ..export.nir_io import read_nir

        graph = read_nir(path)
        meta = graph.metadata
        mc = meta.get("model_config") or {}
        hw = tuple(meta.get("input_hw") or graph.input.shape[1:])
        to_m = partial(denormalize_depth, d_max=d_max, alpha=alpha) if normalized_depth else None
        return Network(graph, str(meta.get("name") or path.stem), mc.get("kind", "snn"), (int(hw[0]), int(hw[1])),
                       int(meta.get("num_bins") or 1), None, to_m, path)
    from ..train.checkpoint import model_from_checkpoint
    from ..train.loop import to_metres_fn

    model, cfg, ckpt = model_from_checkpoint(path)
    if model.cfg.kind == "ann":
        raise ConfigError("an ANN is not a spiking network: run it with 'depthsnn compare' (ONNX Runtime)", path)
    hw = tuple(ckpt.get("input_hw") or (260, 346))
    graph = from_model(model.core, model.padded_size(*hw), dt)
    return Network(graph, str(ckpt.get("name") or cfg.model), model.cfg.kind, (int(hw[0]), int(hw[1])),
                   cfg.data.num_bins, cfg.data, to_metres_fn(cfg), path)


def stored_encoding(graph: NetGraph) -> dict:
    """The encoding options (as :class:`DataConfig` fields) that a NIR file's export stored in its
    ``data`` metadata (``depthsnn.export.api.input_options``): those present, the rest left to the
    defaults. ``num_bins`` comes from the graph's own metadata (:attr:`Network.num_bins`)."""
    stored = graph.metadata.get("data") or {}
    return {k: stored[k] for k in ("window_ms", "rectify", "max_count", "presentation") if k in stored}


def open_dataset(net: Network, data_root: str | Path | None, split: str | None, subset: str) -> EventDepthDataset:
    """The data set to simulate on: the training data options, with root/split overridable."""
    if net.data is not None:
        data = net.data
    else:  # a NIR file: fed as it was trained, by the encoding options its export stored
        data = DataConfig(root="data/synthetic", split="synthetic", num_bins=net.num_bins,
                          **stored_encoding(net.graph))
    changes = {}
    if data_root is not None:
        changes["root"] = str(data_root)
    if split is not None:
        changes["split"] = split
    import dataclasses

    data = dataclasses.replace(data, cache_dir=None, **changes)
    channels = net.graph.input.shape[0]
    want = "binocular" if channels == 4 else "monocular"
    if data.cameras != want:
        data = dataclasses.replace(data, cameras=want)
    ds = EventDepthDataset.from_config(data, subset)
    if len(ds) == 0:
        raise DataError(f"subset '{subset}' of split '{data.split}' is empty", data.root)
    return ds


@dataclass
class DatasetSimulation:
    """Result of :func:`simulate_dataset` (counts summed over ``samples`` inferences)."""

    counts: SimCounts
    metrics: dict[str, float]
    samples: int
    seconds: float
    dtype: str
    weight_bits: int | None
    spike_mismatches: int | None = None
    spikes_compared: int | None = None
    max_rel_diff: float | None = None
    per_sample_seconds: list[float] = field(default_factory=list)
    engine: str = "event"  # "event", or the fast path's account (see simulate.fast.FastSimulator.engine)
    fallback_samples: int = 0  # samples the fast path handed to the event-driven engine

    def to_dict(self) -> dict:
        return {
            "samples": self.samples, "seconds": self.seconds, "dtype": self.dtype, "weight_bits": self.weight_bits,
            "engine": self.engine, "fallback_samples": self.fallback_samples,
            "metrics": self.metrics, "spike_mismatches": self.spike_mismatches,
            "spikes_compared": self.spikes_compared, "max_rel_diff": self.max_rel_diff,
            "counts": self.counts.to_dict(),
        }


def pad_frames(frames: torch.Tensor, shape: tuple[int, ...]) -> torch.Tensor:
    """[T, C, h, w] -> [T, C, H, W] zero-padded at the bottom/right (no events there)."""
    h, w = frames.shape[-2:]
    H, W = shape[-2:]
    if (H, W) == (h, w):
        return frames
    if h > H or w > W:
        raise ConfigError(f"frames {h}x{w} are larger than the network input {H}x{W}")
    return F.pad(frames, (0, W - w, 0, H - h))


def sample_indices(length: int, samples: int | None) -> list[int]:
    """Indices of up to ``samples`` items (all when None) evenly spaced over a data set of ``length``.

    The one choice of samples shared by the simulator and ``depthsnn compare``, so models run
    side by side see the same items.
    """
    n = length if samples is None else min(samples, length)
    if n < 1:
        raise ConfigError("nothing to simulate: choose at least one sample")
    return [int(i) for i in np.unique(np.linspace(0, length - 1, n).round().astype(int))]


def simulate_dataset(
    net: Network,
    dataset: EventDepthDataset,
    *,
    samples: int | None = None,
    dtype: type = np.float32,
    quantization: QuantConfig | None = None,
    check_dense: bool = False,
    progress: bool | str = False,
    engine: str = "event",
    device: str = "cpu",
) -> DatasetSimulation:
    """Simulate up to ``samples`` items of ``dataset`` (evenly spaced) event-driven.

    ``engine``: ``"event"`` (:class:`EventSimulator`) or ``"fast"``
    (:class:`~.fast.FastSimulator`: the same spikes, counts and outputs bit for bit from dense
    integer-exact arithmetic, handing any sample it cannot prove exact to the event engine).
    ``device``: where the fast path's dense arithmetic runs (``cuda``: the same bits, see
    :mod:`.fast`); the event engine always runs on the CPU.
    """
    idx = sample_indices(len(dataset), samples)
    if engine == "fast":
        from .fast import FastSimulator

        # One thread: on a shared 2-core machine two threads ran 10-20x slower (measured 2026-12-02);
        # the energy stage uses the cores with one process per precision instead.
        sim = FastSimulator(net.graph, dtype, quantization, threads=1, device=device)
    elif engine == "event":
        sim = EventSimulator(net.graph, dtype, quantization)
    else:
        raise ConfigError(f"simulation engine must be 'event' or 'fast', got {engine!r}")
    metrics = DepthMetrics(to_metres=net.to_metres)
    total: SimCounts | None = None
    mismatches = compared = 0
    max_rel = 0.0
    graded_sum = graded_nonzero = 0.0
    times = []
    t_all = time.perf_counter()
    desc = progress if isinstance(progress, str) else "simulate"
    for i in tqdm(idx, desc=desc, unit="sample", disable=not progress, leave=False):
        frames, depth, mask = dataset[int(i)]
        x = pad_frames(frames, net.graph.input.shape)
        graded_sum += float(x.sum())
        graded_nonzero += float((x != 0).sum())
        t0 = time.perf_counter()
        res = sim.run(x.numpy(), record_spikes=check_dense)
        times.append(time.perf_counter() - t0)
        total = res.counts if total is None else total.merge(res.counts)
        h, w = depth.shape
        pred = torch.as_tensor(host_output(net.graph, res.final)[0, :h, :w], dtype=torch.float32)
        metrics.update(pred[None], depth[None], mask[None])
        if check_dense:
            # The dense reference with the simulator's rounding (convs summed in float64, rounded
            # once): float32 GraphExecutor rounds in the BLAS kernel's own order, see reference.py.
            out, spikes = dense_reference(sim.graph, x.numpy(), dtype)
            for name, s in spikes.items():
                mismatches += int((res.spikes[name] != s).sum())
                compared += int(s.size)
            ref = out[-1].astype(np.float64)
            scale = max(float(np.abs(ref).max()), 1e-12)
            max_rel = max(max_rel, float(np.abs(res.final.astype(np.float64) - ref).max()) / scale)
    assert total is not None
    total.metadata["graded_input_mean"] = graded_sum / graded_nonzero if graded_nonzero else 1.0
    return DatasetSimulation(
        counts=total, metrics=metrics.compute(), samples=len(idx), seconds=time.perf_counter() - t_all,
        dtype=np.dtype(dtype).name, weight_bits=None if quantization is None else quantization.weight_bits,
        spike_mismatches=mismatches if check_dense else None, spikes_compared=compared if check_dense else None,
        max_rel_diff=max_rel if check_dense else None, per_sample_seconds=times,
        engine=sim.engine if engine == "fast" else "event",
        fallback_samples=sum(sim.fallbacks.values()) if engine == "fast" else 0,
    )
