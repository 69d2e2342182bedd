"""Training-time augmentation of event frames that keeps the depth labels exact.

Only transforms under which the (rectified) stereo geometry and the depth map transform
together are allowed:

* ``vflip``: both cameras upside down. Epipolar lines stay horizontal rows and disparity keeps
  its sign, so the flipped depth map is the exact label.
* ``polarity``: ON and OFF swapped in every camera, i.e. the same motion seen on a scene of
  inverted contrast (an edge dark-to-bright becomes bright-to-dark).
* ``drop``: random event drop (EventDrop's "random drop", Gu et al., IJCAI 2021): each event
  is dropped independently with a ratio drawn per sample uniformly in :data:`DROP_RATIO`, the
  same ratio in both cameras. The scene and so the depth map are unchanged; fewer events is what
  slower motion, a lower-contrast scene or a less sensitive sensor would give. The frames are
  cached after the encoding's ``max_count`` clip, so with a clip the thinning acts on the clipped
  count: a pixel with 6 events clipped to 2 keeps about 1 at ratio 1/2, where dropping from the
  stream and then clipping would keep 2; a fractional clip's fraction is lost (``torch.binomial``
  draws whole events). Without a clip (the default) it is exact.
* ``hflip``: mirror left-right. Monocular only: mirroring a stereo pair turns positive
  disparities negative, and swapping the cameras to undo that would need the *right* camera's
  depth map, which MVSEC does not have.

``auto`` means ``polarity``, plus ``hflip`` for monocular input. ``vflip`` is exact but not
in ``auto``: an upright camera sees the floor below and the ceiling above, a perspective cue
that monocular depth on indoor scenes (MVSEC, the room world) relies on, and upside-down
training samples teach the network to ignore it. Each transform is
applied to each sample with probability 1/2, drawn from a generator seeded by (seed, epoch,
batch, rank), so ``--resume`` replays the same augmented batches and DDP ranks differ.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from ..errors import ConfigError

AUGMENTATIONS = ("vflip", "hflip", "polarity", "drop")
# EventDrop's reference code draws ratios 0.1-0.9 for classification; depth from stereo matches
# edges between the cameras, so at most half the events go.
DROP_RATIO = (0.1, 0.5)


def resolve_augmentations(names: Sequence[str], cameras: str) -> tuple[str, ...]:
    """Expand ``auto`` and check ``names`` against ``cameras``; ``[]`` or ``["none"]``: no augmentation."""
    out: list[str] = []
    for name in names:
        if name == "none":
            continue
        if name == "auto":
            out += ["polarity"] + (["hflip"] if cameras == "monocular" else [])
        elif name in AUGMENTATIONS:
            if name == "hflip" and cameras != "monocular":
                raise ConfigError(
                    "augment 'hflip' is monocular only: mirroring a stereo pair reverses disparity "
                    "(use vflip/polarity, or data.cameras=monocular)"
                )
            out.append(name)
        else:
            raise ConfigError(f"unknown augmentation {name!r}; choose from auto, none, {', '.join(AUGMENTATIONS)}")
    return tuple(dict.fromkeys(out))  # de-duplicated, order kept


def batch_generator(seed: int, epoch: int, batch: int, rank: int = 0) -> torch.Generator:
    """CPU generator for one batch's coin flips, independent of any global RNG state."""
    g = torch.Generator()
    # Distinct large odd multipliers keep (seed, epoch, batch, rank) tuples from colliding.
    g.manual_seed((seed * 1_000_003 + epoch * 10_007 + batch * 101 + rank * 7_919_111) % (2**63))
    return g


def augment_batch(
    frames: torch.Tensor,
    depth: torch.Tensor,
    mask: torch.Tensor,
    names: Sequence[str],
    generator: torch.Generator,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Apply ``names`` to a batch: frames ``[B, T, C, H, W]`` (C = 2 per camera, ON then OFF),
    depth and mask ``[B, H, W]``. Returns new tensors; the inputs are left untouched."""
    if not names:
        return frames, depth, mask
    b = frames.shape[0]
    frames, depth, mask = frames.clone(), depth.clone(), mask.clone()
    for name in names:  # the draw order is fixed by ``names``, so results are reproducible
        pick = torch.rand(b, generator=generator) < 0.5
        idx = pick.nonzero().flatten().to(frames.device)
        if idx.numel() == 0:
            continue
        if name == "vflip":
            frames[idx] = frames[idx].flip(-2)
            depth[idx] = depth[idx].flip(-2)
            mask[idx] = mask[idx].flip(-2)
        elif name == "hflip":
            frames[idx] = frames[idx].flip(-1)
            depth[idx] = depth[idx].flip(-1)
            mask[idx] = mask[idx].flip(-1)
        elif name == "polarity":
            sel = frames[idx]
            t, c, h, w = sel.shape[1:]
            frames[idx] = sel.reshape(len(idx), t, c // 2, 2, h, w).flip(3).reshape(len(idx), t, c, h, w)
        elif name == "drop":
            # Binomial thinning of the counts is, exactly, dropping each event of a pixel's count
            # independently, without going back to the event stream (the frames are cached). The
            # draw is on the CPU, where the batch generator lives.
            sel = frames[idx].cpu()
            lo, hi = DROP_RATIO
            keep = 1.0 - (lo + (hi - lo) * torch.rand(len(idx), generator=generator))
            prob = keep.view(-1, *([1] * (sel.dim() - 1))).expand_as(sel)
            frames[idx] = torch.binomial(sel, prob, generator=generator).to(frames.device, frames.dtype)
        else:  # resolve_augmentations guards this
            raise ConfigError(f"unknown augmentation {name!r}")
    return frames, depth, mask
