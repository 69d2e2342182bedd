"""ONNX export of depth networks, with checker and onnxruntime parity verification.

Forms (``OnnxExportInfo.form``):

``ann``          ``frames`` [B, T, C, H, W] -> ``depth`` [B, H, W]: the whole DepthNet forward
                 of an ANN (time summing, padding, crop).
``snn-unrolled`` the same signature for an SNN/HNN, the T steps unrolled in the graph.
``snn-step``     one time step with explicit state, for a host loop that streams events:
                 ``x`` [B, C, Hp, Wp] and ``state_<i>`` -> ``out`` [B, 1, Hp, Wp],
                 ``state_<i>_next`` (and ``spikes_<j>`` with ``with_spikes``). The node behind
                 each index is listed in the file's metadata (``depthsnn.state_nodes``,
                 ``depthsnn.spike_nodes``) and in :class:`OnnxExportInfo`.

The batch dimension is dynamic everywhere; H, W and T are fixed per file. Spiking networks are
exported through :class:`~depthsnn.export.executor.GraphExecutor` (plain torch ops) because
spikingjelly's neuron kernels are custom torch ops ONNX cannot express.

Exporter: the TorchScript tracer (``torch.onnx.export(..., dynamo=False)``). The default
dynamo exporter of torch >= 2.9 needs ``onnxscript``, which is not a dependency.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import math
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import torch
from torch import nn

from ..atomic import atomic_path
from ..errors import ConfigError, DataError
from .executor import GraphExecutor
from .graph import DEFAULT_DT, from_model
from .onnx_limits import check_onnx_sizes, check_proto_sizes
from .onnx_modules import AnnDepth, StepSnn, UnrolledSnn, WeightTransform, grid_snap, prepared_copy

DEFAULT_HW = (260, 346)  # MVSEC DAVIS346
DEFAULT_OPSET = 17
DEFAULT_TOL = 1e-4
# Float32 rounding allowance of the parity check, in units of eps32 * max|depth| * summation depth
# (see summation_depth): onnxruntime and torch sum each conv in different orders, and the
# differences grow like a random walk, about sqrt(fan-in) ulps per layer, layer after layer.
ROUNDING_ULPS = 4.0
EPS32 = float(np.finfo(np.float32).eps)
FORMS = ("ann", "snn-unrolled", "snn-step")
GRID_BITS = 3  # per-tensor weight grid of the exact spiking check: sums stay < 2**24 ulps


class ParityError(DataError):
    """The exported ONNX model does not reproduce the torch model within tolerance."""


@dataclass
class OnnxExportInfo:
    """What an export wrote, for the export manifest (``to_dict`` is JSON-serialisable).

    ``inputs`` / ``outputs`` map names to shapes as stored in the file (``"batch"`` for the
    dynamic dimension).

    Verification (None when skipped) runs the file in onnxruntime on random input of batch 2
    against the torch model: ``max_abs_diff`` is the checked figure (<= tolerance),
    ``float_max_abs_diff`` the difference with the weights as exported. For an ANN they are
    the same (``verify_method='float'``). For spiking forms ``max_abs_diff`` comes from the
    same graph with conv weights snapped to a power-of-two grid (exact float32 arithmetic, so
    it is 0 unless the graph is wrong), while ``float_max_abs_diff`` may be large if a
    potential within one ulp of the threshold fired on one side only, which float rounding
    order decides (rare, but it happens at 260x346).
    """

    path: Path
    form: str
    opset: int
    num_bins: int
    input_hw: tuple[int, int]
    padded_hw: tuple[int, int]
    inputs: dict[str, list[int | str]]
    outputs: dict[str, list[int | str]]
    sha256: str
    size_bytes: int
    max_abs_diff: float | None = None
    float_max_abs_diff: float | None = None
    verify_method: str | None = None
    exporter: str = "torch.onnx.export(dynamo=False)"
    state_nodes: list[str] = field(default_factory=list)
    spike_nodes: list[str] = field(default_factory=list)
    export_seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["path"] = str(self.path)
        d["input_hw"], d["padded_hw"] = list(self.input_hw), list(self.padded_hw)
        return d


def export_ann_onnx(
    model: nn.Module,
    path: str | Path,
    input_hw: tuple[int, int] = DEFAULT_HW,
    num_bins: int = 1,
    opset: int = DEFAULT_OPSET,
    weight_transform: WeightTransform | None = None,
    *,
    verify: bool = True,
    tol: float = DEFAULT_TOL,
    data: dict[str, Any] | None = None,
) -> OnnxExportInfo:
    """Export an ANN :class:`~depthsnn.models.DepthNet` to ONNX (form ``ann``).

    Input ``frames`` [batch, num_bins, C, H, W] float32, output ``depth`` [batch, H, W].
    Batch norms are folded and ``weight_transform(name, weight)`` is applied to every conv
    weight first (see :func:`~depthsnn.export.onnx_modules.prepared_copy`). With ``verify``
    the file is run in onnxruntime against the (transformed) torch model on random input and
    :class:`ParityError` is raised if they differ by more than ``tol``. ``data``: the input
    options (window, encoding, presentation, depth units; :func:`depthsnn.export.api.input_options`)
    stored as the file's ``depthsnn.data`` metadata, so a consumer without the checkpoint or the
    manifest can build its input.
    """
    cfg = _depthnet_cfg(model)
    if cfg.kind != "ann":
        raise ConfigError(f"export_ann_onnx exports ANNs; this model is an {cfg.kind.upper()} (use export_snn_onnx)")
    if num_bins < 1:
        raise ConfigError(f"num_bins must be >= 1, got {num_bins}")
    m = prepared_copy(model, weight_transform)
    hw, phw = _sizes(m, input_hw)
    wrapper = AnnDepth(copy.deepcopy(m.core), num_bins, hw, phw).eval()
    example = _example(cfg, num_bins, hw, spiking=False)
    dyn = {"frames": {0: "batch"}, "depth": {0: "batch"}}

    return _export(wrapper, (example,), path, "ann", opset, ["frames"], ["depth"], dyn, num_bins, hw, phw,
                   cfg=cfg, model=m if verify else None, tol=tol, data=data)


def export_snn_onnx(
    model: nn.Module,
    path: str | Path,
    input_hw: tuple[int, int] = DEFAULT_HW,
    num_bins: int = 1,
    opset: int = DEFAULT_OPSET,
    weight_transform: WeightTransform | None = None,
    *,
    form: str = "snn-unrolled",
    with_spikes: bool = False,
    dt: float = DEFAULT_DT,
    verify: bool = True,
    tol: float = DEFAULT_TOL,
    data: dict[str, Any] | None = None,
) -> OnnxExportInfo:
    """Export an SNN or HNN :class:`~depthsnn.models.DepthNet` to ONNX.

    ``form='snn-unrolled'``: ``frames`` [batch, num_bins, C, H, W] -> ``depth`` [batch, H, W].
    ``form='snn-step'``: one step with explicit state (see the module docstring; drive it with
    :func:`run_step_model`); ``with_spikes`` adds every neuron node's spikes as outputs.
    Both are traced from a :class:`GraphExecutor` of ``from_model(core, padded size, dt)``.
    With ``verify`` the export is run in onnxruntime against the spikingjelly model (DepthNet
    forward) on random event counts; :class:`ParityError` if the depth differs by > ``tol``.
    ``data``: the input options stored as ``depthsnn.data`` metadata, as for :func:`export_ann_onnx`.
    """
    cfg = _depthnet_cfg(model)
    if cfg.kind == "ann":
        raise ConfigError("export_snn_onnx exports SNNs and HNNs; this model is an ANN (use export_ann_onnx)")
    if form not in ("snn-unrolled", "snn-step"):
        raise ConfigError(f"ONNX form {form!r} unknown for a spiking network (known: snn-unrolled, snn-step)")
    if cfg.kind == "hnn" and cfg.hnn_analog != "identity":
        raise ConfigError("an HNN with hnn_analog='relu' cannot be exported to ONNX (no ReLU node in the "
                          "spiking graph); build it with hnn_analog='identity'")
    if num_bins < 1:
        raise ConfigError(f"num_bins must be >= 1, got {num_bins}")
    m = prepared_copy(model, weight_transform)
    hw, phw = _sizes(m, input_hw)
    executor = GraphExecutor(from_model(m.core, phw, dt)).eval()
    state_nodes = list(executor.stateful)
    ref = m if verify else None
    if form == "snn-unrolled":
        wrapper = UnrolledSnn(executor, num_bins, hw).eval()
        example = _example(cfg, num_bins, hw, spiking=True)
        dyn = {"frames": {0: "batch"}, "depth": {0: "batch"}}
        return _export(wrapper, (example,), path, form, opset, ["frames"], ["depth"], dyn, num_bins, hw, phw,
                       cfg=cfg, model=ref, tol=tol, state_nodes=state_nodes, data=data)
    wrapper = StepSnn(executor, with_spikes).eval()
    x = _example(cfg, 1, phw, spiking=True)[:, 0]
    states = executor.init_state(x.shape[0])
    in_names = ["x", *(f"state_{i}" for i in range(len(states)))]
    out_names = ["out", *(f"state_{i}_next" for i in range(len(states))),
                 *(f"spikes_{j}" for j in range(len(wrapper.spike_nodes)))]
    dyn = {name: {0: "batch"} for name in in_names + out_names}
    return _export(wrapper, (x, *states), path, form, opset, in_names, out_names, dyn, num_bins, hw, phw,
                   cfg=cfg, model=ref, tol=tol, state_nodes=state_nodes, spike_nodes=wrapper.spike_nodes, data=data)


def check_onnx(path: str | Path, limit: int | None = None) -> onnx.ModelProto:
    """Load ``path`` and run ``onnx.checker`` on it; :class:`DataError` if it is not valid ONNX.

    Declared sizes (file, initializers, inputs/outputs, then every shape inference finds) are
    checked against the memory ``limit`` first (:mod:`depthsnn.export.onnx_limits`).
    """
    path = Path(path)
    proto = check_onnx_sizes(path, limit)
    try:
        onnx.checker.check_model(proto, full_check=True)
        inferred = onnx.shape_inference.infer_shapes(proto)
    except Exception as exc:  # ValidationError, shape inference errors
        raise DataError(f"not a valid ONNX model ({type(exc).__name__}: {_first_line(exc)})", path) from None
    check_proto_sizes(inferred, path, limit)
    return proto


def open_session(model_file: str | Path | bytes, prefer_cuda: bool = False):
    """An onnxruntime session for a path or serialized model (:class:`DataError` if rejected).

    CPU provider by default (verification must be reproducible); ``prefer_cuda`` uses the CUDA
    provider when onnxruntime offers it (``session.get_providers()[0]`` says which ran).
    """
    import onnxruntime as ort

    providers = ["CPUExecutionProvider"]
    if prefer_cuda and "CUDAExecutionProvider" in ort.get_available_providers():
        providers.insert(0, "CUDAExecutionProvider")
    opts = ort.SessionOptions()
    opts.log_severity_level = 3  # only errors: ORT warns about unused initializers otherwise
    if not isinstance(model_file, bytes):  # bytes come from our own exporter; files may come from anyone
        check_onnx_sizes(model_file)
    try:
        src = model_file if isinstance(model_file, bytes) else str(model_file)
        return ort.InferenceSession(src, opts, providers=providers)
    except Exception as exc:
        path = None if isinstance(model_file, bytes) else model_file
        raise DataError(f"onnxruntime cannot load the model ({_first_line(exc)})", path) from None


def run_step_model(session, frames: np.ndarray | torch.Tensor, return_spikes: bool = False):
    """Stream ``frames`` [B, T, C, H, W] through an ``snn-step`` session, one step per bin.

    Pads H, W with zeros at the bottom/right to the model's input size, starts from zero state,
    and returns the integrator potential after the last step cropped to ``depth`` [B, H, W].
    With ``return_spikes`` returns ``(depth, spikes)`` where ``spikes[j]`` is [T, B, C, H, W]
    for output ``spikes_<j>`` (needs an export made ``with_spikes``).
    """
    frames = _numpy(frames)
    b, t, c, h, w = frames.shape
    inputs = session.get_inputs()
    ph, pw = inputs[0].shape[2:]
    x_seq = np.zeros((b, t, c, ph, pw), np.float32)
    x_seq[..., :h, :w] = frames
    state = {i.name: np.zeros((b, *i.shape[1:]), np.float32) for i in inputs[1:]}
    names = [o.name for o in session.get_outputs()]
    spike_names = [n for n in names if n.startswith("spikes_")]
    spikes: dict[int, list[np.ndarray]] = {}
    out = np.zeros((b, 1, ph, pw), np.float32)
    for k in range(t):
        res = dict(zip(names, session.run(names, {"x": x_seq[:, k], **state}), strict=True))
        out = res["out"]
        state = {s: res[f"{s}_next"] for s in state}
        for n in spike_names:
            spikes.setdefault(int(n.removeprefix("spikes_")), []).append(res[n])
    if out.shape[-2:] != (ph, pw):  # a portable net's coarse map: the host step upsamples it
        from ..models.portable import host_upsample

        mc = json.loads(session.get_modelmeta().custom_metadata_map.get("depthsnn.model_config", "{}"))
        out = host_upsample(torch.from_numpy(out), (ph, pw), mc.get("host_upsample", "bilinear")).numpy()
    depth = out[:, 0, :h, :w]
    if return_spikes:
        return depth, {j: np.stack(v) for j, v in spikes.items()}
    return depth


def summation_depth(model: nn.Module) -> float:
    """Sum over the model's convolutions of sqrt(fan-in): how far float32 summation-order
    differences can grow through the network (random-walk growth per layer, added over layers)."""
    return float(sum(math.sqrt(m.in_channels // m.groups * math.prod(m.kernel_size)) for m in model.modules()
                     if isinstance(m, nn.modules.conv._ConvNd)))


def parity_tolerance(tol: float, scale: float, depth: float) -> float:
    """``tol`` plus the float32 rounding allowance for outputs of magnitude ``scale`` after a
    summation depth ``depth`` (:func:`summation_depth`): ``tol + ROUNDING_ULPS * eps32 * scale * depth``.
    An export error (a wrong or missing weight, a wrong layer) moves the output by a fraction of its
    scale, orders of magnitude above this allowance."""
    return tol + ROUNDING_ULPS * EPS32 * scale * depth


def verify_onnx(
    model_file: str | Path | bytes,
    reference: Callable[[torch.Tensor], torch.Tensor],
    frames: torch.Tensor,
    tol: float = DEFAULT_TOL,
    depth: float = 0.0,
) -> float:
    """Max |onnxruntime - reference| of the depth for ``frames`` [B, T, C, H, W].

    ``model_file``: a path or the serialized model. ``reference`` maps frames to depth [B, H, W] (e.g. ``lambda f: model(f).depth``). A step
    model (first input ``x``) is driven by :func:`run_step_model`. Raises :class:`ParityError`
    when the difference exceeds ``tol`` (plus, given the network's summation ``depth``, the
    float32 rounding allowance of :func:`parity_tolerance`) or the shapes differ.
    """
    session = open_session(model_file)
    path = None if isinstance(model_file, bytes) else model_file
    if session.get_inputs()[0].name == "x":
        got = run_step_model(session, frames)
    else:
        got = session.run(["depth"], {"frames": _numpy(frames)})[0]
    with torch.no_grad():
        want = reference(frames).detach().cpu().numpy()
    if got.shape != want.shape:
        raise ParityError(f"ONNX depth has shape {list(got.shape)}, torch {list(want.shape)}", path)
    diff = float(np.abs(got.astype(np.float64) - want).max()) if got.size else 0.0
    allowed = parity_tolerance(tol, float(np.abs(want).max()) if want.size else 0.0, depth) if depth else tol
    if not diff <= allowed:  # also catches NaN
        detail = f"tolerance {allowed:.3g} = {tol:g} + float32 rounding over summation depth {depth:.0f}" if depth \
            else f"tolerance {tol:g}"
        raise ParityError(f"ONNX depth differs from torch by {diff:.3g} ({detail})", path)
    return diff


def verify_export(
    path: str | Path, model: nn.Module, weight_transform: WeightTransform | None = None, tol: float = DEFAULT_TOL
) -> dict[str, Any]:
    """Re-run an export's verification for an existing file against ``model`` (a DepthNet).

    Form, T and input size are read from the file's ``depthsnn.*`` metadata. Returns
    ``{max_abs_diff, float_max_abs_diff, verify_method}`` as in :class:`OnnxExportInfo`;
    :class:`ParityError` if the file does not compute ``model``.
    """
    path = Path(path)
    cfg = _depthnet_cfg(model)
    proto = check_onnx(path)
    meta = {p.key.removeprefix("depthsnn."): json.loads(p.value) for p in proto.metadata_props
            if p.key.startswith("depthsnn.")}
    if not {"form", "num_bins", "input_hw"} <= set(meta):
        raise DataError("not a depthsnn ONNX export (no depthsnn.form/num_bins/input_hw metadata)", path)
    if (meta["form"] == "ann") != (cfg.kind == "ann"):
        raise ConfigError(f"file holds form {meta['form']!r} but the model is an {cfg.kind.upper()}")
    try:
        return _verify(path, proto, prepared_copy(model, weight_transform), meta["form"], int(meta["num_bins"]),
                       tuple(meta["input_hw"]), tol)
    except DataError as exc:
        raise type(exc)(exc.problem, path) from None


def _export(wrapper, args, path, form, opset, in_names, out_names, dyn, num_bins, hw, phw, *,
            cfg, model, tol, state_nodes=(), spike_nodes=(), data=None) -> OnnxExportInfo:
    path = Path(path)
    start = time.perf_counter()
    # The atomic temp name ends in .tmp: fine, the TorchScript exporter, onnx.load and
    # onnxruntime do not look at the suffix. Check and verify happen before the rename, so a
    # failed export never appears under the final name.
    with atomic_path(path) as tmp:
        with warnings.catch_warnings(), torch.no_grad():
            # Tracer warnings (Python bools from shapes) are expected: shapes are fixed per file.
            warnings.simplefilter("ignore")
            torch.onnx.export(wrapper, args, str(tmp), dynamo=False, opset_version=opset, input_names=in_names,
                              output_names=out_names, dynamic_axes=dyn, do_constant_folding=True)
        proto = onnx.load(str(tmp))
        if "depth" in out_names:
            # The tracer names the cropped H, W symbolically (Slice_dim_1); they are fixed.
            _set_dims(proto.graph.output[out_names.index("depth")], ["batch", *hw])
        meta = {"form": form, "num_bins": num_bins, "input_hw": list(hw), "padded_hw": list(phw),
                "state_nodes": list(state_nodes), "spike_nodes": list(spike_nodes),
                "model_config": dataclasses.asdict(cfg)}
        if data is not None:
            meta["data"] = data
        for k, v in meta.items():
            proto.metadata_props.add(key=f"depthsnn.{k}", value=json.dumps(v))
        proto.producer_name = "depthsnn"
        onnx.save(proto, str(tmp))
        diffs: dict[str, Any] = {}
        try:
            proto = check_onnx(tmp)
            if model is not None:
                diffs = _verify(tmp, proto, model, form, num_bins, hw, tol)
        except DataError as exc:  # name the file the user asked for, not the temporary one
            raise type(exc)(exc.problem, path) from None
        sha = hashlib.sha256(tmp.read_bytes()).hexdigest()
        size = tmp.stat().st_size
    return OnnxExportInfo(path=path, form=form, opset=opset, num_bins=num_bins, input_hw=hw, padded_hw=phw,
                          inputs=_io_shapes(proto.graph.input), outputs=_io_shapes(proto.graph.output),
                          sha256=sha, size_bytes=size, state_nodes=list(state_nodes),
                          spike_nodes=list(spike_nodes), export_seconds=time.perf_counter() - start, **diffs)


def _verify(tmp: Path, proto: onnx.ModelProto, model: nn.Module, form: str, num_bins: int, hw, tol: float):
    """Run the file in onnxruntime against ``model``; see :class:`OnnxExportInfo` for the two checks."""
    frames = _example(model.cfg, num_bins, hw, spiking=form != "ann", batch=2, seed=1)

    def reference(m: nn.Module) -> Callable[[torch.Tensor], torch.Tensor]:
        return lambda f: m(f).depth

    depth = summation_depth(model)
    if form == "ann":
        diff = verify_onnx(tmp, reference(model), frames, tol, depth)
        return {"max_abs_diff": diff, "float_max_abs_diff": diff, "verify_method": "float"}
    # Spiking: a rounding difference of one ulp (onnxruntime and torch sum convolutions in
    # different orders) can flip a spike whose potential sits at the threshold, and the flip
    # propagates; at 260x346 this happens for some inputs. So the pass/fail check runs the
    # exported graph with its conv weights snapped to a coarse power-of-two grid, where every
    # sum of binary/small-integer inputs is exact in float32 and both sides must agree bit
    # for bit; the as-exported difference is recorded too.
    float_diff = verify_onnx(tmp, reference(model), frames, tol=np.inf)
    snap = grid_snap(GRID_BITS)
    snapped = onnx.ModelProto()
    snapped.CopyFrom(proto)
    for init in snapped.graph.initializer:
        if init.dims and len(init.dims) == 4:  # conv weights (the only rank-4 initializers)
            init.CopyFrom(onnx.numpy_helper.from_array(snap(init.name, onnx.numpy_helper.to_array(init)), init.name))
    try:
        diff = verify_onnx(snapped.SerializeToString(), reference(prepared_copy(model, snap)), frames, tol, depth)
    except ParityError as exc:
        raise ParityError(f"{exc.problem} with grid-snapped weights, where the arithmetic is exact: the "
                          "exported graph does not compute the model") from None
    return {"max_abs_diff": diff, "float_max_abs_diff": float_diff, "verify_method": f"grid-snapped weights ({GRID_BITS} bits)"}


def _depthnet_cfg(model: nn.Module):
    from ..models.unet import DepthNet

    if not isinstance(model, DepthNet):
        raise ConfigError(f"can only export a DepthNet, got {type(model).__name__}")
    return model.cfg


def _sizes(model, input_hw) -> tuple[tuple[int, int], tuple[int, int]]:
    h, w = (int(v) for v in input_hw)
    if h < 1 or w < 1:
        raise ConfigError(f"input size must be positive, got {h}x{w}")
    return (h, w), tuple(model.padded_size(h, w))


def _example(cfg, num_bins: int, hw, *, spiking: bool, batch: int = 1, seed: int = 0) -> torch.Tensor:
    """Random frames [batch, num_bins, C, H, W]: sparse event counts for spiking nets, else uniform."""
    gen = torch.Generator().manual_seed(seed)
    shape = (batch, num_bins, cfg.channels, *hw)
    if not spiking:
        return torch.rand(shape, generator=gen)
    events = torch.rand(shape, generator=gen) < 0.15
    return events * torch.randint(1, 3, shape, generator=gen).float()


def _set_dims(value: onnx.ValueInfoProto, dims: list[int | str]) -> None:
    for d, new in zip(value.type.tensor_type.shape.dim, dims, strict=True):
        if isinstance(new, str):
            d.dim_param = new
        else:
            d.dim_value = new


def _io_shapes(values) -> dict[str, list[int | str]]:
    return {v.name: [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim] for v in values}


def _numpy(x: np.ndarray | torch.Tensor) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    return np.ascontiguousarray(x, dtype=np.float32)


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__
