"""ONNX parity check: a float32 rounding allowance that scales with the output and the summation depth."""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch

from depthsnn.export.onnx_export import (
    EPS32,
    ROUNDING_ULPS,
    ParityError,
    export_ann_onnx,
    export_snn_onnx,
    parity_tolerance,
    summation_depth,
    verify_onnx,
)
from depthsnn.models.unet import build_model

HW = (32, 48)


def test_tolerance_is_the_stated_formula():
    assert parity_tolerance(1e-4, 2.0, 900.0) == pytest.approx(1e-4 + ROUNDING_ULPS * EPS32 * 2.0 * 900.0)
    assert parity_tolerance(1e-4, 0.0, 900.0) == 1e-4


def test_summation_depth_counts_sqrt_fan_in():
    net = torch.nn.Sequential(torch.nn.Conv2d(4, 8, 3), torch.nn.Conv2d(8, 16, 1, groups=2))
    assert summation_depth(net) == pytest.approx(6.0 + 2.0)
    assert summation_depth(build_model("ann-paper")) > summation_depth(build_model("ann-tiny"))


@pytest.mark.parametrize("preset", ["ann-paper", "snn-paper"])
def test_paper_size_networks_pass_parity(preset, tmp_path):
    torch.manual_seed(0)
    model = build_model(preset).eval()
    t0 = time.perf_counter()
    if preset.startswith("ann"):
        info = export_ann_onnx(model, tmp_path / "m.onnx", HW, 1)
    else:
        info = export_snn_onnx(model, tmp_path / "m.onnx", HW, 2)
    assert info.max_abs_diff is not None and info.max_abs_diff <= parity_tolerance(1e-4, 10.0, summation_depth(model))
    assert time.perf_counter() - t0 < 120


def test_a_real_export_error_is_still_caught(tmp_path):
    """One conv weight off by 1 % moves the depth far beyond the rounding allowance of a paper-size net."""
    torch.manual_seed(0)
    model = build_model("ann-paper").eval()
    info = export_ann_onnx(model, tmp_path / "m.onnx", HW, 1, verify=False)
    wrong = build_model("ann-paper").eval()
    wrong.load_state_dict(model.state_dict())
    with torch.no_grad():
        conv = next(m for m in wrong.modules() if isinstance(m, torch.nn.Conv2d))
        conv.weight.mul_(1.01)
    frames = torch.from_numpy(np.random.default_rng(0).poisson(0.3, (2, 1, model.cfg.channels, *HW)).astype(np.float32))
    depth = summation_depth(model)
    with pytest.raises(ParityError, match="summation depth"):
        verify_onnx(info.path, lambda f: wrong(f).depth, frames, 1e-4, depth)
    assert verify_onnx(info.path, lambda f: model(f).depth, frames, 1e-4, depth) <= parity_tolerance(
        1e-4, float(model(frames).depth.detach().abs().max()), depth)
