"""Depth targets: mask, log normalisation and its inverse, hole filling, clipping."""

from __future__ import annotations

import math

import numpy as np
import pytest

from depthsnn.data.depth import DepthConfig, denormalize_depth, depth_target, fill_holes, normalize_depth


def test_mask_and_zeros():
    d = np.array([[1.0, np.nan], [0.0, 4.0]], dtype=np.float32)
    target, mask = depth_target(d)
    np.testing.assert_array_equal(mask, [[True, False], [False, True]])
    np.testing.assert_array_equal(target, [[1.0, 0.0], [0.0, 4.0]])
    assert target.dtype == np.float32 and mask.dtype == bool


def test_log_normalisation_values():
    d = np.array([10.0, 10 * math.exp(-3.7), 2.0], dtype=np.float32)
    got = normalize_depth(d)
    np.testing.assert_allclose(got, [1.0, 0.0, math.log(2.0 / 10.0) / 3.7 + 1], rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(denormalize_depth(got), d, rtol=1e-5)
    np.testing.assert_allclose(
        normalize_depth(d, d_max=20.0, alpha=2.0), np.log(d / 20.0) / 2.0 + 1, rtol=1e-6
    )


def test_normalised_target_only_on_valid_pixels():
    d = np.array([[np.nan, 5.0]], dtype=np.float32)
    target, mask = depth_target(d, DepthConfig(normalize=True))
    assert target[0, 0] == 0 and not mask[0, 0]
    assert target[0, 1] == pytest.approx(math.log(0.5) / 3.7 + 1)
    assert np.isfinite(target).all()


def test_fill_holes_small_only():
    d = np.full((20, 20), 3.0, dtype=np.float32)
    d[:, 10:] = 5.0
    d[4:6, 2:4] = np.nan  # 4-pixel hole inside the 3 m region
    d[10:19, 11:19] = np.nan  # 72-pixel hole inside the 5 m region
    out = fill_holes(d, area=16)
    np.testing.assert_array_equal(out[4:6, 2:4], 3.0)
    assert np.isnan(out[10:19, 11:19]).all()
    valid = np.isfinite(d)
    np.testing.assert_array_equal(out[valid], d[valid])  # measured pixels never change
    target, mask = depth_target(d, DepthConfig(fill_holes=True, fill_area=16))
    assert mask[4:6, 2:4].all() and not mask[10:19, 11:19].any()


def test_fill_holes_all_nan_is_left_alone():
    d = np.full((4, 4), np.nan, dtype=np.float32)
    assert np.isnan(fill_holes(d)).all()
    target, mask = depth_target(d, DepthConfig(fill_holes=True, normalize=True))
    assert not mask.any() and not target.any()


def test_clipping():
    d = np.array([[0.1, 5.0, 50.0, np.nan]], dtype=np.float32)
    target, mask = depth_target(d, DepthConfig(clip_min=0.5, clip_max=20.0))
    np.testing.assert_array_equal(target, [[0.5, 5.0, 20.0, 0.0]])
    np.testing.assert_array_equal(mask, [[True, True, True, False]])


@pytest.mark.parametrize(
    "kwargs", [{"d_max": 0}, {"alpha": -1}, {"fill_area": 0}, {"clip_min": 5, "clip_max": 1}]
)
def test_config_validation(kwargs):
    with pytest.raises(ValueError):
        DepthConfig(**kwargs)
