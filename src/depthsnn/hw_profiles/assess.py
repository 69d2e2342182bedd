"""Energy, fit and accuracy of one spiking network on each chip profile.

For each profile the network is simulated at the profile's weight precision (float when the
chip computes in floating point, else symmetric per-layer integer weights of ``weight_bits``),
so both the operation counts that set the energy and the MDE reported come from the network the
chip would actually run. Simulations are shared between profiles of the same precision. The
default engine is the exact fast path (:mod:`depthsnn.simulate.fast`: the event-driven
simulator's spikes, counts and outputs bit for bit, from dense integer-exact arithmetic, with
the event-driven engine for any sample it cannot prove exact), which makes whole test subsets
affordable; ``engine="event"`` runs the event-driven reference itself.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..simulate.pipeline import DatasetSimulation, Network, simulate_dataset
from ..simulate.quantize import QuantConfig
from .energy import energy_per_inference, per_map_mj
from .mapping import check_fit
from .profile import HardwareProfile
from .report import EnergyRow


@dataclass
class ProfileAssessment:
    """One profile: energy row (breakdown + fit) and the simulation it was computed from."""

    profile: HardwareProfile
    row: EnergyRow
    simulation: DatasetSimulation

    @property
    def precision(self) -> str:
        bits = self.simulation.weight_bits
        return "float32" if bits is None else f"int{bits} weights"

    def to_dict(self) -> dict:
        return {
            "profile": self.profile.name,
            "precision": self.precision,
            "samples": self.simulation.samples,
            "mde_cm": self.simulation.metrics.get("mde_cm"),
            "metrics": self.simulation.metrics,
            "dynamic_mj": self.row.breakdown.dynamic_mj,
            "per_map_mj": per_map_mj(self.row.breakdown),
            "energy": self.row.breakdown.to_dict(),
            "fit": self.row.fit.to_dict() if self.row.fit is not None else None,
            "fit_lines": self.row.fit.lines() if self.row.fit is not None else [],
        }


# Samples the energy stage simulates by default (capped at the subset's size): the fast path
# costs ~0.2-0.5 s per sample and precision on one core against 2-20 s event-driven, so 200
# samples at the four built-in precisions take a few minutes (benchmarks/energy_speed.py).
DEFAULT_ENERGY_SAMPLES = 200
ENGINES = ("fast", "event")


def weight_bits_for(profile: HardwareProfile) -> int | None:
    """Bits to quantise weights to on ``profile`` (None: the chip computes in float)."""
    if profile.weights_are_float or profile.weight_bits >= 32:
        return None
    return int(profile.weight_bits)


# Simulations of one network on one dataset, by (weight bits or None, samples). The engine is not
# part of the key: the fast path's results equal the event-driven engine's bit for bit.
SimulationCache = dict[tuple[int | None, int | None], DatasetSimulation]


def cached_simulation(
    cache: SimulationCache,
    net: Network,
    dataset,
    bits: int | None,
    samples: int | None,
    progress: bool | str = False,
    engine: str = "fast",
    device: str = "cpu",
) -> DatasetSimulation:
    """``cache[(bits, samples)]``, simulated first (float32 state, ``bits``-bit integer weights or
    float32 weights for None; ``engine`` ``"fast"`` or ``"event"``; ``device``: where the fast
    path's dense arithmetic runs) when the cache does not hold it yet."""
    key = (bits, samples)
    if key not in cache:
        quant = None if bits is None else QuantConfig(weight_bits=bits)
        cache[key] = simulate_dataset(net, dataset, samples=samples, dtype=np.float32, quantization=quant,
                                      progress=progress, engine=engine, device=device)
    return cache[key]


# The (net, dataset, samples, engine) job of a forked precision worker, set once per worker by
# its initializer. The job reaches the worker through fork, never pickled (the network's depth
# conversion is a closure); the parent process never sets it.
_WORKER_JOB: tuple | None = None


def _init_worker(job: tuple) -> None:
    global _WORKER_JOB
    import torch

    torch.set_num_threads(1)
    _WORKER_JOB = job


def _simulate_in_worker(bits: int | None) -> tuple[int | None, DatasetSimulation]:
    net, dataset, samples, engine = _WORKER_JOB
    quant = None if bits is None else QuantConfig(weight_bits=bits)
    return bits, simulate_dataset(net, dataset, samples=samples, dtype=np.float32, quantization=quant, engine=engine)


def simulate_precisions(cache: SimulationCache, net: Network, dataset, precisions: Sequence[int | None],
                        samples: int | None, engine: str = "fast", jobs: int = 1) -> None:
    """Fill ``cache`` with the simulations of ``precisions`` it lacks, up to ``jobs`` at a time in
    forked worker processes of one thread each (sequentially when ``jobs`` is 1, one precision is
    missing, or the platform cannot fork). Float32 goes first: it is the slowest."""
    missing = sorted({b for b in precisions if (b, samples) not in cache}, key=lambda b: -1 if b is None else b)
    if jobs <= 1 or len(missing) < 2 or "fork" not in multiprocessing.get_all_start_methods():
        return
    # fork: a process's arguments, the initializer's included, are inherited, not pickled.
    with ProcessPoolExecutor(min(jobs, len(missing)), mp_context=multiprocessing.get_context("fork"),
                             initializer=_init_worker, initargs=((net, dataset, samples, engine),)) as pool:
        for bits, sim in pool.map(_simulate_in_worker, missing):
            cache[(bits, samples)] = sim


def assess_profiles(
    net: Network,
    dataset,
    profiles: Sequence[HardwareProfile],
    *,
    samples: int | None = DEFAULT_ENERGY_SAMPLES,
    latency_s: float | None = None,
    progress: bool = False,
    simulations: SimulationCache | None = None,
    engine: str = "fast",
    jobs: int = 1,
    device: str = "cpu",
) -> list[ProfileAssessment]:
    """Simulate ``net`` once per distinct precision and cost it on every profile.

    ``simulations``: a dict shared between calls on the *same* network and dataset (keyed by
    weight bits and sample count), so a later call reuses the simulations of an earlier one.
    ``engine``: ``"fast"`` (exact fast path, default) or ``"event"`` (event-driven reference).
    ``jobs``: precisions simulated at once in worker processes (see :func:`simulate_precisions`).
    ``device``: where the fast path's dense arithmetic runs (``cuda``: the same bits on the GPU;
    precisions then run one after the other in this process, CUDA does not survive a fork).
    """
    if engine not in ENGINES:
        from ..errors import ConfigError

        raise ConfigError(f"simulation engine must be one of {', '.join(ENGINES)}, got {engine!r}")
    sims: SimulationCache = {} if simulations is None else simulations
    if device == "cpu":
        simulate_precisions(sims, net, dataset, [weight_bits_for(p) for p in profiles], samples, engine, jobs)
    out = []
    for p in profiles:
        bits = weight_bits_for(p)
        label = "simulate float32" if bits is None else f"simulate int{bits}"
        sim = cached_simulation(sims, net, dataset, bits, samples, progress=label if progress else False,
                                engine=engine, device=device)
        counts = sim.counts
        counts.metadata.setdefault("weights_are_float", bits is None)
        counts.metadata["weight_bits"] = 32 if bits is None else bits
        row = EnergyRow(energy_per_inference(counts, p, latency_s), check_fit(counts, p, net.node_ops, net.graph))
        out.append(ProfileAssessment(p, row, sim))
    return out


def assessment_report(model: str, name: str, kind: str, latency_s: float | None,
                      assessments: Sequence[ProfileAssessment]) -> dict:
    """JSON-ready report: per profile energy/fit/MDE, and the counts of each distinct simulation
    (keyed by precision) so every energy figure can be recomputed from the counts it came from."""
    sims = {a.precision: a.simulation for a in assessments}
    return {
        "model": model, "name": name, "kind": kind, "latency_s": latency_s,
        "samples": assessments[0].simulation.samples if assessments else 0,
        "profiles": [a.to_dict() for a in assessments],
        "simulations": {k: {"samples": v.samples, "engine": v.engine, "fallback_samples": v.fallback_samples,
                            "metrics": v.metrics, "seconds": v.seconds, "counts": v.counts.to_dict()}
                        for k, v in sims.items()},
    }


def fill_results_energy(results_dir: Path, net: Network, assessments: Sequence[ProfileAssessment],
                        primary: str = "loihi") -> None:
    """Put ``primary``'s energy per inference into ``net``'s row of an evaluation's results table
    (``results.json`` / ``results.md`` written by ``depthsnn evaluate``)."""
    import json

    from ..errors import ConfigError, DataError
    from ..evaluate.report import RESULTS_JSON, ResultRow, write_results

    match = [a for a in assessments if a.profile.name == primary]
    if not match:
        raise ConfigError(f"profile {primary!r} is not among the costed profiles")
    path = Path(results_dir) / RESULTS_JSON
    if not path.is_file():
        raise DataError("no results.json here (run depthsnn evaluate first)", results_dir)
    rows = [ResultRow(**r) for r in json.loads(path.read_text())["rows"]]
    hit = [r for r in rows
           if r.name == net.name or (r.checkpoint and Path(r.checkpoint).resolve() == net.source.resolve())]
    if not hit:
        raise DataError(f"results table has no row for model {net.name!r}", path)
    for r in hit:
        r.energy_mj = match[0].row.breakdown.total_mj
        r.note = ((r.note + "; ") if r.note else "") + \
            f"energy on {primary} ({match[0].precision}, {match[0].simulation.samples} samples)"
    write_results(results_dir, rows)
