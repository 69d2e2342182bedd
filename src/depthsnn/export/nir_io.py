"""NIR files for :class:`~depthsnn.export.graph.NetGraph`: write, read, validate, re-import.

``write_nir(path, graph)`` / ``read_nir(path)`` round-trip a ``NetGraph`` through an NIR 1.0
HDF5 file bit-exactly; ``load(path)`` returns a :class:`~depthsnn.export.executor.GraphExecutor`
(the torch re-import; the issue's ``depthsnn.export.nir.load``; it lives here so that no module
of this package is called ``nir`` and shadows the ``nir`` library).

Mapping (node name = ``NetGraph`` node name; every ``inputs`` entry becomes an edge, and NIR sums
edges that converge on a node, as ``NetGraph`` does):

- ``input`` -> ``nir.Input([C, H, W])``; ``output`` -> ``nir.Output``.
- ``conv`` -> ``nir.Conv2d(input_shape=(H, W), weight, stride, padding, dilation=1, groups=1,
  bias)``; a missing bias is written as zeros and flagged ``has_bias=False`` in metadata.
- ``if`` -> ``nir.IF(r, v_threshold, v_reset)``, ``lif`` -> ``nir.LIF(tau, r, v_leak,
  v_threshold, v_reset)``, ``integrator`` -> ``nir.I(r)``: parameters are arrays of the node
  shape (as spikingjelly's own exporter writes them), float64 so that ``tau / dt`` and
  ``r * dt`` come back exactly (1e-4 is not a float32 value).
- ``upsample`` (nearest, integer factor k) -> a nested ``nir.NIRGraph`` tagged with metadata
  ``{"depthsnn_op": "upsample_nearest", "scale_factor": k}``; see below.

Thresholds. spikingjelly fires when ``v >= th``; NIR fires when ``v > v_threshold``. The file
stores ``v_threshold = nextafter(th, -inf)`` in float32, so NIR's strict comparison gives
spikingjelly's spikes for every float32 potential, including ``v == th`` exactly; the original
``th`` is kept in node metadata (``threshold_sj``). Reset is hard, to ``v_reset``, in the same
step as the spike.

Time. NIR has no time step. The graph metadata stores ``dt``; parameters are NIR's continuous
form (``IF``/``I``: ``r = 1/dt`` so one Euler step adds the input unchanged; ``LIF``:
``tau = tau_steps * dt``, ``r = 1``, ``v_leak = v_reset``, the Euler step of ``tau dv/dt =
(v_leak - v) + r I`` being spikingjelly's decay-input LIF).

Upsampling. NIR 1.0 has no upsample, transposed-conv or reshape node, and nir 1.0.8 type-checks
every nested graph when reading (even with ``nir.read(type_check=False)``), so a subgraph whose
inner shapes do not chain cannot be read at all. The subgraph is therefore type-consistent and
carries the data as far as NIR can:

``input: Input(C, H, W) -> phases: Conv2d 1x1, C -> C*k*k, one-hot (channel c copied to channels
c*k*k .. c*k*k + k*k - 1) -> depth_to_space: Conv2d with ZERO weights whose padding/dilation give
the output shape (C, kH, kW) -> output: Output(C, kH, kW)``.

The upsampled value is ``out[c, k*i + a, k*j + b] = phases[c*k*k + a*k + b, i, j]`` (stated in the
``depth_to_space`` node's metadata). That rearrangement is not expressible in NIR 1.0; the
zero-weight conv only carries the shape. A reader that ignores the metadata loads and runs the
file but gets zeros out of every upsampling (so a decoder sees only its skip input): its
outputs are WRONG for networks with upsampling. Zeros were chosen over any shape-carrying
"approximation" (e.g. a padded identity) because they make no claim about the data. Readers of
this module recognise the tag and reproduce nearest upsampling exactly.

Metadata. nir 1.0.8 writes node and graph ``metadata`` dicts as HDF5 groups and reads them back
(strings, numbers, nested dicts; ``None`` cannot be written and lists come back as arrays).
Node metadata holds only strings and numbers. Graph metadata holds ``producer``, ``version``,
``dt``, the input size, and the full ``NetGraph.metadata`` (model config, which may hold
``None``) as one JSON string under ``depthsnn_json``.

Reading validates everything it relies on (node types, edges, cycles, shapes, uniform neuron
parameters) and raises :class:`~depthsnn.errors.DataError` naming the file and the node.

Memory. A file may declare any shape. Before ``nir.read`` loads anything, the HDF5 tree is
walked (names and declared dataset sizes only): every dataset and their sum must fit the memory
limit (:mod:`depthsnn.limits`, default 4 GiB), and links other than plain hard links, datasets
stored in external files and objects reachable by two paths (which would make ``nir.read`` load
them again and again) are refused. Then each node's activation, as the executor and the
simulator allocate it per sample and step (float32; state counted again for neurons), and
their sum are checked as the shapes are derived, before any tensor exists.

Interoperability (see ``tests/test_export_nir.py``): snnTorch 1.0.0's ``import_from_nir`` maps
``LIF`` to ``snn.Leaky(beta = 1 - 1e-4/tau, threshold = v_threshold * tau/(r * 1e-4))`` with
a fixed dt of 1e-4, reset to zero in the step of the spike (``reset_delay=False``) and a strict
``mem > threshold``. With dt = 1e-4, ``v_leak = v_reset = 0`` and r = 1 its membrane is
``tau_steps`` times ours, so spikes agree up to float rounding of that scaling (measured:
identical spikes for tau_steps 1.5, 2, 3 and 5 on a Conv-LIF-Conv-LIF net). It rejects ``IF``
with ``r != 1`` (ours is ``1/dt``) and would map ``IF`` to a *leaky* neuron (beta 0.9), so IF
networks do not load there; it has no ``I`` node (our integrator output) and ignores the
upsampling tag.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import h5py
import nir
import numpy as np
import torch

from ..atomic import atomic_path
from ..errors import ConfigError, DataError
from ..limits import check_size, max_bytes
from .executor import GraphExecutor
from .graph import DEFAULT_DT, STATEFUL_OPS, NetGraph, Node

UPSAMPLE_TAG = "upsample_nearest"
RESET_MODE = "hard, to v_reset, in the step of the spike"
THRESHOLD_RULE = ("spikingjelly fires at v >= threshold_sj; stored v_threshold = "
                  "nextafter(threshold_sj, -inf) in float32, so NIR's v > v_threshold gives the same spikes")
SUPPORTED = ("Input", "Output", "Conv2d", "IF", "LIF", "I", "NIRGraph (depthsnn upsample)")


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("depthsnn")
    except Exception:  # pragma: no cover - not installed (source checkout on sys.path)
        return "unknown"


# ----------------------------------------------------------------------------------- export


def to_nir(graph: NetGraph) -> nir.NIRGraph:
    """The ``nir.NIRGraph`` of a validated ``graph`` (see the module docstring for the mapping)."""
    graph.validate()
    nodes: dict[str, nir.NIRNode] = {}
    edges: list[tuple[str, str]] = []
    for n in graph.nodes:
        in_shape = graph.node(n.inputs[0]).shape if n.inputs else tuple(n.shape)
        nodes[n.name] = _node_to_nir(n, in_shape, graph.dt)
        edges += [(i, n.name) for i in n.inputs]
    meta = {
        "producer": "depthsnn",
        "version": _version(),
        "dt": float(graph.dt),
        "input_shape": np.asarray(graph.input.shape, dtype=np.int64),
        "reset": RESET_MODE,
        "threshold_rule": THRESHOLD_RULE,
        # HDF5 lists groups alphabetically: keep the original node order for a faithful re-import.
        "depthsnn_json": json.dumps({"dt": graph.dt, "order": [n.name for n in graph.nodes],
                                     "metadata": graph.metadata}, default=_json_default),
    }
    return nir.NIRGraph(nodes, edges, metadata=meta)


def _json_default(o: Any) -> Any:
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, np.generic):
        return o.item()
    return str(o)


def _full(shape: tuple[int, ...], value: float) -> np.ndarray:
    return np.full(shape, value, dtype=np.float64)


def _node_to_nir(n: Node, in_shape: tuple[int, ...], dt: float) -> nir.NIRNode:
    meta: dict[str, Any] = {"layer": n.name, "dt": float(dt)}
    p = n.params
    shape = tuple(n.shape)
    if n.op == "input":
        return nir.Input(np.asarray(shape, dtype=np.int64), metadata=meta)
    if n.op == "output":
        return nir.Output(np.asarray(shape, dtype=np.int64), metadata=meta)
    if n.op == "conv":
        w = np.asarray(p["weight"], dtype=np.float32)
        bias = p.get("bias")
        meta["has_bias"] = int(bias is not None)
        b = np.zeros(w.shape[0], np.float32) if bias is None else np.asarray(bias, dtype=np.float32)
        return nir.Conv2d(tuple(in_shape[1:]), w, int(p["stride"]), int(p["padding"]), 1, 1, b, metadata=meta)
    if n.op in ("if", "lif"):
        meta.update(reset=RESET_MODE, threshold_rule=THRESHOLD_RULE, threshold_sj=float(p["threshold_sj"]))
        common = {"r": _full(shape, p["r"]), "v_threshold": _full(shape, p["v_threshold"]),
                  "v_reset": _full(shape, p["v_reset"])}
        if n.op == "if":
            return nir.IF(**common, metadata=meta)
        return nir.LIF(tau=_full(shape, p["tau"]), v_leak=_full(shape, p["v_leak"]), **common, metadata=meta)
    if n.op == "integrator":
        return nir.I(r=_full(shape, p["r"]), metadata=meta)
    if n.op == "upsample":
        return _upsample_to_nir(in_shape, int(p["scale"]), meta)
    raise ConfigError(f"node {n.name}: operation {n.op!r} has no NIR form")  # validate() prevents this


def _upsample_to_nir(in_shape: tuple[int, ...], k: int, meta: dict[str, Any]) -> nir.NIRGraph:
    c, h, w = in_shape
    phases = np.zeros((c * k * k, c, 1, 1), np.float32)
    for ch in range(c):
        phases[ch * k * k:(ch + 1) * k * k, ch] = 1.0
    # Padding p and dilation d of a 2x2 kernel give size n + 2p - d = k*n: the shape NIR needs.
    dil = tuple(1 if ((k - 1) * n) % 2 else 2 for n in (h, w))
    pad = tuple(((k - 1) * n + d) // 2 for n, d in zip((h, w), dil, strict=True))
    d2s = nir.Conv2d((h, w), np.zeros((c, c * k * k, 2, 2), np.float32), 1, pad, dil, 1, np.zeros(c, np.float32),
                     metadata={"depthsnn_op": "depth_to_space", "block_size": k,
                               "semantics": "out[c, k*i+a, k*j+b] = in[c*k*k + a*k + b, i, j]; NIR 1.0 cannot "
                                            "express this rearrangement: the zero weights only carry the shape"})
    nodes = {
        "input": nir.Input(np.array([c, h, w], dtype=np.int64)),
        "phases": nir.Conv2d((h, w), phases, 1, 0, 1, 1, np.zeros(c * k * k, np.float32),
                             metadata={"semantics": "copies channel c to channels c*k*k .. c*k*k+k*k-1"}),
        "depth_to_space": d2s,
        "output": nir.Output(np.array([c, k * h, k * w], dtype=np.int64)),
    }
    edges = [("input", "phases"), ("phases", "depth_to_space"), ("depth_to_space", "output")]
    meta = dict(meta, depthsnn_op=UPSAMPLE_TAG, scale_factor=k,
                note="nearest upsampling; readers that ignore this tag get zeros (see depth_to_space)")
    return nir.NIRGraph(nodes, edges, metadata=meta)


def write_nir(path: str | Path, graph: NetGraph, metadata: dict | None = None) -> Path:
    """Write ``graph`` as an NIR file at ``path`` atomically; ``metadata`` is merged into the
    graph's own (it lands in the file's ``depthsnn_json``). Returns ``path``."""
    path = Path(path)
    if metadata:
        graph = graph.copy()
        graph.metadata.update(metadata)
    ng = to_nir(graph)
    with atomic_path(path) as tmp:  # h5py does not care about the temporary ".tmp" suffix
        nir.write(tmp, ng)
    return path


# ----------------------------------------------------------------------------------- import


def read_nir(path: str | Path, limit: int | None = None) -> NetGraph:
    """Read an NIR file into a validated :class:`NetGraph`; problems raise ``DataError(path)``.

    Declared sizes are checked against ``limit`` (default :func:`depthsnn.limits.max_bytes`)
    before anything is loaded (see the module docstring, "Memory").
    """
    path = Path(path)
    if not path.is_file():
        raise DataError("NIR file not found", path)
    check_hdf5_sizes(path, limit)
    try:
        # Our own checks below report problems better than nir's type inference.
        ng = nir.read(path, type_check=False)
    except Exception as e:  # h5py OSError on non-HDF5 / truncated files, nir's KeyError/ValueError/...
        raise DataError(f"not a readable NIR file ({type(e).__name__}: {_one_line(e)})", path) from e
    return from_nir(ng, path=path, limit=limit)


def load(path: str | Path, dtype: torch.dtype = torch.float32, limit: int | None = None) -> GraphExecutor:
    """The torch re-import of an NIR file written by :func:`write_nir`: a :class:`GraphExecutor`."""
    return GraphExecutor(read_nir(path, limit), dtype=dtype)


def check_hdf5_sizes(path: Path, limit: int | None = None) -> None:
    """Walk the HDF5 tree as ``nir.read`` will (by name), reading no data: refuse what would
    exceed the memory limit or what ``nir.read`` could load more than once."""
    cap = max_bytes(limit)
    total = 0
    try:
        with h5py.File(path, "r") as f:
            seen: set = set()
            stack: list[tuple[str, h5py.Group]] = [("", f)]
            while stack:
                prefix, group = stack.pop()
                for key in group:
                    name = f"{prefix}/{key}"
                    link = group.get(key, getlink=True)
                    if not isinstance(link, h5py.HardLink):
                        raise DataError(f"HDF5 {type(link).__name__} at {name!r}: NIR files hold plain groups and "
                                        "datasets only", path)
                    obj = group[key]
                    if obj.id in seen:
                        raise DataError(f"HDF5 object {name!r} is reachable by two paths (a hard link): "
                                        "refused, a reader would load it repeatedly", path)
                    seen.add(obj.id)
                    if isinstance(obj, h5py.Group):
                        stack.append((name, obj))
                    elif isinstance(obj, h5py.Dataset):
                        if obj.external:
                            raise DataError(f"dataset {name!r} keeps its data in external files: refused", path)
                        nbytes = int(obj.size or 0) * obj.dtype.itemsize
                        check_size(f"dataset {name!r} (shape {obj.shape}, {obj.dtype})", nbytes, path, cap)
                        total += nbytes
                        check_size(f"the file's datasets together (at {name!r})", total, path, cap)
    except DataError:
        raise
    except Exception as e:  # h5py OSError on non-HDF5 / truncated files
        raise DataError(f"not a readable NIR file ({type(e).__name__}: {_one_line(e)})", path) from e


def _one_line(e: BaseException) -> str:
    s = " ".join(str(e).split())
    return s[:300] + ("..." if len(s) > 300 else "")


def from_nir(nir_graph: nir.NIRGraph, path: str | Path | None = None, limit: int | None = None) -> NetGraph:
    """Convert an ``nir.NIRGraph`` (as written by :func:`to_nir`) into a validated NetGraph.

    Raises :class:`DataError` (naming ``path`` when given, and the node) for unsupported node
    types, dangling edges, cycles, inconsistent shapes, non-uniform neuron parameters, or
    activations that would exceed the memory ``limit`` (:func:`depthsnn.limits.max_bytes`).
    """

    def fail(problem: str) -> DataError:
        return DataError(problem, path)

    if not isinstance(nir_graph, nir.NIRGraph):
        raise fail(f"expected an NIR graph at the top level, got {type(nir_graph).__name__}")
    nodes, edges = nir_graph.nodes, nir_graph.edges
    if not isinstance(nodes, dict) or not isinstance(edges, (list, tuple)):
        raise fail("malformed NIR graph: nodes must be a dict and edges a list")
    for name, node in nodes.items():
        if not isinstance(node, nir.NIRNode):
            raise fail(f"malformed NIR node {name!r}: {type(node).__name__}")
        if type(node).__name__ not in ("Input", "Output", "Conv2d", "IF", "LIF", "I", "NIRGraph"):
            raise fail(f"unsupported NIR node type {type(node).__name__} at node {name!r} "
                       f"(supported: {', '.join(SUPPORTED)})")
        if isinstance(node, nir.NIRGraph) and _meta(node).get("depthsnn_op") != UPSAMPLE_TAG:
            raise fail(f"unsupported NIR node type NIRGraph at node {name!r} "
                       "(only depthsnn's tagged upsampling subgraphs are understood)")
    preds: dict[str, list[str]] = {k: [] for k in nodes}
    seen_edges = set()
    for e in edges:
        if not (isinstance(e, (tuple, list)) and len(e) == 2 and all(isinstance(x, str) for x in e)):
            raise fail(f"malformed NIR edge {e!r}")
        src, dst = e
        for end in (src, dst):
            if end not in nodes:
                raise fail(f"edge ({src!r}, {dst!r}) refers to missing node {end!r}")
        if (src, dst) in seen_edges:
            raise fail(f"duplicate edge ({src!r}, {dst!r})")
        seen_edges.add((src, dst))
        preds[dst].append(src)
    dt, extra, preferred = _graph_meta(_meta(nir_graph), fail)
    order = _topological(nodes, edges, preferred, fail)
    out_nodes: list[Node] = []
    shapes: dict[str, tuple[int, ...]] = {}
    cap, total = max_bytes(limit), 0
    for name in order:
        try:
            node = _node_from_nir(name, nodes[name], preds[name], shapes, dt)
        except DataError as e:
            raise fail(e.problem) from e
        except (ValueError, TypeError, KeyError, IndexError, AttributeError, OverflowError) as e:
            raise fail(f"malformed NIR node {name!r} ({type(e).__name__}: {_one_line(e)})") from e
        # What the executor/simulator allocate for this node per sample and step (python ints:
        # no overflow), checked before anything of that shape exists.
        nbytes = math.prod(node.shape) * 4 * (2 if node.op in STATEFUL_OPS else 1)
        check_size(f"node {name!r} (shape {node.shape}, float32 per sample)", nbytes, path, cap)
        total += nbytes
        check_size(f"the graph's activations up to node {name!r}", total, path, cap)
        shapes[name] = node.shape
        out_nodes.append(node)
    try:
        return NetGraph(out_nodes, dt, extra).validate()
    except ConfigError as e:
        raise fail(f"invalid graph: {e.problem}") from e


def _meta(node: Any) -> dict[str, Any]:
    m = getattr(node, "metadata", None)
    return m if isinstance(m, dict) else {}


def _graph_meta(meta: dict[str, Any], fail) -> tuple[float, dict[str, Any], list[str]]:
    """``dt``, the NetGraph metadata and the preferred node order from the graph-level metadata."""
    extra: dict[str, Any] = {}
    order: list[str] = []
    dt = meta.get("dt", DEFAULT_DT)
    raw = meta.get("depthsnn_json")
    if raw is not None:
        try:
            doc = json.loads(raw.decode() if isinstance(raw, bytes) else str(raw))
            extra = dict(doc.get("metadata", {}))
            dt = doc.get("dt", dt)
            order = [str(k) for k in doc.get("order", [])]
        except (ValueError, TypeError, AttributeError) as e:
            raise fail(f"graph metadata depthsnn_json is not valid JSON ({_one_line(e)})") from e
    try:
        dt = float(np.asarray(dt).item())
    except (ValueError, TypeError) as e:
        raise fail(f"graph metadata dt is not a number: {dt!r}") from e
    if not np.isfinite(dt) or dt <= 0:
        raise fail(f"graph metadata dt must be a positive number, got {dt}")
    return dt, extra, order


def _topological(nodes: dict[str, Any], edges, preferred: list[str], fail) -> list[str]:
    """Kahn's order, following ``preferred`` (then file order) among ready nodes; a cycle raises
    naming one of its nodes."""
    rank = {k: i for i, k in enumerate(preferred)}
    rank.update({k: len(preferred) + i for i, k in enumerate(nodes) if k not in rank})
    indeg = {k: 0 for k in nodes}
    succ: dict[str, list[str]] = {k: [] for k in nodes}
    for src, dst in edges:
        indeg[dst] += 1
        succ[src].append(dst)
    ready = [k for k in nodes if indeg[k] == 0]
    order: list[str] = []
    while ready:
        ready.sort(key=rank.__getitem__)
        k = ready.pop(0)
        order.append(k)
        for d in succ[k]:
            indeg[d] -= 1
            if indeg[d] == 0:
                ready.append(d)
    if len(order) != len(nodes):
        stuck = next(k for k in nodes if indeg[k] > 0)
        raise fail(f"the graph has a cycle through node {stuck!r} (only feed-forward graphs are supported)")
    return order


def _shape(x: Any) -> tuple[int, ...]:
    return tuple(int(v) for v in np.asarray(x).reshape(-1))


def _uniform(name: str, field: str, arr: Any, shape: tuple[int, ...]) -> float:
    a = np.asarray(arr, dtype=np.float64)
    if a.shape not in (shape, ()):
        raise DataError(f"node {name!r}: {field} has shape {a.shape}, its input has shape {shape}")
    if a.size == 0 or not np.all(a == a.reshape(-1)[0]) or not np.isfinite(a).all():
        raise DataError(f"node {name!r}: {field} must be one finite value for all neurons")
    return float(a.reshape(-1)[0])


def _single(name: str, field: str, v: Any) -> int:
    a = np.asarray(v).reshape(-1)
    if a.size == 0 or not np.all(a == a[0]) or float(a[0]) != int(a[0]):
        raise DataError(f"node {name!r}: {field} {v!r} must be one integer for both dimensions")
    return int(a[0])


def _node_from_nir(name: str, node: Any, preds: list[str], shapes: dict[str, tuple[int, ...]], dt: float) -> Node:
    """One NetGraph node; ``preds`` are already converted (topological order)."""
    meta = _meta(node)
    kind = type(node).__name__
    if kind == "Input":
        if preds:
            raise DataError(f"node {name!r}: an Input node cannot have incoming edges")
        shape = _shape(node.input_type["input"])
        if len(shape) != 3 or min(shape) < 1:
            raise DataError(f"node {name!r}: input shape must be (C, H, W), got {shape}")
        return Node(name, "input", [], {}, shape)
    if not preds:
        raise DataError(f"node {name!r} ({kind}) has no incoming edges")
    in_shapes = {shapes[p] for p in preds}
    if len(in_shapes) > 1:
        raise DataError(f"node {name!r}: summed inputs have different shapes {sorted(in_shapes)}")
    in_shape = in_shapes.pop()
    c, h, w = in_shape
    if kind == "Output":
        declared = _shape(node.output_type["output"])
        if declared != in_shape:
            raise DataError(f"node {name!r}: output shape {declared} differs from its input {in_shape}")
        return Node(name, "output", preds, {}, in_shape)
    if kind == "Conv2d":
        wt = np.asarray(node.weight, dtype=np.float32)
        if wt.ndim != 4 or wt.shape[2] != wt.shape[3] or 0 in wt.shape:
            raise DataError(f"node {name!r}: conv weight must be (C_out, C_in, K, K), got {wt.shape}")
        if wt.shape[1] != c:
            raise DataError(f"node {name!r}: conv weight {wt.shape} does not take the {c} channels of its input")
        if node.input_shape is not None and _shape(node.input_shape) != (h, w):
            raise DataError(f"node {name!r}: conv input_shape {_shape(node.input_shape)} differs "
                            f"from its input's {(h, w)}")
        if isinstance(node.padding, str):
            raise DataError(f"node {name!r}: padding {node.padding!r} is not supported (give integers)")
        if _single(name, "dilation", node.dilation) != 1 or _single(name, "groups", node.groups) != 1:
            raise DataError(f"node {name!r}: only dilation 1 and groups 1 are supported")
        stride, padding = _single(name, "stride", node.stride), _single(name, "padding", node.padding)
        if stride < 1 or padding < 0 or h + 2 * padding < wt.shape[2] or w + 2 * padding < wt.shape[2]:
            raise DataError(f"node {name!r}: stride {stride} / padding {padding} invalid for input {in_shape}")
        bias = np.asarray(node.bias, dtype=np.float32) if node.bias is not None else None
        if bias is not None and bias.shape != (wt.shape[0],):
            raise DataError(f"node {name!r}: bias shape {bias.shape} does not match {wt.shape[0]} output channels")
        if bias is not None and not int(meta.get("has_bias", 1)) and not bias.any():
            bias = None
        k = wt.shape[2]
        shape = (wt.shape[0], (h + 2 * padding - k) // stride + 1, (w + 2 * padding - k) // stride + 1)
        return Node(name, "conv", preds, {"weight": wt, "bias": bias, "stride": stride, "padding": padding}, shape)
    if kind in ("IF", "LIF"):
        p = {"r": _uniform(name, "r", node.r, in_shape),
             "v_threshold": _uniform(name, "v_threshold", node.v_threshold, in_shape),
             "v_reset": _uniform(name, "v_reset", node.v_reset, in_shape)}
        if kind == "LIF":
            p["tau"] = _uniform(name, "tau", node.tau, in_shape)
            p["v_leak"] = _uniform(name, "v_leak", node.v_leak, in_shape)
            if p["tau"] <= 0:
                raise DataError(f"node {name!r}: tau must be positive, got {p['tau']}")
        # The spikingjelly threshold whose >= matches NIR's > on float32 potentials.
        th_sj = meta.get("threshold_sj")
        p["threshold_sj"] = (float(np.asarray(th_sj)) if th_sj is not None
                             else float(np.nextafter(np.float32(p["v_threshold"]), np.float32(np.inf))))
        return Node(name, kind.lower(), preds, p, in_shape)
    if kind == "I":
        return Node(name, "integrator", preds, {"r": _uniform(name, "r", node.r, in_shape)}, in_shape)
    if kind == "NIRGraph":
        return _upsample_from_nir(name, node, preds, in_shape)
    raise DataError(f"unsupported NIR node type {kind} at node {name!r}")  # filtered earlier


def _upsample_from_nir(name: str, node: Any, preds: list[str], in_shape: tuple[int, ...]) -> Node:
    k = _single(name, "scale_factor", _meta(node).get("scale_factor"))
    c, h, w = in_shape
    inputs = [n for n in node.nodes.values() if type(n).__name__ == "Input"]
    outputs = [n for n in node.nodes.values() if type(n).__name__ == "Output"]
    if k < 1 or len(inputs) != 1 or len(outputs) != 1:
        raise DataError(f"node {name!r}: malformed upsampling subgraph (scale {k}, "
                        f"{len(inputs)} inputs, {len(outputs)} outputs)")
    if _shape(inputs[0].input_type["input"]) != in_shape:
        raise DataError(f"node {name!r}: upsampling input {_shape(inputs[0].input_type['input'])} "
                        f"differs from its producer's {in_shape}")
    out = (c, k * h, k * w)
    if _shape(outputs[0].output_type["output"]) != out:
        raise DataError(f"node {name!r}: upsampling output {_shape(outputs[0].output_type['output'])} "
                        f"is not {out} (x{k} of {in_shape})")
    return Node(name, "upsample", preds, {"scale": k}, out)
