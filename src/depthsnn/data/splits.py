"""Train/val/test splits as lists of ``(sequence, label_index)``.

Presets:

* ``split1`` / ``split2`` / ``split3`` (also ``1``, ``2``, ``3``): the DDES splits (Tulyakov et
  al. 2019) used by StereoSpike. Split *k* tests on ``indoor_flying<k>`` and trains on the other
  two. Frame ranges are those of the DDES code (half-open, Python ``range``): training
  flying1 80-1259, flying2 160-1579, flying3 125-1814; testing flying1 140-1200, flying2
  120-1420, flying3 73-1615. The first ``200`` test labels after a seeded shuffle
  (``numpy.random.default_rng(0).permutation``) form the validation set; the rest stay test.
  (StereoSpike ships its own fixed validation index lists; ours are reproducible but different.)
* ``synthetic``: sequences ``synthetic_stereo<k>`` found in the root, in numeric order. Label 0
  of each is skipped (it sits at the recording start, so its window holds no events). With 5 or
  more sequences, whole scenes are held out: the last tenth (at least one sequence) is test,
  the tenth before it validation, the rest train, so val and test are scenes the network never
  saw. With 2-4 sequences all but the last train and the last is cut in two contiguous halves,
  the first validation, the second test (contiguous so neighbouring, near-identical labels do
  not leak between val and test). With a single sequence its labels split 60/20/20
  contiguously.

Custom splits: :func:`split_from_lists` with entries ``"seq"``, ``"seq:a-b"`` (labels a..b-1)
or ``(seq, a, b)``. Ranges are clipped to the labels a file holds.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import DataError
from . import layout
from .mvsec import count_labels

SUBSETS = ("train", "val", "test")

# DDES (dense_deep_event_stereo/dataset.py) frame filters, half-open.
DDES_TRAIN_FRAMES = {1: (80, 1260), 2: (160, 1580), 3: (125, 1815)}
DDES_TEST_FRAMES = {1: (140, 1201), 2: (120, 1421), 3: (73, 1616)}
NUM_VALIDATION = 200
SYNTHETIC_PREFIX = "synthetic_stereo"
# From this many sequences on, val and test are whole unseen scenes (a tenth each, >= 1).
WHOLE_SCENE_HOLDOUT = 5
# The generator's label 0 sits at the recording start: its window precedes every event.
SYNTHETIC_FIRST_LABEL = 1


@dataclass(frozen=True)
class FrameRange:
    """Labels ``start .. stop-1`` of ``seq`` (``stop=None``: to the end)."""

    seq: str
    start: int = 0
    stop: int | None = None


@dataclass(frozen=True)
class SplitSpec:
    """A split before resolution: frame ranges per subset, plus test labels moved to val.

    ``val_from_test``: that many test labels, chosen by a ``seed``-ed shuffle, become val.
    """

    name: str
    train: tuple[FrameRange, ...] = ()
    val: tuple[FrameRange, ...] = ()
    test: tuple[FrameRange, ...] = ()
    val_from_test: int = 0
    seed: int = 0

    @property
    def sequences(self) -> list[str]:
        seen: dict[str, None] = {}
        for r in (*self.train, *self.val, *self.test):
            seen.setdefault(r.seq, None)
        return list(seen)


@dataclass(frozen=True)
class Split:
    """A resolved split: ``(sequence, label_index)`` lists per subset."""

    name: str
    train: list[tuple[str, int]] = field(default_factory=list)
    val: list[tuple[str, int]] = field(default_factory=list)
    test: list[tuple[str, int]] = field(default_factory=list)

    def subset(self, name: str) -> list[tuple[str, int]]:
        if name not in SUBSETS:
            raise ValueError(f"unknown subset {name!r} (expected one of {SUBSETS})")
        return getattr(self, name)


def mvsec_split(k: int, seed: int = 0, num_val: int = NUM_VALIDATION) -> SplitSpec:
    """DDES split ``k`` (1, 2 or 3) over ``indoor_flying1..3``."""
    if k not in DDES_TEST_FRAMES:
        raise ValueError(f"MVSEC split must be 1, 2 or 3, got {k}")
    train = tuple(FrameRange(f"indoor_flying{j}", *DDES_TRAIN_FRAMES[j]) for j in (1, 2, 3) if j != k)
    test = (FrameRange(f"indoor_flying{k}", *DDES_TEST_FRAMES[k]),)
    return SplitSpec(f"split{k}", train=train, test=test, val_from_test=num_val, seed=seed)


def synthetic_sequences(root: str | Path) -> list[str]:
    """``synthetic_stereo<k>`` sequences with a data file in ``root``, sorted by ``k``."""
    pat = re.compile(rf"^({SYNTHETIC_PREFIX}(\d+))_data\.hdf5$")
    found = []
    for p in Path(root).glob(f"{SYNTHETIC_PREFIX}*_data.hdf5"):
        m = pat.match(p.name)
        if m:
            found.append((int(m.group(2)), m.group(1)))
    return [name for _, name in sorted(found)]


def default_split(root: str | Path) -> str:
    """The preset a data folder takes when none is named: ``synthetic`` when every sequence in it
    is a generated ``synthetic_stereo<k>`` one, else MVSEC's ``split1``."""
    n_data = sum(1 for _ in Path(root).glob("*_data.hdf5"))
    return "synthetic" if n_data and len(synthetic_sequences(root)) == n_data else "split1"


def synthetic_split(root: str | Path, num_labels: Callable[[str], int] | None = None) -> SplitSpec:
    """The ``synthetic`` preset for the sequences found in ``root`` (see module docstring)."""
    seqs = synthetic_sequences(root)
    if not seqs:
        raise DataError(f"no {SYNTHETIC_PREFIX}<k>_data.hdf5 files found", root)
    counter = num_labels or (lambda s: count_labels(root, s))
    first = SYNTHETIC_FIRST_LABEL
    if len(seqs) == 1:
        s = seqs[0]
        n = counter(s) - first
        a, b = first + int(n * 0.6), first + int(n * 0.8)
        return SplitSpec(
            "synthetic", (FrameRange(s, first, a),), (FrameRange(s, a, b),), (FrameRange(s, b, None),)
        )
    if len(seqs) >= WHOLE_SCENE_HOLDOUT:
        k = max(1, round(len(seqs) / 10))
        return SplitSpec(
            "synthetic",
            train=tuple(FrameRange(s, first) for s in seqs[: -2 * k]),
            val=tuple(FrameRange(s, first) for s in seqs[-2 * k : -k]),
            test=tuple(FrameRange(s, first) for s in seqs[-k:]),
        )
    last = seqs[-1]
    half = first + (counter(last) - first) // 2
    return SplitSpec(
        "synthetic",
        train=tuple(FrameRange(s, first) for s in seqs[:-1]),
        val=(FrameRange(last, first, half),),
        test=(FrameRange(last, half, None),),
    )


def _parse_range(item: str | FrameRange | Sequence) -> FrameRange:
    if isinstance(item, FrameRange):
        return item
    if isinstance(item, str):
        m = re.fullmatch(r"([^:]+)(?::(\d*)-(\d*))?", item.strip())
        if not m:
            raise ValueError(f"bad frame range {item!r} (expected 'seq' or 'seq:start-stop')")
        seq, a, b = m.groups()
        return FrameRange(seq, int(a) if a else 0, int(b) if b else None)
    seq, *bounds = item
    if len(bounds) > 2:
        raise ValueError(f"bad frame range {item!r} (expected (seq, start, stop))")
    start = int(bounds[0]) if bounds and bounds[0] is not None else 0
    stop = int(bounds[1]) if len(bounds) > 1 and bounds[1] is not None else None
    return FrameRange(str(seq), start, stop)


def split_from_lists(
    train: Iterable = (),
    val: Iterable = (),
    test: Iterable = (),
    name: str = "custom",
    val_from_test: int = 0,
    seed: int = 0,
) -> SplitSpec:
    """A split from explicit lists of ``"seq"``, ``"seq:a-b"`` or ``(seq, a, b)`` entries."""
    return SplitSpec(
        name,
        tuple(_parse_range(x) for x in train),
        tuple(_parse_range(x) for x in val),
        tuple(_parse_range(x) for x in test),
        val_from_test,
        seed,
    )


def split_preset(name: str, root: str | Path | None = None) -> SplitSpec:
    """Preset by name: ``split1..3`` (or ``1..3``) or ``synthetic`` (needs ``root``)."""
    key = str(name).strip().lower()
    if key in ("1", "2", "3"):
        key = f"split{key}"
    if key in ("split1", "split2", "split3"):
        return mvsec_split(int(key[-1]))
    if key == "synthetic":
        if root is None:
            raise ValueError("the synthetic split needs the data root to find its sequences")
        return synthetic_split(root)
    raise ValueError(f"unknown split {name!r} (presets: split1, split2, split3, synthetic)")


def resolve_split(
    spec: SplitSpec | str,
    root: str | Path,
    num_labels: Callable[[str], int] | None = None,
) -> Split:
    """Expand ``spec`` (or a preset name) into label lists, clipped to what the files hold.

    ``num_labels(seq)`` defaults to reading the depth dataset shape in ``root``. A sequence the
    split needs but ``root`` lacks is a :class:`DataError`.
    """
    if isinstance(spec, str):
        spec = split_preset(spec, root)
    counter = num_labels or (lambda s: count_labels(root, s))
    counts: dict[str, int] = {}

    def expand(ranges: tuple[FrameRange, ...]) -> list[tuple[str, int]]:
        out = []
        for r in ranges:
            if r.seq not in counts:
                if num_labels is None and not (Path(root) / layout.gt_file(r.seq)).is_file():
                    raise DataError(
                        f"split {spec.name} needs sequence {r.seq}: file not found",
                        Path(root) / layout.gt_file(r.seq),
                    )
                counts[r.seq] = counter(r.seq)
            n = counts[r.seq]
            stop = n if r.stop is None else min(r.stop, n)
            out.extend((r.seq, i) for i in range(max(r.start, 0), stop))
        return out

    train, val, test = expand(spec.train), expand(spec.val), expand(spec.test)
    if spec.val_from_test > 0 and test:
        order = np.random.default_rng(spec.seed).permutation(len(test))
        k = min(spec.val_from_test, len(test))
        moved = set(order[:k].tolist())
        val = val + [test[i] for i in sorted(order[:k].tolist())]  # kept in file order
        test = [s for i, s in enumerate(test) if i not in moved]
    return Split(spec.name, train, val, test)
