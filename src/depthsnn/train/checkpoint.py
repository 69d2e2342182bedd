"""Training checkpoints: everything needed to continue a run exactly, safe to open.

A checkpoint holds the model, optimizer and scheduler states, the RNG states of python, numpy
and torch, the epoch just finished, the best validation MDE so far and the full configuration
(so ``evaluate`` and ``export`` can rebuild the model without being told its architecture).
Files are written atomically: a run killed mid-save keeps the previous checkpoint.

Safety (format version 2). Everything in the file is a tensor or a plain type (dict, list,
tuple, str, number, bool, None), so :func:`load_checkpoint` reads it with
``torch.load(weights_only=True)``: a file cannot run code when opened, whoever sent it. The RNG
states are stored as tensors and numbers for that reason (format 1 held numpy's state tuple,
which only a full unpickling can rebuild). Before loading, the sizes the zip archive declares
are checked against the memory limit (:mod:`depthsnn.limits`) and its CRCs are verified, so a
truncated, bit-flipped or oversized file is a one-line :class:`DataError`, never an allocation.

Format 1 files (depthsnn before format 2) are refused with a message naming the conversion:
``depthsnn checkpoint convert OLD NEW --trust`` (:func:`convert_checkpoint`), the one place
that unpickles arbitrarily, and only when asked to.
"""

from __future__ import annotations

import pickle
import random
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..atomic import atomic_path
from ..errors import ConfigError, DataError
from ..limits import check_size, format_bytes, max_bytes

FORMAT = "depthsnn-checkpoint"
FORMAT_VERSION = 2
# What a format-1 checkpoint needs beyond the safe set: numpy's legacy RNG state (an ndarray).
_FORMAT1_GLOBALS = {"numpy.dtype", "numpy.ndarray", "numpy.core.multiarray._reconstruct",
                    "numpy._core.multiarray._reconstruct", "numpy.dtypes.UInt32DType"}
_PY_STATE_LEN, _NP_KEY_LEN = 625, 624  # MT19937: 624 words (+ python's position)


def convert_command(path: str | Path) -> str:
    return f"depthsnn checkpoint convert {path} NEW.pt --trust"


# ------------------------------------------------------------------------------------- RNG


def _pack_rng(py: tuple, npy: tuple, torch_state: torch.Tensor, cuda: list | None) -> dict[str, Any]:
    """RNG states as tensors and plain numbers (what ``weights_only`` loading accepts)."""
    version, internal, gauss = py
    name, key, pos, has_gauss, cached = npy
    state = {
        "python": {"version": int(version), "state": torch.tensor(internal, dtype=torch.int64),
                   "gauss": None if gauss is None else float(gauss)},
        "numpy": {"bit_generator": str(name), "key": torch.from_numpy(np.asarray(key, dtype=np.int64)),
                  "pos": int(pos), "has_gauss": int(has_gauss), "cached_gaussian": float(cached)},
        "torch": torch_state,
    }
    if cuda is not None:
        state["cuda"] = list(cuda)
    return state


def rng_state() -> dict[str, Any]:
    return _pack_rng(
        random.getstate(),
        # The legacy global numpy RNG is saved on purpose: user code and libraries may draw from it.
        np.random.get_state(),  # noqa: NPY002
        torch.get_rng_state(),
        torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
    )


def set_rng_state(state: dict[str, Any]) -> None:
    py, npy = state["python"], state["numpy"]
    random.setstate((py["version"], tuple(int(v) for v in py["state"].tolist()), py["gauss"]))
    key = npy["key"].numpy().astype(np.uint32)
    np.random.set_state((npy["bit_generator"], key, npy["pos"], npy["has_gauss"], npy["cached_gaussian"]))  # noqa: NPY002
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _check_rng(state: Any, path: Path) -> None:
    """The RNG part of a loaded checkpoint has the structure :func:`set_rng_state` expects."""
    try:
        py, npy = state["python"], state["numpy"]
        ok = (isinstance(py["state"], torch.Tensor) and py["state"].shape == (_PY_STATE_LEN,)
              and isinstance(py["version"], int) and (py["gauss"] is None or isinstance(py["gauss"], float))
              and isinstance(npy["key"], torch.Tensor) and npy["key"].shape == (_NP_KEY_LEN,)
              and npy["bit_generator"] == "MT19937"
              and all(isinstance(npy[k], int) for k in ("pos", "has_gauss"))
              and isinstance(npy["cached_gaussian"], float)
              and isinstance(state["torch"], torch.Tensor) and state["torch"].dtype == torch.uint8)
    except (KeyError, TypeError, IndexError):
        ok = False
    if not ok:
        raise DataError("checkpoint RNG state is malformed (rng: python/numpy/torch states)", path)


# ------------------------------------------------------------------------------- save / load


def save_checkpoint(path: str | Path, **payload: Any) -> Path:
    """Write ``payload`` (model, optimizer, scheduler, epoch, config, ...) atomically to ``path``.

    The payload must hold tensors and plain types only; the file is checked before it replaces
    ``path`` so that a checkpoint that could not be opened safely is never written.
    """
    path = Path(path)
    data = {"format": FORMAT, "version": FORMAT_VERSION, "rng": rng_state(), **payload}
    with atomic_path(path) as tmp:
        torch.save(data, tmp)
        unsafe = torch.serialization.get_unsafe_globals_in_checkpoint(tmp)
        if unsafe:  # a programming error: someone put a numpy value or an object in the payload
            raise ConfigError(f"checkpoint payload holds objects a safe load refuses: {', '.join(unsafe)}", path)
    return path


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu",
                    limit: int | None = None) -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint` safely, with a one-line error otherwise.

    ``torch.load(weights_only=True)``: no code in the file runs. Declared sizes are checked
    against ``limit`` (default: :func:`depthsnn.limits.max_bytes`) before anything is read.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError("checkpoint not found", path)
    check_archive(path, limit)
    try:
        data = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        raise _refusal(path, exc) from None
    except Exception as exc:  # torch raises many types for corrupt files
        raise DataError(f"not a readable checkpoint ({type(exc).__name__}: {_one_line(exc)})", path) from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise DataError("not a depthsnn checkpoint (unknown format)", path)
    version = data.get("version", 0)
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise DataError(f"checkpoint format version {version!r} is newer than this depthsnn", path)
    if version < FORMAT_VERSION:
        raise DataError(f"checkpoint format {version} is no longer opened; convert it: {convert_command(path)}", path)
    for key in ("model", "config"):
        if key not in data:
            raise DataError(f"checkpoint lacks '{key}'", path)
    if not isinstance(data["model"], dict) or not all(isinstance(v, torch.Tensor) for v in data["model"].values()):
        raise DataError("checkpoint 'model' is not a state dict of tensors", path)
    if not isinstance(data["config"], dict):
        raise DataError("checkpoint 'config' is not a dict", path)
    if "rng" in data:
        _check_rng(data["rng"], path)
    return data


def check_archive(path: Path, limit: int | None = None) -> None:
    """Sizes and CRCs of the zip archive ``torch.save`` writes, checked before ``torch.load``.

    Every entry's declared (uncompressed) size, and their sum, must fit the memory limit: torch
    allocates what an entry declares. The CRC pass reads in chunks (nothing large allocated) and
    turns a bit flip anywhere in the file into an error instead of a silently different weight.
    """
    cap = max_bytes(limit)
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
            for info in infos:
                check_size(f"checkpoint entry {info.filename!r}", info.file_size, path, cap)
            total = sum(i.file_size for i in infos)
            if total > cap:
                name, nbytes = _largest_tensor(path)
                raise DataError(f"checkpoint tensors need {format_bytes(total)} ({total} bytes), over the memory "
                                f"limit of {format_bytes(cap)}; the largest is {name} ({format_bytes(nbytes)})", path)
            bad = zf.testzip()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, ValueError, NotImplementedError) as exc:
        raise DataError(f"not a readable checkpoint (not an intact torch.save archive: {_one_line(exc)})",
                        path) from None
    if bad is not None:
        raise DataError(f"checkpoint is corrupt (CRC mismatch in entry {bad!r})", path)


def _largest_tensor(path: Path) -> tuple[str, int]:
    """Name and size of the largest tensor, read through a memory map (storages not allocated)."""
    try:
        data = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception:
        return "unknown (the archive cannot be mapped)", 0
    best = max(_tensors(data, ""), key=lambda kv: kv[1], default=("none", 0))
    return best[0] or "the top-level tensor", best[1]


def _tensors(obj: Any, prefix: str) -> Iterator[tuple[str, int]]:
    if isinstance(obj, torch.Tensor):
        yield prefix, obj.untyped_storage().nbytes()
    elif isinstance(obj, dict):
        for k, v in obj.items():
            yield from _tensors(v, f"{prefix}.{k}" if prefix else str(k))
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            yield from _tensors(v, f"{prefix}[{i}]")


def _refusal(path: Path, exc: Exception) -> DataError:
    """Why a safe load refused ``path``: an old depthsnn checkpoint, or objects that could run code."""
    try:  # scans the pickle's opcodes; runs nothing
        unsafe = set(torch.serialization.get_unsafe_globals_in_checkpoint(path))
    except Exception:
        unsafe = set()
    if unsafe and unsafe <= _FORMAT1_GLOBALS:
        return DataError("checkpoint format 1 (numpy RNG state, which needs full unpickling) is no longer "
                         f"opened; if you trust its source, convert it: {convert_command(path)}", path)
    what = ", ".join(sorted(unsafe)) if unsafe else _one_line(exc)
    return DataError(f"refused: the checkpoint holds objects that could run code when loaded ({what}); "
                     "it is not a file this depthsnn wrote", path)


def _one_line(e: BaseException) -> str:
    s = " ".join(str(e).split())
    return s[:300] + ("..." if len(s) > 300 else "")


# ------------------------------------------------------------------------------- conversion


def convert_checkpoint(src: str | Path, dst: str | Path, trust: bool = False, limit: int | None = None) -> Path:
    """Rewrite a format-1 checkpoint ``src`` as format 2 at ``dst`` (written atomically, verified).

    Reading format 1 needs full unpickling, which runs whatever code the file holds: this is
    the only function that does it, and only with ``trust=True``.
    """
    src, dst = Path(src), Path(dst)
    if not src.is_file():
        raise DataError("checkpoint not found", src)
    if not trust:
        raise ConfigError("converting unpickles the file, which runs any code it holds: pass --trust "
                          "(trust=True) only for a checkpoint from a source you trust", src)
    if src.resolve() == dst.resolve():
        raise ConfigError("write the converted checkpoint to a new file (NEW differs from OLD)", dst)
    check_archive(src, limit)
    try:
        data = torch.load(src, map_location="cpu", weights_only=False)  # explicitly trusted above
    except Exception as exc:
        raise DataError(f"not a readable checkpoint ({type(exc).__name__}: {_one_line(exc)})", src) from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise DataError("not a depthsnn checkpoint (unknown format)", src)
    if data.get("version") != 1:
        raise DataError(f"checkpoint is format {data.get('version')!r}; only format 1 needs converting", src)
    rng = data.get("rng")
    if isinstance(rng, dict) and "python" in rng:
        data["rng"] = _pack_rng(rng["python"], rng["numpy"], rng["torch"], rng.get("cuda"))
    data = {k: _plain(v) for k, v in data.items()}
    data["version"] = FORMAT_VERSION
    with atomic_path(dst) as tmp:
        torch.save(data, tmp)
        load_checkpoint(tmp, limit=limit)  # proves the result opens safely before it takes the name
    return dst


def _plain(obj: Any) -> Any:
    """numpy values -> tensors / python numbers, recursively (containers keep their type)."""
    if isinstance(obj, np.ndarray):
        return torch.from_numpy(obj.copy())
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, dict):  # dict, OrderedDict (state dicts), Counter (MultiStepLR milestones)
        out = type(obj)()
        out.update({k: _plain(v) for k, v in obj.items()})
        return out
    if isinstance(obj, (list, tuple)) and type(obj) in (list, tuple):
        return type(obj)(_plain(v) for v in obj)
    return obj


def model_from_checkpoint(path: str | Path, device: str | torch.device = "cpu"):
    """Rebuild the trained model of a checkpoint: returns ``(model, train_config, checkpoint)``.

    The architecture comes from the checkpoint's saved ``model_config``; a state dict that does
    not fit it (edited or foreign checkpoint) is a one-line :class:`DataError`. A spiking network
    trained with batch norms or learnable thresholds comes back with them folded into its convolutions
    (:mod:`depthsnn.models.fold`): the form that is exported and simulated, so evaluation, export
    and simulation all run the same arithmetic.
    """
    from ..config import from_dict
    from ..errors import ConfigError
    from ..models import DepthNet, ModelConfig
    from ..models.fold import fold_norms
    from .config import config_from_dict

    ckpt = load_checkpoint(path, map_location=device)
    try:
        cfg = config_from_dict(ckpt["config"])
        mcfg = from_dict(ModelConfig, ckpt.get("model_config") or {}) if "model_config" in ckpt else cfg.model_config()
    except ConfigError as exc:
        raise DataError(f"checkpoint configuration is invalid: {exc}", path) from None
    model = DepthNet(mcfg)
    try:
        model.load_state_dict(ckpt["model"])
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()
        detail = " ".join(line.strip() for line in first[:3])
        raise DataError(f"weights do not fit the architecture {cfg.model}: {detail}", path) from None
    model = model.to(device).eval()
    if mcfg.kind != "ann":
        fold_norms(model)  # no-op without norms
    return model, cfg, ckpt
