"""``depthsnn energy --measure``: a checkpoint's model measured on a CUDA GPU, beside the estimate.

Runs the model as it would be deployed: eval mode, ``torch.inference_mode``, batch 1, random
input with 10 % events; back to back (:func:`~depthsnn.hw_profiles.measured.measure_inference`) and at the sensor's
rate (:func:`~depthsnn.hw_profiles.measured.measure_at_rate`, one map per window), idle power measured in the same
run. An ANN is also run in onnxruntime's CUDA provider when it is installed. ``energy.json``
holds each measurement, the dense profile's estimate for the same network (:mod:`depthsnn.hw_profiles.dense`) and
estimate / measured for ``dynamic_mj`` and ``per_map_mj``. Small on purpose: it can only be run
for real on a GPU (the GPU suite); its arithmetic is :mod:`depthsnn.hw_profiles.measured`'s, tested on the CPU.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from ..hw_profiles.measured import EnergyCounter, measure_at_rate, measure_inference, nvml_counter


def _ratios(est: dict, meas: dict) -> dict:
    return {k: (est[k] / meas[k] if meas.get(k) else None) for k in ("dynamic_mj", "per_map_mj", "total_mj")}


def measure_checkpoint(path: str | Path, out_dir: str | Path, *, profile: str = "gpu_h200",
                       say: Callable[[str], None] = print, counter: EnergyCounter | None = None,
                       device: str = "cuda", min_seconds: float = 3.0, idle_seconds: float = 2.0) -> dict:
    import torch

    from ..atomic import atomic_write_text
    from ..hw_profiles.dense import DenseWorkload, dense_estimate
    from ..hw_profiles.profile import get_profile
    from ..train.checkpoint import model_from_checkpoint
    from .ops import dense_macs

    model, cfg, ckpt = model_from_checkpoint(path)
    hw = tuple(int(v) for v in ckpt.get("input_hw") or (260, 346))
    bins = cfg.data.num_bins
    window = cfg.data.window_ms / 1000.0
    # The estimate's workload, counted on the CPU before the model moves to the GPU.
    macs = dense_macs(model, hw, bins)
    neurons = sum(1 for m in model.modules() if type(m).__module__.startswith("spikingjelly.activation_based.neuron"))
    workload = DenseWorkload(str(ckpt.get("name") or cfg.model), macs.macs, kernels=max(macs.kernels - 3 * neurons, 0),
                             neuron_layers=neurons)
    est = dense_estimate(workload, get_profile(profile), 1)
    estimate = {"profile": profile, "dynamic_mj": est.dynamic_mj, "per_map_mj": est.per_map_mj(window),
                "total_mj": est.total_mj, "ms_per_inference": est.ms_per_inference, "workload": workload.__dict__}

    model = model.to(device).eval()
    x = (torch.rand(1, bins, model.cfg.channels, *hw, device=device) < 0.1).float()
    counter = counter or nvml_counter(torch.device(device).index or 0)
    sync = torch.cuda.synchronize

    def step() -> None:
        with torch.inference_mode():
            model(x)

    runs: dict[str, dict] = {}
    say(f"[measure] {workload.name}: torch, batch 1, back to back ({min_seconds:g} s after {idle_seconds:g} s idle)")
    runs["torch"] = measure_inference(step, counter=counter, sync=sync, window_s=window, min_seconds=min_seconds,
                                      idle_seconds=idle_seconds).to_dict()
    say(f"[measure] {workload.name}: torch at the sensor's rate (one map per {window * 1e3:g} ms)")
    runs["torch_sensor_rate"] = measure_at_rate(step, counter=counter, sync=sync, window_s=window,
                                                maps=max(20, int(min_seconds / window)),
                                                idle_seconds=idle_seconds).to_dict()
    if model.cfg.kind == "ann":
        try:
            import onnxruntime as ort
        except ImportError:
            ort = None
        if ort is not None and "CUDAExecutionProvider" in ort.get_available_providers():
            from ..export.onnx_export import export_ann_onnx

            info = export_ann_onnx(model.cpu(), Path(out_dir) / f"{workload.name}.onnx", hw, bins)
            sess = ort.InferenceSession(str(info.path), providers=["CUDAExecutionProvider"])
            feed = {sess.get_inputs()[0].name: x.cpu().numpy()}
            say(f"[measure] {workload.name}: onnxruntime CUDA provider, batch 1, back to back")
            runs["onnxruntime_cuda"] = measure_inference(lambda: sess.run(None, feed), counter=counter,
                                                         window_s=window, min_seconds=min_seconds,
                                                         idle_seconds=idle_seconds).to_dict()
            runs["onnxruntime_cuda"]["note"] = "input copied host-to-device on every run"
        else:
            runs["onnxruntime_cuda"] = {"skipped": "onnxruntime has no CUDAExecutionProvider here"}
    doc = {"mode": "measured", "device": torch.cuda.get_device_name(), "model": str(path), "window_s": window,
           "unit": "mJ per inference (per depth map)", "measurements": runs, "estimate": estimate,
           "ratio_estimate_over_measured": {k: _ratios(estimate, v) for k, v in runs.items() if "dynamic_mj" in v}}
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "energy.json", json.dumps(doc, indent=2, default=float) + "\n")
    m = runs["torch"]
    say(f"measured: {m['dynamic_mj']:.3g} mJ dynamic, {m['per_map_mj']:.3g} mJ per map ({m['ms_per_inference']:.3g} ms, "
        f"idle {m['idle_w']:.3g} W); {profile} estimate: {estimate['dynamic_mj']:.3g} / {estimate['per_map_mj']:.3g} mJ; "
        f"wrote {out / 'energy.json'}")
    return doc
