"""``make demo`` from a fresh clone, timed; and the demo's two trainings one after the other vs at once.

    python benchmarks/demo_time.py [--skip-clone] [--side-by-side-samples 48]

1. Clones the repository's committed HEAD into a temporary folder and runs ``make venv`` (the
   set-up: venv, torch pair from local disk, the package; pip's cache as it is on this machine)
   then ``make demo`` there, each timed; reports the stage times the demo printed and its test
   MDE line (each model beside the constant predictor).
2. Side by side in one run, on the same generated data: ``depthsnn demo`` training stage with
   ``--jobs 1`` (one model after the other, all threads each) and with the default (one process
   per model, threads split), one epoch capped at ``--side-by-side-samples`` training samples;
   the ratio is what parallel training saves on this machine.

Writes the ``demo-time`` section of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _report import machine, today, write_section

ROOT = Path(__file__).resolve().parent.parent
STAGES = ("[data]", "[train]", "[evaluate]", "[export]", "[energy]", "[compare]")


def timed(cmd: list[str], cwd: Path, log: Path) -> tuple[float, list[tuple[float, str]]]:
    """Run ``cmd``; return its wall time and (seconds since start, line) of each stage line."""
    t0 = time.perf_counter()
    marks: list[tuple[float, str]] = []
    with open(log, "w") as f, subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                               text=True, bufsize=1) as proc:
        for line in proc.stdout:
            f.write(line)
            for part in line.split("\r"):
                if part.startswith(STAGES) or part.startswith("Test MDE:"):
                    marks.append((time.perf_counter() - t0, part.strip()))
        rc = proc.wait()
    if rc != 0:
        raise SystemExit(f"{' '.join(cmd)} failed (exit {rc}); log: {log}")
    return time.perf_counter() - t0, marks


def stage_times(marks: list[tuple[float, str]], total: float) -> list[tuple[str, float]]:
    """Seconds from each stage's first line to the next stage's first line."""
    firsts: list[tuple[str, float]] = []
    for t, line in marks:
        tag = line.split("]", 1)[0] + "]"
        if tag in STAGES and (not firsts or firsts[-1][0] != tag):
            firsts.append((tag, t))
    return [(tag, (firsts[i + 1][1] if i + 1 < len(firsts) else total) - t) for i, (tag, t) in enumerate(firsts)]


def fresh_clone_demo(work: Path) -> list[str]:
    clone = work / "clone"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True)
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=clone, capture_output=True, text=True,
                          check=True).stdout.strip()
    venv_s, _ = timed(["make", "venv"], clone, work / "venv.log")
    demo_s, marks = timed(["make", "demo"], clone, work / "demo.log")
    mde = next((line for _, line in marks if line.startswith("Test MDE:")), "(no Test MDE line)")
    lines = [f"Fresh clone of `{head}`: `make venv` {venv_s / 60:.1f} min (pip cache warm), then `make demo` "
             f"{demo_s / 60:.1f} min; **{(venv_s + demo_s) / 60:.1f} min in all**.", "",
             "| demo stage | seconds |", "| :--- | ---: |"]
    lines += [f"| {tag} | {s:.0f} |" for tag, s in stage_times(marks, demo_s)]
    lines += ["", mde]
    return lines


def side_by_side(work: Path, samples: int, synth: list[str], extra: list[str]) -> list[str]:
    from depthsnn.demo import DemoConfig, prepare_data, train_models

    train = [f"max_train_samples={samples}", "max_val_samples=8", *extra]
    demo_data = work / "clone" / "demo" / "data" / "synthetic"  # the fresh clone's set, when it ran
    base = DemoConfig(workdir=str(work / "sbs"), data=str(demo_data) if demo_data.is_dir() else None,
                      epochs=1, synth_options=synth, progress=False)
    root, split = prepare_data(base, say=lambda m: None)
    seconds = {}
    for jobs in (1, 0):
        cfg = DemoConfig(workdir=str(work / f"sbs-jobs{jobs}"), data=str(root), split=split, epochs=1,
                         train_options=train, progress=False, jobs=jobs)
        t0 = time.perf_counter()
        train_models(cfg, root, split, say=lambda m: None)
        seconds[jobs] = time.perf_counter() - t0
    return ["", f"Training stage alone, side by side on the same data (snn-tiny and ann-tiny, 1 epoch of {samples} "
            "samples each, cache built by each run):", "",
            "| training | seconds |", "| :--- | ---: |",
            f"| one after the other (`--jobs 1`, all threads each) | {seconds[1]:.1f} |",
            f"| at once (default: one process per model, threads split) | {seconds[0]:.1f} |",
            f"| ratio | {seconds[1] / seconds[0]:.2f}x |"]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--skip-clone", action="store_true", help="only the side-by-side training comparison")
    ap.add_argument("--side-by-side-samples", type=int, default=48)
    ap.add_argument("--synth-set", action="append", default=[], metavar="KEY=VALUE",
                    help="generator option for the side-by-side data when no clone ran (smoke tests)")
    ap.add_argument("--train-set", action="append", default=[], metavar="KEY=VALUE",
                    help="extra training option for the side-by-side runs (smoke tests)")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="demo-time-") as tmp:
        work = Path(tmp)
        lines = ["## `make demo` from a fresh clone (`benchmarks/demo_time.py`)", "", f"{today()}, {machine()}.", ""]
        if not args.skip_clone:
            lines += fresh_clone_demo(work)
            # Written at once: the clone's figures cost a quarter of an hour and outlive a failure below.
            write_section("demo-time", "\n".join(lines))
            print("\n".join(lines), flush=True)
        lines += side_by_side(work, args.side_by_side_samples, args.synth_set, args.train_set)
    text = "\n".join(lines)
    write_section("demo-time", text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
