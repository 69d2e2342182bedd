"""Declared sizes of an ONNX file, checked against the memory limit before it is used.

An ONNX file declares its initializers' and its tensors' shapes; a hostile or broken file may
declare any. :func:`check_onnx_sizes` compares them with the limit (:mod:`depthsnn.limits`):
first the file size (``onnx.load`` holds the whole protobuf), then, from the parsed proto
(``load_external_data=False``: nothing outside the file is read), every initializer, constant
and declared input, output and value_info tensor, symbolic dimensions counted as 1 (the batch).
Initializers kept in external files are refused: depthsnn never writes them, and a reader
resolving their location would read files outside the model.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import onnx
from onnx import helper

from ..errors import DataError
from ..limits import check_size, max_bytes


def _itemsize(elem_type: int) -> int:
    try:
        size = helper.tensor_dtype_to_np_dtype(elem_type).itemsize
    except Exception:  # undefined / unknown element type: count 8 bytes, the widest
        return 8
    return size if size > 0 else 8  # strings map to numpy 'object'


def _graphs(graph: onnx.GraphProto) -> Iterator[onnx.GraphProto]:
    """``graph`` and every subgraph (If / Loop / Scan bodies), depth first."""
    yield graph
    for node in graph.node:
        for attr in node.attribute:
            if attr.type == onnx.AttributeProto.GRAPH:
                yield from _graphs(attr.g)
            for g in attr.graphs:
                yield from _graphs(g)


def _tensors(graph: onnx.GraphProto) -> Iterator[tuple[str, onnx.TensorProto]]:
    for t in graph.initializer:
        yield f"initializer {t.name!r}", t
    for s in graph.sparse_initializer:
        yield f"sparse initializer {s.values.name!r}", s.values
    for node in graph.node:
        for attr in node.attribute:
            if attr.type == onnx.AttributeProto.TENSOR:
                yield f"constant of node {node.name or node.op_type!r}", attr.t


def check_proto_sizes(proto: onnx.ModelProto, path: str | Path | None, limit: int | None = None) -> None:
    """Declared tensor sizes of ``proto`` against the limit (one-line :class:`DataError` naming it)."""
    cap, total = max_bytes(limit), 0
    for graph in _graphs(proto.graph):
        for what, t in _tensors(graph):
            if t.data_location == onnx.TensorProto.EXTERNAL:
                raise DataError(f"{what} keeps its data in an external file: refused (depthsnn's exports are "
                                "self-contained)", path)
            nbytes = math.prod(int(d) for d in t.dims) * _itemsize(t.data_type)
            check_size(f"{what} (shape {tuple(t.dims)})", nbytes, path, cap)
            total += nbytes
            check_size(f"the model's weights up to {what}", total, path, cap)
        for kind, infos in (("input", graph.input), ("output", graph.output), ("tensor", graph.value_info)):
            for vi in infos:
                tt = vi.type.tensor_type
                if not tt.HasField("shape"):
                    continue
                dims = [d.dim_value if d.HasField("dim_value") else 1 for d in tt.shape.dim]
                nbytes = math.prod(dims) * _itemsize(tt.elem_type)
                check_size(f"{kind} {vi.name!r} (shape {tuple(dims)}, one sample)", nbytes, path, cap)


def check_onnx_sizes(path: str | Path, limit: int | None = None) -> onnx.ModelProto:
    """Parse ``path`` (no external data) after checking its file size; check its declared sizes.

    Returns the proto. Raises :class:`DataError` for unreadable files and for sizes over the limit.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError("ONNX file not found", path)
    cap = max_bytes(limit)
    check_size("the ONNX file", path.stat().st_size, path, cap)
    try:
        proto = onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # protobuf DecodeError
        raise DataError(f"not a valid ONNX model ({type(exc).__name__}: {' '.join(str(exc).split())[:300]})",
                        path) from None
    check_proto_sizes(proto, path, cap)
    return proto
