"""Training runs for benchmark scripts: one ``depthsnn train`` process per run, several at once.

Two single-threaded trainings on 2 cores finish sooner than the same two one after the other
with two threads each (batch-2 convolutions scale poorly across threads), and a run that
already finished with the same configuration is reused, so a benchmark can be resumed. "The same
configuration" is checked, not assumed: a run folder whose saved configuration differs from what
the command would train today (a recipe changed since, say) is trained again from scratch, so a
table never reports a model trained with a recipe other than the one it names.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Run:
    """One training run: preset, modality, run folder and extra ``--set`` options."""

    model: str
    modality: str
    out: Path
    sets: tuple[str, ...] = field(default_factory=tuple)

    def command(self, data: Path, cache: Path, epochs: int) -> list[str]:
        cmd = [sys.executable, "-m", "depthsnn.cli.main", "train", "--model", self.model, "--data", str(data),
               "--split", "synthetic", "--modality", self.modality, "--epochs", str(epochs), "--out", str(self.out),
               "--device", "cpu", "--quiet", "--set", f"data.cache_dir={cache}"]
        for s in self.sets:
            cmd += ["--set", s]
        return cmd

    @property
    def lock(self) -> Path:
        return self.out / ".training.pid"

    def running_elsewhere(self) -> bool:
        """A training of this run started by another benchmark process is still alive."""
        try:
            pid = int(self.lock.read_text())
            os.kill(pid, 0)
        except (OSError, ValueError):
            return False
        return True

    def complete(self, epochs: int) -> bool:
        """The folder holds a best checkpoint and ``epochs`` logged epochs (whatever it trained)."""
        log = self.out / "metrics.jsonl"
        return (self.out / "best.pt").exists() and log.exists() and len(log.read_text().splitlines()) >= epochs

    def finished(self, epochs: int) -> bool:
        return self.complete(epochs) and self.stale(epochs) is None

    def expected_config(self, data: Path, cache: Path, epochs: int) -> dict:
        """The resolved configuration (recipe filled in) that :meth:`command` trains, built by the
        CLI's own code, without ``out`` (a run folder may be moved)."""
        from depthsnn.cli.main import build_parser
        from depthsnn.cli.train_cmd import build_config
        from depthsnn.train.config import config_to_dict

        args = build_parser().parse_args(self.command(data, cache, epochs)[3:])
        cfg = config_to_dict(build_config(args).resolved())
        cfg.pop("out", None)
        return cfg

    def stale(self, epochs: int) -> str | None:
        """Why the finished run in :attr:`out` is not the run :meth:`command` would train (the
        first differing option), or None when it is. Data and cache paths come from the saved
        configuration itself, so only the model, recipe and training options are compared."""
        try:
            saved = self.config()
        except (OSError, ValueError):
            return "no readable config.json"
        data = saved.get("data", {})
        want = self.expected_config(Path(data.get("root", "data/synthetic")),
                                    Path(data.get("cache_dir") or "runs/benchmark/cache"), epochs)
        defaults = _config_defaults()
        for key, value in want.items():
            if key not in saved and key in defaults and defaults[key] == value:
                continue  # an option added since, at the default that trains what the run trained
            if saved.get(key) != value:
                return f"{key}: saved {saved.get(key)!r}, now {value!r}"
        return None

    def config(self) -> dict:
        """The configuration the run in :attr:`out` trained (its config.json, recipe resolved)."""
        return json.loads((self.out / "config.json").read_text())

    def log(self) -> list[dict]:
        return [json.loads(x) for x in (self.out / "metrics.jsonl").read_text().splitlines() if x.strip()]


def batch_sizes(runs: list[Run]) -> str:
    """The batch sizes the runs trained at, from their saved configurations (the recipe's, which
    differs by model and modality, or an option's): "batch 2" when all agree, else each size with
    its runs, the smaller group first."""
    by_size: dict[int, list[str]] = {}
    for run in runs:
        by_size.setdefault(run.config()["batch_size"], []).append(run.out.name)
    if len(by_size) == 1:
        return f"batch {next(iter(by_size))}"
    return "; ".join(f"batch {b} for {', '.join(names)}" for b, names in sorted(by_size.items(),
                                                                               key=lambda kv: len(kv[1])))


def _config_defaults() -> dict:
    """TrainConfig's plain (non-factory) field defaults, by name."""
    import dataclasses

    from depthsnn.train.config import TrainConfig

    return {f.name: f.default for f in dataclasses.fields(TrainConfig) if f.default is not dataclasses.MISSING}


def add_run_arguments(ap: argparse.ArgumentParser) -> None:
    """The options every training benchmark shares: data, run folder, epochs, jobs, --fresh."""
    ap.add_argument("--data", type=Path, default=Path("data/synthetic"))
    ap.add_argument("--runs", type=Path, default=Path("runs/benchmark"))
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--jobs", type=int, default=2, help="trainings at once (default 2)")
    ap.add_argument("--fresh", action="store_true", help="retrain even if a finished run exists")


def train_all(runs: list[Run], data: Path, cache: Path, epochs: int, jobs: int = 2, fresh: bool = False) -> None:
    """Train every run that has not finished ``epochs`` epochs, ``jobs`` processes at a time."""
    todo: list[Run] = []
    fresh_runs: set[Path] = set()
    for run in runs:
        # One configuration check per run: a stale folder (finished or not) is trained from scratch.
        why = None if fresh or not (run.out / "config.json").exists() else run.stale(epochs)
        if why:
            print(f"[train] {run.out.name}: configuration changed ({why}); training again", flush=True)
            fresh_runs.add(run.out)
        if fresh or why or not run.complete(epochs):
            todo.append(run)
    env = dict(os.environ, OMP_NUM_THREADS=str(max(1, (os.cpu_count() or 1) // max(1, jobs))))
    running: list[tuple[Run, subprocess.Popen, float]] = []
    while todo or running:
        # Runs another benchmark process is training count against the jobs and are waited for.
        elsewhere = [r for r in todo if r.running_elsewhere()]
        while len(running) + len(elsewhere) < jobs and any(r not in elsewhere for r in todo):
            run = next(r for r in todo if r not in elsewhere)
            todo.remove(run)
            cmd = run.command(data, cache, epochs)
            if (fresh or run.out in fresh_runs) and run.out.exists():
                for f in run.out.iterdir():
                    f.unlink()
            elif (run.out / "last.pt").exists():
                cmd.append("--resume")  # an interrupted run continues where it stopped
            run.out.mkdir(parents=True, exist_ok=True)
            logf = open(run.out.parent / f"{run.out.name}.log", "a")  # noqa: SIM115 (closed with the process)
            print(f"[train] {run.out.name}: {' '.join(run.sets) or 'defaults'}", flush=True)
            proc = subprocess.Popen(cmd, stdout=logf, stderr=logf, env=env)
            run.lock.write_text(str(proc.pid))
            running.append((run, proc, time.perf_counter()))
        time.sleep(2)
        todo = [r for r in todo if not (r in elsewhere and not r.running_elsewhere() and r.finished(epochs))]
        for item in list(running):
            run, proc, t0 = item
            if proc.poll() is None:
                continue
            running.remove(item)
            run.lock.unlink(missing_ok=True)
            if proc.returncode != 0:
                tail = (run.out.parent / f"{run.out.name}.log").read_text()[-2000:]
                raise SystemExit(f"training {run.out} failed (exit {proc.returncode}):\n{tail}")
            print(f"[train] {run.out.name} done in {time.perf_counter() - t0:.0f} s", flush=True)


def assess_on_test(checkpoint: Path, profiles, samples: int | None):
    """A run's ``checkpoint`` costed on each profile name in ``profiles`` from simulations of its
    test subset (``samples`` evenly spaced, None: all), at the input window's latency as
    ``depthsnn energy`` uses by default. Returns ``(net, dataset, assessments, seconds)``."""
    from depthsnn.hw_profiles import get_profile
    from depthsnn.hw_profiles.assess import assess_profiles
    from depthsnn.simulate.pipeline import load_network, open_dataset

    net = load_network(checkpoint)
    ds = open_dataset(net, None, None, "test")
    t0 = time.perf_counter()
    assessed = assess_profiles(net, ds, [get_profile(p) for p in profiles], samples=samples,
                               latency_s=(net.data.window_ms if net.data else 50.0) / 1000.0)
    return net, ds, assessed, time.perf_counter() - t0
