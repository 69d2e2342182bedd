"""Run the installed third-party NIR readers on an exported file and say, truthfully, whether
each one computes depthsnn's output; write a reader's dialect file only when it does.

For every reader in :data:`READERS` that is installed:

1. the main file (``<name>.nir``) is loaded with the reader's defaults and run one step at a
   time on a sample of random events (``steps`` steps, the graph's input size, batch 1); its
   returned output per step is compared with depthsnn's :class:`GraphExecutor` (the reference
   the event simulator matches spike for spike), and so are the spikes of every neuron layer
   the reader's module exposes (forward hooks), as they are produced. The run stops at the
   first difference (a spike layer or a step's output): that already decides "not equal", and
   it keeps the check short for networks whose upsampling subgraph the reader runs literally
   (its convolutions, c*k*k channels wide, are the slow part). Counts and the largest output
   difference then cover the part that was run, and the row says where it stopped;
2. the reader's dialect is built (or refused, :class:`~.common.NotPortable`, with the reason),
   written to a temporary file, read back and run the same way with the dialect's readout (the
   integrator's membrane); it is renamed to ``<name>.<reader>.nir`` only if it is equal;
   otherwise no file is left under that name (a stale one from an earlier export is removed).

"equal" means: all steps run, same output shape, every output value within
``1e-5 * max(1, max|ref_t|)`` of depthsnn's at every step t, and no spike differs in any
observed layer. A sample on which no neuron fires cannot verify anything: the event density is
raised (0.1, 0.3, 0.6) until the reference fires in its first step, and no dialect is written
when it never does. The table reports the
largest difference and the number of differing spikes either way, so a row never says "equal"
when the output differs beyond float rounding.
"""

from __future__ import annotations

import importlib
import math
from importlib import metadata
from pathlib import Path
from types import ModuleType
from typing import Any

import nir
import torch

from ...atomic import atomic_path
from ..executor import GraphExecutor
from ..graph import NetGraph
from .common import NotPortable, ReaderRun, StopRun, readout_node, upsample_names

READERS = ("snntorch", "norse")
SAMPLE_STEPS = 4
SAMPLE_DENSITIES = (0.1, 0.3, 0.6)  # raised until the sample makes the reference network spike
RTOL = 1e-5


class _Rejected(Exception):
    """The dialect did not reproduce depthsnn's output: do not keep the file."""


def reader_module(name: str) -> ModuleType:
    """The dialect module of reader ``name`` (``snntorch`` | ``norse``)."""
    if name not in READERS:
        raise KeyError(f"unknown reader {name!r} (known: {', '.join(READERS)})")
    return importlib.import_module(f".{name}_dialect", __package__)


def installed_version(distribution: str) -> str | None:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def dialect_path(out_dir: str | Path, name: str, reader: str) -> Path:
    return Path(out_dir) / f"{name}.{reader}.nir"


def structural_notes(graph: NetGraph) -> list[str]:
    """The structures of ``graph`` that no NIR 1.0 reader but depthsnn runs as written (one line each)."""
    notes = []
    ups = upsample_names(graph)
    if ups:
        notes.append(f"upsampling ({len(ups)} nodes: {', '.join(ups)}): NIR 1.0 has no upsampling node; it is a "
                     "depthsnn-tagged subgraph that other readers run literally (zeros): their outputs are wrong "
                     "and no reader dialect is written")
    integ = readout_node(graph)
    if integ is not None:
        notes.append(f"the output is the non-firing integrator NIR I (node {integ.name!r}): snnTorch 1.0.0 has no "
                     "mapping for I, Norse 1.1.0 drops it; reader dialects write it as a neuron that never fires "
                     "and read the depth from its membrane")
    if graph.metadata.get("host_upsample"):
        notes.append("the host upsampling step is outside the graph: every reader's output is the coarse map")
    return notes


class _Reference:
    """depthsnn's own run of the sample, computed step by step as the readers need it (shared)."""

    def __init__(self, graph: NetGraph, x: torch.Tensor):
        self.ex = GraphExecutor(graph)
        self.x = x
        self.state = self.ex.init_state(x.shape[1])
        self.outs: list[torch.Tensor] = []
        self.spikes: list[dict[str, torch.Tensor]] = []

    def at(self, t: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        with torch.no_grad():
            while len(self.outs) <= t:
                out, self.state, spk = self.ex.step(self.x[len(self.outs)], self.state)
                self.outs.append(out)
                self.spikes.append(spk)
        return self.outs[t], self.spikes[t]

    def total_spikes(self) -> int:
        return int(sum(float(s.sum()) for step in self.spikes for s in step.values()))


def sample_input(graph: NetGraph, steps: int = SAMPLE_STEPS, seed: int = 0) -> tuple[_Reference, float]:
    """Random binary events ``[steps, 1, C, H, W]`` (as a lazily computed :class:`_Reference`)
    and their density: the lowest of (0.1, 0.3, 0.6) at which some neuron fires in step 1."""
    for density in SAMPLE_DENSITIES:
        gen = torch.Generator().manual_seed(seed)
        x = (torch.rand(max(steps, 2), 1, *graph.input.shape, generator=gen) < density).float()
        ref = _Reference(graph, x)
        if not graph.of_op("if", "lif") or any(bool(s.any()) for s in ref.at(0)[1].values()):
            break
    return ref, density


class _Monitor:
    """Compares a reader run with the reference as it goes (see the module docstring)."""

    def __init__(self, ref: _Reference, stop_early: bool = True):
        self.ref, self.stop_early = ref, stop_early
        self.t = 0
        self.mismatches = 0
        self.max_diff: float | None = None
        self.first: str | None = None
        self.layers: set[str] = set()

    def spikes(self, node: str, s: torch.Tensor) -> None:
        r = self.ref.at(self.t)[1].get(node)
        if r is None:
            return
        self.layers.add(node)
        m = int(r.numel()) if r.shape != s.shape else int((r != s).sum())
        if m:
            self.mismatches += m
            self._differ(f"step {self.t + 1}: {m} spikes of {node} differ")

    def output(self, out: torch.Tensor) -> None:
        ref = self.ref.at(self.t)[0]
        self.t += 1
        if tuple(out.shape) != tuple(ref.shape):
            self._differ(f"output shape {tuple(out.shape)} per step, depthsnn's {tuple(ref.shape)}")
            return
        diff = (out - ref).abs()
        d = float(diff.max()) if torch.isfinite(diff).all() else float("inf")
        self.max_diff = d if self.max_diff is None else max(self.max_diff, d)
        if d > RTOL * max(1.0, float(ref.abs().max())):
            self._differ(f"step {self.t}: output differs by {d:.3g}")

    def _differ(self, what: str) -> None:
        if self.first is None:
            self.first = what
        if self.stop_early:
            raise StopRun

    def result(self, run: ReaderRun, n_neurons: int) -> dict[str, Any]:
        steps = int(self.ref.x.shape[0])
        return {"equal": self.first is None and self.t == steps, "steps_compared": f"{self.t}/{steps}",
                "stopped_early": run.stopped, "first_difference": self.first,
                # JSON has no inf/nan: a non-finite difference (the reader gave inf or nan) is named
                "max_abs_diff": self.max_diff if self.max_diff is None or math.isfinite(self.max_diff) else "non-finite",
                "spike_mismatches": self.mismatches if self.layers else None,
                "layers_observed": f"{len(self.layers)}/{n_neurons}"}


def _one_line(e: BaseException) -> str:
    s = " ".join(str(e).split()) or "(no message)"
    return f"{type(e).__name__}: " + (s[:200] + "..." if len(s) > 200 else s)


def _run(mod: ModuleType, path: Path, ref: _Reference, graph: NetGraph, readout: str) -> dict[str, Any]:
    """Load ``path`` in reader ``mod`` and compare its run with ``ref``: the table row's fields."""
    n = len(graph.of_op("if", "lif"))
    try:
        module = mod.load(path)
    except Exception as e:  # a reader's loader raises anything (AssertionError, ValueError, ...)
        return {"loads": False, "equal": False, "error": f"load fails: {_one_line(e)}"}
    monitor = _Monitor(ref)
    try:
        run = mod.run(path, ref.x, graph, readout, module=module, monitor=monitor)
    except Exception as e:
        return {"loads": True, **monitor.result(ReaderRun(torch.empty(0), stopped=True), n), "equal": False,
                "error": f"run fails: {_one_line(e)}"}
    return {"loads": True, **monitor.result(run, n)}


def check_readers(graph: NetGraph, nir_path: str | Path, out_dir: str | Path | None = None, name: str | None = None,
                  *, steps: int = SAMPLE_STEPS, seed: int = 0, dialects: bool = True,
                  readers: tuple[str, ...] = READERS) -> dict[str, Any]:
    """Check every installed reader on ``nir_path`` (the file of ``graph``) and, with
    ``dialects``, write the dialect files that pass into ``out_dir`` as ``<name>.<reader>.nir``.
    Returns the report stored under ``portability`` in manifest.json."""
    nir_path = Path(nir_path)
    out_dir = Path(out_dir) if out_dir is not None else nir_path.parent
    name = name or nir_path.stem
    ref, density = sample_input(graph, steps, seed)
    report: dict[str, Any] = {
        "checked": True,
        "sample": {"steps": int(ref.x.shape[0]), "input_shape": list(ref.x.shape[1:]), "seed": seed,
                   "event_density": density, "reference": "depthsnn GraphExecutor (the simulator matches it)",
                   "equal_rule": f"all steps, same shape, |diff| <= {RTOL:g} * max(1, max|ref|) per step, "
                                 "no spike differs in an observed layer; a run stops at its first difference"},
        "not_portable": structural_notes(graph),
        "readers": [],
        "dialects": [],
    }
    for rname in readers:
        mod = reader_module(rname)
        version = installed_version(mod.DISTRIBUTION)
        base = {"reader": rname, "version": version, "target_version": mod.TARGET_VERSION}
        target = dialect_path(out_dir, name, rname)
        if version is None:
            report["readers"].append({**base, "file": nir_path.name, "kind": "main", "loads": None, "equal": None,
                                      "why": f"not installed (pip install {mod.DISTRIBUTION}=={mod.TARGET_VERSION})"})
            target.unlink(missing_ok=True)
            continue
        # 1. the main file, read as the reader reads any NIR file
        row = {**base, "file": nir_path.name, "kind": "main", **_run(mod, nir_path, ref, graph, "output")}
        known = mod.limits(graph)
        row["known_limits"] = known  # what the reader's source does with this graph (the module docstring)
        if not row["equal"]:
            first = row.get("first_difference")
            row["why"] = row.pop("error", None) or (
                "; ".join(known) + (f" (first difference: {first})" if first else "") if known
                else f"differs ({first}; cause not identified)")
        report["readers"].append(row)
        # 2. the dialect: written only if the reader reproduces depthsnn's output with it
        drow = {**base, "file": target.name, "kind": "dialect", "loads": None, "equal": None, "written": False}
        try:
            if not dialects:
                raise NotPortable("not checked")
            ng = mod.dialect(graph, source=nir_path.name)
            with atomic_path(target) as tmp:
                nir.write(tmp, ng)
                drow.update(_run(mod, tmp, ref, graph, "membrane"))
                if "error" in drow:
                    raise _Rejected(drow.pop("error"))
                if not drow["equal"]:
                    raise _Rejected(f"{rname} does not reproduce depthsnn's output ({drow['first_difference']})")
                if ref.total_spikes() == 0:
                    raise _Rejected("no neuron fired on the sample, so the dialect could not be verified")
            drow["written"] = True
            report["dialects"].append({"reader": rname, "path": target.name, "reader_version": version,
                                       "target_version": mod.TARGET_VERSION, "dt": mod.DT, "load": mod.LOAD,
                                       "readout": ng.metadata["readout"]})
        except (NotPortable, _Rejected) as e:
            target.unlink(missing_ok=True)
            drow["why"] = f"not written: {e}"
        report["readers"].append(drow)
    report["sample"]["reference_spikes"] = ref.total_spikes()
    report["sample"]["reference_steps_run"] = len(ref.outs)
    return report


def not_checked(graph: NetGraph, out_dir: str | Path, name: str) -> dict[str, Any]:
    """The report when the reader check is skipped: structural notes only, no dialect files
    (stale ones removed: an unchecked dialect is never left under its name)."""
    for rname in READERS:
        dialect_path(out_dir, name, rname).unlink(missing_ok=True)
    return {"checked": False, "not_portable": structural_notes(graph), "readers": [], "dialects": [],
            "why": "skipped (--no-reader-check): no reader was run and no dialect file written"}


def _cell(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return f"{v:.3g}"
    return str(v)


def format_table(report: dict[str, Any]) -> str:
    """The portability table as plain text (the terminal form of ``report``)."""
    lines = [f"not portable: {n}" for n in report.get("not_portable", [])]
    if not report.get("checked"):
        return "\n".join(lines + [f"reader check {report.get('why', 'skipped')}"])
    s = report["sample"]
    lines.append(f"reader check: {s['steps']} steps of random events (density {s['event_density']:g}) at "
                 f"{'x'.join(str(v) for v in s['input_shape'][1:])}; equal = {s['equal_rule']}")
    head = ("reader", "version", "file", "loads", "equal", "steps", "max|diff|", "spike diff", "why not")
    rows = [head]
    for r in report["readers"]:
        spikes = "-" if r.get("spike_mismatches") is None else f"{r['spike_mismatches']} ({r['layers_observed']} layers)"
        steps = r.get("steps_compared", "-") + (" (stopped)" if r.get("stopped_early") else "")
        rows.append((r["reader"], _cell(r.get("version")), r["file"], _cell(r.get("loads")), _cell(r.get("equal")),
                     steps, _cell(r.get("max_abs_diff")), spikes, r.get("why", "")))
    widths = [max(len(r[i]) for r in rows) for i in range(len(head) - 1)]
    for r in rows:
        lines.append("  ".join(c.ljust(w) for c, w in zip(r[:-1], widths, strict=True)) + "  " + r[-1])
    for d in report["dialects"]:
        lines.append(f"{d['path']}: load with {d['load']}; depth = {d['readout']}")
    return "\n".join(lines)
