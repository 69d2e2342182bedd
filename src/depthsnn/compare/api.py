"""``compare``: an ANN baseline in onnxruntime against SNNs/HNNs in the event-driven simulator.

Every model runs on the same samples (evenly spaced over the subset, chosen by
:func:`~depthsnn.simulate.pipeline.sample_indices`). The result has one row per model and
runtime or hardware profile:

* ANN, ``onnxruntime``: metrics of the exported file, measured warm batch-1 latency, dense MACs.
* ANN on each ANN profile (GPU, CPU, 45 nm ASIC): energy ``ann_energy(dense MACs)``; latency is
  the profile's throughput estimate.
* SNN/HNN, ``simulator``: float32 simulation, its metrics, the median per-sample wall time of the
  simulator on this machine's CPU (not a chip latency; the exact fast path by default, see
  :mod:`depthsnn.simulate.fast`, its engine named in the model's ``simulation`` entry), ACs + MACs
  per inference.
* SNN/HNN on each neuromorphic profile: simulated at the chip's weight precision
  (:func:`~depthsnn.hw_profiles.assess.assess_profiles`), so MDE and energy are those of the
  network the chip would run; latency is the chip's own timing estimate when it has one.

Same hardware first: every profile that can run both networks (it has a MAC energy for the ANN
and supports the spiking model's node types) costs both, so an SNN row there carries
``same_hardware_ratio`` = ANN energy on that profile / SNN energy on it - the ratio that isolates
what spikes buy. ANN profiles are thus also SNN profiles where the SNN can run (and SNN profiles
with a MAC energy also cost the ANN). ``cross_platform_ratio`` is the reference ANN energy (on
``REFERENCE_PROFILE`` when costed, else the first ANN profile) over the row's energy; it mixes
what the network does with what the platform costs. For both, > 1 means the row is cheaper.

Static energy uses the input window as latency (real-time operation, like
``depthsnn energy --latency window``).
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import __version__
from ..errors import ConfigError, DataError
from .ann_runtime import AnnModel, AnnRun, ann_dataset, load_ann, run_ann
from .ops import MacCount, dense_macs

if TYPE_CHECKING:
    from ..hw_profiles.assess import SimulationCache

# Current ANN platforms first; the Titan Black ("gpu", 2014) stays available as a legacy profile.
DEFAULT_ANN_PROFILES = ("jetson_orin_nano", "gpu_h200", "gpu_h100", "coral_edgetpu", "cpu", "asic45nm_fp32", "asic45nm_int8",
                        "lemaire45nm")
# The cross-platform reference: an edge GPU, where a depth sensor's ANN would realistically run.
REFERENCE_PROFILE = "jetson_orin_nano"
JSON_FORMAT = "depthsnn-compare"
JSON_VERSION = 3  # 2: ratio split into same_hardware_ratio and cross_platform_ratio; 3: dynamic_mj, per_map_mj
#: What energy_mj (and the ratios) rank by: energy per depth map at the sensor's rate.
RANKED_BY = "per_map_mj"
RANKED_BY_TEXT = ("energy per depth map at the sensor's rate (per_map_mj: dynamic + static power over the window, "
                  "what a battery pays)")
DEFAULT_WINDOW_S = 0.05


@dataclass
class CompareRow:
    """One model on one runtime (``onnxruntime``, ``simulator``) or hardware profile.

    ``latency_source``: ``measured`` (wall time on this machine) or ``estimate`` (the profile's
    timing model); None with ``latency_s`` when unknown. ``ops`` is per inference: dense MACs for
    the ANN, ACs + MACs for spiking models (``ops_detail`` splits them and adds ``dense_ops``).
    ``dynamic_mj``: energy above idle per inference; ``per_map_mj``: energy per depth map at the
    sensor's rate (dynamic + static power over the window; equal to dynamic when the profile gives
    no static power). ``energy_mj`` is the figure ranked by (``RANKED_BY``: ``per_map_mj``).
    ``energy`` is the profile's breakdown dict (None for runtime rows); ``estimated`` says whether
    it uses estimated profile numbers. ``same_hardware_ratio`` (spiking rows on a profile that also
    costs the ANN): ANN energy there / this row's; ``cross_platform_ratio``: ANN energy on the
    reference profile / this row's.
    """

    model: str
    kind: str  # ANN | SNN | HNN
    runtime: str
    precision: str
    metrics: dict[str, float]
    latency_s: float | None
    latency_source: str | None
    ops: float
    ops_type: str
    ops_detail: dict[str, float] = field(default_factory=dict)
    energy_mj: float | None = None
    energy: dict[str, Any] | None = None
    estimated: bool = False
    dynamic_mj: float | None = None
    per_map_mj: float | None = None
    same_hardware_ratio: float | None = None
    cross_platform_ratio: float | None = None
    fits: str | None = None

    @property
    def is_profile(self) -> bool:
        return self.energy_mj is not None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass
class Comparison:
    """Everything :func:`compare` measured (``to_dict`` is the JSON report)."""

    rows: list[CompareRow]
    models: list[dict[str, Any]]
    data: dict[str, Any]
    reference: dict[str, Any]
    notes: list[str] = field(default_factory=list)
    same_hardware: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"format": JSON_FORMAT, "version": JSON_VERSION, "producer": f"depthsnn {__version__}",
                "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
                "data": self.data, "reference": self.reference, "same_hardware": self.same_hardware,
                "models": self.models, "rows": [r.to_dict() for r in self.rows], "notes": self.notes}


def _profiles(names: Sequence[str] | None, default: Sequence[str], what: str):
    from ..hw_profiles import get_profile

    names = list(default if names is None else names)
    if not names:
        raise ConfigError(f"{what}: give at least one profile")
    return [get_profile(n) for n in names]


def neuromorphic_profile_names() -> list[str]:
    """Built-in profiles of kind ``neuromorphic`` (the default SNN profiles)."""
    from ..hw_profiles import builtin_profiles

    return [name for name, p in builtin_profiles().items() if p.kind == "neuromorphic"]


def runs_network(profile, graph) -> bool:
    """Whether ``profile`` supports every node operation of the spiking ``graph``."""
    return {n.op for n in graph.nodes if n.op not in ("input", "output")} <= set(profile.node_types)


def _load_snn(path: Path):
    from ..simulate.pipeline import load_network

    try:
        return load_network(path)
    except ConfigError as exc:
        if "ANN" in exc.problem:  # load_network refuses ANNs; say which option takes them
            raise ConfigError("--snn takes an SNN or HNN, this checkpoint is an ANN (pass it as --ann)",
                              path) from None
        raise


def _describe_input(kind: str, name: str, channels: int, hw: tuple[int, int]) -> str:
    modality = {4: "binocular", 2: "monocular"}.get(channels, f"{channels}-channel")
    return f"{kind} {name!r} takes {modality} {hw[0]}x{hw[1]} input"


def _check_inputs(ann: AnnModel, nets) -> None:
    """ANN and spiking models must take the same modality and resolution to share samples."""
    for net in nets:
        ch = int(net.graph.input.shape[0])
        if ch != ann.channels or tuple(net.input_hw) != ann.input_hw:
            raise ConfigError(
                f"{_describe_input('the ANN', ann.name, ann.channels, ann.input_hw)} but "
                f"{_describe_input('the ' + net.kind.upper(), net.name, ch, net.input_hw)}: "
                "models trained on different modalities or resolutions cannot run on the same samples")


def _check_samples(named: Sequence[tuple[str, Any]]) -> None:
    """Every model's data set must list the same samples, so the same indices pick the same items."""
    ref_name, ref = named[0]
    for name, ds in named[1:]:
        if ds.samples != ref.samples:
            raise DataError(f"the data sets of {name!r} ({len(ds)} samples of split {ds.split_name!r}) and "
                            f"{ref_name!r} ({len(ref)} samples of split {ref.split_name!r}) differ: the "
                            "models cannot run on the same samples (pass --data/--split)")


def compare(
    ann: str | Path,
    snns: Sequence[str | Path],
    out_dir: str | Path,
    *,
    data_root: str | Path | None = None,
    split: str | None = None,
    subset: str = "test",
    samples: int = 8,
    repeats: int = 5,
    ann_profiles: Sequence[str] | None = None,
    snn_profiles: Sequence[str] | None = None,
    progress: bool = False,
    say: Callable[[str], None] | None = None,
    simulations: Mapping[str, SimulationCache] | None = None,
) -> Comparison:
    """Run ``ann`` (checkpoint or ONNX) and each of ``snns`` on the same samples; see the module docstring.

    A checkpoint ``ann`` is exported to ``out_dir/<name>.onnx`` first. Profiles are names of
    built-in profiles or TOML paths; ``snn_profiles`` None means every neuromorphic built-in.
    The ANN is also costed on each SNN profile with a MAC energy, and each spiking model also on
    each ANN profile that supports its node types (the same-hardware pairs).
    Writes nothing else (see :func:`~depthsnn.compare.report.write_outputs`). ``simulations``
    maps an entry of ``snns`` (as given) to the simulation cache of an earlier
    :func:`~depthsnn.hw_profiles.assess.assess_profiles` call on the same test subset, whose
    simulations are then reused instead of run again.
    """
    from ..hw_profiles import ann_energy, ann_latency_s, estimate_latency
    from ..hw_profiles.assess import assess_profiles, cached_simulation
    from ..hw_profiles.energy import per_map_mj
    from ..models.portable import host_step_cost
    from ..simulate.pipeline import open_dataset, sample_indices

    say = say or (lambda _msg: None)
    if samples < 1:
        raise ConfigError(f"--samples must be >= 1, got {samples}")
    if repeats < 1:
        raise ConfigError(f"--repeats must be >= 1, got {repeats}")
    if not snns:
        raise ConfigError("give at least one spiking model (--snn)")
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise ConfigError("output path exists and is not a folder", out_dir)
    a_profiles = _profiles(ann_profiles, DEFAULT_ANN_PROFILES, "--ann-profiles")
    s_profiles = _profiles(snn_profiles, neuromorphic_profile_names(), "--snn-profiles")
    for p in a_profiles:
        if p.e_mac_pj is None:
            raise ConfigError(f"--ann-profiles: profile {p.name!r} has no MAC energy (e_mac_pj): it cannot run "
                              "a dense ANN")

    host_notes: list[str] = []
    nets = []
    for path in snns:
        net = _load_snn(Path(path))
        if net.data is None and data_root is None:
            raise ConfigError("a NIR file does not say which data it was trained on: pass --data DIR", path)
        nets.append(net)
    model = load_ann(ann, out_dir, fallback_data=nets[0].data)
    _check_inputs(model, nets)
    datasets = [open_dataset(net, data_root, split, subset) for net in nets]
    a_ds = ann_dataset(model, data_root, split, subset)
    _check_samples([(f"ANN {model.name}", a_ds), *((f"{n.kind.upper()} {n.name}", d) for n, d in zip(nets, datasets, strict=True))])
    indices = sample_indices(len(a_ds), samples)

    say(f"[compare] ANN {model.name}: onnxruntime on {len(indices)} samples")
    run: AnnRun = run_ann(model, a_ds, indices, repeats)
    macs: MacCount = dense_macs(model.model, model.input_hw, model.num_bins)
    window = sensor_window_s(model.data)
    rows = [CompareRow(model.name, "ANN", f"onnxruntime ({run.provider})", "float32", run.metrics, run.latency_s,
                       "measured", float(macs.macs), "MACs", {"macs": float(macs.macs)})]
    a_names = {p.name for p in a_profiles}
    a_profiles = a_profiles + [p for p in s_profiles if p.e_mac_pj is not None and p.name not in a_names]
    for p in a_profiles:
        b = ann_energy(macs.macs, p, latency_s=window, layers=macs.convs, timesteps=macs.timesteps,
                       kernels=macs.kernels)
        mj = per_map_mj(b)
        rows.append(CompareRow(model.name, "ANN", p.name, "float32", run.metrics,
                               ann_latency_s(macs.macs, p, macs.kernels),
                               "estimate", float(macs.macs), "MACs", {"macs": float(macs.macs)}, mj,
                               b.to_dict(), bool(b.estimated_fields), dynamic_mj=b.dynamic_mj, per_map_mj=mj))
    ref_profile = REFERENCE_PROFILE if any(p.name == REFERENCE_PROFILE for p in a_profiles) else a_profiles[0].name
    ref_mj = next(r.energy_mj for r in rows if r.runtime == ref_profile)

    models: list[dict[str, Any]] = [{
        "name": model.name, "kind": "ANN", "source": str(model.source), "onnx": str(model.onnx_path),
        "input_hw": list(model.input_hw), "num_bins": model.num_bins, "modality": model.modality,
        "window_s": window, "onnxruntime": run.to_dict(), "dense_macs": macs.to_dict(), "export": model.export}]
    for path, net, ds in zip(snns, nets, datasets, strict=True):
        kind = net.kind.upper()
        net_window = sensor_window_s(net.data)
        say(f"[compare] {kind} {net.name}: simulator float32 and {len(s_profiles)} profiles")
        cache = (simulations or {}).get(str(path), {})
        sim = cached_simulation(cache, net, ds, None, samples, progress=f"simulate {net.name}" if progress else False)
        rows.append(CompareRow(net.name, kind, "simulator (this CPU)", "float32", sim.metrics,
                               _median(sim.per_sample_seconds), "measured", *_spiking_ops(sim.counts)))
        s_names = {p.name for p in s_profiles}
        net_profiles = s_profiles + [p for p in a_profiles if p.name not in s_names and runs_network(p, net.graph)]
        assessments = assess_profiles(net, ds, net_profiles, samples=samples, latency_s=net_window,
                                      progress=progress, simulations=cache)
        for a in assessments:
            b = a.row.breakdown
            mj = per_map_mj(b)
            rows.append(CompareRow(net.name, kind, a.profile.name, a.precision, a.simulation.metrics,
                                   estimate_latency(a.simulation.counts, a.profile), "estimate",
                                   *_spiking_ops(a.simulation.counts), mj, b.to_dict(),
                                   bool(b.estimated_fields), fits=a.row.fit.verdict if a.row.fit else None,
                                   dynamic_mj=b.dynamic_mj, per_map_mj=mj))
        host = host_step_cost(net.graph.metadata.get("host_upsample"), net.graph.output.shape[1:])
        models.append({"name": net.name, "kind": kind, "source": str(net.source), "input_hw": list(net.input_hw),
                       "num_bins": net.num_bins, "window_s": net_window, "simulation": sim.to_dict(),
                       "profiles": [a.to_dict() for a in assessments], "host_step": host})
        if host:
            host_notes.append(f"{net.name}: the chip outputs a coarse depth map; host step: {host['text']}.")
    ann_on = {r.runtime: r for r in rows if r.kind == "ANN" and r.is_profile}
    same_hardware = []
    for r in rows:
        if r.energy_mj is not None:
            r.cross_platform_ratio = ref_mj / r.energy_mj if r.energy_mj > 0 else None
            a = ann_on.get(r.runtime)
            if r.kind != "ANN" and a is not None:
                r.same_hardware_ratio = a.energy_mj / r.energy_mj if r.energy_mj > 0 else None
                same_hardware.append({"profile": r.runtime, "model": r.model, "kind": r.kind, "precision": r.precision,
                                      "ann_model": a.model, "ann_mj": a.energy_mj, "mj": r.energy_mj,
                                      "dynamic_mj": r.dynamic_mj, "ann_dynamic_mj": a.dynamic_mj,
                                      "per_map_mj": r.per_map_mj, "ann_per_map_mj": a.per_map_mj,
                                      "dynamic_ratio": (a.dynamic_mj / r.dynamic_mj if r.dynamic_mj else None),
                                      "ratio": r.same_hardware_ratio, "mde_cm": r.metrics.get("mde_cm"),
                                      "ann_mde_cm": a.metrics.get("mde_cm"), "fits": r.fits,
                                      "memory_modelled": bool(r.energy and r.energy.get("memory_modelled")),
                                      "estimated": r.estimated or a.estimated})
        if r.latency_s is None:
            r.latency_source = None

    ref = a_ds
    data = {"root": str(ref.root), "split": ref.split_name, "subset": subset, "samples": len(indices),
            "indices": indices, "items": [[s.seq, s.label] for s in (ref.samples[i] for i in indices)]}
    notes = [
        f"All models ran on the same {len(indices)} samples of subset {subset!r} of split {ref.split_name!r}.",
        f"ANN latency: median of {repeats} warm batch-1 runs in onnxruntime ({run.provider}).",
        "Simulator latency: median per-sample wall time of the event-driven simulator on this machine's CPU "
        "(a software simulation, not a chip latency).",
        "Profile latency: the chip's own timing estimate (time step x T, or operations / throughput); "
        "static energy uses the input window as latency (real-time operation).",
        "ANN energy counts its dense MACs (activations are not costed); spiking energy includes synaptic "
        "ops, neuron updates, spike routing and static power where the profile gives them. Only profiles with a "
        "[memory] section (lemaire45nm) add addressing and memory traffic, for both networks alike.",
        "same hardware = ANN energy on the row's own profile / row energy: both networks on one cost model, the "
        "ratio that isolates what spikes buy (dense profiles run the SNN densely, every synapse every step).",
        f"cross-platform = ANN energy on {ref_profile} / row energy: mixes the network with the platform "
        "(> 1: the row uses less energy).",
    ]
    notes.append(f"Ranked by {RANKED_BY_TEXT}; dynamic_mj (energy above idle per inference) is shown beside it. "
                 "Dense profiles with a launch floor (gpu_h200, jetson_*) price latency, idle and busy power as "
                 "calibrated on measurements (hw_profiles.dense); other profiles' static power is theirs or 0.")
    notes += host_notes
    reference = {"model": model.name, "profile": ref_profile, "energy_mj": ref_mj, "ranked_by": RANKED_BY}
    return Comparison(rows, models, data, reference, notes, same_hardware)


def sensor_window_s(data) -> float:
    """The input window a network sees (its data config's, else ``DEFAULT_WINDOW_S``): the latency
    static power is paid over at the sensor's rate."""
    return data.window_ms / 1000.0 if data is not None else DEFAULT_WINDOW_S


def _spiking_ops(counts) -> tuple[float, str, dict[str, float]]:
    acs, macs = counts.per_inference("acs"), counts.per_inference("macs")
    return acs + macs, "ACs+MACs", {"acs": acs, "macs": macs, "dense_ops": counts.per_inference("dense_ops")}


def _median(values: Sequence[float]) -> float | None:
    import statistics

    return statistics.median(values) if values else None
