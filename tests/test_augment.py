"""Label-exact augmentation: each sample is either untouched or exactly transformed."""

import pytest
import torch

from depthsnn.data.dataset import DataConfig
from depthsnn.errors import ConfigError
from depthsnn.train.augment import augment_batch, batch_generator, resolve_augmentations
from depthsnn.train.config import TrainConfig

B, T, H, W = 64, 2, 6, 7


def _batch(channels):
    g = torch.Generator().manual_seed(0)
    frames = torch.rand(B, T, channels, H, W, generator=g)
    depth = torch.rand(B, H, W, generator=g) + 1.0
    mask = torch.rand(B, H, W, generator=g) > 0.3
    return frames, depth, mask


def test_resolve_expands_auto_per_modality():
    assert resolve_augmentations(["auto"], "binocular") == ("polarity",)
    assert resolve_augmentations(["auto"], "monocular") == ("polarity", "hflip")
    assert resolve_augmentations(["none"], "binocular") == ()
    assert resolve_augmentations(["vflip", "vflip"], "binocular") == ("vflip",)
    with pytest.raises(ConfigError, match="monocular only"):
        resolve_augmentations(["hflip"], "binocular")
    with pytest.raises(ConfigError, match="unknown augmentation 'rotate'"):
        resolve_augmentations(["rotate"], "binocular")
    with pytest.raises(ConfigError, match="monocular only"):  # caught when the config is built
        TrainConfig(augment=["hflip"], data=DataConfig(cameras="binocular"))


@pytest.mark.parametrize("name,channels", [("vflip", 4), ("hflip", 2), ("polarity", 4), ("polarity", 2)])
def test_each_sample_is_untouched_or_exactly_transformed(name, channels):
    frames, depth, mask = _batch(channels)
    f2, d2, m2 = augment_batch(frames, depth, mask, [name], batch_generator(0, 0, 0))
    assert not torch.equal(f2, frames) or name == "none"
    assert torch.equal(frames, _batch(channels)[0])  # inputs left untouched
    # Independent expectation, written per camera with explicit indexing.
    if name == "vflip":
        exp_f, exp_d, exp_m = frames[..., list(range(H - 1, -1, -1)), :], depth.flip(1), mask.flip(1)
    elif name == "hflip":
        exp_f, exp_d, exp_m = frames[..., list(range(W - 1, -1, -1))], depth.flip(2), mask.flip(2)
    else:
        swap = [1, 0, 3, 2][:channels]  # ON<->OFF within each camera, cameras stay in place
        exp_f, exp_d, exp_m = frames[:, :, swap], depth, mask
    changed = 0
    for i in range(B):
        if torch.equal(f2[i], frames[i]):
            assert torch.equal(d2[i], depth[i]) and torch.equal(m2[i], mask[i])
        else:
            changed += 1
            assert torch.equal(f2[i], exp_f[i]) and torch.equal(d2[i], exp_d[i]) and torch.equal(m2[i], exp_m[i])
    assert 16 < changed < 48  # probability 1/2 per sample


def test_draws_depend_only_on_seed_epoch_batch_rank():
    frames, depth, mask = _batch(4)
    names = resolve_augmentations(["auto"], "binocular")
    a = augment_batch(frames, depth, mask, names, batch_generator(3, 1, 5))
    torch.manual_seed(123)  # the global RNG plays no part
    b = augment_batch(frames, depth, mask, names, batch_generator(3, 1, 5))
    c = augment_batch(frames, depth, mask, names, batch_generator(3, 1, 5, rank=1))
    assert all(torch.equal(x, y) for x, y in zip(a, b, strict=True))
    assert not torch.equal(a[0], c[0])


def test_vflip_keeps_stereo_disparity():
    # Right view = left view shifted by d columns (a fronto-parallel plane at disparity d).
    # After the flip the best horizontal shift matching right to left is still +d.
    g = torch.Generator().manual_seed(1)
    d = 3
    left = torch.rand(1, 1, 2, 16, 24, generator=g)
    right = torch.roll(left, shifts=-d, dims=-1)
    frames = torch.cat([left, right], dim=2)
    depth, mask = torch.ones(1, 16, 24), torch.ones(1, 16, 24, dtype=torch.bool)
    for seed in range(20):  # find a draw that flips the single sample
        f2, _, _ = augment_batch(frames, depth, mask, ["vflip"], batch_generator(seed, 0, 0))
        if not torch.equal(f2, frames):
            break
    lf, rf = f2[0, 0, :2], f2[0, 0, 2:]
    errs = [float((torch.roll(rf, shifts=s, dims=-1) - lf)[..., 8:-8].abs().sum()) for s in range(-5, 6)]
    assert errs.index(min(errs)) - 5 == d and min(errs) == 0.0


def test_drop_thins_counts_binomially_and_keeps_labels():
    # Integer event counts; a dropped-out sample must be a binomial thinning of its own counts:
    # never more events, zeros stay zero, one keep probability per sample in 1 - DROP_RATIO, and
    # the pixel-wise variance of kept counts is n p (1 - p) (a plain rescaling would give 0).
    from depthsnn.train.augment import DROP_RATIO

    g = torch.Generator().manual_seed(2)
    frames = torch.randint(0, 4, (B, 1, 4, 32, 32), generator=g).float()
    frames[:, :, :, :4] = 0.0
    frames[:, :, :, 4:8] = 20.0  # a block of constant count n = 20 for the variance check
    depth, mask = torch.rand(B, 32, 32, generator=g) + 1.0, torch.ones(B, 32, 32, dtype=torch.bool)
    f2, d2, m2 = augment_batch(frames, depth, mask, ["drop"], batch_generator(0, 0, 0))
    assert torch.equal(d2, depth) and torch.equal(m2, mask)
    assert torch.equal(f2, f2.round()) and bool((f2 <= frames).all()) and bool((f2[:, :, :, :4] == 0).all())
    changed = 0
    for i in range(B):
        if torch.equal(f2[i], frames[i]):
            continue
        changed += 1
        p = float(f2[i].sum() / frames[i].sum())
        assert 1 - DROP_RATIO[1] - 0.03 < p < 1 - DROP_RATIO[0] + 0.03
        block = f2[i, :, :, 4:8].flatten()  # 4 x 32 x 4 = 512 pixels of n = 20
        pb = float(block.mean()) / 20.0
        assert abs(float(block.var()) / (20 * pb * (1 - pb)) - 1.0) < 0.25
    assert 16 < changed < 48
