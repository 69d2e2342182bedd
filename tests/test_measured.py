"""Measured mode on the CPU: a fake device (clock + energy counter of known power) gives analytic figures."""

from __future__ import annotations

import subprocess
import sys

import pytest

from depthsnn.hw_profiles.measured import (
    MeasuredEnergy,
    MeasurementError,
    measure_at_rate,
    measure_inference,
    nvml_counter,
)


class FakeDevice:
    """Idles at ``idle_w``; a step runs ``step_s`` seconds at ``busy_w`` (total board power)."""

    def __init__(self, idle_w: float, busy_w: float, step_s: float):
        self.idle_w, self.busy_w, self.step_s = idle_w, busy_w, step_s
        self.t = 100.0
        self.mj = 5_000.0
        self.steps = 0
        self.syncs = 0

    def clock(self) -> float:
        return self.t

    def read_mj(self) -> float:
        return self.mj

    def sleep(self, s: float) -> None:
        self.t += s
        self.mj += self.idle_w * s * 1e3

    def step(self) -> None:
        self.t += self.step_s
        self.mj += self.busy_w * self.step_s * 1e3
        self.steps += 1

    def sync(self) -> None:
        self.syncs += 1


def _measure(dev: FakeDevice, **kw) -> MeasuredEnergy:
    return measure_inference(dev.step, counter=dev, sync=dev.sync, clock=dev.clock, sleep=dev.sleep, **kw)


def test_back_to_back_figures_are_the_analytic_ones():
    dev = FakeDevice(idle_w=120.0, busy_w=160.0, step_s=2.0 ** -9)  # 1.953125 ms, exact in binary
    dev.t = 128.0
    m = _measure(dev, batch=1, warmup=5, min_seconds=3.0, idle_seconds=2.0, window_s=0.05)
    assert m.idle_w == pytest.approx(120.0)
    assert m.avg_w == pytest.approx(160.0)
    assert m.inferences == 3 * 512  # steps until >= 3 s
    assert dev.steps == m.inferences + 5  # warm-ups are not counted
    ms = 1000 / 512
    assert m.ms_per_inference == pytest.approx(ms)
    assert m.total_mj == pytest.approx(160.0 * ms)  # W * ms = mJ
    assert m.dynamic_mj == pytest.approx(40.0 * ms)
    assert m.per_map_mj() == pytest.approx(40.0 * ms + 120.0 * 50.0)
    assert m.per_map_mj(0.1) == pytest.approx(40.0 * ms + 120.0 * 100.0)
    assert m.keeps_up
    d = m.to_dict()
    assert d["per_map_mj"] == pytest.approx(m.per_map_mj()) and d["dynamic_mj"] == m.dynamic_mj
    assert d["mode"] == "back_to_back"


def test_batch_divides_per_sample():
    dev = FakeDevice(idle_w=130.0, busy_w=500.0, step_s=0.0088)
    m = _measure(dev, batch=32, min_seconds=1.0, idle_seconds=0.5)
    assert m.inferences % 32 == 0 and m.batch == 32
    assert m.ms_per_inference == pytest.approx(8.8 / 32)
    assert m.total_mj == pytest.approx(500.0 * 8.8 / 32)
    assert m.dynamic_mj == pytest.approx(370.0 * 8.8 / 32)


def test_slow_board_pays_idle_over_its_latency():
    dev = FakeDevice(idle_w=10.0, busy_w=20.0, step_s=0.2)  # 200 ms per map, 50 ms window
    m = _measure(dev, min_seconds=1.0, idle_seconds=0.5, warmup=0)
    assert not m.keeps_up
    assert m.per_map_mj(0.05) == pytest.approx(m.dynamic_mj + 10.0 * 200.0)  # = the total energy
    assert m.per_map_mj(0.05) == pytest.approx(m.total_mj)


def test_at_sensor_rate_measures_energy_per_map():
    dev = FakeDevice(idle_w=100.0, busy_w=150.0, step_s=0.004)
    m = measure_at_rate(dev.step, counter=dev, sync=dev.sync, clock=dev.clock, sleep=dev.sleep, window_s=0.05,
                        maps=20, warmup=2, idle_seconds=1.0)
    assert m.mode == "sensor_rate" and m.inferences == 20
    assert m.seconds == pytest.approx(20 * 0.05)
    assert m.ms_per_inference == pytest.approx(4.0)
    # per map: 4 ms at 150 W + 46 ms at 100 W
    assert m.total_mj == pytest.approx(150 * 4 + 100 * 46)
    assert m.dynamic_mj == pytest.approx(50 * 4)
    assert m.per_map_mj() == pytest.approx(m.total_mj)  # the back-to-back formula agrees with the paced run


def test_idle_reads_are_synced_and_bad_arguments_refused():
    dev = FakeDevice(1.0, 2.0, 0.01)
    _measure(dev, min_seconds=0.05, idle_seconds=0.1, warmup=1)
    assert dev.syncs >= 4
    with pytest.raises(ValueError):
        _measure(dev, batch=0)
    with pytest.raises(ValueError):
        _measure(dev, idle_seconds=0)


def test_nvml_counter_without_nvml_is_one_line_error(monkeypatch):
    import depthsnn.hw_profiles.measured as measured

    monkeypatch.setattr(measured, "_zeus_counter", lambda i: None)
    monkeypatch.setitem(sys.modules, "pynvml", None)  # import fails
    with pytest.raises(MeasurementError) as exc:
        nvml_counter(0)
    assert "nvidia-ml-py" in str(exc.value) and "\n" not in str(exc.value)


def test_module_imports_without_torch():
    """measured.py needs neither torch nor a GPU: loaded with torch blocked, it still measures."""
    code = """
import importlib.util, sys, types
from pathlib import Path
import depthsnn
sys.modules['torch'] = None  # any 'import torch' now fails
pkg = types.ModuleType('depthsnn.hw_profiles')
pkg.__path__ = [str(Path(depthsnn.__file__).parent / 'hw_profiles')]
sys.modules['depthsnn.hw_profiles'] = pkg
spec = importlib.util.spec_from_file_location('depthsnn.hw_profiles.measured', pkg.__path__[0] + '/measured.py')
m = importlib.util.module_from_spec(spec); sys.modules[spec.name] = m; spec.loader.exec_module(m)
print(m.MeasuredEnergy.__name__)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "MeasuredEnergy"


def test_cli_measure_without_cuda_is_one_line_exit_2(tiny_checkpoints, tmp_path, capsys, monkeypatch):
    import torch

    from depthsnn.cli.main import main

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    rc = main(["energy", str(tiny_checkpoints["ann-tiny"]), "--measure", "--out", str(tmp_path / "m")])
    err = capsys.readouterr().err.strip()
    assert rc == 2
    assert err.startswith("depthsnn energy: error: --measure needs a CUDA device") and "\n" not in err
    assert not (tmp_path / "m" / "energy.json").exists()


def test_measure_checkpoint_writes_measurement_beside_estimate(tiny_checkpoints, tmp_path, monkeypatch):
    """The CUDA path with the device faked: CPU tensors, a no-op sync, the fake counter; checks the JSON."""
    import json

    import torch

    from depthsnn.compare import measure_run

    dev = FakeDevice(idle_w=100.0, busy_w=140.0, step_s=0.01)
    monkeypatch.setattr(torch.cuda, "synchronize", lambda: None)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda: "fake")
    monkeypatch.setattr(measure_run, "measure_inference",
                        lambda step, **kw: measure_inference(dev.step, **{**kw, "counter": dev, "clock": dev.clock,
                                                                         "sleep": dev.sleep}))
    monkeypatch.setattr(measure_run, "measure_at_rate",
                        lambda step, **kw: measure_at_rate(dev.step, **{**kw, "counter": dev, "clock": dev.clock,
                                                                       "sleep": dev.sleep}))
    doc = measure_run.measure_checkpoint(tiny_checkpoints["ann-tiny"], tmp_path, counter=dev, device="cpu",
                                         say=lambda _m: None, min_seconds=0.5, idle_seconds=0.2)
    saved = json.loads((tmp_path / "energy.json").read_text())
    m = saved["measurements"]["torch"]
    assert m["dynamic_mj"] == pytest.approx(40.0 * 10.0) and m["idle_w"] == pytest.approx(100.0)
    assert m["per_map_mj"] == pytest.approx(400.0 + 100.0 * doc["window_s"] * 1e3)
    est = saved["estimate"]
    assert est["profile"] == "gpu_h200" and est["dynamic_mj"] > 0 and est["per_map_mj"] > est["dynamic_mj"]
    r = saved["ratio_estimate_over_measured"]["torch"]
    assert r["dynamic_mj"] == pytest.approx(est["dynamic_mj"] / m["dynamic_mj"])
    assert r["per_map_mj"] == pytest.approx(est["per_map_mj"] / m["per_map_mj"])


def test_cli_energy_device_cuda_without_cuda_is_one_line_exit_2(tiny_checkpoints, tmp_path, capsys, monkeypatch):
    import torch

    from depthsnn.cli.main import main

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    rc = main(["energy", str(tiny_checkpoints["snn-tiny"]), "--device", "cuda", "--out", str(tmp_path / "e")])
    err = capsys.readouterr().err.strip()
    assert rc == 2
    assert err.startswith("depthsnn energy: error: --device cuda needs a CUDA device") and "\n" not in err
    assert not (tmp_path / "e" / "energy.json").exists()


def test_energy_device_reaches_the_simulator(tiny_checkpoints, tmp_path, monkeypatch):
    """--device is plumbed through assess_profiles to simulate_dataset (the fast path's device); with
    CUDA faked present, the run goes through in this process (no forked workers) and writes both
    figures per profile."""
    import json

    import torch

    from depthsnn.cli.main import main
    from depthsnn.hw_profiles import assess

    seen = []
    real = assess.simulate_dataset

    def spy(*a, device="cpu", **k):
        seen.append(device)
        return real(*a, device="cpu", **k)  # the arithmetic stays on the CPU here

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(assess, "simulate_dataset", spy)
    out = tmp_path / "e"
    assert main(["energy", str(tiny_checkpoints["snn-tiny"]), "--device", "cuda", "--samples", "1", "--jobs", "2",
                 "--profile", "loihi2", "--profile", "speck", "--out", str(out), "--quiet"]) == 0
    assert seen == ["cuda"]  # one precision (int8), simulated once, on the requested device
    rows = json.loads((out / "energy.json").read_text())["profiles"]
    for r in rows:
        assert r["per_map_mj"] == pytest.approx(r["energy"]["static_mj"] + r["dynamic_mj"], rel=1e-12)
