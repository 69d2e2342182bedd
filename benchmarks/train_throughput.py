"""Training throughput (samples/s) of the model presets at MVSEC resolution.

    python benchmarks/train_throughput.py [--presets snn-tiny snn-paper ann-tiny] [--steps 4] [--T 1 4]
                                          [--hw 260 346]

One forward + backward + Adam step per sample (batch 1, 260x346, random 10 % event input),
timed after one warm-up step. On CPU the only neuron backend is torch; on a CUDA machine every
available spikingjelly backend (torch, triton, cuda) is measured side by side in the same run
and the ratio to torch is reported. Writes the ``train-throughput`` section of BENCHMARKS.md.
:func:`run` is the same measurement for ``benchmarks/run_all.py`` and the smoke test.
"""

from __future__ import annotations

import argparse
import time

import torch

from _report import machine, today, write_section
from depthsnn.models import available_backends, build_model, count_parameters, use_backend
from depthsnn.train.losses import DepthLoss


def measure(preset: str, T: int, device: torch.device, backend: str, steps: int,
            hw: tuple[int, int] = (260, 346)) -> float:
    """Training samples/s of ``preset`` (batch 1, ``T`` bins, ``hw`` pixels) with ``backend`` neurons."""
    torch.manual_seed(0)
    model = build_model(preset).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    loss_fn = DepthLoss()
    x = (torch.rand(1, T, 4, *hw, device=device) < 0.1).float()
    gt = torch.rand(1, *hw, device=device) * 5 + 0.5
    mask = torch.ones_like(gt, dtype=torch.bool)

    def step() -> None:
        out = model(x)
        loss = loss_fn(out.heads, gt, mask).total
        opt.zero_grad()
        loss.backward()
        opt.step()

    with use_backend(backend):
        step()  # warm-up (kernel compilation, allocator)
        if device.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        for _ in range(steps):
            step()
        if device.type == "cuda":
            torch.cuda.synchronize()
    return steps / (time.perf_counter() - t0)


def run(presets=("snn-tiny", "snn-paper", "ann-tiny", "ann-paper"), Ts=(1, 4), steps: int = 3,
        hw: tuple[int, int] = (260, 346)) -> list[dict]:
    """Measure every preset x T (x backend), write the section; one dict per table row.

    Row keys: ``preset``, ``params``, ``T``, ``rates`` (backend -> samples/s), ``device``.
    """
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    backends = available_backends(device)
    lines = [
        "## Training throughput (`benchmarks/train_throughput.py`)",
        "",
        f"{today()}, {machine()}, device {device}.",
        f"Batch 1 at {hw[0]}x{hw[1]}, forward + backward + Adam step, samples/s (higher is better).",
        "",
        "| Preset | Parameters | T | " + " | ".join(f"{b} [samples/s]" for b in backends)
        + (" | best / torch |" if len(backends) > 1 else " |"),
        "| :--- | ---: | ---: | " + " | ".join("---:" for _ in backends) + (" | ---: |" if len(backends) > 1 else " |"),
    ]
    results = []
    for preset in presets:
        params = count_parameters(build_model(preset))
        for T in Ts:
            if preset.startswith("ann") and T > 1:
                continue  # the ANN sums the time bins: T does not change its cost
            rates = {b: measure(preset, T, device, b, steps, hw) for b in backends}
            results.append({"preset": preset, "params": params, "T": T, "rates": rates, "device": str(device)})
            row = f"| {preset} | {params / 1e6:.2f} M | {T} | " + " | ".join(f"{rates[b]:.2f}" for b in backends)
            if len(backends) > 1:
                row += f" | {max(rates.values()) / rates['torch']:.2f}x |"
            else:
                row += " |"
            lines.append(row)
            print(row, flush=True)
    write_section("train-throughput", "\n".join(lines))
    return results


def main(argv: list[str] | None = None) -> list[dict]:
    """Command line entry point (``argv`` for callers; default ``sys.argv``)."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--presets", nargs="+", default=["snn-tiny", "snn-paper", "ann-tiny", "ann-paper"])
    ap.add_argument("--T", nargs="+", type=int, default=[1, 4])
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--hw", nargs=2, type=int, default=[260, 346], metavar=("H", "W"))
    args = ap.parse_args(argv)
    return run(args.presets, args.T, args.steps, tuple(args.hw))


if __name__ == "__main__":
    main()
