"""Smoke test of the benchmark scripts: each runs at 32x48 and writes its section with numbers.

Speed is not checked (too noisy on shared CI machines); only that every script runs, returns
finite figures and writes its section to the file named by ``DEPTHSNN_BENCHMARKS_MD``, never to
the repository's BENCHMARKS.md.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest
import torch

BENCH_DIR = Path(__file__).resolve().parent.parent / "benchmarks"
HW = ["--hw", "32", "48"]  # tiny frames: the whole file runs in seconds


@pytest.fixture
def out_md(monkeypatch, tmp_path) -> Path:
    """Benchmark scripts importable and writing to a temporary BENCHMARKS.md."""
    monkeypatch.syspath_prepend(str(BENCH_DIR))
    out = tmp_path / "BENCHMARKS.md"
    monkeypatch.setenv("DEPTHSNN_BENCHMARKS_MD", str(out))
    return out


def section(path: Path, name: str) -> str:
    m = re.search(rf"<!-- {name}:start -->\n(.*?)\n<!-- {name}:end -->", path.read_text(), re.S)
    assert m, f"section {name} missing"
    return m.group(1)


def table_rows(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("| ") and not line.startswith("| :")
            and "---" not in line][1:]  # without the header row


def test_write_section_replaces_and_places_on_top(out_md):
    from _report import write_section

    write_section("a", "first")
    write_section("b", "second")
    write_section("top", "summary", top=True)
    write_section("a", "first again")
    text = out_md.read_text()
    assert text.startswith("# Benchmarks")
    assert text.index("top:start") < text.index("a:start") < text.index("b:start")
    assert "first again" in text and "first\n" not in text


def test_ann_latency(out_md):
    import ann_latency

    threads = torch.get_num_threads()
    rows = ann_latency.main(["--presets", "ann-tiny", "--repeats", "2", "--warmup", "1", "--threads", "1", *HW])
    assert torch.get_num_threads() == threads
    cpu = [r for r in rows if r["device"] == "cpu"]
    assert len(cpu) == 1 and cpu[0]["model"] == "ann-tiny"
    assert cpu[0]["torch_ms"] > 0 and cpu[0]["ort_ms"] > 0 and math.isfinite(cpu[0]["ratio"])
    assert cpu[0]["max_diff"] < 1e-3  # same work on both sides
    assert table_rows(section(out_md, "ann-latency"))[0].startswith("| ann-tiny | 1.14 M | cpu |")


def test_simulator_speed(out_md):
    import simulator_speed

    threads = torch.get_num_threads()
    rows = simulator_speed.main(["--densities", "0.05", "--low-gains", "1.2", "--repeats", "1", "--T", "2", *HW])
    assert torch.get_num_threads() == threads  # it pins 1 thread while measuring
    assert [r["name"] for r in rows] == ["Bernoulli 5%", "Bernoulli 5%, init gain 1.2"]
    assert all(r["syn_events"] > 0 and r["speedup"] > 0 for r in rows)
    assert len(table_rows(section(out_md, "simulator-speed"))) == 2


def test_train_throughput(out_md):
    import train_throughput

    rows = train_throughput.main(["--presets", "snn-tiny", "--T", "1", "--steps", "1", *HW])
    assert len(rows) == 1 and rows[0]["rates"]["torch"] > 0
    assert table_rows(section(out_md, "train-throughput"))[0].startswith("| snn-tiny | 1.14 M | 1 |")


def test_run_all_quick(out_md):
    import run_all
    from _report import BENCHMARKS_MD

    published = BENCHMARKS_MD.read_bytes() if BENCHMARKS_MD.exists() else None
    results = run_all.main(["--quick", "--threads", "1", *HW])
    assert set(results) == {"ann", "sim", "train"}
    text = out_md.read_text()
    names = re.findall(r"<!-- ([\w-]+):start -->", text)
    assert names == ["summary", "ann-latency", "simulator-speed", "train-throughput"]
    summary = section(out_md, "summary")
    assert "smoke run" in summary
    assert len(re.findall(r"\*\*[\d.]+x?\*\*", summary)) >= 3  # ORT ratio, simulator ratios, samples/s
    assert (BENCHMARKS_MD.read_bytes() if BENCHMARKS_MD.exists() else None) == published


def test_predict_memory(out_md):
    """One short stereo RAW recording through ``depthsnn predict`` in a subprocess."""
    import predict_memory

    rows = predict_memory.main(["--minutes", "0.02", "--seconds-source", "0.3", "--hw", "32", "48",
                                "--video-frames", "1"])
    (r,) = rows
    assert abs(r["windows"] - r["duration_s"] / 0.05) <= 1 and r["events"] > 0
    assert math.isfinite(r["maxrss_mib"]) and r["maxrss_mib"] > 10
    assert len(table_rows(section(out_md, "predict-memory"))) == 1


def test_chip_anchors(out_md):
    """Every buildable chip anchor of design.md s.11 is built and priced on its profile: total and
    dynamic energy, measured beside estimated, fit and check rows marked; the rest say why not."""
    import chip_anchors

    threads = torch.get_num_threads()
    rows = chip_anchors.main(["--quick"])
    assert torch.get_num_threads() == threads
    assert [r["key"] for r in rows] == ["kws", "pilotnet", "pilotnet_static", "akidanet", "speck_plain",
                                        "speck_attention"]
    assert [r["role"] for r in rows] == ["fit", "fit", "check", "fit", "fit", "check"]
    for r in rows:
        for kind in ("total", "dynamic"):
            lo, hi = r[f"estimate_{kind}_range"]
            assert 0 < lo <= r[f"estimate_{kind}_mj"] * (1 + 1e-9) and r[f"estimate_{kind}_mj"] <= hi * (1 + 1e-9)
        ratios = [x for k in ("total", "dynamic") if r[f"{k}_ratio_range"] for x in r[f"{k}_ratio_range"]]
        assert ratios and all(math.isfinite(x) and x > 0 for x in ratios)
    text = section(out_md, "chip-anchors")
    assert "Smoke run" in text and len(table_rows(text)) == 6
    assert "| fit |" in text and "| check |" in text and "Not built: Xylo" in text


def test_energy_speed(out_md, tiny_checkpoints):
    """Both engines side by side (bit-identical) and a whole depthsnn energy run, on the tiny SNN."""
    import energy_speed

    threads = torch.get_num_threads()
    res = energy_speed.main(["--checkpoint", str(tiny_checkpoints["snn-tiny"]), "--subset", "test", "--samples", "3",
                             "--compare-samples", "1", "--jobs", "2"])
    assert torch.get_num_threads() == threads
    rows = res["side_by_side"]
    # One row per weight precision the built-in profiles ask for (akida_akd1000 brings int4).
    from depthsnn.hw_profiles.assess import weight_bits_for
    from depthsnn.hw_profiles.profile import builtin_profile_names, get_profile

    bits = {weight_bits_for(get_profile(n)) for n in builtin_profile_names()}
    expected = ["float32"] * (None in bits) + [f"int{b}" for b in sorted(b for b in bits if b is not None)]
    assert "int4" in expected and [r["precision"] for r in rows] == expected
    assert all(r["identical"] and r["event_s"] > 0 and r["fast_s"] > 0 and math.isfinite(r["speedup"]) for r in rows)
    assert all(r["engine"] == "fast" for r in rows)
    whole = res["energy"]
    assert whole["profiles"] > 10 and whole["precisions"] == len(expected) and whole["wall_s"] > 0 and whole["samples"] >= 1
    text = section(out_md, "energy-speed")
    assert len(table_rows(text)) == len(expected) + 1 and "depthsnn energy" in text and "NO" not in text


def test_demo_time_side_by_side(out_md):
    import demo_time

    small = ["--synth-set", "sequences=3", "--synth-set", "seconds=0.6", "--synth-set", "width=64",
             "--synth-set", "height=48", "--train-set", "model_options=base_channels=4,levels=3"]
    assert demo_time.main(["--skip-clone", "--side-by-side-samples", "4", *small]) == 0
    rows = table_rows(section(out_md, "demo-time"))
    secs = [float(r.split("|")[2].strip().rstrip("x")) for r in rows]
    assert len(secs) == 3 and all(math.isfinite(s) and s > 0 for s in secs)
    # The ratio is of the unrounded seconds; the table shows them to 0.1 s and the ratio to 0.01,
    # so it must lie within what the shown seconds allow (smoke runs last under a second).
    lo = (secs[0] - 0.05) / (secs[1] + 0.05)
    hi = (secs[0] + 0.05) / max(secs[1] - 0.05, 1e-9)
    assert lo - 0.005 <= secs[2] <= hi + 0.005


def test_finished_run_is_reused_only_while_its_configuration_holds(out_md, tiny_synth, tmp_path):
    """A benchmark reuses a finished run of the same configuration, and trains again (from
    scratch, not resumed) a run whose saved recipe differs from what it would train now."""
    import json

    from _runs import Run, train_all

    small = ("model_options=base_channels=4,levels=3,residual_blocks=1", "max_train_samples=2", "max_val_samples=1")
    out, cache = tmp_path / "run", tmp_path / "cache"
    first = Run("snn-tiny", "binocular", out, (*small, "rate_penalty=0"))
    train_all([first], tiny_synth, cache, epochs=1, jobs=1)
    assert first.finished(1) and first.stale(1) is None
    best = (out / "best.pt").stat().st_mtime_ns
    train_all([first], tiny_synth, cache, epochs=1, jobs=1)
    assert (out / "best.pt").stat().st_mtime_ns == best  # reused, not retrained
    # A run saved before an option existed holds when the option's default is what it trained.
    saved = json.loads((out / "config.json").read_text())
    del saved["distill_features"]
    (out / "config.json").write_text(json.dumps(saved))
    assert first.stale(1) is None
    asked = Run("snn-tiny", "binocular", out, (*small, "rate_penalty=0", "seed=3"))
    del saved["seed"]
    (out / "config.json").write_text(json.dumps(saved))
    assert asked.stale(1) == "seed: saved None, now 3"

    changed = Run("snn-tiny", "binocular", out, (*small, "rate_penalty=2"))
    assert changed.stale(1) == "rate_penalty: saved 0.0, now 2.0"
    assert not changed.finished(1)
    train_all([changed], tiny_synth, cache, epochs=1, jobs=1)
    assert json.loads((out / "config.json").read_text())["rate_penalty"] == 2.0
    assert len((out / "metrics.jsonl").read_text().splitlines()) == 1  # a new run, not appended to the old one
    assert changed.finished(1)


def test_gpu_suite_dry_run(out_md, tmp_path):
    """The prepared GPU suite runs every stage on the CPU at tiny sizes with a fake meter: no stage
    errors, the demo runs end to end with defaults otherwise, the fast path is bit-identical, and the
    section is written. (The figures of a dry run mean nothing; the GPU run writes the real ones.)"""
    import json

    import gpu_suite

    res = gpu_suite.main(["--out", str(tmp_path / "suite"), "--dry-run", "--budget", "600"])
    stages = res["stages"]
    assert list(stages) == ["checks", "demo", "train", "energy", "fast_path", "ann_runtime", "matrix"]
    for name, st in stages.items():
        assert "error" not in st and "skipped" not in st, (name, st)
    assert stages["checks"]["returncode"] == 0
    assert stages["demo"]["returncode"] == 0 and set(stages["demo"]["test_mde_cm"]) >= {"snn-tiny", "ann-tiny"}
    assert stages["demo"]["runs"]["snn-tiny"]["runtime"]["precision"]["mode"] == "fp32"
    assert stages["train"]["rows"][0]["train_samples_per_s"] > 0
    energy = stages["energy"]["rows"]
    assert {(r["preset"], r["mode"]) for r in energy} >= {("ann-tiny", "back_to_back"), ("snn-tiny", "sensor_rate")}
    # The fake meter draws 100 W at all times: total = idle, nothing above it.
    assert all(abs(r["idle_w"] - 100) < 1 and abs(r["dynamic_mj"]) < 0.05 * r["total_mj"] for r in energy)
    assert stages["fast_path"]["bit_identical"] and stages["fast_path"]["samples"] == 2
    assert all(r["samples_per_s"] > 0 for r in stages["matrix"]["rows"])
    saved = json.loads((tmp_path / "suite" / "gpu_suite.json").read_text())
    assert saved["stages"].keys() == stages.keys()
    body = section(out_md, "gpu-suite")
    assert "`depthsnn demo` (defaults)" in body and "bit-identical on 2 samples: True" in body


def test_snn_gap_smoke(out_md, tiny_synth, tmp_path):
    """The ANN twin and a student distilled from it: the teacher trains first, every row is evaluated
    on test and costed, the table has a row per run plus the constant."""
    import json

    import snn_gap

    small = ["--train-set", "max_train_samples=2", "--train-set", "max_val_samples=1",
             "--train-set", "model_options=base_channels=4,levels=3,residual_blocks=1"]
    assert snn_gap.main(["--data", str(tiny_synth), "--runs", str(tmp_path / "runs"), "--epochs", "1",
                         "--energy-samples", "1", "--candidates", "0", "2", *small]) == 0
    student = tmp_path / "runs" / "snn-tiny-binocular-teacher=ann-tiny-binocular-distill_weight=1"
    cfg = json.loads((student / "config.json").read_text())
    assert cfg["teacher"] == str(tmp_path / "runs" / "ann-tiny-binocular" / "best.pt") and cfg["distill_weight"] == 1
    assert "train_distill" in json.loads((student / "metrics.jsonl").read_text().splitlines()[-1])
    rows = table_rows(section(out_md, "snn-gap"))
    assert len(rows) == 2 + 1 and "teacher=ann-tiny-binocular/best.pt, distill_weight=1 |" in rows[1]
    assert rows[0].startswith("| ann-tiny-binocular | recipe as committed |")
    # the header names the batch each run trained at, from its configuration: the binocular SNN
    # U-Net's recipe trains at 1, the ANN twin's at 2
    assert cfg["batch_size"] == 1
    assert f"(batch 2 for ann-tiny-binocular; batch 1 for {student.name})" in section(out_md, "snn-gap")
    cells = [c.strip() for c in rows[1].split("|")]
    assert float(cells[3]) > 0 and float(cells[5]) > 0 and cells[6].endswith("%") and float(cells[8]) > 0
    # Two epochs now: the teacher's best.pt of the 1-epoch run exists but is not the teacher's final
    # one, so the student starts only after the teacher has finished its second epoch.
    assert snn_gap.main(["--data", str(tiny_synth), "--runs", str(tmp_path / "runs"), "--epochs", "2",
                         "--energy-samples", "1", "--candidates", "0", "2", *small]) == 0
    teacher = tmp_path / "runs" / "ann-tiny-binocular"
    assert len((teacher / "metrics.jsonl").read_text().splitlines()) == 2
    assert (student / "config.json").stat().st_mtime_ns > (teacher / "last.pt").stat().st_mtime_ns
    # A round of spiking runs only (no ANN to compare against): each is costed alone, and the figure
    # must be the one compare gave the same checkpoint beside the ANN (both runs are finished at two
    # epochs, so nothing retrains).
    with_ann = [c.strip() for c in table_rows(section(out_md, "snn-gap"))[1].split("|")]
    assert snn_gap.main(["--data", str(tiny_synth), "--runs", str(tmp_path / "runs"), "--epochs", "2",
                         "--energy-samples", "1", "--candidates", "2", "--section", "snn-gap-alone", *small]) == 0
    alone = [c.strip() for c in table_rows(section(out_md, "snn-gap-alone"))[0].split("|")]
    assert alone[1] == with_ann[1] and float(alone[8]) > 0 and alone[8] == with_ann[8]
    assert len((student / "metrics.jsonl").read_text().splitlines()) == 2


def test_snn_gap_refuses_unknown_candidates(out_md, tmp_path, capsys):
    """An index outside CANDIDATES is named before anything is generated or trained."""
    import snn_gap

    n = len(snn_gap.CANDIDATES)
    with pytest.raises(SystemExit) as exc:
        snn_gap.main(["--data", str(tmp_path / "data"), "--runs", str(tmp_path / "runs"), "--candidates", "0", str(n)])
    assert exc.value.code == 2
    assert f"--candidates {n}: there are {n} candidates, 0-{n - 1}" in capsys.readouterr().err
    assert not (tmp_path / "data").exists() and not (tmp_path / "runs").exists() and not out_md.exists()
