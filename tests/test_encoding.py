"""Event binning against a per-event reference, window edges, camera channels."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import H, W
from depthsnn.data.encoding import EncodingConfig, bin_events, encode_label, encode_window
from depthsnn.data.mvsec import MVSECSequence


def reference_bins(x, y, t, p, t0, t1, T, h, w):
    """Per-event loop: bin k holds t0 + k*d <= t < t0 + (k+1)*d, d = (t1 - t0) / T."""
    out = np.zeros((T, 2, h, w), dtype=np.float32)
    edges = [t0 + (t1 - t0) * k / T for k in range(T)] + [t1]
    for xi, yi, ti, pi in zip(x, y, t, p, strict=True):
        if not (0 <= xi < w and 0 <= yi < h):
            continue
        for k in range(T):
            if edges[k] <= ti < edges[k + 1]:
                out[k, 0 if pi else 1, yi, xi] += 1
    return out


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(0, 300),
    T=st.integers(1, 5),
    seed=st.integers(0, 2**31 - 1),
    on_edges=st.booleans(),
)
def test_binning_matches_reference(n, T, seed, on_edges):
    rng = np.random.default_rng(seed)
    h, w = 5, 7
    t0, t1 = 2.0, 2.05
    x = rng.integers(-1, w + 1, n)  # a few outside the sensor
    y = rng.integers(-1, h + 1, n)
    t = rng.uniform(t0 - 0.01, t1 + 0.01, n)
    if on_edges and n:
        edges = np.array([t0 + (t1 - t0) * k / T for k in range(T)] + [t1])
        t[: n // 2] = rng.choice(edges, n // 2)
    p = rng.random(n) < 0.5
    got = bin_events(x, y, t, p, t0, t1, T, h, w)
    assert got.dtype == np.float32 and got.shape == (T, 2, h, w)
    np.testing.assert_array_equal(got, reference_bins(x, y, t, p, t0, t1, T, h, w))


def test_edges():
    # T=2 over [0, 1): 0 -> bin 0, 0.5 (inner edge) -> bin 1, 1.0 (window end) -> dropped
    got = bin_events([0, 1, 2], [0, 0, 0], [0.0, 0.5, 1.0], [True, False, True], 0.0, 1.0, 2, 1, 3)
    assert got[0, 0, 0, 0] == 1 and got[1, 1, 0, 1] == 1
    assert got.sum() == 2


def test_encode_window_binocular_and_monocular(make_sequence):
    ws = make_sequence(num_events=5000)
    s = MVSECSequence(ws.root, ws.seq)
    i = 6
    t1 = float(ws.ts[i])
    t0 = t1 - 0.05
    cfg = EncodingConfig(num_bins=3)
    frames = encode_label(s, i, cfg)
    assert frames.shape == (3, 4, H, W) and frames.dtype == np.float32
    for c, cam in enumerate(("left", "right")):
        ev = ws.events[cam]
        m = (ev[:, 2] >= t0) & (ev[:, 2] < t1)
        e = ev[m]
        ref = reference_bins(e[:, 0].astype(int), e[:, 1].astype(int), e[:, 2], e[:, 3] > 0, t0, t1, 3, H, W)
        np.testing.assert_array_equal(frames[:, 2 * c : 2 * c + 2], ref)
    assert frames.sum() > 0
    mono = encode_window(s, t1, EncodingConfig(num_bins=3, cameras="monocular"))
    assert mono.shape == (3, 2, H, W)
    np.testing.assert_array_equal(mono, frames[:, :2])


def test_single_bin_counts_window_events(make_sequence):
    ws = make_sequence(num_events=5000)
    s = MVSECSequence(ws.root, ws.seq)
    frames = encode_label(s, 3, EncodingConfig(window_ms=20.0))
    t1 = ws.ts[3]
    for c, cam in enumerate(("left", "right")):
        ev = ws.events[cam]
        m = (ev[:, 2] >= t1 - 0.02) & (ev[:, 2] < t1)
        assert frames[0, 2 * c].sum() == np.sum(ev[m, 3] > 0)
        assert frames[0, 2 * c + 1].sum() == np.sum(ev[m, 3] < 0)


def test_max_count_clips(make_sequence):
    ws = make_sequence(num_events=20_000)
    s = MVSECSequence(ws.root, ws.seq)
    raw = encode_label(s, 5, EncodingConfig(window_ms=200.0))
    assert raw.max() > 1
    np.testing.assert_array_equal(
        encode_label(s, 5, EncodingConfig(window_ms=200.0, max_count=1.0)), np.minimum(raw, 1)
    )


def test_cumulative_presentation_is_the_running_sum(make_sequence):
    """Step k sees every event from the window's start to the end of bin k: the running sum of the
    per-bin frames, its last step the single-bin frame of the whole window, clipped afterwards."""
    ws = make_sequence(num_events=20_000)
    s = MVSECSequence(ws.root, ws.seq)
    per_bin = encode_label(s, 5, EncodingConfig(window_ms=200.0, num_bins=4))
    cum = encode_label(s, 5, EncodingConfig(window_ms=200.0, num_bins=4, presentation="cumulative"))
    whole = encode_label(s, 5, EncodingConfig(window_ms=200.0, num_bins=1))
    assert per_bin[1:].sum() > 0 and not np.array_equal(cum, per_bin)
    for k in range(4):
        np.testing.assert_array_equal(cum[k], per_bin[: k + 1].sum(axis=0))
    np.testing.assert_array_equal(cum[-1], whole[0])
    assert whole.max() > 2
    clipped = encode_label(s, 5, EncodingConfig(window_ms=200.0, num_bins=4, presentation="cumulative",
                                                max_count=2.0))
    np.testing.assert_array_equal(clipped, np.minimum(cum, 2))  # clip after cumulation
    np.testing.assert_array_equal(  # one bin: the two presentations are the same input
        encode_label(s, 5, EncodingConfig(window_ms=200.0, presentation="cumulative")), whole)


def test_empty_window_gives_zeros(make_sequence):
    ws = make_sequence(num_events=1000)
    s = MVSECSequence(ws.root, ws.seq)
    frames = encode_window(s, -5.0, EncodingConfig(num_bins=2))
    assert frames.shape == (2, 4, H, W) and not frames.any()


@pytest.mark.parametrize(
    "kwargs", [{"window_ms": 0}, {"num_bins": 0}, {"cameras": "trinocular"}, {"max_count": 0.0},
               {"presentation": "stacked"}]
)
def test_config_validation(kwargs):
    with pytest.raises(ValueError):
        EncodingConfig(**kwargs)


def test_config_channels():
    assert EncodingConfig().channels == 4
    assert EncodingConfig(cameras="monocular").channels == 2
    assert EncodingConfig().window_s == pytest.approx(0.05)
