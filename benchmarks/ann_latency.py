"""ANN inference latency: torch eager against onnxruntime on the same model, input and threads.

    python benchmarks/ann_latency.py [--presets ann-tiny ann-paper] [--checkpoint best.pt]
                                     [--repeats 30] [--warmup 5] [--threads K] [--hw 260 346]

One inference = batch 1, T=1, 260x346 frames in, depth out. torch: the model in eval mode
under ``torch.no_grad`` (batch norms as trained). onnxruntime: the file written by
:func:`~depthsnn.export.onnx_export.export_ann_onnx` (batch norms folded, ORT graph
optimisations on). Both use K threads (``torch.set_num_threads(K)``, ORT
``intra_op_num_threads=K``; default: torch's current count). The two runtimes' repetitions are
interleaved, alternating which goes first, so machine noise hits both and the ratio stays
meaningful on a busy machine; ORT's idle thread spinning is switched off for the same reason
(spinning threads would steal the cores torch runs on next). Median and 90th percentile of
``--repeats`` warm runs after ``--warmup`` runs of each. The max |torch - ORT| of the depth shows
both compute the same thing. On a machine with CUDA in torch and ORT, a second row per model
times both on the GPU, host to host (input copy, inference, output copy).

Untrained weights by default (latency does not depend on them); ``--checkpoint`` times a trained
ANN instead. Writes the ``ann-latency`` section of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from _report import machine, today, write_section
from depthsnn.export.onnx_export import export_ann_onnx
from depthsnn.models import build_model, count_parameters


def ort_session(path: Path, provider: str, threads: int):
    """An onnxruntime session on ``provider`` with ``threads`` intra-op threads and no spinning."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(str(path), opts, providers=[provider])


def time_interleaved(fns: dict[str, Callable[[], object]], warmup: int, repeats: int) -> dict[str, np.ndarray]:
    """Seconds per call of each function, calls interleaved and the order rotated every repetition."""
    names = list(fns)
    for _ in range(warmup):
        for n in names:
            fns[n]()
    times: dict[str, list[float]] = {n: [] for n in names}
    for i in range(repeats):
        for n in names[i % len(names):] + names[: i % len(names)]:
            t0 = time.perf_counter()
            fns[n]()
            times[n].append(time.perf_counter() - t0)
    return {n: np.asarray(t) for n, t in times.items()}


def measure(name: str, model: torch.nn.Module, hw: tuple[int, int], threads: int, warmup: int,
            repeats: int, onnx_path: Path) -> list[dict]:
    """Time ``model`` in torch and onnxruntime (exported to ``onnx_path``) on every available device.

    Returns one dict per device (see :func:`run`).
    """
    import onnxruntime as ort

    model = model.eval()
    export_ann_onnx(model, onnx_path, input_hw=hw, num_bins=1, verify=False)  # parity is measured below
    g = torch.Generator().manual_seed(0)
    x = (torch.rand(1, 1, model.cfg.channels, *hw, generator=g) < 0.1).float()
    x_np = x.numpy()
    devices = [("cpu", "CPUExecutionProvider")]
    if torch.cuda.is_available() and "CUDAExecutionProvider" in ort.get_available_providers():
        devices.append(("cuda", "CUDAExecutionProvider"))
    rows = []
    for device, provider in devices:
        m = model.to(device)
        sess = ort_session(onnx_path, provider, threads)

        def run_torch(m=m, device=device) -> np.ndarray:
            with torch.no_grad():
                return m(x.to(device)).depth.cpu().numpy()  # .cpu() waits for the GPU

        def run_ort(sess=sess) -> np.ndarray:
            return sess.run(["depth"], {"frames": x_np})[0]

        diff = float(np.abs(run_torch().astype(np.float64) - run_ort()).max())
        t = time_interleaved({"torch": run_torch, "ort": run_ort}, warmup, repeats)
        ms = {k: (1e3 * float(np.median(v)), 1e3 * float(np.percentile(v, 90))) for k, v in t.items()}
        rows.append({"model": name, "params": count_parameters(model), "device": device, "provider": provider,
                     "torch_ms": ms["torch"][0], "torch_p90_ms": ms["torch"][1], "ort_ms": ms["ort"][0],
                     "ort_p90_ms": ms["ort"][1], "ratio": ms["torch"][0] / ms["ort"][0], "max_diff": diff})
    model.to("cpu")
    return rows


def run(presets=("ann-tiny", "ann-paper"), checkpoint: str | None = None, repeats: int = 30, warmup: int = 5,
        threads: int | None = None, hw: tuple[int, int] = (260, 346)) -> list[dict]:
    """Measure the presets (or the checkpoint's ANN), write the section; one dict per table row.

    Row keys: ``model``, ``params``, ``device``, ``provider``, ``torch_ms``, ``torch_p90_ms``,
    ``ort_ms``, ``ort_p90_ms``, ``ratio`` (torch / ORT median), ``max_diff``. The caller's torch
    thread count is restored afterwards.
    """
    old_threads = torch.get_num_threads()
    threads = threads or old_threads
    torch.set_num_threads(threads)
    try:
        if checkpoint:
            from depthsnn.train.checkpoint import model_from_checkpoint

            model, cfg, _ = model_from_checkpoint(checkpoint)
            if model.cfg.kind != "ann":
                raise SystemExit(f"{checkpoint}: an {model.cfg.kind.upper()}, not an ANN")
            models = [(f"{cfg.model} ({Path(checkpoint).name})", lambda m=model: m)]
        else:
            models = [(p, lambda p=p: _seeded(p)) for p in presets]
        rows = []
        with tempfile.TemporaryDirectory() as tmp:
            for i, (name, make) in enumerate(models):
                for r in measure(name, make(), hw, threads, warmup, repeats, Path(tmp) / f"model{i}.onnx"):
                    rows.append(r)
                    print(_row(r), flush=True)
        lines = [
            "## ANN latency: torch vs onnxruntime (`benchmarks/ann_latency.py`)",
            "",
            f"{today()}, {machine()}; onnxruntime {_ort_version()}.",
            f"Batch 1, T=1, {hw[0]}x{hw[1]}, {threads} thread(s) for both runtimes; median (p90) of {repeats} "
            f"interleaved runs after {warmup} warm-up runs each. torch: eager, eval, `no_grad`; ORT: the "
            "`export_ann_onnx` file (batch norms folded), ORT spinning off. "
            + ("Trained weights." if checkpoint else "Untrained weights."),
            "",
            "| Model | Parameters | Device | torch [ms] | ORT [ms] | torch / ORT | max abs diff [m] |",
            "| :--- | ---: | :--- | ---: | ---: | ---: | ---: |",
            *(_row(r) for r in rows),
            "",
            "torch / ORT > 1: onnxruntime is faster.",
        ]
        write_section("ann-latency", "\n".join(lines))
        return rows
    finally:
        torch.set_num_threads(old_threads)


def _seeded(preset: str) -> torch.nn.Module:
    torch.manual_seed(0)
    return build_model(preset)


def _row(r: dict) -> str:
    return (f"| {r['model']} | {r['params'] / 1e6:.2f} M | {r['device']} | {r['torch_ms']:.1f} ({r['torch_p90_ms']:.1f}) "
            f"| {r['ort_ms']:.1f} ({r['ort_p90_ms']:.1f}) | {r['ratio']:.2f}x | {r['max_diff']:.1e} |")


def _ort_version() -> str:
    import onnxruntime as ort

    return ort.__version__


def main(argv: list[str] | None = None) -> list[dict]:
    """Command line entry point (``argv`` for callers; default ``sys.argv``)."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--presets", nargs="+", default=["ann-tiny", "ann-paper"])
    ap.add_argument("--checkpoint", help="time this trained ANN checkpoint instead of the presets")
    ap.add_argument("--repeats", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--threads", type=int, help="threads for both runtimes (default: torch's current count)")
    ap.add_argument("--hw", nargs=2, type=int, default=[260, 346], metavar=("H", "W"))
    args = ap.parse_args(argv)
    return run(args.presets, args.checkpoint, args.repeats, args.warmup, args.threads, tuple(args.hw))


if __name__ == "__main__":
    main()
