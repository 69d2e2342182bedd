"""Measured energy per depth map on a CUDA GPU (NVML), beside the gpu_h200 estimate.

    python benchmarks/measure_gpu.py [OUT.jsonl]

ann-tiny and snn-tiny (random weights; T=1, input [1, 1, C, 260, 346] with 10 % events, as in
shared/measurements/h200-2026-12-04.jsonl), eval mode, torch.inference_mode, batch 1: back to
back (hw_profiles.measured.measure_inference) and at the sensor's rate (measure_at_rate, one map
per 50 ms window), idle power measured before each. Prints one JSON line per run with the
estimate of the gpu_h200 profile (hw_profiles.anchors workloads) and estimate / measured.
"""

from __future__ import annotations

import json
import sys

import torch

from depthsnn.hw_profiles import get_profile
from depthsnn.hw_profiles.anchors import ANN_TINY, SNN_TINY
from depthsnn.hw_profiles.dense import dense_estimate
from depthsnn.hw_profiles.measured import measure_at_rate, measure_inference, nvml_counter
from depthsnn.models.unet import build_model

WINDOW_S = 0.05


def main(out: str | None = None) -> list[dict]:
    counter = nvml_counter(0)
    prof = get_profile("gpu_h200")
    rows = []
    for preset, workload in (("ann-tiny", ANN_TINY), ("snn-tiny", SNN_TINY)):
        model = build_model(preset).cuda().eval()
        x = (torch.rand(1, 1, model.cfg.channels, 260, 346, device="cuda") < 0.1).float()

        def step(model=model, x=x) -> None:
            with torch.inference_mode():
                model(x)

        est = dense_estimate(workload, prof, 1)
        for mode, fn, kw in (("back_to_back", measure_inference, {"min_seconds": 3.0}),
                             ("sensor_rate", measure_at_rate, {"maps": 60})):
            m = fn(step, counter=counter, sync=torch.cuda.synchronize, window_s=WINDOW_S, idle_seconds=2.0, **kw)
            d = m.to_dict()
            row = {"preset": preset, "device": torch.cuda.get_device_name(), "torch": torch.__version__, **d,
                   "estimate_dynamic_mj": est.dynamic_mj, "estimate_per_map_mj": est.per_map_mj(WINDOW_S),
                   "estimate_ms": est.ms_per_inference,
                   "ratio_dynamic": est.dynamic_mj / d["dynamic_mj"] if d["dynamic_mj"] > 0 else None,
                   "ratio_per_map": est.per_map_mj(WINDOW_S) / d["per_map_mj"]}
            if mode == "sensor_rate":
                row["ratio_per_map_vs_paced_total"] = est.per_map_mj(WINDOW_S) / d["total_mj"]
            print(json.dumps(row), flush=True)
            rows.append(row)
    if out:
        with open(out, "w") as f:
            f.writelines(json.dumps(r) + "\n" for r in rows)
    return rows


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else None)
