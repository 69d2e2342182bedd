"""The end-to-end demo: data -> train -> evaluate -> export -> simulate + energy per chip.

Every stage reuses what an earlier run left in the work folder (the data set, finished training
runs) unless ``fresh`` is set, so ``make demo`` can be re-run cheaply and resumes an interrupted
training run from its last checkpoint.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from .config import apply_overrides
from .data.dataset import DataConfig
from .data.splits import default_split
from .errors import DataError
from .train.checkpoint import load_checkpoint
from .train.config import TrainConfig
from .train.loop import LAST, METRICS_LOG, train


@dataclass(frozen=True)
class DemoConfig:
    """Options of ``depthsnn demo``.

    ``data``: an existing data folder (MVSEC or synthetic layout); None generates the default
    synthetic set under ``workdir/data/synthetic`` (``synth_options`` are ``key=value``
    overrides of :class:`~depthsnn.data.synthetic.SynthConfig`). ``split`` None picks
    ``synthetic`` for generated data (:func:`~depthsnn.data.splits.default_split`) and
    ``split1`` otherwise. ``jobs``: models trained at once
    (see :func:`train_models`).
    """

    workdir: str = "demo"
    data: str | None = None
    split: str | None = None
    models: list[str] = field(default_factory=lambda: ["snn-tiny", "ann-tiny"])
    epochs: int = 4
    batch_size: int | None = None  # None: each model's recipe (depthsnn.train.recipes)
    synth_options: list[str] = field(default_factory=list)
    train_options: list[str] = field(default_factory=list)
    figures: int = 4
    energy_samples: int = 8
    fresh: bool = False
    progress: bool = True
    # Models trained at once, one process each, the cores split between them; 0 = one per model
    # up to the core count, 1 = one after the other.
    jobs: int = 0


@dataclass
class DemoResult:
    data: Path
    runs: dict[str, Path]
    results: Path
    rows: list[dict]
    exports: dict[str, Path] = field(default_factory=dict)
    energy: dict[str, Path] = field(default_factory=dict)
    energy_tables: dict[str, str] = field(default_factory=dict)
    comparison: Path | None = None
    comparison_table: str = ""


def prepare_data(cfg: DemoConfig, say=print) -> tuple[Path, str]:
    """The data folder and split to use, generating the synthetic set when none is given."""
    if cfg.data is not None:
        root = Path(cfg.data)
        if not root.is_dir():
            raise DataError("data folder not found", root)
        return root, cfg.split or default_split(root)
    from .config import load_config
    from .data.synthetic import MANIFEST, SynthConfig, generate_dataset

    root = Path(cfg.workdir) / "data" / "synthetic"
    synth = load_config(SynthConfig, None, cfg.synth_options).validate()
    manifest = root / MANIFEST
    if manifest.exists() and not cfg.fresh:
        from .config import to_dict
        from .data.synthetic import read_manifest

        try:
            saved = read_manifest(manifest).get("config", {})
        except DataError:  # a damaged manifest marks no complete set: regenerate
            saved = None
        if saved == to_dict(synth):
            say(f"[data] reusing {root}")
            return root, cfg.split or "synthetic"
        say(f"[data] {root} was generated with other options: regenerating")
    say(f"[data] generating the synthetic stereo set in {root}")
    generate_dataset(root, synth, progress=cfg.progress, force=True)
    return root, cfg.split or "synthetic"


def train_model(cfg: DemoConfig, model: str, root: Path, split: str, say=print, progress: bool | None = None,
                on_epoch_end=None) -> Path:
    """Train ``model`` (or reuse / resume its run) and return its run folder."""
    progress = cfg.progress if progress is None else progress
    out = Path(cfg.workdir) / "runs" / model
    tcfg = TrainConfig(
        model=model, data=DataConfig(root=str(root), split=split, cache_dir=str(Path(cfg.workdir) / "cache")),
        out=str(out), epochs=cfg.epochs, batch_size=cfg.batch_size,
    )
    tcfg = apply_overrides(tcfg, cfg.train_options)
    if cfg.fresh and out.exists():
        shutil.rmtree(out)
    if (out / LAST).exists():
        done = int(load_checkpoint(out / LAST)["epoch"])
        log = out / METRICS_LOG
        if done >= tcfg.epochs and log.exists():
            say(f"[train] reusing {out} ({done} epochs)")
            return out
        say(f"[train] resuming {model} from epoch {done}")
        train(tcfg, resume=True, progress=progress, on_epoch_end=on_epoch_end)
        return out
    say(f"[train] {model}: {tcfg.epochs} epochs on {root} ({split})")
    train(tcfg, progress=progress, on_epoch_end=on_epoch_end)
    return out


def train_models(cfg: DemoConfig, root: Path, split: str, say=print) -> dict[str, Path]:
    """Train every model of ``cfg``, ``cfg.jobs`` at once; return their run folders by name.

    Several single-threaded trainings on a few cores finish sooner than the same trainings one
    after the other with all threads each: batch-2 convolutions scale poorly across threads
    (BENCHMARKS.md, "`make demo` from a fresh clone"). The first model trains here with its
    progress bar; the others in spawned worker processes that print one line per epoch.
    """
    import os

    jobs = cfg.jobs or min(len(cfg.models), os.cpu_count() or 1)
    jobs = max(1, min(jobs, len(cfg.models)))
    if jobs == 1:
        return {m: train_model(cfg, m, root, split, say) for m in cfg.models}
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    import torch

    threads = max(1, (os.cpu_count() or 1) // jobs)
    first, rest = cfg.models[0], cfg.models[1:]
    say(f"[train] {', '.join(cfg.models)}: {jobs} at once, {threads} thread(s) each")
    # spawn, not fork: the parent holds torch's thread pools, which a forked child can hang on.
    ctx = multiprocessing.get_context("spawn")
    before = torch.get_num_threads()
    with ProcessPoolExecutor(jobs - 1, mp_context=ctx, initializer=torch.set_num_threads,
                             initargs=(threads,)) as pool:
        futures = {m: pool.submit(_train_in_worker, cfg, m, root, split) for m in rest}
        torch.set_num_threads(threads)
        try:
            runs = {first: train_model(cfg, first, root, split, say)}
        except BaseException:
            for fut in futures.values():
                fut.cancel()
            raise
        finally:
            torch.set_num_threads(before)
        if any(not f.done() for f in futures.values()):
            say(f"[train] waiting for {', '.join(m for m, f in futures.items() if not f.done())}")
        runs.update({m: fut.result() for m, fut in futures.items()})
    return {m: runs[m] for m in cfg.models}


def _train_in_worker(cfg: DemoConfig, model: str, root: Path, split: str) -> Path:
    """One demo training in a worker process: no progress bar, one line per finished epoch."""

    def say(msg: str) -> None:
        print(msg, flush=True)

    def epoch_line(epoch: int, metrics: dict) -> None:
        val = metrics.get("val_mde_cm")
        say(f"[train] {model} epoch {epoch}/{cfg.epochs}: {metrics.get('train_time_s', 0.0):.0f} s"
            + ("" if val is None else f", val MDE {val:.1f} cm"))

    return train_model(cfg, model, root, split, say, progress=False, on_epoch_end=epoch_line)


def export_model(cfg: DemoConfig, model: str, run_dir: Path, say=print) -> Path:
    """Export a run's best checkpoint (NIR + ONNX for spiking models, ONNX for the ANN)."""
    from .export.api import MANIFEST, export_checkpoint

    out = Path(cfg.workdir) / "exports" / model
    best = run_dir / "best.pt"
    if (out / MANIFEST).exists() and not cfg.fresh and (out / MANIFEST).stat().st_mtime >= best.stat().st_mtime:
        say(f"[export] reusing {out}")
        return out
    export_checkpoint(best, out, say=lambda msg: say(msg))
    return out


def energy_model(cfg: DemoConfig, model: str, run_dir: Path, results: Path, say=print,
                 simulations: dict | None = None) -> tuple[Path, str]:
    """Simulate a spiking run (exact fast path), cost it on every chip profile, fill the results table.

    ``simulations`` (a :data:`~depthsnn.hw_profiles.assess.SimulationCache`) receives the
    simulations so that the compare stage reuses them."""

    from .atomic import atomic_write_text
    from .hw_profiles import builtin_profile_names, energy_bar_chart, energy_table, get_profile
    from .hw_profiles.assess import assess_profiles, assessment_report, fill_results_energy
    from .simulate.pipeline import load_network, open_dataset

    out = Path(cfg.workdir) / "energy" / model
    net = load_network(run_dir / "best.pt")
    ds = open_dataset(net, None, None, "test")
    latency = (net.data.window_ms if net.data else 50.0) / 1000.0  # real-time: one input window
    say(f"[energy] {model}: simulation of {min(cfg.energy_samples, len(ds))} test samples per precision "
        "(exact fast path, bit-identical to the event-driven simulator)")
    res = assess_profiles(net, ds, [get_profile(p) for p in builtin_profile_names()], samples=cfg.energy_samples,
                          latency_s=latency, progress=cfg.progress, simulations=simulations)
    out.mkdir(parents=True, exist_ok=True)
    report = assessment_report(str(run_dir / "best.pt"), net.name, net.kind, latency, res)
    atomic_write_text(out / "energy.json", json.dumps(report, indent=2, default=float))
    energy_bar_chart([a.row for a in res], out / "energy.png", title=f"Energy per inference: {model}")
    # The results table's Energy column: Loihi, the best documented neuromorphic profile.
    fill_results_energy(results, net, res, "loihi")
    return out, energy_table([a.row for a in res])


def run_demo(cfg: DemoConfig, say=print) -> DemoResult:
    from .evaluate.api import evaluate_checkpoints

    root, split = prepare_data(cfg, say)
    runs = train_models(cfg, root, split, say)
    results = Path(cfg.workdir) / "results"
    say(f"[evaluate] {', '.join(cfg.models)} on the test subset")
    rows = evaluate_checkpoints([runs[m] / "best.pt" for m in cfg.models], data_root=root, split=split,
                                out_dir=results, figures=cfg.figures, progress=cfg.progress)
    res = DemoResult(root, runs, results, rows)
    for m in cfg.models:
        res.exports[m] = export_model(cfg, m, runs[m], say)
    sims: dict[str, dict] = {}  # per spiking run: its simulations, shared by energy and compare
    for m in cfg.models:
        if not m.startswith("ann"):
            cache = sims.setdefault(str(runs[m] / "best.pt"), {})
            res.energy[m], res.energy_tables[m] = energy_model(cfg, m, runs[m], results, say, simulations=cache)
    anns = [m for m in cfg.models if m.startswith("ann")]
    snns = [m for m in cfg.models if not m.startswith("ann")]
    if anns and snns:
        from .compare import compare
        from .compare.report import terminal_table, write_outputs

        res.comparison = Path(cfg.workdir) / "compare"
        say(f"[compare] {anns[0]} in onnxruntime vs {', '.join(snns)} event-driven, same test samples")
        comp = compare(runs[anns[0]] / "best.pt", [runs[m] / "best.pt" for m in snns], res.comparison,
                       samples=cfg.energy_samples, progress=cfg.progress, say=lambda msg: None,
                       simulations=sims)
        write_outputs(comp, res.comparison)
        res.comparison_table = terminal_table(comp)
    if res.energy:
        import json

        from .evaluate.report import RESULTS_JSON

        res.rows = json.loads((results / RESULTS_JSON).read_text())["rows"]
    return res
