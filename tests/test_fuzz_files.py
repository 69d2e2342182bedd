"""The other files a user hands us, fuzzed (hypothesis): the calibration yaml and rectification
maps, the synthetic set's manifest (``dataset.json``) and the TOML configs.

Property, for every example: a one-line DataError/ConfigError whose message starts with the
file's path, or a result equal to what an independent parser (PyYAML, numpy, json, tomllib)
reads from the same bytes; never another exception, never over ``TIME_LIMIT_S``.
``DEPTHSNN_FUZZ_EXAMPLES`` sets the examples per loader (default 200).
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import tomllib
import yaml
from hypothesis import event, given
from hypothesis import strategies as st

from depthsnn.config import load_config, to_dict
from depthsnn.data import layout
from depthsnn.data.calibration import load_calibration, write_calibration
from depthsnn.data.synthetic import SynthConfig, read_manifest
from depthsnn.errors import ConfigError, DataError
from depthsnn.train.config import TrainConfig
from fuzzing import FUZZ, bounded

SCENE = "fuzz_scene"
W, H = 12, 9


def one_line(e: Exception, path, *others) -> None:
    msg = str(e)
    assert "\n" not in msg and any(msg.startswith(f"{p}: ") for p in (path, *others)), msg
    assert len(msg) < 2000, msg


def calib_files(d):
    """A yaml whose resolution changed is refused by the maps that no longer fit it: either
    file may be named."""
    return sorted(d.iterdir())


def mutate(data, raw: bytes) -> bytes:
    kind = data.draw(st.sampled_from(["truncate", "flip", "flip", "run", "insert", "empty"]))
    buf = bytearray(raw)
    if kind == "empty":
        return b""
    if kind == "truncate":
        return bytes(buf[: data.draw(st.integers(0, len(buf) - 1))])
    if kind == "insert":
        i = data.draw(st.integers(0, len(buf)))
        junk = data.draw(st.sampled_from([b"nan", b"inf", b"-1", b"1e400", b"999999999999", b"\xff\xfe", b"[", b"{",
                                          b"\n", b"*a", b"&a ", b'"', b"0x", b"  - "]))
        return bytes(buf[:i] + junk + buf[i:])
    if kind == "run":
        a = data.draw(st.integers(0, len(buf) - 1))
        b = min(len(buf), a + data.draw(st.integers(1, 16)))
        buf[a:b] = data.draw(st.binary(min_size=b - a, max_size=b - a))
        return bytes(buf)
    for _ in range(data.draw(st.integers(1, 3))):
        buf[data.draw(st.integers(0, len(buf) - 1))] ^= 1 << data.draw(st.integers(0, 7))
    return bytes(buf)


# ----------------------------------------------------------------------------- calibration


class _Calib(dict):
    def __repr__(self) -> str:
        return "calibration_folder"


@pytest.fixture(scope="module")
def calib(tmp_path_factory):
    d = tmp_path_factory.mktemp("calib") / "c"
    rng = np.random.default_rng(0)
    ys, xs = np.mgrid[0:H, 0:W].astype(np.float32)
    maps = {c: (xs + rng.normal(0, 0.3, (H, W)).astype(np.float32), ys) for c in layout.CAMERAS}
    write_calibration(d, SCENE, resolution=(W, H), maps=maps)
    files = {"yaml": d / layout.CALIB_YAML.format(scene=SCENE),
             "map": d / layout.RECT_MAP.format(scene=SCENE, cam="right", axis="x")}
    return _Calib(dir=d, raw={k: p.read_bytes() for k, p in files.items()}, files=files,
                  ref=load_calibration(d, SCENE))


def _copy_calib(calib, tmp_path, which: str, content: bytes):
    import shutil

    d = tmp_path / "c"
    if d.exists():
        shutil.rmtree(d)
    shutil.copytree(calib["dir"], d)
    target = d / calib["files"][which].name
    target.write_bytes(content)
    return d, target


def _independent_yaml(content: bytes):
    try:
        doc = yaml.safe_load(content.decode("utf-8"))
        cams = [doc[k] for k in ("cam0", "cam1")]
        out = []
        for c in cams:
            intr = [float(v) for v in c["intrinsics"]]
            res = [v for v in c["resolution"]]
            fx, fy, cx, cy = intr
            # Without a projection_matrix, the loader's documented default: no baseline.
            default = [[fx, 0, cx, 0], [0, fy, cy, 0], [0, 0, 1, 0]]
            proj = np.asarray(c.get("projection_matrix", default), dtype=np.float64)
            out.append((intr, res, proj))
        return out
    except Exception:  # noqa: BLE001 - the reference only needs to know whether it parses
        return None


@pytest.mark.parametrize("which", ["yaml", "map"])
@FUZZ
@given(data=st.data())
def test_damaged_calibration_is_one_line_error_or_what_the_bytes_say(calib, which, tmp_path, data):
    content = mutate(data, calib["raw"][which])
    d, target = _copy_calib(calib, tmp_path, which, content)
    with bounded():
        try:
            got = load_calibration(d, SCENE)
        except DataError as e:
            one_line(e, target, *(calib_files(d) if which == "yaml" else ()))
            event("refused")
            return
    event("read")
    if which == "yaml":
        ref = _independent_yaml(content)
        assert ref is not None, "accepted a yaml PyYAML cannot read as a camchain"
        for cam, (intr, res, proj) in zip((got.left, got.right), ref, strict=True):
            assert list(cam.intrinsics) == intr and list(cam.resolution) == res
            np.testing.assert_array_equal(cam.projection, proj)
            assert np.isfinite(cam.projection).all() and np.isfinite(cam.intrinsics).all()
    else:
        ref = np.loadtxt(content.decode("utf-8").splitlines(), dtype=np.float32, ndmin=2)
        np.testing.assert_array_equal(got.right.x_map, ref)
        assert ref.shape == (H, W) and np.isfinite(ref).all()


@FUZZ
@given(value=st.one_of(st.none(), st.booleans(), st.integers(-10**20, 10**20), st.floats(),
                       st.text(max_size=5), st.lists(st.one_of(st.integers(-5, 10**6), st.floats()), max_size=5),
                       st.dictionaries(st.text(max_size=3), st.integers(), max_size=2)),
       field=st.sampled_from(["intrinsics", "resolution", "projection_matrix", "cam0", "cam1"]))
def test_hostile_calibration_values(calib, tmp_path, value, field):
    doc = yaml.safe_load(calib["raw"]["yaml"])
    if field in ("cam0", "cam1"):
        doc[field] = value
    else:
        doc["cam0"][field] = value
    d, target = _copy_calib(calib, tmp_path, "yaml", yaml.safe_dump(doc).encode())
    with bounded():
        try:
            got = load_calibration(d, SCENE)
        except DataError as e:
            one_line(e, target, *calib_files(d))
            event("refused")
            return
    # Accepted: the value must be exactly a well-formed one (the same resolution as the maps).
    event("read")
    if field == "resolution":
        assert list(got.left.resolution) == value == [W, H]
    elif field == "intrinsics":
        assert len(value) == 4 and all(math.isfinite(v) for v in value)
        assert list(got.left.intrinsics) == [float(v) for v in value]
    else:
        raise AssertionError(f"accepted {field}={value!r}")


# ----------------------------------------------------------------------------- manifest


def _manifest() -> dict:
    seqs = ["synthetic_stereo1", "synthetic_stereo2"]
    counts = {s: {"events": {"left": 1000 + i, "right": 900 + i}, "depth_labels": 10 + i, "images": 5,
                  "seconds": 0.5} for i, s in enumerate(seqs)}
    return {"generator": "depthsnn.data.synthetic", "seed": 0, "scene": "synthetic_stereo", "sequences": seqs,
            "counts": counts, "total_depth_labels": 21, "config": to_dict(SynthConfig())}


def _manifest_ok(doc) -> bool:
    """The manifest's schema, written out independently of read_manifest."""
    try:
        seqs, counts = doc["sequences"], doc["counts"]
        assert isinstance(seqs, list) and all(isinstance(s, str) and s.startswith("synthetic_stereo") for s in seqs)
        assert isinstance(counts, dict) and sorted(counts) == sorted(set(seqs))
        for c in counts.values():
            assert type(c["depth_labels"]) is int and c["depth_labels"] >= 0
            assert c["events"] and all(type(v) is int and v >= 0 for v in c["events"].values())
        assert type(doc["total_depth_labels"]) is int
        assert doc["total_depth_labels"] == sum(c["depth_labels"] for c in counts.values())
        assert isinstance(doc.get("config", {}), dict)
        return True
    except (AssertionError, KeyError, TypeError, AttributeError):
        return False


@FUZZ
@given(data=st.data())
def test_damaged_manifest(tmp_path, data):
    content = mutate(data, json.dumps(_manifest(), indent=2).encode())
    path = tmp_path / "dataset.json"
    path.write_bytes(content)
    with bounded():
        try:
            got = read_manifest(path)
        except DataError as e:
            one_line(e, path)
            try:
                ref = json.loads(content.decode("utf-8"))
            except ValueError:
                event("refused: not JSON")
                return
            assert not _manifest_ok(ref), "refused a well-formed manifest"
            event("refused: schema")
            return
    event("read")
    ref = json.loads(content.decode("utf-8"))
    assert got == ref and _manifest_ok(ref)


@FUZZ
@given(value=st.recursive(st.one_of(st.none(), st.booleans(), st.integers(-3, 10**12), st.floats(allow_nan=False),
                                    st.text(max_size=4), st.just("synthetic_stereo9")),
                          lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                  st.dictionaries(st.text(max_size=3), inner, max_size=3)),
                          max_leaves=6),
       key=st.sampled_from(["sequences", "counts", "total_depth_labels", "config", "<root>", "<count>"]))
def test_hostile_manifest_values(tmp_path, value, key):
    doc = _manifest()
    if key == "<root>":
        doc = value
    elif key == "<count>":
        doc["counts"]["synthetic_stereo1"]["depth_labels"] = value
    else:
        doc[key] = value
    path = tmp_path / "dataset.json"
    path.write_text(json.dumps(doc))
    with bounded():
        try:
            got = read_manifest(path)
        except DataError as e:
            one_line(e, path)
            assert not _manifest_ok(doc)
            return
    assert _manifest_ok(doc) and got == doc


# ----------------------------------------------------------------------------- TOML configs


TOMLS = {
    "train": (TrainConfig, b'model = "snn-tiny"\nepochs = 3\nlr = 0.001\n\n[data]\nsplit = "synthetic"\n'
                           b'window_ms = 50.0\nnum_bins = 5\ncameras = "binocular"\n'),
    "synth": (SynthConfig, b'sequences = 2\nseconds = 0.5\nwidth = 64\nheight = 48\nworld = "room"\n'
                           b'object_size_px = [12.0, 24.0]\nseed = 3\n'),
}


def _assert_matches_toml(cfg, doc):
    """Scalars the TOML sets come back unchanged (ints in float fields as floats)."""
    for k, v in doc.items():
        got = getattr(cfg, k)
        if isinstance(v, dict):
            _assert_matches_toml(got, v)
        elif isinstance(v, (bool, str)) and isinstance(got, type(v)):
            assert got == v, k
        elif isinstance(v, (int, float)) and not isinstance(v, bool) and isinstance(got, (int, float)):
            assert got == v or (math.isnan(v) and math.isnan(got)), k


@pytest.mark.parametrize("which", list(TOMLS))
@FUZZ
@given(data=st.data())
def test_damaged_toml_config(tmp_path, which, data):
    cls, raw = TOMLS[which]
    content = mutate(data, raw)
    path = tmp_path / "run.toml"
    path.write_bytes(content)
    with bounded():
        try:
            cfg = load_config(cls, path)
        except ConfigError as e:
            one_line(e, path)
            event("refused")
            return
    event("read")
    doc = tomllib.loads(content.decode("utf-8"))
    assert isinstance(cfg, cls)
    _assert_matches_toml(cfg, doc)


@pytest.mark.parametrize("which", list(TOMLS))
@FUZZ
@given(key=st.sampled_from(["epochs", "lr", "model", "seed", "width", "object_size_px", "data", "out", "world"]),
       value=st.one_of(st.booleans(), st.integers(-10**30, 10**30), st.floats(), st.text(max_size=4),
                       st.lists(st.one_of(st.integers(-3, 3), st.floats(-1, 1)), max_size=3),
                       st.dictionaries(st.sampled_from(["a", "num_bins", "split"]), st.integers(-2, 9), max_size=2)))
def test_hostile_toml_values(tmp_path, which, key, value):
    cls, raw = TOMLS[which]
    path = tmp_path / "run.toml"
    # Written as TOML by hand: a key = value line before the first table.
    text = raw.decode()
    head, sep, tail = text.partition("\n[")
    lit = json.dumps(value) if not isinstance(value, (dict, float, bool)) else None
    if isinstance(value, bool):
        lit = "true" if value else "false"
    elif isinstance(value, float):
        lit = "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf") if math.isinf(value) else repr(value)
    elif isinstance(value, dict):
        lit = "{ " + ", ".join(f'"{k}" = {v}' for k, v in value.items()) + " }"
    lines = [ln for ln in head.splitlines() if not ln.startswith(f"{key} =")]
    path.write_text("\n".join([*lines, f"{key} = {lit}"]) + (sep + tail if sep else "\n"))
    with bounded():
        try:
            cfg = load_config(cls, path)
        except ConfigError as e:
            one_line(e, path)
            return
    _assert_matches_toml(cfg, tomllib.loads(path.read_text()))
