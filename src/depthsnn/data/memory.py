"""Binned samples held in memory, and batches served from them (the training input pipeline).

Binning a 50 ms window from HDF5 costs milliseconds per sample on one core; a GPU trains a tiny
U-Net at hundreds of samples per second, so a loader that bins every epoch starves it (design.md
s.10: 0-37 % GPU utilisation). :class:`InMemorySamples` bins every sample of a dataset once (in
DataLoader worker processes) and keeps ``frames`` in the smallest integer dtype that holds the
counts exactly (uint8 for typical 50 ms windows: a quarter of float32), ``depth`` and ``mask`` as
they are. :class:`MemoryBatches` then serves batches by indexing those tensors, in the order of a
sampler, exactly as a ``DataLoader`` over the same dataset and sampler would (same tensors, same
batch composition), optionally from GPU memory, so no host work or transfer remains per step.

Written here rather than taken from a library: torch's ``DataLoader`` re-reads and re-collates
every epoch, and the dataset-in-GPU-memory pattern is three tensor ops on top of our own arrays.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

_INT_DTYPES = (torch.uint8, torch.int16, torch.int32)


def _compact(frames: torch.Tensor) -> torch.Tensor:
    """``frames`` in the narrowest dtype that represents every value exactly (float32 otherwise)."""
    if frames.numel() and bool(torch.equal(frames, torch.round(frames))):
        lo, hi = float(frames.min()), float(frames.max())
        for dt in _INT_DTYPES:
            info = torch.iinfo(dt)
            if info.min <= lo and hi <= info.max:
                return frames.to(dt)
    return frames.float()


def sample_bytes(dataset: Dataset) -> int:
    """Bytes one item of ``dataset`` takes in memory as binned (float32 frames: an upper bound)."""
    return sum(t.element_size() * t.numel() for t in dataset[0])


@dataclass
class InMemorySamples:
    """Every item of a dataset: ``frames`` [N, T, C, H, W] (compact dtype), ``depth`` [N, H, W], ``mask``."""

    frames: torch.Tensor
    depth: torch.Tensor
    mask: torch.Tensor

    def __len__(self) -> int:
        return self.frames.shape[0]

    @property
    def nbytes(self) -> int:
        return sum(t.element_size() * t.numel() for t in (self.frames, self.depth, self.mask))

    @classmethod
    def load(cls, dataset: Dataset, *, num_workers: int = 0, progress: bool | str = False) -> InMemorySamples:
        """Bin all of ``dataset`` (in order) with ``num_workers`` DataLoader worker processes."""
        loader = DataLoader(dataset, batch_size=None, shuffle=False, num_workers=num_workers)
        frames, depth, mask = [], [], []
        desc = progress if isinstance(progress, str) else "bin samples"
        for f, d, m in tqdm(loader, desc=desc, unit="sample", leave=False, disable=not progress):
            frames.append(_compact(f))
            depth.append(d)
            mask.append(m)
        widest = max((f.dtype for f in frames), key=_rank, default=torch.uint8)
        return cls(torch.stack([f.to(widest) for f in frames]), torch.stack(depth), torch.stack(mask))

    def to(self, device: torch.device | str) -> InMemorySamples:
        return InMemorySamples(self.frames.to(device), self.depth.to(device), self.mask.to(device))

    def pin_memory(self) -> InMemorySamples:
        return InMemorySamples(self.frames.pin_memory(), self.depth.pin_memory(), self.mask.pin_memory())

    def batch(self, indices: torch.Tensor | list[int], device: torch.device | str) -> tuple[torch.Tensor, ...]:
        """Items ``indices`` as ``(frames float32, depth, mask)`` on ``device``."""
        idx = torch.as_tensor(indices, dtype=torch.long, device=self.frames.device)
        out = (self.frames.index_select(0, idx), self.depth.index_select(0, idx), self.mask.index_select(0, idx))
        out = tuple(t.to(device, non_blocking=True) for t in out)
        return out[0].float(), out[1], out[2]


def _rank(dt: torch.dtype) -> int:
    return _INT_DTYPES.index(dt) if dt in _INT_DTYPES else len(_INT_DTYPES)


class MemoryBatches(Iterable):
    """Batches of ``samples`` in the order of ``order`` (a sampler or any iterable of indices),
    ``batch_size`` at a time (the last one may be smaller), as a ``DataLoader`` would form them."""

    def __init__(self, samples: InMemorySamples, order: Iterable[int], batch_size: int,
                 device: torch.device | str = "cpu"):
        self.samples, self.order, self.batch_size, self.device = samples, order, batch_size, device

    def __len__(self) -> int:
        return -(-len(self.order) // self.batch_size)  # type: ignore[arg-type]

    def __iter__(self) -> Iterator[tuple[torch.Tensor, ...]]:
        idx = np.fromiter(iter(self.order), dtype=np.int64)
        for a in range(0, len(idx), self.batch_size):
            yield self.samples.batch(idx[a:a + self.batch_size], self.device)
