"""Hostile files: checkpoints that would run code, files that declare huge shapes, corrupt files.

Every command that opens a checkpoint goes through ``load_checkpoint`` (torch.load with
weights_only=True); NIR and ONNX readers check declared sizes against the memory limit
(``DEPTHSNN_MAX_BYTES``) before they allocate.
"""

from __future__ import annotations

import random
import time
import tracemalloc
import zipfile

import h5py
import nir
import numpy as np
import onnx
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from onnx import TensorProto, helper

from depthsnn.cli.main import main
from depthsnn.errors import ConfigError, DataError
from depthsnn.export.graph import NetGraph, Node, float32_below
from depthsnn.export.nir_io import from_nir, read_nir, to_nir, write_nir
from depthsnn.export.onnx_export import check_onnx, open_session
from depthsnn.export.onnx_limits import check_proto_sizes
from depthsnn.limits import DEFAULT_MAX_BYTES, max_bytes, parse_bytes
from depthsnn.train.checkpoint import (
    FORMAT,
    convert_checkpoint,
    load_checkpoint,
    rng_state,
    save_checkpoint,
    set_rng_state,
)


def _one_line(e: BaseException, path) -> None:
    assert "\n" not in str(e) and str(e).startswith(f"{path}: ")


class _Payload:
    """Unpickling this writes ``marker``: what an attacker's checkpoint would do."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (exec, (f"open({self.marker!r}, 'w').write('pwned')",))


def _small_payload() -> dict:
    torch.manual_seed(0)
    return {"model": {"conv.weight": torch.randn(4, 2, 3, 3), "conv.bias": torch.randn(4)},
            "config": {"model": "snn-tiny"}, "epoch": 3, "best_mde": 12.5}


# ------------------------------------------------------------------------- code in pickles


def test_pickle_payload_is_refused_and_runs_nothing(tmp_path):
    marker, path = tmp_path / "marker", tmp_path / "evil.pt"
    torch.save({"format": FORMAT, "version": 2, "model": {}, "config": {}, "x": _Payload(marker)}, path)
    with pytest.raises(DataError, match="refused: the checkpoint holds objects that could run code") as e:
        load_checkpoint(path)
    _one_line(e.value, path)
    assert "builtins.exec" in str(e.value)
    assert not marker.exists()
    # The same commands users run on shared checkpoints, each refusing with status 2.
    out = tmp_path / "out"
    for argv in (["checkpoint", "info", str(path)], ["evaluate", str(path), "--out", str(out)],
                 ["export", str(path), "--out", str(out)], ["energy", str(path), "--out", str(out)],
                 ["simulate", str(path), "--out", str(out)],
                 ["compare", "--ann", str(path), "--snn", str(path), "--out", str(out)]):
        assert main(argv) == 2, argv
        assert not marker.exists(), argv
    # The payload is real: a full unpickling (what format 1 loading did) runs it.
    torch.load(path, weights_only=False)
    assert marker.read_text() == "pwned"


def _format1(path, marker=None) -> dict:
    """A checkpoint as depthsnn wrote it before format 2: raw RNG tuples (numpy holds an ndarray)."""
    payload = _small_payload()
    rng = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}  # noqa: NPY002
    data = {"format": FORMAT, "version": 1, "rng": rng, **payload}
    if marker is not None:
        data["x"] = _Payload(marker)
    torch.save(data, path)
    return data


def test_format1_is_refused_with_the_conversion_command_which_keeps_everything(tmp_path, capsys):
    old, new = tmp_path / "old.pt", tmp_path / "new.pt"
    data = _format1(old)
    with pytest.raises(DataError, match=f"convert it: depthsnn checkpoint convert {old} NEW.pt --trust") as e:
        load_checkpoint(old)
    _one_line(e.value, old)
    assert main(["checkpoint", "convert", str(old), str(new)]) == 2  # --trust is required
    assert "--trust" in capsys.readouterr().err and not new.exists()
    assert main(["checkpoint", "convert", str(old), str(new), "--trust"]) == 0
    ckpt = load_checkpoint(new)
    assert ckpt["version"] == 2 and ckpt["epoch"] == 3 and ckpt["config"] == data["config"]
    for k, v in data["model"].items():
        assert torch.equal(ckpt["model"][k], v)
    # The converted RNG state continues every generator exactly where the original did.
    set_rng_state(ckpt["rng"])
    after = (random.random(), np.random.rand(), torch.rand(3))  # noqa: NPY002
    random.setstate(data["rng"]["python"])
    np.random.set_state(data["rng"]["numpy"])  # noqa: NPY002
    torch.set_rng_state(data["rng"]["torch"])
    expect = (random.random(), np.random.rand(), torch.rand(3))  # noqa: NPY002
    assert after[:2] == expect[:2] and torch.equal(after[2], expect[2])
    with pytest.raises(DataError, match="only format 1 needs converting"):
        convert_checkpoint(new, tmp_path / "again.pt", trust=True)


def test_rng_state_round_trips_through_a_saved_checkpoint(tmp_path):
    random.seed(1)
    np.random.seed(2)  # noqa: NPY002
    torch.manual_seed(3)
    np.random.standard_normal()  # noqa: NPY002 - leaves a cached gaussian in numpy's state
    path = save_checkpoint(tmp_path / "c.pt", **_small_payload())
    expect = (random.random(), np.random.standard_normal(), torch.rand(2))  # noqa: NPY002
    random.seed(9)
    np.random.seed(9)  # noqa: NPY002
    torch.manual_seed(9)
    set_rng_state(load_checkpoint(path)["rng"])
    got = (random.random(), np.random.standard_normal(), torch.rand(2))  # noqa: NPY002
    assert got[:2] == expect[:2] and torch.equal(got[2], expect[2])
    assert rng_state()["numpy"]["bit_generator"] == "MT19937"


def test_save_refuses_a_payload_a_safe_load_could_not_open(tmp_path):
    with pytest.raises(ConfigError, match="numpy"):
        save_checkpoint(tmp_path / "c.pt", model={}, config={}, metric=np.float64(1.0))
    assert list(tmp_path.iterdir()) == []  # nothing half-written


# ---------------------------------------------------------------------------- size limits


def test_limit_parsing_and_environment(monkeypatch):
    assert parse_bytes("4GiB") == DEFAULT_MAX_BYTES and parse_bytes("500MB") == 500 * 10**6
    assert parse_bytes("1e9") == 10**9 and parse_bytes("2 kib") == 2048
    for bad in ("", "-1", "4 parsecs", "GiB"):
        with pytest.raises(ConfigError):
            parse_bytes(bad)
    monkeypatch.delenv("DEPTHSNN_MAX_BYTES", raising=False)
    assert max_bytes() == DEFAULT_MAX_BYTES and max_bytes(10) == 10
    monkeypatch.setenv("DEPTHSNN_MAX_BYTES", "1MiB")
    assert max_bytes() == 2**20


def test_checkpoint_over_the_limit_names_the_largest_tensor(tmp_path, monkeypatch):
    payload = _small_payload()
    payload["model"]["big"] = torch.zeros(64, 64)  # 16 KiB, the largest
    path = save_checkpoint(tmp_path / "c.pt", **payload)
    load_checkpoint(path)
    with pytest.raises(DataError, match=r"checkpoint tensors need .* the largest is model\.big \(16\.0 KiB\)") as e:
        load_checkpoint(path, limit=20_000)
    _one_line(e.value, path)
    with pytest.raises(DataError, match=r"checkpoint entry '.*data/\d+' needs 16\.0 KiB"):
        load_checkpoint(path, limit=10_000)
    monkeypatch.setenv("DEPTHSNN_MAX_BYTES", "10000")
    assert main(["checkpoint", "info", str(path)]) == 2


def _graph(shape=(2, 4, 4)) -> NetGraph:
    rng = np.random.default_rng(0)
    ifp = {"r": 1e4, "v_threshold": float32_below(1.0), "v_reset": 0.0, "threshold_sj": 1.0}
    return NetGraph([
        Node("input", "input", [], {}, shape),
        Node("conv", "conv", ["input"], {"weight": rng.normal(0, 1, (3, shape[0], 3, 3)).astype(np.float32),
                                         "bias": None, "stride": 1, "padding": 1}, (3, *shape[1:])),
        Node("if", "if", ["conv"], ifp, (3, *shape[1:])),
        Node("output", "output", ["if"], {}, (3, *shape[1:])),
    ]).validate()


def test_nir_declaring_a_huge_input_is_refused_fast_without_allocating(tmp_path):
    shape = np.array([1, 100_000, 100_000])
    ones = np.ones(1)
    ng = nir.NIRGraph({"input": nir.Input(shape), "if": nir.IF(r=ones, v_threshold=ones, v_reset=0 * ones),
                       "output": nir.Output(shape)}, [("input", "if"), ("if", "output")], type_check=False)
    path = tmp_path / "huge.nir"
    nir.write(path, ng)
    assert path.stat().st_size < 100_000
    tracemalloc.start()
    t0 = time.perf_counter()
    try:
        with pytest.raises(DataError, match=r"node 'input' \(shape \(1, 100000, 100000\).* needs 37\.3 GiB") as e:
            read_nir(path)
        seconds = time.perf_counter() - t0
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    _one_line(e.value, path)
    assert seconds < 2.0 and peak < 20 * 2**20, (seconds, peak)
    assert main(["simulate", str(path), "--out", str(tmp_path / "sim")]) == 2


def test_nir_activations_and_datasets_against_the_limit(tmp_path, monkeypatch):
    g = _graph((2, 64, 64))
    # Activations per sample (float32; neurons' state counted again): input 32 KiB, conv 48 KiB,
    # if 2 x 48 KiB, output 48 KiB: 224 KiB in all.
    from_nir(to_nir(g), path="g.nir", limit=229_376)
    with pytest.raises(DataError, match=r"the graph's activations up to node 'output' needs 224\.0 KiB"):
        from_nir(to_nir(g), path="g.nir", limit=229_375)
    with pytest.raises(DataError, match=r"node 'if' \(shape \(3, 64, 64\), float32 per sample\) needs 96\.0 KiB"):
        from_nir(to_nir(g), path="g.nir", limit=90_000)
    # In the file, the IF parameters are float64 arrays of the node shape: 3 x 96 KiB.
    path = write_nir(tmp_path / "g.nir", g)
    read_nir(path)
    monkeypatch.setenv("DEPTHSNN_MAX_BYTES", "200KB")
    with pytest.raises(DataError, match="the file's datasets together .* over the memory limit of 195.3 KiB") as e:
        read_nir(path)
    _one_line(e.value, path)


def test_nir_dataset_declaring_a_huge_size_is_refused_before_reading(tmp_path):
    path = write_nir(tmp_path / "bomb.nir", _graph())
    with h5py.File(path, "a") as f:  # compressed, never written: a tiny file declaring 40 GB
        f["node/nodes/conv"].create_dataset("extra", shape=(100_000, 100_000), dtype="f4", chunks=(1000, 1000),
                                            compression="gzip")
    assert path.stat().st_size < 1_000_000
    with pytest.raises(DataError, match=r"dataset '/node/nodes/conv/extra' \(shape \(100000, 100000\), float32\) "
                                        r"needs 37\.3 GiB") as e:
        read_nir(path)
    _one_line(e.value, path)


def test_nir_links_that_would_load_data_repeatedly_or_from_elsewhere_are_refused(tmp_path):
    for kind in ("hard", "soft", "external"):
        path = write_nir(tmp_path / f"{kind}.nir", _graph())
        with h5py.File(path, "a") as f:
            g = f["node/nodes/conv"]
            if kind == "hard":
                g["loop"] = f["node"]  # nir.read would recurse into the graph again and again
            elif kind == "soft":
                g["loop"] = h5py.SoftLink("/node")
            else:
                g["loop"] = h5py.ExternalLink("/etc/hostname", "/")
        with pytest.raises(DataError, match="two paths|SoftLink|ExternalLink") as e:
            read_nir(path)
        _one_line(e.value, path)


def _onnx_file(path, in_shape=(1, 2, 4, 4), weight_dims=None, external=False):
    w = helper.make_tensor("w", TensorProto.FLOAT, [3, 2, 1, 1], np.ones(6, np.float32))
    if weight_dims is not None:  # declares dims, holds no data
        w = TensorProto(name="w", data_type=TensorProto.FLOAT, dims=weight_dims)
    if external:
        w.data_location = TensorProto.EXTERNAL
        w.external_data.add(key="location", value="../../etc/passwd")
    graph = helper.make_graph(
        [helper.make_node("Conv", ["x", "w"], ["z"], name="conv"), helper.make_node("Relu", ["z"], ["y"])], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(in_shape))],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 3, "h", "w"])], [w])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.save(model, str(path))
    return path


def test_onnx_declared_sizes_are_refused_before_loading(tmp_path):
    ok = _onnx_file(tmp_path / "ok.onnx")
    proto = check_onnx(ok)
    assert proto.graph.node[0].op_type == "Conv"
    open_session(ok)
    # As declared: x 128 bytes, w 24, y 12 (symbolic dims count 1); shape inference finds that z
    # and y are (1, 3, 4, 4): 192 bytes.
    check_proto_sizes(onnx.load(str(ok)), ok, limit=128)
    with pytest.raises(DataError, match=r"output 'y' \(shape \(1, 3, 4, 4\), one sample\) needs 192 B"):
        check_onnx(ok, limit=191)
    cases = {
        "input": (_onnx_file(tmp_path / "in.onnx", in_shape=("batch", 1, 100_000, 100_000)),
                  r"input 'x' \(shape \(1, 1, 100000, 100000\), one sample\) needs 37\.3 GiB"),
        "weight": (_onnx_file(tmp_path / "w.onnx", weight_dims=[100_000, 100_000, 1, 1]),
                   r"initializer 'w' \(shape \(100000, 100000, 1, 1\)\) needs 37\.3 GiB"),
        "external": (_onnx_file(tmp_path / "ext.onnx", external=True), "initializer 'w' keeps its data in an external"),
    }
    for name, (path, pattern) in cases.items():
        for opener in (check_onnx, open_session):
            with pytest.raises(DataError, match=pattern) as e:
                opener(path)
            _one_line(e.value, path)
        assert name


# --------------------------------------------------------------------- corrupt checkpoints


class _Good(tuple):
    def __repr__(self) -> str:  # hypothesis prints fixtures of failing examples: keep it short
        return "good_checkpoint"


@pytest.fixture(scope="module")
def good_checkpoint(tmp_path_factory):
    path = save_checkpoint(tmp_path_factory.mktemp("good") / "c.pt", **_small_payload())
    return _Good((path, path.read_bytes(), load_checkpoint(path)))


def test_truncated_checkpoints_and_non_zip_files_are_one_line_errors(good_checkpoint, tmp_path):
    _, raw, _ = good_checkpoint
    path = tmp_path / "t.pt"
    for content in (b"", b"not a checkpoint", raw[:100], raw[: len(raw) // 2], raw[:-1]):
        path.write_bytes(content)
        with pytest.raises(DataError) as e:
            load_checkpoint(path)
        _one_line(e.value, path)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_fuzzed_checkpoints_load_identically_or_raise_data_error(good_checkpoint, tmp_path, data):
    """Truncation and bit flips anywhere: either a one-line DataError or exactly the original."""
    _, raw, original = good_checkpoint
    buf = bytearray(raw)
    if data.draw(st.booleans()):
        buf = buf[: data.draw(st.integers(0, len(buf) - 1))]
    for _ in range(data.draw(st.integers(1 if len(buf) == len(raw) else 0, 3))):
        if buf:
            i = data.draw(st.integers(0, len(buf) - 1))
            buf[i] ^= 1 << data.draw(st.integers(0, 7))
    path = tmp_path / "fuzz.pt"
    path.write_bytes(bytes(buf))
    try:
        got = load_checkpoint(path)
    except DataError as e:
        _one_line(e, path)
        return
    # Bytes no CRC covers (zip padding, unused header fields) may flip harmlessly.
    assert got["model"].keys() == original["model"].keys()
    for k, v in original["model"].items():
        assert torch.equal(got["model"][k], v)
    assert {k: v for k, v in got.items() if k not in ("model", "rng")} == \
        {k: v for k, v in original.items() if k not in ("model", "rng")}


def test_bit_flip_in_tensor_data_is_caught_by_the_crc(good_checkpoint, tmp_path):
    path, raw, _ = good_checkpoint
    with zipfile.ZipFile(path) as zf:
        info = next(i for i in zf.infolist() if i.filename.endswith("data/0"))
    # Local header: 30 bytes with the name and extra-field lengths at 26 and 28, then the stored bytes.
    h = info.header_offset
    offset = h + 30 + int.from_bytes(raw[h + 26:h + 28], "little") + int.from_bytes(raw[h + 28:h + 30], "little")
    buf = bytearray(raw)
    buf[offset + 5] ^= 0x10
    bad = tmp_path / "flip.pt"
    bad.write_bytes(bytes(buf))
    with pytest.raises(DataError, match="CRC mismatch") as e:
        load_checkpoint(bad)
    _one_line(e.value, bad)
