"""Choosing spikingjelly's neuron implementation (the "backend").

spikingjelly 2.0.0 has no ``backend=`` argument: neuron operators dispatch on the tensor's
device. CPU always uses the torch implementation. On CUDA, each neuron type reads an
environment variable (``SJ_IF_CUDA_IMPLEMENTATION``, ``SJ_LIF_CUDA_IMPLEMENTATION``, values
``auto | cuda | triton | torch``) ONCE, when ``spikingjelly._ops.<neuron>`` is imported
(``_CudaSelection.__init__`` stores it in ``_requested``), and caches the implementation it
picks per device on first use. Setting the variable after import therefore has no effect;
:func:`use_backend` sets the variable *and* the already-read selection, clears the caches,
and restores everything on exit.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import os
from collections.abc import Iterator

import torch

from ..errors import ConfigError

BACKENDS = ("auto", "torch", "triton", "cuda")
# spikingjelly op packages whose CUDA implementation we steer, with their env variables.
_NEURON_OPS = {
    "spikingjelly._ops.if_": "SJ_IF_CUDA_IMPLEMENTATION",
    "spikingjelly._ops.lif": "SJ_LIF_CUDA_IMPLEMENTATION",
}


def _triton_available() -> bool:
    return torch.cuda.is_available() and importlib.util.find_spec("triton") is not None


def _native_available() -> bool:
    """spikingjelly's own CUDA kernels exist only when built with ``SJ_BUILD_NATIVE_CUDA=1``."""
    if not torch.cuda.is_available():
        return False
    try:
        importlib.import_module("spikingjelly._ops.if_.native")
    except (ImportError, OSError, RuntimeError):
        return False
    return True


def available_backends(device: torch.device | str) -> list[str]:
    """Concrete backends usable on ``device``, fastest first (``torch`` always last)."""
    dev = torch.device(device)
    if dev.type != "cuda" or not torch.cuda.is_available():
        return ["torch"]
    found = []
    if _triton_available():
        found.append("triton")
    if _native_available():
        found.append("cuda")
    return [*found, "torch"]


def select_backend(requested: str, device: torch.device | str) -> str:
    """Resolve ``requested`` (auto | torch | triton | cuda) to the backend used on ``device``.

    ``auto`` picks the fastest available (always ``torch`` on CPU); ``torch`` always works;
    ``triton``/``cuda`` raise :class:`ConfigError` where they cannot run.
    """
    if requested not in BACKENDS:
        raise ConfigError(f"backend {requested!r} unknown (known: {', '.join(BACKENDS)})")
    dev = torch.device(device)
    if requested == "torch":
        return "torch"
    usable = available_backends(dev)
    if requested == "auto":
        return usable[0]
    if dev.type != "cuda" or not torch.cuda.is_available():
        where = "this machine has none" if not torch.cuda.is_available() else f"the device is {dev}"
        raise ConfigError(f"backend {requested!r} needs a CUDA device; {where}")
    if requested not in usable:
        why = (
            "triton is not installed"
            if requested == "triton"
            else "spikingjelly was not built with SJ_BUILD_NATIVE_CUDA=1"
        )
        raise ConfigError(f"backend {requested!r} is not available on {dev}: {why}")
    return requested


@contextlib.contextmanager
def use_backend(backend: str) -> Iterator[str]:
    """Within the block, spikingjelly's IF/LIF CUDA ops use ``backend`` (a concrete name).

    Yields ``backend``. Has no effect on CPU tensors (always torch). Restores the previous
    environment variables and selections on exit.
    """
    if backend not in BACKENDS:
        raise ConfigError(f"backend {backend!r} unknown (known: {', '.join(BACKENDS)})")
    saved: list[tuple[str, str | None, object | None, object | None]] = []
    try:
        for module_name, env in _NEURON_OPS.items():
            selection = getattr(importlib.import_module(module_name), "_selection", None)
            saved.append((env, os.environ.get(env), selection, getattr(selection, "_requested", None)))
            os.environ[env] = backend
            _set_selection(selection, backend)
        yield backend
    finally:
        for env, old_env, selection, old_requested in saved:
            if old_env is None:
                os.environ.pop(env, None)
            else:
                os.environ[env] = old_env
            if old_requested is not None:
                _set_selection(selection, old_requested)  # type: ignore[arg-type]


def _set_selection(selection: object | None, value: str) -> None:
    # Private spikingjelly 2.0 state; guarded so a future layout change degrades to env-only.
    if selection is None or not hasattr(selection, "_requested"):
        return
    selection._requested = value  # type: ignore[attr-defined]
    for cache in ("_selections", "_compiled_selections"):
        if isinstance(getattr(selection, cache, None), dict):
            getattr(selection, cache).clear()


def implementations_used(device: torch.device | str) -> dict[str, str]:
    """What spikingjelly actually ran for each neuron type on ``device`` since the selection caches
    were last cleared (:func:`use_backend` clears them on entry): ``{"if": "triton", ...}``.

    A torch-reference fallback reads ``torch-reference (<spikingjelly's reason>)``; the CPU always
    runs spikingjelly's torch implementation. Neuron types that have not run are absent.
    """
    dev = torch.device(device)
    if dev.type != "cuda":
        return {"all": "torch (cpu)"}
    used: dict[str, str] = {}
    for module_name in _NEURON_OPS:
        selection = getattr(importlib.import_module(module_name), "_selection", None)
        kind = module_name.rsplit(".", 1)[-1].rstrip("_")
        found = []
        for cache, tag in (("_selections", ""), ("_compiled_selections", " (compiled)")):
            for key, impl in dict(getattr(selection, cache, {}) or {}).items():
                if isinstance(key, tuple):  # (device index, reason): the reference loop ran
                    found.append(f"torch-reference ({key[1]})")
                elif impl is not None:
                    found.append(f"{impl.name}{tag}")
        if found:
            used[kind] = ", ".join(dict.fromkeys(found))
    return used


def fallbacks_in(used: dict[str, str]) -> dict[str, str]:
    """The entries of :func:`implementations_used` that ran spikingjelly's slow reference loop."""
    return {k: v for k, v in used.items() if "torch-reference" in v}
