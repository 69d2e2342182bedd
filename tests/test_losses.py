"""Loss functions against values worked out by hand on tiny tensors."""

from __future__ import annotations

import pytest
import torch

from depthsnn.train.losses import DepthLoss, gradient_matching_loss, scale_invariant_loss


def test_si_loss_hand_computed() -> None:
    pred = torch.tensor([[[1.0, 2.0], [3.0, 4.0]]])
    gt = torch.zeros(1, 2, 2)
    full = torch.ones(1, 2, 2, dtype=torch.bool)
    # R = 1,2,3,4: mean R^2 = 30/4 = 7.5, (mean R)^2 = 6.25 -> 1.25
    assert scale_invariant_loss(pred, gt, full).item() == pytest.approx(1.25)
    # Masking out the 4: R = 1,2,3: 14/3 - 4 = 2/3
    mask = torch.tensor([[[True, True], [True, False]]])
    assert scale_invariant_loss(pred, gt, mask).item() == pytest.approx(2 / 3)
    # Eigen's lambda = 0.5 (DepthLoss default): 7.5 - 0.5 * 6.25 = 4.375; the offset is pinned.
    assert scale_invariant_loss(pred, gt, full, si_lambda=0.5).item() == pytest.approx(4.375)
    assert DepthLoss().si_lambda == 0.5


def test_constant_offset_costs_nothing() -> None:
    gt = torch.rand(2, 16, 16)
    pred = gt + 0.7
    mask = torch.rand(2, 16, 16) > 0.3
    assert scale_invariant_loss(pred, gt, mask).item() == pytest.approx(0.0, abs=1e-6)
    assert gradient_matching_loss(pred, gt, mask).item() == pytest.approx(0.0, abs=1e-6)


def test_gradient_loss_on_a_ramp() -> None:
    # R = a * column: normalised Sobel gives |dR/dx| = a at full scale and a * s after
    # subsampling with stride s; dR/dy = 0. Summed over s = 1, 2, 4, 8: 15 a.
    a = 0.1
    gt = torch.zeros(1, 32, 32)
    pred = a * torch.arange(32.0).expand(1, 32, 32)
    mask = torch.ones(1, 32, 32, dtype=torch.bool)
    assert gradient_matching_loss(pred, gt, mask).item() == pytest.approx(15 * a, rel=1e-5)
    assert gradient_matching_loss(pred, gt, mask, scales=1).item() == pytest.approx(a, rel=1e-5)


def test_masked_pixels_are_ignored() -> None:
    g = torch.Generator().manual_seed(0)
    gt = torch.rand(2, 24, 24, generator=g)
    pred = torch.rand(2, 24, 24, generator=g)
    mask = torch.rand(2, 24, 24, generator=g) > 0.25
    garbage = torch.where(mask, pred, torch.full_like(pred, 1e6))
    gt_garbage = torch.where(mask, gt, torch.full_like(gt, float("nan")))
    for fn in (scale_invariant_loss, gradient_matching_loss):
        torch.testing.assert_close(fn(garbage, gt_garbage, mask), fn(pred, gt, mask))


def test_empty_sample_gives_zero_not_nan() -> None:
    pred = torch.rand(2, 8, 8, requires_grad=True)
    gt = torch.rand(2, 8, 8)
    mask = torch.zeros(2, 8, 8, dtype=torch.bool)
    terms = DepthLoss()(pred, gt, mask)
    assert terms.total.item() == 0.0
    terms.total.backward()
    assert torch.isfinite(pred.grad).all()
    # One empty sample does not dilute the other: the batch loss is the valid sample's.
    mask[0] = True
    one = scale_invariant_loss(pred[:1], gt[:1], mask[:1])
    torch.testing.assert_close(scale_invariant_loss(pred, gt, mask), one)


def test_depth_loss_sums_heads_and_rate_penalty() -> None:
    pred = torch.tensor([[[1.0, 2.0], [3.0, 4.0]]])  # too small for Sobel: gradient term 0
    gt = torch.zeros(1, 2, 2)
    mask = torch.ones(1, 2, 2, dtype=torch.bool)
    terms = DepthLoss(si_lambda=1.0)((pred, pred), gt, mask)
    assert terms.total.item() == pytest.approx(2.5)
    assert terms.scale_invariant.item() == pytest.approx(2.5) and terms.gradient.item() == 0.0
    with_rate = DepthLoss(rate_weight=2.0, si_lambda=1.0)((pred,), gt, mask, rate=torch.tensor(0.1))
    assert with_rate.total.item() == pytest.approx(1.25 + 0.2)
    # Gradient term weighted by 0.5 on the ramp (15a = 1.5 -> 0.75), SI of a ramp added.
    ramp = 0.1 * torch.arange(32.0).expand(1, 32, 32)
    zeros, ones = torch.zeros(1, 32, 32), torch.ones(1, 32, 32, dtype=torch.bool)
    t = DepthLoss(si_lambda=1.0)(ramp, zeros, ones)
    si = ramp.var(unbiased=False).item()
    assert t.total.item() == pytest.approx(si + 0.75, rel=1e-5)
