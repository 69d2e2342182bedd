"""Third-party NIR readers (snnTorch, Norse): the portability table must tell the truth, and the
reader dialects must give depthsnn's output in those readers with their default settings.

Every claim of the table is checked against an independent run of the reader written here
(plain ``import_from_nir`` / ``from_nir`` loops, not depthsnn's reader code).
"""

from __future__ import annotations

import importlib.util
import json
import time

import nir
import numpy as np
import pytest
import torch

from depthsnn.export.executor import GraphExecutor
from depthsnn.export.graph import NetGraph, Node, float32_below, from_model
from depthsnn.export.nir_io import read_nir, write_nir
from depthsnn.export.readers import check_readers, format_table, norse_dialect
from depthsnn.models import build_model

HAVE = {name: importlib.util.find_spec(name) is not None for name in ("snntorch", "norse")}
needs_snntorch = pytest.mark.skipif(not HAVE["snntorch"], reason="snnTorch not installed: its reader is not checked")
needs_norse = pytest.mark.skipif(not HAVE["norse"], reason="Norse not installed: its reader is not checked")
needs_both = pytest.mark.skipif(not all(HAVE.values()),
                                reason="snnTorch and Norse both needed (pip install snntorch==1.0.0 norse==1.1.0)")


# --------------------------------------------------------------- independent reader runs


def _events(shape, steps=5, density=0.2, seed=1):
    gen = torch.Generator().manual_seed(seed)
    return (torch.rand(steps, 1, *shape, generator=gen) < density).float()


def _run_reader(reader: str, path, x, membrane_of: str | None = None, neurons=()):
    """Load ``path`` with the reader's defaults and run ``x`` one step at a time: (outputs, spikes).
    ``membrane_of``: read that node's membrane (the dialect readout) instead of the returned output."""
    import warnings

    spikes: dict[str, list] = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if reader == "snntorch":
            from snntorch.import_nir import import_from_nir

            net = import_from_nir(nir.read(path))
        else:
            import norse.torch

            net = norse.torch.from_nir(nir.read(path))
        mods = dict(net.named_modules())
        for n in neurons:
            mods[n.replace(".", "_")].register_forward_hook(
                lambda m, i, o, n=n: spikes.setdefault(n, []).append((o[0] if isinstance(o, tuple) else o).clone()))
        outs, state = [], None
        with torch.no_grad():
            for xt in x:
                out, state = net(xt, state) if (reader == "norse" or state is not None) else net(xt)
                if membrane_of is None:
                    outs.append(out[0] if isinstance(out, tuple) else out)
                elif reader == "snntorch":
                    outs.append(getattr(net, membrane_of).mem.clone())
                else:
                    outs.append(state.state[membrane_of][0].v.clone())
    return torch.stack(outs), {k: torch.stack(v) for k, v in spikes.items()}


def _differs(ours, theirs, tol=1e-5) -> bool:
    return ours.shape != theirs.shape or not torch.allclose(theirs, ours, atol=tol * max(1.0, float(ours.abs().max())),
                                                            rtol=0)


def _assert_dialect_reproduces(reader, path, graph, x):
    """The dialect file, read by ``reader`` with its defaults, gives depthsnn's output (all steps)
    and depthsnn's spikes in every layer."""
    ours, our_spikes = GraphExecutor(graph).run(x)
    assert sum(int(s.sum()) for s in our_spikes.values()) > 0, "sample too weak: no neuron fired"
    theirs, spikes = _run_reader(reader, path, x, membrane_of="integrator", neurons=list(our_spikes))
    assert theirs.shape == ours.shape
    assert torch.allclose(theirs, ours, atol=1e-5 * max(1.0, float(ours.abs().max())), rtol=0), \
        f"{reader}: max diff {float((theirs - ours).abs().max()):g}"
    assert set(spikes) == set(our_spikes)
    for k, s in our_spikes.items():
        assert torch.equal(spikes[k], s), f"{reader} {k}: {int((spikes[k] != s).sum())} spikes differ"


def _row(report, reader, kind):
    return next(r for r in report["readers"] if r["reader"] == reader and r["kind"] == kind)


def _assert_main_rows_truthful(report, graph, path, x):
    """Every reader row about the main file agrees with an independent run of that reader."""
    ours, _ = GraphExecutor(graph).run(x)
    for reader in ("snntorch", "norse"):
        if not HAVE[reader]:
            continue
        row = _row(report, reader, "main")
        try:
            theirs, _ = _run_reader(reader, path, x)
        except Exception as e:  # the reader cannot load or run it: the table must say so
            assert row["equal"] is False and (row["loads"] is False or "run fails" in row["why"]), (row, e)
            assert type(e).__name__ in row["why"]
            continue
        assert row["loads"] is True
        assert row["equal"] == (not _differs(ours, theirs)), (row, float((theirs - ours).abs().max()))
        assert "\n" not in row.get("why", "")


# --------------------------------------------------------------------------- networks


def _if_chain() -> NetGraph:
    """A plain conv -> IF -> conv -> IF -> conv -> integrator chain, with biases."""
    rng = np.random.default_rng(0)
    ifp = {"r": 1e4, "v_threshold": float32_below(1.0), "v_reset": 0.0, "threshold_sj": 1.0}

    def conv(name, src, cin, cout, stride, shape):
        return Node(name, "conv", [src], {"weight": rng.normal(0, 0.6, (cout, cin, 3, 3)).astype(np.float32),
                                          "bias": rng.normal(0, 0.1, cout).astype(np.float32), "stride": stride,
                                          "padding": 1}, shape)

    return NetGraph([
        Node("input", "input", [], {}, (2, 16, 20)),
        conv("c1", "input", 2, 6, 2, (6, 8, 10)), Node("l1.act", "if", ["c1"], ifp, (6, 8, 10)),
        conv("c2", "l1.act", 6, 6, 1, (6, 8, 10)), Node("l2.act", "if", ["c2"], ifp, (6, 8, 10)),
        conv("head", "l2.act", 6, 1, 1, (1, 8, 10)),
        Node("integrator", "integrator", ["head"], {"r": 1e4}, (1, 8, 10)),
        Node("output", "output", ["integrator"], {}, (1, 8, 10)),
    ], dt=1e-4).validate()


def _portable(name: str, hw=(33, 41)) -> NetGraph:
    torch.manual_seed(0)
    model = build_model(name).eval()
    return from_model(model.core, model.padded_size(*hw))


def _unet() -> NetGraph:
    torch.manual_seed(0)
    model = build_model("snn-tiny", base_channels=4, levels=3, residual_blocks=1).eval()
    return from_model(model.core, model.padded_size(24, 32))


# ------------------------------------------------------------------------------ tests


@needs_both
@pytest.mark.parametrize("make", [_if_chain, lambda: _portable("snn-portable-tiny"),
                                  lambda: _portable("snn-lif-portable-tiny")], ids=["if-chain", "portable", "lif"])
def test_chain_table_is_truthful_and_dialects_reproduce_our_output(make, tmp_path):
    graph = make()
    path = write_nir(tmp_path / "net.nir", graph)
    report = check_readers(graph, path, tmp_path, "net")
    table = format_table(report)
    x = _events(graph.input.shape)
    _assert_main_rows_truthful(report, graph, path, x)
    # snnTorch cannot load the main file (no NIR I, IF r != 1); Norse runs it and drops I.
    assert _row(report, "snntorch", "main")["loads"] is False
    assert _row(report, "norse", "main")["loads"] is True and _row(report, "norse", "main")["equal"] is False
    assert "drops NIR I" in _row(report, "norse", "main")["why"]
    assert "integrator NIR I" in table and "not portable: upsampling" not in table
    for reader in ("snntorch", "norse"):
        row = _row(report, reader, "dialect")
        assert row["written"] and row["equal"] and row["max_abs_diff"] <= 1e-5, row
        dialect = tmp_path / f"net.{reader}.nir"
        assert dialect.is_file() and dialect.name in table
        _assert_dialect_reproduces(reader, dialect, graph, x)  # independent of the sample the check used
    assert {d["path"] for d in report["dialects"]} == {"net.snntorch.nir", "net.norse.nir"}


@needs_both
def test_unet_is_reported_not_portable_and_gets_no_dialect(tmp_path):
    graph = _unet()
    path = write_nir(tmp_path / "unet.nir", graph)
    (tmp_path / "unet.norse.nir").write_bytes(b"stale dialect of an earlier export")
    report = check_readers(graph, path, tmp_path, "unet")
    x = _events(graph.input.shape, steps=3)
    _assert_main_rows_truthful(report, graph, path, x)
    norse_row = _row(report, "norse", "main")
    assert norse_row["loads"] is True and norse_row["equal"] is False
    assert "upsampling" in norse_row["why"] and "drops NIR I" in norse_row["why"]
    assert _row(report, "snntorch", "main")["loads"] is False
    for reader in ("snntorch", "norse"):
        row = _row(report, reader, "dialect")
        assert not row["written"] and row["why"].startswith("not written: the network upsamples")
        assert not (tmp_path / f"unet.{reader}.nir").exists()
    assert report["dialects"] == []
    assert any(n.startswith("upsampling (") for n in report["not_portable"])
    # Independently: Norse runs the main file without error and gets another output.
    ours, _ = GraphExecutor(graph).run(x)
    theirs, _ = _run_reader("norse", path, x)
    assert _differs(ours, theirs)


@needs_norse
def test_a_dialect_that_does_not_reproduce_is_not_written(tmp_path, monkeypatch):
    """The gate itself: a wrong dialect (thresholds halved) must be refused, not reported equal."""
    graph = _if_chain()
    path = write_nir(tmp_path / "net.nir", graph)
    real = norse_dialect._neuron

    def wrong(n, meta, dt):
        node = real(n, meta, dt)
        if n.op == "if":
            node.v_threshold = node.v_threshold * 0.5
        return node

    monkeypatch.setattr(norse_dialect, "_neuron", wrong)
    report = check_readers(graph, path, tmp_path, "net", readers=("norse",))
    row = _row(report, "norse", "dialect")
    assert row["equal"] is False and not row["written"]
    assert row["why"].startswith("not written: norse does not reproduce depthsnn's output")
    assert not (tmp_path / "net.norse.nir").exists()


def test_missing_reader_is_reported_not_installed(tmp_path, monkeypatch):
    from depthsnn.export.readers import portability

    monkeypatch.setattr(portability, "installed_version", lambda dist: None)
    graph = _if_chain()
    path = write_nir(tmp_path / "net.nir", graph)
    report = check_readers(graph, path, tmp_path, "net")
    assert [r["why"] for r in report["readers"]] == ["not installed (pip install snntorch==1.0.0)",
                                                     "not installed (pip install norse==1.1.0)"]
    assert report["dialects"] == [] and not list(tmp_path.glob("net.*.nir"))


# ------------------------------------------------------------- export of trained networks


@pytest.fixture(scope="module")
def portable_checkpoint(tiny_synth, tmp_path_factory):
    """snn-portable-tiny after two optimizer steps on the tiny synthetic set (T = 3)."""
    from depthsnn.data.dataset import DataConfig
    from depthsnn.train.config import TrainConfig
    from depthsnn.train.loop import train

    cfg = TrainConfig(model="snn-portable-tiny", data=DataConfig(root=str(tiny_synth), split="synthetic", num_bins=3),
                      out=str(tmp_path_factory.mktemp("portable")), epochs=1, max_train_samples=4, batch_size=2,
                      max_val_samples=1, device="cpu")
    return train(cfg, progress=False).best_checkpoint


@needs_both
def test_trained_portable_tiny_dialects_load_with_defaults_and_give_our_output(portable_checkpoint, tmp_path, capsys):
    """Done-when of issue 12: export a briefly trained snn-portable-tiny; its .snntorch.nir and
    .norse.nir load in those readers with their defaults and give depthsnn's output."""
    from depthsnn.cli.main import main

    out = tmp_path / "exp"
    assert main(["export", str(portable_checkpoint), "--format", "nir", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    man = json.loads((out / "manifest.json").read_text())
    name = man["checkpoint"]["name"]
    graph = read_nir(out / f"{name}.nir")
    dialects = {f["reader"]: f for f in man["files"] if f["format"] == "nir-dialect"}
    assert set(dialects) == {"snntorch", "norse"}
    assert man["portability"]["checked"] and "portability of" in printed and "not portable:" in printed
    x = _events(graph.input.shape, steps=4, density=0.3)
    for reader, entry in dialects.items():
        path = out / entry["path"]
        assert path.name == f"{name}.{reader}.nir" and path.name in printed
        _assert_dialect_reproduces(reader, path, graph, x)
    _assert_main_rows_truthful(man["portability"], graph, out / f"{name}.nir", x)

    # --no-reader-check: no reader runs, and no (stale) dialect file is left behind.
    assert main(["export", str(portable_checkpoint), "--format", "nir", "--out", str(out), "--no-reader-check",
                 "--quiet"]) == 0
    man = json.loads((out / "manifest.json").read_text())
    assert man["portability"]["checked"] is False and man["portability"]["not_portable"]
    assert not [f for f in man["files"] if f["format"] == "nir-dialect"] and not list(out.glob("*.*.nir"))


@needs_both
def test_export_of_trained_unet_reports_and_stays_quick(tiny_checkpoints, tmp_path, capsys):
    """snn-tiny (U-Net): the table says why no reader runs it right, no dialect is written, and
    the reader check adds only a few seconds."""
    from depthsnn.cli.main import main

    ckpt = tiny_checkpoints["snn-tiny"]
    t0 = time.perf_counter()
    assert main(["export", str(ckpt), "--format", "nir", "--out", str(tmp_path / "a"), "--no-reader-check"]) == 0
    t1 = time.perf_counter()
    assert main(["export", str(ckpt), "--format", "nir", "--out", str(tmp_path / "b")]) == 0
    t2 = time.perf_counter()
    printed = capsys.readouterr().out
    man = json.loads((tmp_path / "b" / "manifest.json").read_text())
    rows = man["portability"]["readers"]
    assert not any(r["equal"] for r in rows)
    assert all(r["why"].startswith("not written: the network upsamples") for r in rows if r["kind"] == "dialect")
    assert not list((tmp_path / "b").glob("*.*.nir"))
    assert "not portable: upsampling" in printed
    graph = read_nir(tmp_path / "b" / f"{man['checkpoint']['name']}.nir")
    _assert_main_rows_truthful(man["portability"], graph, tmp_path / "b" / f"{man['checkpoint']['name']}.nir",
                               _events(graph.input.shape, steps=3))
    assert (t2 - t1) - (t1 - t0) < 20.0, f"reader check took {(t2 - t1) - (t1 - t0):.1f} s"


@needs_both
def test_known_limits_match_what_the_readers_do(tmp_path):
    """The reader facts the table states (module docstrings, ``known_limits``), checked on the
    readers: without the integrator, snnTorch still refuses the IF (r = 1/dt) and Norse runs
    conv -> IF exactly; a graph with the integrator loses it in Norse."""
    graph = _if_chain()
    path = write_nir(tmp_path / "net.nir", graph)
    report = check_readers(graph, path, tmp_path, "net", dialects=False)
    assert "no mapping for NIR I" in _row(report, "snntorch", "main")["known_limits"][0]
    assert any("asserts r == 1" in k for k in _row(report, "snntorch", "main")["known_limits"])
    assert _row(report, "norse", "main")["known_limits"] == [
        "drops NIR I (no mapping): its output is the integrator's per-step input"]
    # The same chain without the integrator: the output is the head conv's per-step value.
    nodes = [n for n in graph.copy().nodes if n.op != "integrator"]
    nodes[-1].inputs = ["head"]
    spiking = NetGraph(nodes, graph.dt).validate()
    spath = write_nir(tmp_path / "spiking.nir", spiking)
    with pytest.raises(AssertionError, match="r != 1 not supported"):
        _run_reader("snntorch", spath, _events(spiking.input.shape))
    x = _events(spiking.input.shape)
    ours, our_spikes = GraphExecutor(spiking).run(x)
    theirs, spikes = _run_reader("norse", spath, x, neurons=list(our_spikes))
    assert torch.equal(theirs, ours) and all(torch.equal(spikes[k], s) for k, s in our_spikes.items())
    # With the integrator, Norse's output is exactly the integrator's per-step input (the head conv).
    theirs, _ = _run_reader("norse", path, x)
    assert torch.equal(theirs, ours)
    assert (tmp_path / "net.nir").is_file() and not list(tmp_path.glob("net.*.nir"))


def test_monitor_never_calls_nan_or_a_shorter_run_equal():
    """A reader output with nan, a wrong shape, or fewer steps than the sample is never "equal"."""
    from depthsnn.export.readers.common import ReaderRun, StopRun
    from depthsnn.export.readers.portability import _Monitor, _Reference

    graph = _if_chain()
    x = _events(graph.input.shape, steps=3)
    ref = _Reference(graph, x)
    ours, _ = GraphExecutor(graph).run(x)

    def feed(outs, stop_early=True):
        mon = _Monitor(ref, stop_early)
        try:
            for o in outs:
                mon.output(o)
        except StopRun:
            pass
        return mon.result(ReaderRun(torch.empty(0)), 2)

    assert feed(list(ours))["equal"] is True
    nan = ours.clone()
    nan[1, 0, 0, 0, 0] = float("nan")
    res = feed(list(nan))
    assert res["equal"] is False and res["max_abs_diff"] == "non-finite" and res["first_difference"].startswith("step 2")
    json.dumps(res, allow_nan=False)
    assert feed(list(ours[:2]))["equal"] is False  # stopped before the last step
    assert feed([o[..., :-1] for o in ours])["equal"] is False  # wrong shape
    near = ours + 1e-7 * (1 + ours.abs())
    assert feed(list(near))["equal"] is True and feed(list(ours + 1e-3))["equal"] is False
