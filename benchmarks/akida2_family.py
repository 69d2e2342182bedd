"""The Akida 2.0 (IPv2) U-Net beside the SNN U-Net and the chip-fit chains: test accuracy, energy
per depth map, Akida's mapping and the equality check with Akida's software backend.

    python benchmarks/akida2_family.py --checkpoints runs/snn-akida2-tiny/best.pt [--out runs/akida2-eval]

Takes trained ``snn-akida2-*`` checkpoints (``depthsnn train --model snn-akida2-tiny --data
data/synthetic --split synthetic --epochs 12``), evaluates them on the unseen test scenes with
``depthsnn evaluate``'s code (constant predictor included), counts each test frame's event-MACs
(non-zero activations x the weights they meet: what Akida's event-based NPs do) and dense MACs,
prices them on ``akida_akd1000`` (per depth map at the sensor's rate: one map per input window,
static floor power over it) and ``asic45nm_int8`` (dense), maps the model with Akida's own mapper
on the smallest IPv2 virtual device that takes every layer on hardware, and compares Akida's
software backend with our model layer by layer on two real test frames and two random inputs.
Writes the ``akida2-family`` section of BENCHMARKS.md; the SNN U-Net and chain rows are quoted
from the sections that measured them (not retrained here).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

from _report import machine, today, write_section

PROFILES = ("akida_akd1000", "asic45nm_int8")


def measure(checkpoint: Path, samples: int | None) -> dict:
    from depthsnn.data.dataset import EventDepthDataset
    from depthsnn.train.checkpoint import model_from_checkpoint
    from depthsnn.vendors import akida2 as a2

    model, cfg, _ = model_from_checkpoint(checkpoint)
    model.eval()
    ds = EventDepthDataset.from_config(cfg.data, "test")
    idx = list(range(len(ds))) if samples is None else np.linspace(0, len(ds) - 1, samples).round().astype(int).tolist()
    hw = tuple(ds[0][0].shape[-2:])
    phw = model.padded_size(*hw)

    def padded(i):
        f = ds[i][0][None]
        return torch.nn.functional.pad(f, (0, phw[1] - hw[1], 0, phw[0] - hw[0])).numpy()

    rows = None
    for i in idx:
        r = a2.layer_counts(model.core, a2.frames_to_input(padded(i)))
        rows = r if rows is None else [dict(a, **{k: a[k] + b[k] for k in ("input_events", "inputs", "event_macs",
                                                                           "dense_macs", "outputs")})
                                       for a, b in zip(rows, r, strict=True)]
    window = cfg.data.window_ms / 1000.0
    energy = {p: a2.energy(rows, len(idx), p, window) for p in PROFILES}
    real = a2.frames_to_input(np.concatenate([padded(i) for i in (idx[0], idx[len(idx) // 2])]))
    checks = {"real": a2.compare(model.core, phw, real, layers=True),
              "random": a2.compare(model.core, phw, a2.random_input((model.cfg.channels, *phw), 2, seed=0), layers=True)}
    mapping = a2.smallest_device(lambda: a2.to_akida2(model.core, phw))
    sparsity = 1 - sum(r["input_events"] for r in rows[1:]) / sum(r["inputs"] for r in rows[1:])
    return {"energy": energy, "checks": checks, "mapping": mapping, "samples": len(idx), "window_s": window,
            "params": sum(p.numel() for p in model.parameters()), "hw": phw, "sparsity": sparsity,
            "epochs": cfg.epochs}


def main() -> int:
    from depthsnn.evaluate.api import evaluate_checkpoints

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoints", nargs="+", type=Path, required=True)
    ap.add_argument("--out", type=Path, default=Path("runs/akida2-eval"))
    ap.add_argument("--samples", type=int, default=None, help="test frames counted for energy (default all)")
    args = ap.parse_args()

    rows = evaluate_checkpoints(args.checkpoints, out_dir=args.out, figures=0, progress=False)
    const = next(r for r in rows if r["kind"] == "baseline")["metrics"]["mde_cm"]
    info = [measure(c, args.samples) for c in args.checkpoints]
    unet = 41.0  # snn-tiny-binocular, BENCHMARKS.md "Accuracy on the default synthetic set" (12 epochs)
    lines = [
        "## Akida 2.0 (IPv2) U-Net beside the SNN U-Net and the chains (`benchmarks/akida2_family.py`)",
        "",
        f"{today()}, {machine()}. Default synthetic set, binocular, test: the unseen test scenes "
        f"({rows[0]['metrics']['frames']} frames, constant predictor {const:.1f} cm). The snn-akida2 rows were trained "
        f"here ({info[0]['epochs']} epochs, the SNN kind's recipe); the other rows are quoted from the sections above "
        "(not retrained). On chip the snn-akida2 nets send 8-bit graded events (activations 0..127), not binary "
        "spikes, and are stateless (the window's bins summed into one frame); their chip map is at 1/2 resolution, "
        "upsampled x2 bilinearly on the host (in no energy column).",
        "",
        "| Model | Parameters | Test MDE [cm] | vs SNN U-Net (41.0 cm) | constant / MDE | akida_akd1000 per map [mJ] "
        "| akida_akd1000 dynamic [mJ] | asic45nm_int8 [mJ] | event-MACs / dense MACs per map | activation sparsity |",
        "| :--- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r, e in zip(rows, info, strict=False):
        mde = r["metrics"]["mde_cm"]
        ak, asic = e["energy"]["akida_akd1000"], e["energy"]["asic45nm_int8"]
        lines.append(f"| {r['name']} | {e['params'] / 1e3:.1f} k | {mde:.1f} | {100 * (mde / unet - 1):+.0f} % "
                     f"| {const / mde:.2f}x | {ak['per_map_mj']:.1f}* | {ak['dynamic_mj']:.3g}* | {asic['dynamic_mj']:.3g}* "
                     f"| {ak['event_macs'] / 1e6:.0f} M / {ak['dense_macs'] / 1e6:.0f} M | {100 * e['sparsity']:.0f} % |")
    lines += [
        "| snn-tiny-binocular (U-Net, 12 epochs) | 1135.7 k | 41.0 | 0 % | 2.71x | not mapped | — | 0.431* (8 ep.) "
        "| — | — |",
        "| snn-portable-tiny-binocular (8 epochs) | 15.6 k | 81.7 | +99 % | 1.36x | — | — | 0.00791* | — | — |",
        "| snn-portable-small-binocular (8 epochs) | 97.9 k | 76.7 | +87 % | 1.45x | — | — | 0.0408* | — | — |",
        "",
        f"Energy: * = uses estimated profile numbers. `akida_akd1000` is the AKD1000 (IPv1) profile, the only Akida "
        f"profile (one fitted event-MAC energy, 8.79 pJ, and its measured 908.5 mW floor): per depth map at the "
        f"sensor's rate (one map per {1000 * info[0]['window_s']:.0f} ms window) the floor dominates; an IPv2 chip's "
        "own figures are not published. `asic45nm_int8` prices every dense MAC (the U-Net and chain rows: their "
        "spiking graphs on the same profile, from the portable-family section, 8 epochs).",
        "",
        "Akida's mapper (akida 2.19.3, `hw_only=True`: one hardware sequence) and Akida's software backend vs our "
        "model at Akida's precision (every layer's integers):",
        "",
        "| Model | Device | NPs (over passes) | Passes | All layers on hardware | Layers | Real test frames | Random inputs |",
        "| :--- | :--- | ---: | ---: | :--- | ---: | :--- | :--- |",
    ]
    for r, e in zip(rows, info, strict=False):
        m, c = e["mapping"], e["checks"]

        def eq(x):
            return (f"{x['frames']} frames: {x['layer_mismatches']} layer / {x['output_mismatches']} output "
                    f"mismatches, max |diff| {x['output_max_abs_diff']:g}")

        lines.append(f"| {r['name']} | {m['device']} ({m['nps_available']} NPs) | {m['nps_used']} | {m['passes']} "
                     f"| {'yes' if m['all_on_hardware'] else 'no'} | {len(m['layers'])} | {eq(c['real'])} "
                     f"| {eq(c['random'])} |")
    write_section("akida2-family", "\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
