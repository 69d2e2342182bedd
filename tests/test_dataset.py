"""Dataset items, splits, cache and DataLoader workers."""

from __future__ import annotations

import os
import pickle
import warnings

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from conftest import H, W, write_sequence
from depthsnn.data import dataset as dataset_mod
from depthsnn.data.dataset import DataConfig, EventDepthDataset, list_samples
from depthsnn.data.depth import DepthConfig
from depthsnn.data.encoding import EncodingConfig
from depthsnn.data.splits import FrameRange, resolve_split, split_from_lists, split_preset
from depthsnn.errors import DataWarning


def expected_item(ws, label, window=0.05, cams=("left", "right")):
    """Frames (T=1) and target computed straight from the written arrays."""
    t1 = ws.ts[label]
    chans = []
    for cam in cams:
        ev = ws.events[cam]
        e = ev[(ev[:, 2] >= t1 - window) & (ev[:, 2] < t1)]
        for on in (True, False):
            img = np.zeros((H, W), np.float32)
            sel = e[(e[:, 3] > 0) == on]
            np.add.at(img, (sel[:, 1].astype(int), sel[:, 0].astype(int)), 1)
            chans.append(img)
    d = ws.depth[label]
    mask = np.isfinite(d)
    return np.stack(chans)[None], np.where(mask, d, 0).astype(np.float32), mask


def custom_split():
    return split_from_lists(
        train=["indoor_flying2", ("indoor_flying3", 2, 8)],
        val=["indoor_flying1:0-4"],
        test=["indoor_flying1:4-"],
    )


def test_items_match_independent_computation(flying):
    ds = EventDepthDataset(flying["indoor_flying1"].root, custom_split(), "train")
    assert len(ds) == 12 + 6
    assert [(s.seq, s.label) for s in ds.samples[:2]] == [("indoor_flying2", 0), ("indoor_flying2", 1)]
    for idx in (0, 5, 12, 17):
        frames, depth, mask = ds[idx]
        s = ds.samples[idx]
        ws = flying[s.seq]
        ef, ed, em = expected_item(ws, s.label)
        assert frames.dtype == torch.float32 and frames.shape == (1, 4, H, W)
        assert depth.dtype == torch.float32 and mask.dtype == torch.bool
        np.testing.assert_array_equal(frames.numpy(), ef)
        np.testing.assert_array_equal(depth.numpy(), ed)
        np.testing.assert_array_equal(mask.numpy(), em)
        assert s.timestamp == ws.ts[s.label]
    np.testing.assert_array_equal(ds.timestamps()[:12], flying["indoor_flying2"].ts)


def test_monocular_and_bins(flying):
    root = flying["indoor_flying1"].root
    mono = EventDepthDataset(root, custom_split(), "val", EncodingConfig(cameras="monocular"))
    frames, _, _ = mono[1]
    ef, _, _ = expected_item(flying["indoor_flying1"], 1, cams=("left",))
    assert frames.shape == (1, 2, H, W) and mono.channels == 2
    np.testing.assert_array_equal(frames.numpy(), ef)
    multi = EventDepthDataset(root, custom_split(), "val", EncodingConfig(num_bins=4))
    f4, _, _ = multi[1]
    assert f4.shape == (4, 4, H, W)
    binocular = EventDepthDataset(root, custom_split(), "val")
    np.testing.assert_array_equal(f4.sum(0).numpy(), binocular[1][0][0].numpy())


def test_normalised_depth(flying):
    root = flying["indoor_flying1"].root
    ds = EventDepthDataset(root, custom_split(), "test", depth=DepthConfig(normalize=True))
    _, depth, mask = ds[0]
    d = flying["indoor_flying1"].depth[4]
    np.testing.assert_allclose(
        depth.numpy()[mask.numpy()], np.log(d[np.isfinite(d)] / 10.0) / 3.7 + 1, rtol=1e-5
    )
    assert torch.isfinite(depth).all()


def test_cache_hit_miss_and_corruption(flying, tmp_path, monkeypatch):
    root, cache = flying["indoor_flying1"].root, tmp_path / "cache"
    ds = EventDepthDataset(root, custom_split(), "val", cache_dir=cache)
    first = [ds[i] for i in range(len(ds))]
    entries = sorted(cache.rglob("*.npz"))
    assert len(entries) == len(ds)

    calls = []
    real = dataset_mod.encode_window
    monkeypatch.setattr(dataset_mod, "encode_window", lambda *a: calls.append(a) or real(*a))
    again = EventDepthDataset(root, custom_split(), "val", cache_dir=cache)
    for a, b in zip(first, (again[i] for i in range(len(again))), strict=True):
        for x, y in zip(a, b, strict=True):
            assert torch.equal(x, y)
    assert calls == []  # all hits

    changed = EventDepthDataset(root, custom_split(), "val", EncodingConfig(window_ms=30.0), cache_dir=cache)
    changed[0]
    assert len(calls) == 1  # a changed parameter misses
    assert len(list(cache.rglob("*.npz"))) == len(ds) + 1

    entries[0].write_bytes(b"not a zip file")
    entries[1].write_bytes(entries[1].read_bytes()[:50])  # truncated
    with pytest.warns(DataWarning, match="corrupt cache entry"):
        rebuilt = [again[0], again[1]]
    for a, b in zip(first[:2], rebuilt, strict=True):
        for x, y in zip(a, b, strict=True):
            assert torch.equal(x, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        again[0]  # rebuilt entry is valid again


def test_cache_misses_when_source_changes(flying, tmp_path):
    ws, cache = flying["indoor_flying1"], tmp_path / "cache"
    EventDepthDataset(ws.root, custom_split(), "val", cache_dir=cache)[0]
    depth = ws.depth.copy()
    depth[0] = 7.0
    gt = write_sequence(ws.root, ws.seq, events=ws.events, depth=depth, ts=ws.ts).root / f"{ws.seq}_gt.hdf5"
    st = gt.stat()
    os.utime(gt, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))  # same size: only mtime tells them apart
    _, d, _ = EventDepthDataset(ws.root, custom_split(), "val", cache_dir=cache)[0]
    assert (d == 7.0).all()


def test_dataloader_workers(flying, tmp_path):
    ds = EventDepthDataset(flying["indoor_flying1"].root, custom_split(), "val", cache_dir=tmp_path / "c")
    ds[0]  # opens handles in the parent before workers start
    clone = pickle.loads(pickle.dumps(ds))
    assert torch.equal(clone[2][0], ds[2][0])
    loader = DataLoader(ds, batch_size=2, num_workers=2)
    batches = list(loader)
    frames = torch.cat([b[0] for b in batches])
    assert frames.shape == (4, 1, 4, H, W)
    for i in range(4):
        assert torch.equal(frames[i], ds[i][0])


def test_list_samples_and_config(flying):
    root = flying["indoor_flying1"].root
    samples = list_samples(root, custom_split(), "test")
    assert [(s.seq, s.label) for s in samples] == [("indoor_flying1", i) for i in range(4, 12)]
    cfg = DataConfig(root=str(root), split="split1", cameras="monocular", normalize_depth=True)
    assert cfg.encoding() == EncodingConfig(cameras="monocular")
    assert cfg.depth() == DepthConfig(normalize=True)


def test_nan_only_label_is_skipped_with_warning(make_sequence):
    ws = make_sequence("indoor_flying1")
    depth = ws.depth.copy()
    depth[3] = np.nan
    write_sequence(ws.root, ws.seq, events=ws.events, depth=depth, ts=ws.ts)
    with pytest.warns(DataWarning, match="without any valid depth"):
        ds = EventDepthDataset(ws.root, split_from_lists(train=["indoor_flying1"]), "train")
    assert [s.label for s in ds.samples] == [i for i in range(12) if i != 3]
    kept = EventDepthDataset(ws.root, split_from_lists(train=["indoor_flying1"]), "train", skip_invalid=False)
    _, d, m = kept[3]
    assert not m.any() and not d.any()


def test_window_outside_events_warns_and_gives_zeros(make_sequence):
    ws = make_sequence("indoor_flying1", num_events=500)
    ts = ws.ts.copy()
    ts[-1] = 100.0  # far after the last event
    write_sequence(ws.root, ws.seq, events=ws.events, depth=ws.depth, ts=ts)
    with pytest.warns(DataWarning, match="outside the event time range"):
        ds = EventDepthDataset(ws.root, split_from_lists(train=["indoor_flying1"]), "train")
    assert not ds[11][0].any() and ds[10][0].any()


# -- splits ---------------------------------------------------------------------------------------

COUNTS = {"indoor_flying1": 1400, "indoor_flying2": 1700, "indoor_flying3": 1900}


def test_split1_preset():
    sp = resolve_split("split1", "unused", num_labels=COUNTS.__getitem__)
    assert sp.train == [("indoor_flying2", i) for i in range(160, 1580)] + [
        ("indoor_flying3", i) for i in range(125, 1815)
    ]
    held = [("indoor_flying1", i) for i in range(140, 1201)]
    order = np.random.default_rng(0).permutation(len(held))
    assert sp.val == sorted(held[i] for i in order[:200])
    assert sorted(sp.val + sp.test) == held and len(sp.val) == 200
    assert resolve_split("1", "unused", num_labels=COUNTS.__getitem__) == sp


@pytest.mark.parametrize("k", [2, 3])
def test_split2_and_3(k):
    sp = resolve_split(f"split{k}", "unused", num_labels=COUNTS.__getitem__)
    assert {s for s, _ in sp.val + sp.test} == {f"indoor_flying{k}"}
    assert {s for s, _ in sp.train} == {f"indoor_flying{j}" for j in (1, 2, 3) if j != k}
    assert len(sp.val) == 200


def test_ranges_clipped_to_file():
    sp = resolve_split("split1", "unused", num_labels=lambda s: 300)
    assert sp.train == [("indoor_flying2", i) for i in range(160, 300)] + [
        ("indoor_flying3", i) for i in range(125, 300)
    ]
    assert len(sp.val) + len(sp.test) == 300 - 140


def test_split_from_lists_parsing():
    spec = split_from_lists(train=["a", "b:3-7", ("c", 1, None)], test=["d:-5"])
    assert spec.train == (FrameRange("a"), FrameRange("b", 3, 7), FrameRange("c", 1, None))
    assert spec.test == (FrameRange("d", 0, 5),)
    sp = resolve_split(spec, "unused", num_labels=lambda s: 10)
    assert sp.train[:2] == [("a", 0), ("a", 1)] and ("b", 6) in sp.train and ("b", 7) not in sp.train
    with pytest.raises(ValueError):
        split_preset("split9")


def test_synthetic_preset(tmp_path):
    root = tmp_path / "syn"
    for k in (1, 2, 10):
        write_sequence(root, f"synthetic_stereo{k}", num_labels=6 + k, num_events=300, seed=k)
    sp = resolve_split("synthetic", root)
    assert {s for s, _ in sp.train} == {"synthetic_stereo1", "synthetic_stereo2"}
    assert sp.train == [("synthetic_stereo1", i) for i in range(1, 7)] + [
        ("synthetic_stereo2", i) for i in range(1, 8)
    ]
    # last sequence: labels 1..15 in two contiguous halves
    assert sp.val == [("synthetic_stereo10", i) for i in range(1, 8)]
    assert sp.test == [("synthetic_stereo10", i) for i in range(8, 16)]
    ds = EventDepthDataset(root, "synthetic", "test", EncodingConfig(cameras="monocular"))
    assert len(ds) == 8 and ds[0][0].shape == (1, 2, H, W)


def test_synthetic_preset_holds_out_whole_scenes_from_five_sequences(tmp_path):
    root = tmp_path / "syn"
    for k in range(1, 6):
        write_sequence(root, f"synthetic_stereo{k}", num_labels=5 + k, num_events=100, seed=k)
    sp = resolve_split("synthetic", root)
    assert sp.train == [(f"synthetic_stereo{k}", i) for k in (1, 2, 3) for i in range(1, 5 + k)]
    assert sp.val == [("synthetic_stereo4", i) for i in range(1, 9)]
    assert sp.test == [("synthetic_stereo5", i) for i in range(1, 10)]


def test_synthetic_preset_holds_out_a_tenth_of_many_scenes_each(tmp_path):
    from depthsnn.data.splits import synthetic_split

    for k in range(1, 41):
        (tmp_path / f"synthetic_stereo{k}_data.hdf5").touch()  # only the names are read here
    sp = synthetic_split(tmp_path, num_labels=lambda s: 10)
    seqs = lambda ranges: [r.seq for r in ranges]  # noqa: E731
    assert seqs(sp.train) == [f"synthetic_stereo{k}" for k in range(1, 33)]
    assert seqs(sp.val) == [f"synthetic_stereo{k}" for k in range(33, 37)]
    assert seqs(sp.test) == [f"synthetic_stereo{k}" for k in range(37, 41)]
    assert all(r.start == 1 and r.stop is None for r in sp.train + sp.val + sp.test)


def test_synthetic_preset_single_sequence(tmp_path):
    write_sequence(tmp_path, "synthetic_stereo1", num_labels=11, num_events=100)
    sp = resolve_split("synthetic", tmp_path)
    labels = [[i for _, i in getattr(sp, k)] for k in ("train", "val", "test")]
    assert labels == [list(range(1, 7)), list(range(7, 9)), list(range(9, 11))]
