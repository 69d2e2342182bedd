"""Everything that needs a GPU, measured in one call (issue 25; design.md s.10).

    python benchmarks/gpu_suite.py --out DIR [--budget 450]     # on a CUDA machine
    python benchmarks/gpu_suite.py --out DIR --dry-run          # anywhere: tiny sizes, CPU, fake meter

A GPU is lent to few sessions, for minutes: this script is the one prepared measurement. Stages
run most important first, each under the remaining time budget (a stage that would not fit is
recorded as skipped, with the reason); results are written to ``DIR/gpu_suite.json`` after every
stage, so a run cut short still brings back what it measured. At the end it writes the
``gpu-suite`` section of BENCHMARKS.md (``DEPTHSNN_BENCHMARKS_MD`` redirects it) and prints it.

Stages:

1. ``checks``: the GPU tests of the suite (bf16 step on the fused kernels, fast path on CUDA).
2. ``demo``: ``depthsnn demo`` with its defaults, end to end: wall time and test MDEs.
3. ``train``: ``depthsnn train`` (snn-paper, bf16) samples/s at batch 1, 8, 32 beside the training
   step alone at the same batch and precision (random input already on the GPU), with GPU
   utilisation from NVML; the ratio is issue 25's target (>= 90 %).
4. ``energy``: NVML-measured energy per depth map (``depthsnn.hw_profiles.measured``) of the ANN
   and SNN, batch 1 and 32, back to back and at the sensor's rate, idle power in the same run.
5. ``fast_path``: the energy stage's exact fast path on the GPU vs the CPU: time per sample and
   bit-identity on the demo's trained SNN.
6. ``ann_runtime``: onnxruntime (CUDA provider where installed, else CPU) vs torch CUDA latency
   for ann-tiny and ann-paper.
7. ``matrix``: training-step samples/s for snn-tiny and snn-paper at batch 1 and 8, T = 1, 4, 8,
   torch vs triton neurons, eager vs compiled (compiled where time allows).

Installs nothing: the GPU machine reaches no package index (the device tool carries wheels).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import subprocess
import sys
import threading
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import machine, today, write_section  # noqa: E402
from depthsnn.models import build_model, select_backend, use_backend  # noqa: E402
from depthsnn.models.precision import prepare_precision  # noqa: E402
from depthsnn.train.losses import DepthLoss  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Sizes:
    """Problem sizes: the real ones on a GPU, tiny ones for the CPU dry run."""

    hw: tuple[int, int] = (260, 346)
    seconds: float = 1.5  # timed window per throughput row
    energy_seconds: float = 2.0
    idle_seconds: float = 1.5
    at_rate_maps: int = 30
    train_samples: int = 320
    train_batches: tuple[int, ...] = (8, 32, 1)
    matrix_presets: tuple[str, ...] = ("snn-tiny", "snn-paper")
    matrix_batches: tuple[int, ...] = (1, 8)
    matrix_T: tuple[int, ...] = (1, 4, 8)
    fast_samples: int = 6
    ann_presets: tuple[str, ...] = ("ann-tiny", "ann-paper")
    demo_args: tuple[str, ...] = ()
    model_options: tuple[str, ...] = ()


DRY = Sizes(hw=(32, 48), seconds=0.05, energy_seconds=0.05, idle_seconds=0.02, at_rate_maps=2, train_samples=6,
            train_batches=(2,), matrix_presets=("snn-tiny",), matrix_batches=(1,), matrix_T=(1, 2), fast_samples=2,
            ann_presets=("ann-tiny",),
            demo_args=("--synth-set", "sequences=3", "--synth-set", "seconds=0.6", "--synth-set", "width=64",
                       "--synth-set", "height=48", "--train-set", "max_train_samples=6", "--train-set",
                       "max_val_samples=4", "--train-set", "model_options=base_channels=4,levels=3", "--epochs", "1",
                       "--figures", "1", "--energy-samples", "2"),
            model_options=("base_channels=4", "levels=3"))


class Suite:
    def __init__(self, out: Path, budget_s: float, dry: bool, work: Path | None = None):
        self.out, self.dry, self.budget = out, dry, budget_s
        self.work = work or out / "work"  # data, runs, exports: large, kept apart from the results
        self.sizes = DRY if dry else Sizes()
        self.device = torch.device("cpu" if dry else "cuda")
        self.t_end = time.perf_counter() + budget_s
        self.results: dict = {"date": today(), "machine": machine(), "dry_run": dry, "stages": {}}
        self.nvml = _Nvml() if self.device.type == "cuda" else None
        out.mkdir(parents=True, exist_ok=True)
        self.work.mkdir(parents=True, exist_ok=True)

    def left(self) -> float:
        return self.t_end - time.perf_counter()

    def save(self) -> None:
        (self.out / "gpu_suite.json").write_text(json.dumps(self.results, indent=1, default=str))

    def stage(self, name: str, fn, need_s: float) -> None:
        """Run stage ``fn`` if ``need_s`` seconds remain; record its result, error or skip."""
        rec: dict
        if self.left() < need_s:
            rec = {"skipped": f"{self.left():.0f} s left of the budget, stage needs ~{need_s:.0f} s"}
        else:
            t0 = time.perf_counter()
            try:
                rec = fn() or {}
            except Exception as exc:  # a failed stage must not cost the others
                rec = {"error": f"{type(exc).__name__}: {exc}", "trace": traceback.format_exc(limit=6)}
            rec["stage_s"] = round(time.perf_counter() - t0, 1)
        self.results["stages"][name] = rec
        self.save()
        print(f"[{name}] {json.dumps({k: v for k, v in rec.items() if k != 'trace'}, default=str)[:600]}",
              flush=True)

    # -- helpers -------------------------------------------------------------------------------
    def model(self, preset: str):
        return build_model(preset, **_options(self.sizes.model_options))

    def events(self, *shape: int) -> torch.Tensor:
        g = torch.Generator().manual_seed(0)
        x = (torch.rand(*shape, generator=g) < 0.1).float() * torch.randint(1, 4, shape, generator=g).float()
        return x.to(self.device)

    def sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize()

    def step_rate(self, preset: str, batch: int, T: int, backend: str, bf16: bool, compiled: bool) -> dict:
        """Training step alone (random input on the device): samples/s and GPU utilisation."""
        with use_backend(backend):
            torch.manual_seed(0)
            model = self.model(preset).to(self.device)
            plan = prepare_precision(model, self.device, amp=bf16, backend=backend)
            if compiled:
                model.core.compile(options={"layout_optimization": False})
            opt = torch.optim.Adam(model.parameters(), lr=1e-4)
            x = self.events(batch, T, 4, *self.sizes.hw)
            gt = torch.rand(batch, *self.sizes.hw, device=self.device) * 5 + 0.5
            mask = gt > 1.0
            loss_fn = DepthLoss()

            def step() -> None:
                with plan.autocast():
                    out = model(x)
                loss = loss_fn(tuple(h.float() for h in out.heads), gt, mask).total
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()

            t0 = time.perf_counter()
            for _ in range(3 if compiled else 2):
                step()
            self.sync()
            warm = time.perf_counter() - t0
            with self.utilisation() as util:
                steps, t0 = 0, time.perf_counter()
                while steps < 3 or time.perf_counter() - t0 < self.sizes.seconds:
                    step()
                    steps += 1
                self.sync()
                dt = time.perf_counter() - t0
        return {"samples_per_s": round(steps * batch / dt, 2), "warmup_s": round(warm, 1), **util}

    @contextlib.contextmanager
    def utilisation(self):
        """GPU utilisation (NVML, %) sampled every 50 ms inside the block: ``{"util_mean", "util_max"}``."""
        res: dict = {}
        if self.nvml is None:
            yield res
            return
        samples: list[int] = []
        stop = threading.Event()

        def poll() -> None:
            while not stop.is_set():
                samples.append(self.nvml.util())
                stop.wait(0.05)

        th = threading.Thread(target=poll, daemon=True)
        th.start()
        try:
            yield res
        finally:
            stop.set()
            th.join()
            if samples:
                res.update(util_mean=round(float(np.mean(samples)), 1), util_max=int(max(samples)))

    # -- stages --------------------------------------------------------------------------------
    def checks(self) -> dict:
        cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_gpu_path.py",
               "tests/test_fast_path.py", "tests/test_models.py", "-k", "cuda"]
        p = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=max(30, self.left() - 60))
        tail = (p.stdout + p.stderr).strip().splitlines()[-12:]
        return {"returncode": p.returncode, "summary": tail[-1] if tail else "", "tail": tail}

    def demo(self) -> dict:
        work = self.work / "demo"
        cmd = [sys.executable, "-m", "depthsnn.cli.main", "demo", "--workdir", str(work), "--quiet",
               *self.sizes.demo_args]
        t0 = time.perf_counter()
        p = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=max(60, self.left() - 30))
        wall = time.perf_counter() - t0
        (self.out / "demo.log").write_text(p.stdout + "\n--- stderr ---\n" + p.stderr)
        line = next((ln for ln in p.stdout.splitlines() if ln.startswith("Test MDE:")), "")
        mdes = {m: float(v) for m, v in re.findall(r"([\w-]+(?: [\w-]+)?) ([\d.]+) cm", line)}
        stages = {}
        for run in ("snn-tiny", "ann-tiny"):
            log = work / "runs" / run / "metrics.jsonl"
            if log.exists():
                recs = [json.loads(ln) for ln in log.read_text().splitlines() if ln.strip()]
                stages[run] = {"epochs": len(recs), "train_s": round(sum(r["train_time_s"] for r in recs), 1),
                               "runtime": recs[-1].get("runtime")}
        err = p.stderr.strip().splitlines()[-3:] if p.returncode else []
        return {"returncode": p.returncode, "wall_s": round(wall, 1), "test_mde_cm": mdes, "runs": stages,
                "stderr_tail": err, "workdir": str(work)}

    def train(self) -> dict:
        """``depthsnn train`` of snn-paper (bf16, triton) vs its training step alone, same batch."""
        from depthsnn.data.dataset import DataConfig
        from depthsnn.train.config import TrainConfig
        from depthsnn.train.loop import train

        data = self.work / "demo" / "data" / "synthetic"
        if not data.exists():
            return {"skipped": "no demo data set (the demo stage did not run)"}
        preset = "snn-tiny" if self.dry else "snn-paper"
        rows = []
        for b in self.sizes.train_batches:
            if self.left() < 45:
                rows.append({"batch": b, "skipped": "time"})
                continue
            cfg = TrainConfig(model=preset, model_options=list(self.sizes.model_options),
                              data=DataConfig(root=str(data), split="synthetic"), out=str(self.work / f"train-b{b}"),
                              epochs=2, batch_size=b, max_train_samples=max(self.sizes.train_samples, 2 * b),
                              max_val_samples=2, device=str(self.device))
            with self.utilisation() as util:
                res = train(cfg, progress=False)
            last = res.last_metrics
            alone = self.step_rate(preset, b, 1, select_backend("auto", self.device), not self.dry, False)
            rows.append({"batch": b, "train_samples_per_s": round(last["train_samples_per_s"], 2),
                         "step_alone_samples_per_s": alone["samples_per_s"],
                         "ratio": round(last["train_samples_per_s"] / alone["samples_per_s"], 3),
                         "train_util": util, "step_util": {k: v for k, v in alone.items() if k.startswith("util")},
                         "runtime": last.get("runtime")})
            print(f"  train b{b}: {rows[-1]}", flush=True)
        return {"preset": preset, "precision": "bf16" if not self.dry else "fp32", "rows": rows}

    def energy(self) -> dict:
        from depthsnn.hw_profiles.measured import measure_at_rate, measure_inference, nvml_counter

        counter = nvml_counter(0) if self.nvml is not None else _FakeCounter()
        rows = []
        for preset in ("ann-tiny", "snn-tiny"):
            for b in ((1, 32) if not self.dry else (1, 2)):
                with use_backend(select_backend("auto", self.device)):
                    model = self.model(preset).to(self.device).eval()
                    x = self.events(b, 1, 4, *self.sizes.hw)

                    def step(model=model, x=x) -> None:
                        with torch.inference_mode():
                            model(x)

                    m = measure_inference(step, counter=counter, sync=self.sync, batch=b,
                                          min_seconds=self.sizes.energy_seconds, idle_seconds=self.sizes.idle_seconds)
                    rows.append({"preset": preset, "batch": b, "mode": "back_to_back", **m.to_dict()})
                    if b == 1:
                        r = measure_at_rate(step, counter=counter, sync=self.sync, maps=self.sizes.at_rate_maps,
                                            idle_seconds=self.sizes.idle_seconds)
                        rows.append({"preset": preset, "batch": 1, **r.to_dict()})
                print(f"  energy {preset} b{b}: {rows[-1]}", flush=True)
        return {"meter": "nvml" if self.nvml is not None else "fake (dry run)", "rows": rows}

    def fast_path(self) -> dict:
        from depthsnn.simulate.fast import FastSimulator, result_difference
        from depthsnn.simulate.pipeline import load_network, open_dataset, pad_frames, sample_indices

        ckpt = self.work / "demo" / "runs" / "snn-tiny" / "best.pt"
        if not ckpt.exists():
            return {"skipped": "no trained demo SNN"}
        net = load_network(ckpt)
        ds = open_dataset(net, None, None, "test")
        xs = [pad_frames(ds[i][0], net.graph.input.shape).numpy() for i in sample_indices(len(ds), self.sizes.fast_samples)]
        sims = {"cpu": FastSimulator(net.graph, np.float32, threads=None), "dev": FastSimulator(
            net.graph, np.float32, threads=None, device=self.device)}
        t0 = time.perf_counter()
        sims["dev"].run(xs[0])  # the start-up check against the event-driven engine
        check_s = time.perf_counter() - t0
        times = {"cpu": 0.0, "dev": 0.0}
        diffs = []
        for x in xs:
            res = {}
            for k, sim in sims.items():
                t0 = time.perf_counter()
                res[k] = sim.run(x, record_spikes=True)
                times[k] += time.perf_counter() - t0
            diffs.append(result_difference(res["cpu"], res["dev"]))
        n = len(xs)
        return {"samples": n, "cpu_s_per_sample": round(times["cpu"] / n, 4), "dev_s_per_sample": round(times["dev"] / n, 4),
                "speedup": round(times["cpu"] / max(times["dev"], 1e-9), 2), "startup_check_s": round(check_s, 1),
                "bit_identical": all(d is None for d in diffs), "differences": [d for d in diffs if d],
                "engine": sims["dev"].engine, "cpu_threads": torch.get_num_threads()}

    def ann_runtime(self) -> dict:
        import onnxruntime as ort

        from depthsnn.export.onnx_export import export_ann_onnx, open_session

        rows = []
        for preset in self.sizes.ann_presets:
            model = self.model(preset).eval()
            path = self.work / f"{preset}.onnx"
            export_ann_onnx(model, path, input_hw=self.sizes.hw, verify=False)
            sess = open_session(path, prefer_cuda=True)
            x = self.events(1, 1, 4, *self.sizes.hw)
            feed = {"frames": x.cpu().numpy()}
            ort_ms = _latency(lambda sess=sess, feed=feed: sess.run(None, feed), lambda: None, self.sizes.seconds)
            m = model.to(self.device)
            row = {"preset": preset, "onnxruntime_provider": sess.get_providers()[0], "onnxruntime_ms": ort_ms}
            for name, ctx in (("torch_fp32_ms", contextlib.nullcontext),
                              ("torch_bf16_ms", lambda: torch.autocast(self.device.type, dtype=torch.bfloat16))):
                def run(m=m, x=x, ctx=ctx) -> None:
                    with torch.inference_mode(), ctx():
                        m(x)

                row[name] = _latency(run, self.sync, self.sizes.seconds)
            rows.append(row)
        return {"available_providers": ort.get_available_providers(), "rows": rows}

    def matrix(self) -> dict:
        backends = ["torch", "triton"] if self.device.type == "cuda" else ["torch"]
        rows = []
        for preset in self.sizes.matrix_presets:
            for b in self.sizes.matrix_batches:
                for T in self.sizes.matrix_T:
                    for backend in backends:
                        if self.left() < 20:
                            rows.append({"preset": preset, "batch": b, "T": T, "backend": backend, "skipped": "time"})
                            continue
                        r = self.step_rate(preset, b, T, backend, False, False)
                        rows.append({"preset": preset, "batch": b, "T": T, "backend": backend, "compiled": False, **r})
        # Compiled rows last (each compiles for 15-60 s): the eager rows above are the baseline.
        for preset, b, T in ((self.sizes.matrix_presets[0], self.sizes.matrix_batches[-1], 1),
                             (self.sizes.matrix_presets[-1], self.sizes.matrix_batches[-1], 4)):
            if self.dry:  # compiling takes minutes on a CPU; tests/test_gpu_path.py checks it is exact
                continue
            if self.left() < 90:
                rows.append({"preset": preset, "batch": b, "T": T, "backend": backends[-1], "compiled": True,
                             "skipped": "time"})
                continue
            r = self.step_rate(preset, b, T, backends[-1], False, True)
            rows.append({"preset": preset, "batch": b, "T": T, "backend": backends[-1], "compiled": True, **r})
        return {"precision": "fp32", "rows": rows}

    def run(self) -> dict:
        if self.device.type == "cuda":
            self.results["gpu"] = torch.cuda.get_device_name(0)
            self.results["versions"] = _versions()
        self.stage("checks", self.checks, 40)
        self.stage("demo", self.demo, 60 if not self.dry else 5)
        self.stage("train", self.train, 60 if not self.dry else 5)
        self.stage("energy", self.energy, 45 if not self.dry else 1)
        self.stage("fast_path", self.fast_path, 30 if not self.dry else 1)
        self.stage("ann_runtime", self.ann_runtime, 20 if not self.dry else 1)
        self.stage("matrix", self.matrix, 30 if not self.dry else 1)
        self.results["total_s"] = round(time.perf_counter() - (self.t_end - self.budget), 1)
        self.save()
        body = report(self.results)
        (self.out / "gpu_suite.md").write_text(body)
        if not self.dry or os.environ.get("DEPTHSNN_BENCHMARKS_MD"):
            write_section("gpu-suite", body)
        print(body)
        return self.results


def _options(opts: tuple[str, ...]) -> dict:
    return {k: int(v) for k, v in (o.split("=") for o in opts)}


def _latency(fn, sync, seconds: float) -> float:
    """Median latency in ms of ``fn`` after warm-up, repeated for about ``seconds``."""
    for _ in range(3):
        fn()
    sync()
    times: list[float] = []
    t_end = time.perf_counter() + seconds
    while len(times) < 5 or time.perf_counter() < t_end:
        t0 = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - t0)
    return round(1000 * float(np.median(times)), 3)


class _Nvml:
    def __init__(self):
        import pynvml

        pynvml.nvmlInit()
        self.pynvml, self.handle = pynvml, pynvml.nvmlDeviceGetHandleByIndex(0)

    def util(self) -> int:
        return int(self.pynvml.nvmlDeviceGetUtilizationRates(self.handle).gpu)


class _FakeCounter:
    """Dry run only: 100 W at all times (the measurement arithmetic runs; the figures mean nothing)."""

    def read_mj(self) -> float:
        return time.perf_counter() * 100.0 * 1000.0


def _versions() -> dict:
    import spikingjelly

    out = {"torch": torch.__version__, "cuda": torch.version.cuda, "spikingjelly": getattr(spikingjelly, "__version__", "?")}
    for mod in ("triton", "onnxruntime", "pynvml"):
        try:
            out[mod] = __import__(mod).__version__
        except Exception as exc:  # report, do not fail
            out[mod] = f"unavailable ({type(exc).__name__})"
    return out


def _why_not(stage: dict) -> str | None:
    return stage.get("skipped") or stage.get("error")


def _table(lines: list[str], stage: dict, title: str, header: list[str], row) -> None:
    """Append ``title`` and a table of ``stage["rows"]`` (``row(r)`` -> cells), or why it is missing."""
    lines += ["", title, ""]
    if _why_not(stage):
        lines.append(f"not measured: {_why_not(stage)}")
        return
    lines += ["| " + " | ".join(header) + " |", "| :--- |" + " ---: |" * (len(header) - 1)]
    lines += ["| " + " | ".join(str(c) for c in row(r)) + " |" for r in stage.get("rows", [])]


def _util(u: dict) -> str:
    return f"{u.get('util_mean', '-')}/{u.get('util_max', '-')}"


def report(res: dict) -> str:
    """The BENCHMARKS.md section of a suite result."""
    st = res["stages"]
    lines = ["## GPU suite (`benchmarks/gpu_suite.py`)", "",
             f"{res['date']}, {res.get('gpu', 'no GPU (dry run)')}; {res['machine']}; "
             f"versions {res.get('versions', {})}; suite {res.get('total_s')} s.", ""]
    c, d = st.get("checks", {}), st.get("demo", {})
    lines.append(f"- GPU tests: {_why_not(c) or c.get('summary')}")
    if _why_not(d) or d.get("returncode"):
        lines.append(f"- `depthsnn demo` (defaults): FAILED/skipped: {_why_not(d) or d.get('stderr_tail')}")
    else:
        lines.append(f"- `depthsnn demo` (defaults), end to end: {d['wall_s']} s; test MDE "
                     + ", ".join(f"{k} {v} cm" for k, v in d["test_mde_cm"].items())
                     + "; training " + ", ".join(f"{k} {v['train_s']} s ({v['epochs']} epochs)"
                                                  for k, v in d.get("runs", {}).items()))
    t = st.get("train", {})
    _table(lines, t, f"**`depthsnn train` vs the training step alone** ({t.get('preset')}, {t.get('precision')}, "
           "same batch; utilisation = NVML GPU busy %, mean/max):",
           ["batch", "train [samples/s]", "step alone [samples/s]", "train / alone", "util train", "util alone"],
           lambda r: [r["batch"], f"skipped ({r['skipped']})", "", "", "", ""] if "skipped" in r else
           [r["batch"], r["train_samples_per_s"], r["step_alone_samples_per_s"], f"{100 * r['ratio']:.0f} %",
            _util(r["train_util"]), _util(r["step_util"])])
    e = st.get("energy", {})
    _table(lines, e, f"**Measured energy per depth map** ({e.get('meter', '-')}; idle power measured in the same "
           "run; dynamic = above idle; per map = at one map per 50 ms window):",
           ["model", "batch", "mode", "ms/inference", "total [mJ]", "dynamic [mJ]", "per map [mJ]", "idle [W]"],
           lambda r: [r["preset"], r["batch"], r["mode"], f"{r['ms_per_inference']:.3f}", f"{r['total_mj']:.1f}",
                      f"{r['dynamic_mj']:.1f}", f"{r['per_map_mj']:.1f}", f"{r['idle_w']:.0f}"])
    f = st.get("fast_path", {})
    lines += ["", "**Energy stage fast path, GPU vs CPU** (demo's snn-tiny, fp32): "
              + (f"not measured: {_why_not(f)}" if _why_not(f) else
                 f"{f['dev_s_per_sample']} s vs {f['cpu_s_per_sample']} s per sample ({f['speedup']}x, "
                 f"CPU {f['cpu_threads']} threads), bit-identical on {f['samples']} samples: {f['bit_identical']}; "
                 f"start-up check {f['startup_check_s']} s; engine: {f['engine']}")]
    a = st.get("ann_runtime", {})
    _table(lines, a, f"**ANN latency, batch 1** (onnxruntime providers here: {a.get('available_providers', '-')}):",
           ["model", "onnxruntime [ms] (provider)", "torch fp32 [ms]", "torch bf16 [ms]"],
           lambda r: [r["preset"], f"{r['onnxruntime_ms']} ({r['onnxruntime_provider']})", r["torch_fp32_ms"],
                      r["torch_bf16_ms"]])
    _table(lines, st.get("matrix", {}), "**Training step alone** (fp32, random input on the device), samples/s "
           "(util mean/max %):", ["preset", "batch", "T", "neurons", "compiled", "samples/s", "util"],
           lambda r: [r["preset"], r["batch"], r["T"], r["backend"], r.get("compiled", False),
                      r.get("samples_per_s", f"skipped ({r.get('skipped')})"), _util(r)])
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=Path(os.environ.get("OUT", "build/gpu_suite")))
    ap.add_argument("--work", type=Path, help="data, runs and exports (default OUT/work)")
    ap.add_argument("--budget", type=float, default=450.0, help="seconds for all stages (default 450)")
    ap.add_argument("--dry-run", action="store_true", help="tiny sizes on the CPU with a fake meter (for tests)")
    args = ap.parse_args(argv)
    if not args.dry_run and not torch.cuda.is_available():
        print("gpu_suite: error: no CUDA device here (use --dry-run to exercise the suite on the CPU)", file=sys.stderr)
        raise SystemExit(2)
    return Suite(args.out, args.budget, args.dry_run, args.work).run()


if __name__ == "__main__":
    main()
