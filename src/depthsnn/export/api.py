"""``export_checkpoint``: a trained checkpoint -> NIR and/or ONNX files plus a JSON manifest.

SNN and HNN checkpoints give a NIR file (``<name>.nir``) and two ONNX files (``<name>.onnx``,
T steps unrolled; ``<name>.step.onnx``, one step with explicit state); an ANN gives one ONNX
file. Format ``akida`` (chain networks, ``snn-portable-*``; needs the ``akida`` package) writes
``<name>.fbz`` mapped onto a virtual AKD1000 and records Akida's mapping (:mod:`depthsnn.vendors.akida`);
for the Akida 2.0 U-Net (``snn-akida2-*``, arch ``akida2``) it writes an IPv2 model mapped onto the
smallest IPv2 virtual device that takes it (:mod:`depthsnn.vendors.akida2`). An ``akida2`` network
has no spiking graph (8-bit graded activations, transposed convs): ``akida`` is its only format. ``manifest.json`` records, per file, its SHA-256, size, input/output shapes, dt, opset
and the parity figures measured at export, plus the checkpoint's own hash and configuration.

After writing a NIR file, every installed third-party NIR reader (snnTorch, Norse: see
:mod:`depthsnn.export.readers`) is run on it with a sample of random events and compared with
depthsnn's own output; the portability table (reader and version, loads?, equal?, largest
difference, spike mismatches, why not) is printed and stored under ``portability`` in the
manifest, and a reader dialect ``<name>.<reader>.nir`` is written only when that reader,
loading it with its defaults, reproduces depthsnn's output. ``reader_check=False`` skips this
(no dialect files then).
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from .. import __version__
from ..atomic import atomic_write_text
from ..config import to_dict
from ..errors import ConfigError
from ..train.checkpoint import model_from_checkpoint
from .graph import DEFAULT_DT, from_model

FORMATS = ("nir", "onnx", "akida")
MANIFEST = "manifest.json"
DEFAULT_INPUT_HW = (260, 346)


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def parse_formats(text: str | None, kind: str, arch: str = "unet") -> list[str]:
    """``'nir,onnx'`` -> ['nir', 'onnx']; None/``auto`` -> what the model kind (and arch) supports."""
    if text is None or text == "auto":
        if arch == "akida2":
            return ["akida"]
        return ["onnx"] if kind == "ann" else ["nir", "onnx"]
    formats = [f.strip().lower() for f in text.split(",") if f.strip()]
    unknown = [f for f in formats if f not in FORMATS]
    if unknown or not formats:
        raise ConfigError(f"unknown export format {unknown[0] if unknown else text!r} (known: {', '.join(FORMATS)})")
    if "akida" in formats and kind == "ann":
        raise ConfigError("format akida maps spiking chain networks (snn-portable-*); an ANN has no spiking graph")
    if arch == "akida2" and set(formats) - {"akida"}:
        raise ConfigError(f"format {sorted(set(formats) - {'akida'})[0]} cannot express snn-akida2-* (8-bit graded "
                          "activations with Akida's rounding, transposed convs, saturating skips; no spiking graph): "
                          "use --format akida")
    if "nir" in formats and kind == "ann":
        raise ConfigError("an ANN cannot be exported to NIR (NIR describes spiking/neuromorphic graphs); "
                          "use --format onnx")
    return formats


def verify_nir_roundtrip(graph, path: Path, num_bins: int, seed: int = 0) -> dict[str, Any]:
    """Run the in-memory graph and the graph read back from ``path`` on the same random events.

    Both sides execute the same arithmetic, so any difference means the file lost information:
    returns spike mismatches (must be 0) and the largest output difference (must be 0).
    """
    import torch

    from ..errors import DataError
    from .executor import GraphExecutor
    from .nir_io import read_nir

    gen = torch.Generator().manual_seed(seed)
    x = (torch.rand(max(num_bins, 2), 1, *graph.input.shape, generator=gen) < 0.05).float()
    out_a, spk_a = GraphExecutor(graph).run(x)
    out_b, spk_b = GraphExecutor(read_nir(path)).run(x)
    mismatches = int(sum((spk_a[k] != spk_b[k]).sum() for k in spk_a))
    diff = float((out_a - out_b).abs().max())
    if mismatches or diff:
        raise DataError(f"NIR round trip changed the network: {mismatches} spikes differ, output diff {diff:g}", path)
    return {"spike_mismatches": mismatches, "max_abs_diff": diff, "spikes": int(sum(s.sum() for s in spk_a.values()))}


def input_options(data) -> dict[str, Any]:
    """The data options a NIR file needs to be fed and read without its checkpoint
    (``depthsnn predict``): window, encoding and the depth units of the output."""
    keys = ("window_ms", "num_bins", "cameras", "rectify", "max_count", "presentation", "normalize_depth", "d_max",
            "alpha")
    return {k: getattr(data, k) for k in keys}


def check_portability(graph, path: Path, out: Path, name: str, reader_check: bool, say=print) -> tuple[dict, list]:
    """Run the installed NIR readers on ``path`` and write the dialects that pass (see
    :mod:`depthsnn.export.readers`): returns the manifest's ``portability`` report and the
    ``files`` entries of the dialect files written."""
    from .readers.portability import check_readers, format_table, not_checked

    report = check_readers(graph, path, out, name) if reader_check else not_checked(graph, out, name)
    say(f"[export] portability of {path.name} (other NIR readers):")
    say("\n".join(f"  {line}" for line in format_table(report).splitlines()))
    files = []
    for d in report["dialects"]:
        p = out / d["path"]
        files.append({"format": "nir-dialect", "reader": d["reader"], "reader_version": d["reader_version"],
                      "path": d["path"], "sha256": sha256(p), "size_bytes": p.stat().st_size, "dt": d["dt"],
                      "load": d["load"], "readout": d["readout"],
                      "note": f"for {d['reader']} only (verified there at export); other readers: {path.name}"})
        say(f"[export] wrote {p}")
    return report, files


def export_checkpoint(
    checkpoint: str | Path,
    out_dir: str | Path,
    formats: str | None = None,
    *,
    dt: float = DEFAULT_DT,
    input_hw: tuple[int, int] | None = None,
    num_bins: int | None = None,
    opset: int = 17,
    verify: bool = True,
    reader_check: bool = True,
    vendor_writers: Mapping[str, Callable[..., dict[str, Any]]] | None = None,
    say=print,
) -> dict[str, Any]:
    """Export ``checkpoint`` into ``out_dir``; returns the manifest (also written as manifest.json).

    ``vendor_writers``: format -> ``writer(graph, path, num_bins, verify=...)`` returning the file's
    manifest entry, for formats converted by a higher layer (:mod:`depthsnn.vendors`, which also
    verifies against the simulator); :func:`depthsnn.vendors.export_with_vendors` passes them.
    """
    from .nir_io import write_nir
    from .onnx_export import export_ann_onnx, export_snn_onnx

    checkpoint = Path(checkpoint)
    model, cfg, ckpt = model_from_checkpoint(checkpoint)
    kind = model.cfg.kind
    fmts = parse_formats(formats, kind, model.cfg.arch)
    if dt <= 0:
        raise ConfigError(f"dt must be > 0, got {dt}")
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ConfigError("output path exists and is not a folder", out)
    out.mkdir(parents=True, exist_ok=True)
    hw = tuple(input_hw or ckpt.get("input_hw") or DEFAULT_INPUT_HW)
    T = num_bins or cfg.data.num_bins
    name = str(ckpt.get("name") or cfg.model).replace("/", "_")
    files: list[dict[str, Any]] = []
    portability: dict[str, Any] | None = None

    if "nir" in fmts:
        graph = from_model(model.core, model.padded_size(*hw), dt)
        path = write_nir(out / f"{name}.nir", graph, metadata={
            "checkpoint": str(checkpoint), "name": name, "input_hw": list(hw), "num_bins": T,
            "data": input_options(cfg.data)})
        files.append({"format": "nir", "path": path.name, "sha256": sha256(path), "size_bytes": path.stat().st_size,
                      "dt": dt, "input_shape": [T, model.cfg.channels, *model.padded_size(*hw)],
                      "nodes": len(graph.nodes),
                      "neuron_nodes": len(graph.of_op("if", "lif")), "note": (
                          "input is the zero-padded frame (bottom/right) of size input_shape[2:]; the depth "
                          "map is the integrator potential after the last step, cropped to input_hw")})
        if verify:
            files[-1]["verification"] = verify_nir_roundtrip(graph, path, T)
        say(f"[export] wrote {path}")
        portability, dialect_files = check_portability(graph, path, out, name, reader_check, say)
        files += dialect_files
    if "onnx" in fmts:
        data = input_options(cfg.data)  # as in the NIR file: a standalone consumer's input recipe
        if kind == "ann":
            infos = [export_ann_onnx(model, out / f"{name}.onnx", hw, T, opset, verify=verify, data=data)]
        else:
            infos = [export_snn_onnx(model, out / f"{name}.onnx", hw, T, opset, form="snn-unrolled", dt=dt,
                                     verify=verify, data=data),
                     export_snn_onnx(model, out / f"{name}.step.onnx", hw, T, opset, form="snn-step", dt=dt,
                                     verify=verify, data=data)]
        for info in infos:
            d = info.to_dict()
            d["path"] = Path(d["path"]).name
            files.append({"format": "onnx", "dt": dt if kind != "ann" else None, **d})
            say(f"[export] wrote {info.path}")

    if "akida" in fmts and model.cfg.arch == "akida2":  # Akida 2.0 (IPv2): depthsnn.vendors.akida2
        writer = (vendor_writers or {}).get("akida2")
        if writer is None:
            raise ConfigError("format akida is written by depthsnn.vendors.export_with_vendors (depthsnn export): "
                              "export_checkpoint alone has no vendor writer for it")
        files.append(writer(model, out / f"{name}.fbz", hw, verify=verify))
        m = files[-1]["mapping"]
        say(f"[export] wrote {out / files[-1]['path']} ({m['nps_used']} NPs in {m['passes']} passes on {m['device']}, "
            f"all layers on hardware: {m['all_on_hardware']})")
    elif "akida" in fmts:  # BrainChip Akida (AKD1000): depthsnn.vendors.akida, plugged in by its caller
        writer = (vendor_writers or {}).get("akida")
        if writer is None:
            raise ConfigError("format akida is written by depthsnn.vendors.export_with_vendors (depthsnn export): "
                              "export_checkpoint alone has no vendor writer for it")
        graph = from_model(model.core, model.padded_size(*hw), dt)
        files.append(writer(graph, out / f"{name}.fbz", T, verify=verify))
        say(f"[export] wrote {out / files[-1]['path']} ({files[-1]['mapping']['nps_used']} NPs on "
            f"{files[-1]['mapping']['device']})")

    manifest = {
        "producer": f"depthsnn {__version__}",
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "checkpoint": {"path": str(checkpoint), "sha256": sha256(checkpoint), "epoch": ckpt.get("epoch"),
                       "name": name},
        "model": to_dict(model.cfg),
        "input_hw": list(hw),
        "num_bins": T,
        "dt": dt,
        "opset": opset if "onnx" in fmts else None,
        "files": files,
        "portability": portability,
    }
    atomic_write_text(out / MANIFEST, json.dumps(manifest, indent=2, default=str))
    say(f"[export] wrote {out / MANIFEST}")
    return manifest
