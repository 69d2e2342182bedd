"""Depth metrics against hand-computed values."""

from __future__ import annotations

import math
from functools import partial

import pytest
import torch

from depthsnn.data.depth import denormalize_depth, normalize_depth
from depthsnn.metrics import (
    METRICS,
    DepthMetrics,
    frame_metrics,
)


def test_frame_metrics_hand_computed() -> None:
    # Two valid pixels: pred 1.5 vs gt 1 (error 0.5, ratio 1.5) and an exact one.
    pred = torch.tensor([[[1.5, 1.0, 9.0]]])
    gt = torch.tensor([[[1.0, 1.0, 3.0]]])
    mask = torch.tensor([[[True, True, False]]])
    m, counted = frame_metrics(pred, gt, mask)
    got = {k: v.item() for k, v in m.items()}
    l15 = math.log(1.5)
    expected = {
        "mde_cm": 25.0,
        "abs_rel": 0.25,
        "sq_rel": 0.125,
        "rmse": math.sqrt(0.125),
        "rmse_log": l15 / math.sqrt(2),
        "si_log": l15 / 2,  # sqrt(l^2/2 - (l/2)^2)
        "delta1": 0.5,  # 1.5 > 1.25
        "delta2": 1.0,  # 1.5 < 1.5625
        "delta3": 1.0,
    }
    assert set(got) == set(METRICS)
    for k, v in expected.items():
        assert got[k] == pytest.approx(v), k
    assert counted.tolist() == [True]


def test_invalid_gt_and_cutoff() -> None:
    pred = torch.tensor([[[2.0, 7.0, 1.0, 4.0]]])
    gt = torch.tensor([[[1.0, 5.0, float("nan"), 0.0]]])
    mask = torch.ones(1, 1, 4, dtype=torch.bool)
    # NaN and zero ground truth never count.
    m, _ = frame_metrics(pred, gt, mask)
    assert m["mde_cm"].item() == pytest.approx(150.0)  # (1 + 2) / 2 m
    # Cutoff 2 m keeps only the first pixel.
    m, _ = frame_metrics(pred, gt, mask, cutoff=2.0)
    assert m["mde_cm"].item() == pytest.approx(100.0)
    assert m["abs_rel"].item() == pytest.approx(1.0)


def test_accumulator_averages_frames_and_skips_empty_ones() -> None:
    acc = DepthMetrics()
    assert math.isnan(acc.compute()["mde_cm"]) and acc.compute()["frames"] == 0
    gt = torch.ones(3, 2, 2)
    pred = gt.clone()
    pred[0] += 0.5  # frame 0: MDE 50 cm; frame 1: exact; frame 2: no valid pixel
    mask = torch.ones(3, 2, 2, dtype=torch.bool)
    mask[2] = False
    acc.update(pred, gt, mask)
    # Per frame, then over frames: a frame with 1 valid pixel weighs as much as a full one.
    m1 = torch.tensor([[[True, False], [False, False]]])
    acc.update(torch.full((1, 2, 2), 1.1), torch.ones(1, 2, 2), m1)
    out = acc.compute()
    assert out["frames"] == 3
    assert out["mde_cm"] == pytest.approx((50 + 0 + 10) / 3)
    assert out["delta1"] == pytest.approx((0 + 1 + 1) / 3)  # ratio 1.5 fails, 1.0 and 1.1 pass
    acc.reset()
    assert acc.frames == 0


def test_log_depth_conversion() -> None:
    d = torch.tensor([0.5, 1.0, 10.0])
    d_hat = normalize_depth(d, d_max=10.0, alpha=3.7)
    assert d_hat[2].item() == pytest.approx(1.0)
    torch.testing.assert_close(denormalize_depth(d_hat, 10.0, 3.7), d)
    # Accumulator converting both prediction and ground truth from log-normalised units.
    acc = DepthMetrics(to_metres=partial(denormalize_depth, d_max=10.0, alpha=3.7))
    gt_hat = normalize_depth(torch.full((1, 2, 2), 2.0), 10.0, 3.7)
    pred_hat = normalize_depth(torch.full((1, 2, 2), 2.5), 10.0, 3.7)
    acc.update(pred_hat, gt_hat, torch.ones(1, 2, 2, dtype=torch.bool))
    assert acc.compute()["mde_cm"] == pytest.approx(50.0, rel=1e-5)
