"""Measured energy per inference: a device's energy counter read around back-to-back inferences.

Importable without a GPU (no torch at import time). The arithmetic is plain and tested on the
CPU with a fake counter and clock (tests/test_measured.py); the real counter is NVML's
``nvmlDeviceGetTotalEnergyConsumption`` (millijoules since the driver loaded), read through Zeus
when Zeus is importable, else through ``nvidia-ml-py`` (``pynvml``) directly.

:func:`measure_inference` measures, in this order: idle power over ``idle_seconds`` (counter
delta over wall time, nothing running), ``warmup`` steps, then steps back to back for at least
``min_seconds``, synchronising the device before every clock/counter read that closes an
interval. Per inference means per sample: a step of batch ``B`` counts ``B`` inferences.

Two figures come out of it (design.md s.11):

* ``dynamic_mj``: energy per inference above idle, ``total - idle_w * time``, per inference;
* ``per_map_mj(window_s)``: what one depth map costs at the sensor's rate, one map per window
  with the board idling in between: ``dynamic_mj + idle_w * max(window_s, latency) * 1000``
  (a board slower than the window cannot keep up; it then pays idle power over its own latency).

:func:`measure_at_rate` measures the second figure directly: one step per window, sleeping out
the rest of the window, energy per window.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Protocol

from ..errors import DepthSNNError


class MeasurementError(DepthSNNError):
    """An energy measurement cannot be made here (no CUDA device, no NVML, no energy counter)."""


class EnergyCounter(Protocol):
    """A device's energy counter."""

    def read_mj(self) -> float:
        """Monotonically increasing total energy, millijoules."""
        ...


class _NvmlCounter:
    """NVML's total-energy counter of one device (mJ since the driver was loaded)."""

    def __init__(self, nvml, handle, via: str):
        self._nvml, self._handle, self.via = nvml, handle, via

    def read_mj(self) -> float:
        return float(self._nvml.nvmlDeviceGetTotalEnergyConsumption(self._handle))


class _ZeusCounter:
    """Zeus's GPU abstraction (NVML underneath); same counter, same unit (mJ)."""

    via = "zeus"

    def __init__(self, gpus, index: int):
        self._gpus, self._index = gpus, index

    def read_mj(self) -> float:
        return float(self._gpus.getTotalEnergyConsumption(self._index))


def _zeus_counter(device_index: int):
    """A Zeus counter, or None when Zeus is missing or cannot read the counter."""
    try:
        from zeus.device import get_gpus  # type: ignore[import-not-found]

        gpus = get_gpus()
        counter = _ZeusCounter(gpus, device_index)
        counter.read_mj()
        return counter
    except Exception:  # noqa: BLE001 - any Zeus problem: fall back to nvidia-ml-py
        return None


def nvml_counter(device_index: int = 0) -> EnergyCounter:
    """The total-energy counter of GPU ``device_index``: Zeus when importable, else ``pynvml``.

    Raises :class:`MeasurementError` (one line) when neither can read it.
    """
    zeus = _zeus_counter(device_index)
    if zeus is not None:
        return zeus
    try:
        import pynvml  # type: ignore[import-not-found]
    except ImportError:
        raise MeasurementError("energy measurement needs nvidia-ml-py (pip install nvidia-ml-py) or zeus") from None
    try:
        pynvml.nvmlInit()
        handle = pynvml.nvmlDeviceGetHandleByIndex(device_index)
        counter = _NvmlCounter(pynvml, handle, "nvidia-ml-py")
        counter.read_mj()
    except pynvml.NVMLError as exc:
        raise MeasurementError(f"NVML cannot read GPU {device_index}'s energy counter: {exc}") from None
    return counter


@dataclass
class MeasuredEnergy:
    """One measurement. Energies in mJ per inference (per sample), power in W, time in s.

    ``mode``: ``back_to_back`` (:func:`measure_inference`) or ``sensor_rate``
    (:func:`measure_at_rate`, one step per ``window_s``, ``total_mj`` = energy per map).
    """

    inferences: int
    seconds: float
    ms_per_inference: float
    total_mj: float
    idle_w: float
    avg_w: float
    dynamic_mj: float
    batch: int
    window_s: float
    mode: str = "back_to_back"
    warmup: int = 0
    idle_seconds: float = 0.0

    def per_map_mj(self, window_s: float | None = None) -> float:
        """Energy per depth map at one map per ``window_s`` (default: the measurement's window):
        dynamic energy plus idle power over the window (or over the latency, if longer)."""
        w = self.window_s if window_s is None else window_s
        if w <= 0:
            raise ValueError(f"window_s must be > 0, got {w}")
        return self.dynamic_mj + self.idle_w * max(w, self.ms_per_inference / 1000.0) * 1000.0

    @property
    def keeps_up(self) -> bool:
        """Whether one inference finishes within the window (batch 1 latency <= window)."""
        return self.ms_per_inference * self.batch / 1000.0 <= self.window_s

    def to_dict(self) -> dict:
        d = asdict(self)
        d.update(per_map_mj=self.per_map_mj(), keeps_up=self.keeps_up)
        return d


def _idle_power(counter: EnergyCounter, sync, clock, sleep, idle_seconds: float) -> float:
    if idle_seconds <= 0:
        raise ValueError(f"idle_seconds must be > 0, got {idle_seconds}")
    sync()
    e0, t0 = counter.read_mj(), clock()
    sleep(idle_seconds)
    sync()
    e1, t1 = counter.read_mj(), clock()
    if t1 <= t0:
        raise MeasurementError("the clock did not advance over the idle interval")
    return (e1 - e0) / 1000.0 / (t1 - t0)  # mJ -> J, over s -> W


def _warm_start(step, counter, sync, clock, sleep, idle_seconds: float, warmup: int) -> tuple[float, float, float]:
    """Idle power, then ``warmup`` steps; returns (idle W, counter mJ, clock s) at the start of the measurement."""
    idle_w = _idle_power(counter, sync, clock, sleep, idle_seconds)
    for _ in range(warmup):
        step()
    sync()
    return idle_w, counter.read_mj(), clock()


def measure_inference(step: Callable[[], None], *, counter: EnergyCounter, sync: Callable[[], None] = lambda: None,
                      clock: Callable[[], float] = time.perf_counter, sleep: Callable[[float], None] = time.sleep,
                      batch: int = 1, warmup: int = 5, min_seconds: float = 3.0, idle_seconds: float = 2.0,
                      window_s: float = 0.05) -> MeasuredEnergy:
    """Idle power, then ``warmup`` steps, then steps back to back for >= ``min_seconds``.

    ``step`` runs one batch of ``batch`` samples (asynchronously, on a GPU); ``sync`` waits for
    the device. The loop synchronises after every step: a step is the unit the clock can see,
    and at the batch sizes measured here (>= ms per step) a sync costs microseconds.
    """
    if batch < 1:
        raise ValueError(f"batch must be >= 1, got {batch}")
    if min_seconds <= 0 or window_s <= 0 or warmup < 0:
        raise ValueError("min_seconds and window_s must be > 0, warmup >= 0")
    idle_w, e0, t0 = _warm_start(step, counter, sync, clock, sleep, idle_seconds, warmup)
    steps = 0
    while True:
        step()
        sync()
        steps += 1
        t1 = clock()
        if t1 - t0 >= min_seconds:
            break
    e1 = counter.read_mj()
    seconds = t1 - t0
    n = steps * batch
    total = (e1 - e0) / n
    return MeasuredEnergy(inferences=n, seconds=seconds, ms_per_inference=seconds * 1000.0 / n, total_mj=total,
                          idle_w=idle_w, avg_w=(e1 - e0) / 1000.0 / seconds,
                          dynamic_mj=total - idle_w * seconds * 1000.0 / n, batch=batch, window_s=window_s,
                          warmup=warmup, idle_seconds=idle_seconds)


def measure_at_rate(step: Callable[[], None], *, counter: EnergyCounter, sync: Callable[[], None] = lambda: None,
                    clock: Callable[[], float] = time.perf_counter, sleep: Callable[[float], None] = time.sleep,
                    window_s: float = 0.05, maps: int = 40, warmup: int = 5,
                    idle_seconds: float = 2.0) -> MeasuredEnergy:
    """One batch-1 step per ``window_s`` for ``maps`` windows (the sensor's rate); ``total_mj`` is
    the measured energy per map (idle between maps included), ``dynamic_mj`` that less idle power
    over the window. ``ms_per_inference`` is the mean busy time per map."""
    if maps < 1 or window_s <= 0:
        raise ValueError("maps must be >= 1 and window_s > 0")
    idle_w, e0, t0 = _warm_start(step, counter, sync, clock, sleep, idle_seconds, warmup)
    busy = 0.0
    for k in range(1, maps + 1):
        s = clock()
        step()
        sync()
        now = clock()
        busy += now - s
        rest = t0 + k * window_s - now
        if rest > 0:
            sleep(rest)
    t1 = clock()
    e1 = counter.read_mj()
    seconds = t1 - t0
    total = (e1 - e0) / maps
    return MeasuredEnergy(inferences=maps, seconds=seconds, ms_per_inference=busy * 1000.0 / maps, total_mj=total,
                          idle_w=idle_w, avg_w=(e1 - e0) / 1000.0 / seconds,
                          dynamic_mj=total - idle_w * seconds * 1000.0 / maps, batch=1, window_s=window_s,
                          mode="sensor_rate", warmup=warmup, idle_seconds=idle_seconds)
