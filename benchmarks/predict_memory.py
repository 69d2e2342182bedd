"""Peak memory of ``depthsnn predict`` against recording length: it must stay flat.

    python benchmarks/predict_memory.py [--minutes 1 20] [--seconds-source 2] [--hw 48 64]
                                        [--format raw] [--video-frames 100] [--workdir DIR]

A 20-minute recording from the event simulator would take hours, so a short synthetic
sequence (``--seconds-source`` seconds at ``--hw``) is generated once, quantised to
microseconds, and streamed repeatedly with time offsets, chunk by chunk, into a left and a right
file through the format's own writer (default Prophesee RAW EVT3; nothing holds the whole
recording in memory). ``depthsnn predict`` then runs in a fresh subprocess per length with a
tiny untrained snn-tiny (fixed seed) on the torch engine at 20 Hz; its peak RSS comes from
the child's own ``ru_maxrss`` at exit. Writes the ``predict-memory`` section of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import h5py
import numpy as np

from _report import machine, today, write_section

TINY = {"base_channels": 4, "levels": 3, "residual_blocks": 1}
SEQ = "synthetic_stereo1"
SRC = Path(__file__).resolve().parent.parent / "src"


def source_events(work: Path, seconds: float, hw: tuple[int, int]) -> tuple[dict, float]:
    """One generated sequence per camera as (x, y, t_us, on), and its period in seconds."""
    from depthsnn.data import layout
    from depthsnn.data.synthetic import SynthConfig, generate_dataset

    h, w = hw
    cfg = SynthConfig(sequences=1, seconds=seconds, width=w, height=h, n_objects=(1, 2),
                      object_size_px=(0.2 * w, 0.4 * w), render_hz=400.0)
    root = generate_dataset(work / "source", cfg, progress=False)
    out = {}
    with h5py.File(root / layout.data_file(SEQ)) as f:
        for cam in layout.CAMERAS:
            e = f[layout.EVENTS_KEY.format(cam=cam)][:]
            out[cam] = (e[:, 0].astype(np.int64), e[:, 1].astype(np.int64),
                        np.round(e[:, 2] * 1e6).astype(np.int64), e[:, 3] > 0)
    return out, seconds


def repeated(events: tuple, period_us: int, reps: int):
    """The sequence ``reps`` times, each shifted by ``period_us``: one writer chunk per repetition."""
    x, y, t, on = events
    for k in range(reps):
        yield x, y, t + k * period_us, on


def write_recording(work: Path, events: dict, period_s: float, minutes: float, hw: tuple[int, int], fmt: str):
    from depthsnn.data.recordings.writers import write_camera_file

    reps = max(1, round(minutes * 60 / period_s))
    suffix, version = {"raw": ("raw", "evt3"), "dat": ("dat", None), "csv": ("csv", None)}[fmt]
    files = []
    for cam, ev in events.items():
        path = work / f"{minutes:g}min_{cam}.{suffix}"
        write_camera_file(path, repeated(ev, round(period_s * 1e6), reps), (hw[1], hw[0]), version)
        files.append(path)
    n = sum(len(ev[2]) for ev in events.values()) * reps
    return files, n, reps * period_s


def make_checkpoint(path: Path, hw: tuple[int, int]) -> Path:
    import torch

    from depthsnn.config import to_dict
    from depthsnn.data.dataset import DataConfig
    from depthsnn.models import build_model
    from depthsnn.train.checkpoint import save_checkpoint
    from depthsnn.train.config import TrainConfig

    torch.manual_seed(0)
    model = build_model("snn-tiny", modality="binocular", **TINY).eval()
    cfg = TrainConfig(model="snn-tiny", data=DataConfig(split="synthetic", normalize_depth=True))
    return save_checkpoint(path, model=model.state_dict(), config=to_dict(cfg), model_config=to_dict(model.cfg),
                           input_hw=list(hw), epoch=0, best_mde=0.0)


# The predict process reports its own peak RSS (ru_maxrss of RUSAGE_SELF, KiB on Linux) at exit.
_CHILD = """
import resource, sys, time, h5py
from depthsnn.predict import PredictOptions, predict_recording
t0 = time.perf_counter()
opts = PredictOptions(video_frames=int(sys.argv[3]))
res = predict_recording(sys.argv[1], sys.argv[4:], sys.argv[2], opts, progress=False)
with h5py.File(res.depth_path) as f:
    n = f["depth"].shape[0]
print(n, time.perf_counter() - t0, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
"""


def run_predict(ckpt: Path, files: list[Path], out: Path, threads: int, video_frames: int) -> dict:
    env = dict(os.environ, PYTHONPATH=f"{SRC}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
               OMP_NUM_THREADS=str(threads))
    proc = subprocess.Popen([sys.executable, "-c", _CHILD, str(ckpt), str(out), str(video_frames), *map(str, files)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True)
    stdout, stderr = proc.communicate()
    if proc.returncode:
        last = stderr.strip().splitlines()[-1] if stderr.strip() else f"exit status {proc.returncode}"
        raise RuntimeError(f"predict failed: {last}")
    windows, seconds, rss = stdout.split()[-3:]
    return {"windows": int(windows), "seconds": float(seconds), "maxrss_mib": float(rss)}


def main(argv: list[str] | None = None) -> list[dict]:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, nargs="+", default=[1.0, 20.0], help="recording lengths")
    ap.add_argument("--seconds-source", type=float, default=2.0, help="length of the generated sequence")
    ap.add_argument("--hw", type=int, nargs=2, default=[48, 64], metavar=("H", "W"))
    ap.add_argument("--format", default="raw", choices=("raw", "dat", "csv"))
    ap.add_argument("--threads", type=int, default=1, help="torch threads of the predict process")
    ap.add_argument("--video-frames", type=int, default=100, help="frames of the depth GIF (default 100)")
    ap.add_argument("--workdir", type=Path, help="keep the recordings here (default: a temporary folder)")
    args = ap.parse_args(argv)
    hw = tuple(args.hw)
    with tempfile.TemporaryDirectory() as tmp:
        work = args.workdir or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        events, period = source_events(work, args.seconds_source, hw)
        ckpt = make_checkpoint(work / "snn-tiny.pt", hw)
        rows = []
        for minutes in sorted(args.minutes):
            files, n_events, dur = write_recording(work, events, period, minutes, hw, args.format)
            size = sum(f.stat().st_size for f in files)
            r = run_predict(ckpt, files, work / f"pred_{minutes:g}", args.threads, args.video_frames)
            rows.append({"minutes": minutes, "duration_s": dur, "events": n_events, "file_mib": size / 2**20, **r})
            print(f"{minutes:g} min: {n_events / 1e6:.1f} M events, {r['windows']} windows in {r['seconds']:.0f} s, "
                  f"peak RSS {r['maxrss_mib']:.0f} MiB", flush=True)
            for f in files:
                f.unlink()
    lines = [
        "## Memory of `depthsnn predict` on long recordings (`benchmarks/predict_memory.py`)",
        "",
        f"{today()}; {machine()}.",
        f"Stereo {args.format.upper()} files ({'EVT3' if args.format == 'raw' else args.format}) at {hw[1]}x{hw[0]}: a "
        f"{args.seconds_source:g} s synthetic sequence repeated with time offsets; untrained snn-tiny "
        f"(base_channels 4, 3 levels) on the torch engine, {args.threads} thread(s), 20 Hz, 50 ms windows, "
        f"{args.video_frames}-frame GIF (its rendering is part of the predict time). Peak RSS of the predict process (`ru_maxrss`, includes Python, torch and faery).",
        "",
        "| recording | events (both cameras) | files | depth maps | predict time | maps/s | peak RSS |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(f"| {r['minutes']:g} min | {r['events'] / 1e6:.1f} M | {r['file_mib']:.0f} MiB | {r['windows']} | "
                     f"{r['seconds']:.0f} s | {r['windows'] / r['seconds']:.0f} | {r['maxrss_mib']:.0f} MiB |")
    write_section("predict-memory", "\n".join(lines))
    return rows


if __name__ == "__main__":
    main()
