"""Every event file a user can hand ``depthsnn predict``, fuzzed (hypothesis).

Reference files hold the same events (two cameras, integer microseconds) in every format, each
written by an independent writer: numpy (``.npz``), h5py (plain ``.h5`` and MVSEC
``_data.hdf5``), plain text (CSV) and faery's encoders (AEDAT4, RAW EVT2/EVT3, DAT). Each test
damages them (truncation at a random offset, bit flips biased to the headers, zeroed or
random byte runs, an empty file, another format under this one's name) or writes hostile
values through the same writers (wrong dtypes and shapes, NaN/inf, negative or decreasing
timestamps, coordinates outside the sensor, polarity outside the encodings, huge declared
sizes). The property, for every example:

- either a one-line :class:`DataError` whose message starts with the file's path,
- or events that are correct: for a file we wrote with hostile values, exactly the events an
  independent computation expects (inside the sensor, polarity decoded, the out-of-sensor
  ones counted in one warning); for damaged bytes, valid events (finite sorted timestamps,
  coordinates inside the sensor), and a prefix of the original when the file was only
  truncated (RAW, DAT and CSV store no event count, so a cut between events is a shorter
  recording); an unchanged file reads back exactly;
- never another exception, never more than ``TIME_LIMIT_S`` per example (a SIGALRM guard),
  never a memory high-water mark more than ``DEPTHSNN_MAX_BYTES`` (64 MiB here) above the start.

``DEPTHSNN_FUZZ_EXAMPLES`` sets the examples per reader (default 200; e.g. 5000 for a long
local run). Examples are derandomised, so CI runs are reproducible.
"""

from __future__ import annotations

import tracemalloc
import warnings
import zipfile

import h5py
import numpy as np
import pytest
from hypothesis import event, given
from hypothesis import strategies as st

from depthsnn.data.recordings import camera_readers, validated
from depthsnn.data.recordings import writers as W
from depthsnn.data.recordings.base import MAX_GAP_S
from depthsnn.errors import DataError, DataWarning
from fuzzing import FUZZ, MAX_BYTES, bounded

WIDTH, HEIGHT = 32, 24
N = 300


@pytest.fixture(autouse=True)
def _memory_limit(monkeypatch):
    monkeypatch.setenv("DEPTHSNN_MAX_BYTES", str(MAX_BYTES))


def one_line(e: DataError, path) -> None:
    msg = str(e)
    assert "\n" not in msg and msg.startswith(f"{path}: "), msg
    assert len(msg) < 600, msg


# ----------------------------------------------------------------------------- reference set


def _events(seed: int):
    rng = np.random.default_rng(seed)
    t = 1_000_000 + np.cumsum(rng.integers(0, 400, N)).astype(np.int64)
    return (rng.integers(0, WIDTH, N).astype(np.int64), rng.integers(0, HEIGHT, N).astype(np.int64), t,
            rng.random(N) < 0.5)


EVENTS = {"left": _events(1), "right": _events(2)}


def _write_npz(path, cams):
    arrays = {"width": np.int64(WIDTH), "height": np.int64(HEIGHT)}
    for c, (x, y, t, on) in cams.items():
        arrays.update({f"{c}_x": x, f"{c}_y": y, f"{c}_t": t / 1e6, f"{c}_p": on})
    np.savez(path, **arrays)
    return path


def _write_h5(path, cams):
    with h5py.File(path, "w") as f:
        f.attrs["width"], f.attrs["height"] = WIDTH, HEIGHT
        for c, (x, y, t, on) in cams.items():
            g = f.create_group(c)
            g["x"], g["y"], g["p"] = x.astype("u2"), y.astype("u2"), np.where(on, 1, -1).astype("i1")
            g["t"] = t
            g["t"].attrs["unit"] = "us"
    return path


def _write_mvsec(path, cams):
    with h5py.File(path, "w") as f:
        for c, (x, y, t, on) in cams.items():
            f[f"davis/{c}/events"] = np.stack([x, y, t / 1e6, np.where(on, 1.0, -1.0)], axis=1)
    return path


def _write_csv(path, x, y, t, on):
    rows = "".join(f"{a},{b},{c},{int(d)}\n" for a, b, c, d in zip(t, x, y, on, strict=True))
    path.write_text(f"t,x@{WIDTH},y@{HEIGHT},p\n" + rows)
    return path


class _Files(dict):
    def __repr__(self) -> str:  # hypothesis prints fixtures of failing examples: keep it short
        return "reference_files"


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("fuzz_ref")
    res = (WIDTH, HEIGHT)
    left = EVENTS["left"]
    out = {
        "npz": _write_npz(d / "rec.npz", EVENTS),
        "hdf5": _write_h5(d / "rec.h5", EVENTS),
        "mvsec": _write_mvsec(d / "rec_data.hdf5", EVENTS),
        "csv": _write_csv(d / "left.csv", *left),
        "aedat4": W.write_aedat4(d / "rec.aedat4", {c: iter([EVENTS[c]]) for c in EVENTS}, res),
        "evt2": W.write_camera_file(d / "left_evt2.raw", iter([left]), res, "evt2"),
        "evt3": W.write_camera_file(d / "left_evt3.raw", iter([left]), res, "evt3"),
        "dat": W.write_camera_file(d / "left.dat", iter([left]), res),
    }
    return _Files({k: (p, p.read_bytes()) for k, p in out.items()})


def read_all(path, default_res=(WIDTH, HEIGHT)):
    """What predict reads: every camera, validated against its sensor size; and the warnings."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = {}
        for r in camera_readers(path):
            res = r.resolution or default_res
            parts = list(validated(r, res))
            cat = [np.concatenate([getattr(p, f) for p in parts]) if parts else np.zeros(0) for f in "xytp"]
            out[r.camera] = (res, *cat)
    others = [w for w in caught if not issubclass(w.category, DataWarning)]
    assert not others, [str(w.message) for w in others]
    return out, [str(w.message) for w in caught]


def assert_valid(got):
    for res, x, y, t, p in got.values():
        w, h = res
        assert len(x) == len(y) == len(t) == len(p)
        assert np.isfinite(t).all() and (np.diff(t) >= 0).all()
        xr, yr = np.floor(x + 0.5), np.floor(y + 0.5)
        assert ((xr >= 0) & (xr < w) & (yr >= 0) & (yr < h)).all()
        assert p.dtype == bool or len(p) == 0


def expected(cam):
    x, y, t, on = EVENTS[cam]
    return x, y, t / 1e6, on


def assert_prefix(got, fmt):
    cams = ("left",) if fmt in ("csv", "evt2", "evt3", "dat") else ("left", "right")
    for cam in got:
        assert cam in cams
        _, x, y, t, p = got[cam]
        ex, ey, et, ep = expected(cam)
        n = len(t)
        assert n <= N
        np.testing.assert_array_equal(x, ex[:n])
        np.testing.assert_array_equal(y, ey[:n])
        np.testing.assert_array_equal(t, et[:n])
        np.testing.assert_array_equal(p, ep[:n])


def assert_exact(got, fmt):
    assert_prefix(got, fmt)
    for cam in got:
        assert len(got[cam][3]) == N


# ----------------------------------------------------------------------------- damaged bytes


def mutate(data, raw: bytes, others: list[bytes]) -> tuple[bytes, str]:
    """Damage ``raw``; return the bytes and the kind (truncate, flip, run, empty, other, same)."""
    kind = data.draw(st.sampled_from(["truncate", "flip", "flip", "run", "truncate+flip", "empty", "other"]))
    if kind == "empty":
        return b"", kind
    if kind == "other":
        return data.draw(st.sampled_from(others)), kind
    buf = bytearray(raw)
    if "truncate" in kind:
        buf = buf[: data.draw(st.integers(0, len(buf) - 1))]
    if "flip" in kind:
        for _ in range(data.draw(st.integers(1, 4))):
            if not buf:
                break
            # Half the flips hit the first 512 bytes: headers, where damage changes meaning.
            hi = min(len(buf), 512) if data.draw(st.booleans()) else len(buf)
            i = data.draw(st.integers(0, hi - 1))
            buf[i] ^= 1 << data.draw(st.integers(0, 7))
    if kind == "run" and buf:
        a = data.draw(st.integers(0, len(buf) - 1))
        b = min(len(buf), a + data.draw(st.integers(1, 64)))
        fill = data.draw(st.sampled_from([b"\x00", b"\xff", None]))
        buf[a:b] = fill * (b - a) if fill else data.draw(st.binary(min_size=b - a, max_size=b - a))
    return bytes(buf), ("same" if bytes(buf) == raw else kind)


@pytest.mark.parametrize("fmt", ["npz", "hdf5", "mvsec", "csv", "aedat4", "evt2", "evt3", "dat"])
@FUZZ
@given(data=st.data())
def test_damaged_file_is_one_line_error_or_correct_events(files, fmt, tmp_path, data):
    path, raw = files[fmt]
    others = [b for k, (_, b) in files.items() if k != fmt]
    content, kind = mutate(data, raw, others)
    target = tmp_path / path.name
    target.write_bytes(content)
    with bounded():
        try:
            got, _ = read_all(target)
        except DataError as e:
            one_line(e, target)
            event("refused")
            return
    event(f"read ({kind})")
    assert_valid(got)
    if kind == "same":
        assert_exact(got, fmt)
    elif kind in ("truncate", "other"):
        # Another format's file read as that format holds the same events.
        assert_prefix(got, fmt if kind == "truncate" else "csv" if set(got) == {"left"} else "npz")
    assert kind != "empty"


def test_reference_files_read_back_exactly(files):
    """The unmutated files give exactly the events written (so the fuzz starts from correct files)."""
    for fmt, (path, _) in files.items():
        got, warns = read_all(path)
        assert_exact(got, fmt)
        assert set(got) == ({"left"} if fmt in ("csv", "evt2", "evt3", "dat") else {"left", "right"}), fmt
        assert not warns, (fmt, warns)


# ----------------------------------------------------------------------------- hostile values


def _column(kind: str, n: int, data):
    """A hostile column of ``n`` values (or a wrong shape/dtype)."""
    if kind == "strings":
        return np.array(["a"] * n)
    if kind == "complex":
        return np.zeros(n, complex)
    if kind == "2d":
        return np.zeros((n, 2))
    if kind == "short":
        return np.zeros(max(n - 1, 0))
    raise AssertionError(kind)


@st.composite
def hostile_events(draw):
    """Columns x, y, t, p with values a user's file may hold, and how they were spoiled."""
    n = draw(st.integers(0, 40))
    # Well-formed kinds are drawn more often, so that about a third of the files must be read.
    t_kind = draw(st.sampled_from(["us", "us", "s", "s", "negative", "float-us", "s-nan", "s-inf", "decreasing", "gap"]))
    base = np.cumsum(np.asarray(draw(st.lists(st.integers(0, 5000), min_size=n, max_size=n)), np.int64))
    if t_kind == "us":
        t = base + 1_000
    elif t_kind == "float-us":
        t = (base + 1_000).astype(np.float64) / 1e6
    elif t_kind == "negative":
        t = (base - 10_000_000).astype(np.float64) / 1e6
    else:
        t = (base + 1_000).astype(np.float64) / 1e6
        if n:
            i = draw(st.integers(0, n - 1))
            if t_kind == "s-nan":
                t[i] = np.nan
            elif t_kind == "s-inf":
                t[i] = draw(st.sampled_from([np.inf, -np.inf]))
            elif t_kind == "decreasing" and n > 1:
                t[max(i, 1)] = t[max(i, 1) - 1] - draw(st.floats(1e-6, 10))
            elif t_kind == "gap":
                t[i:] += MAX_GAP_S * draw(st.floats(0.5, 3.0))
    coord = st.one_of(st.integers(0, WIDTH - 1), st.integers(-5, 5000), st.sampled_from([-3, 5000, 65535]))
    x = np.asarray(draw(st.lists(coord, min_size=n, max_size=n)), np.int64)
    y = np.asarray(draw(st.lists(st.one_of(st.integers(0, HEIGHT - 1), st.integers(-5, 300)),
                                 min_size=n, max_size=n)), np.int64)
    x_kind = draw(st.sampled_from(["int"] * 5 + ["float", "float", "float-nan", "strings", "2d", "short"]))
    if x_kind == "float":
        x = x.astype(np.float64) + draw(st.sampled_from([0.0, 0.4, -0.49]))
    elif x_kind == "float-nan":
        x = x.astype(np.float64)
        if n:
            x[draw(st.integers(0, n - 1))] = np.nan
    elif x_kind != "int":
        x = _column(x_kind, n, draw)
    p_kind = draw(st.sampled_from(["bool", "bool", "01", "01", "pm1", "pm1", "0-255", "12", "mixed", "nan", "complex"]))
    on = np.asarray(draw(st.lists(st.booleans(), min_size=n, max_size=n)), bool)
    p = {"bool": on, "01": on.astype(np.int8), "pm1": np.where(on, 1, -1), "0-255": np.where(on, 255, 0),
         "12": np.where(on, 1, 2), "mixed": np.where(on, 1, np.arange(n) % 2 - 1),
         "nan": np.where(on, 1.0, np.nan), "complex": on.astype(complex)}[p_kind]
    return x, y, t, p, (t_kind, x_kind, p_kind)


def expected_outcome(x, y, t, p, kinds):
    """What a correct reader returns for these columns, computed without depthsnn: None when the
    file must be refused, else (x, y, t seconds, on, dropped count)."""
    t_kind, x_kind, p_kind = kinds
    n = len(t)
    if n == 0 or x_kind in ("strings", "2d", "short") or p_kind == "complex":
        return None
    ts = t / 1e6 if t.dtype.kind in "iu" else t
    if not np.isfinite(ts).all() or (np.diff(ts) < 0).any() or (np.diff(ts) > MAX_GAP_S).any():
        return None
    pv = set(np.unique(p).tolist()) if p.dtype != bool else set()
    if p.dtype != bool and (not pv <= {0, 1, -1} or {0, -1} <= pv):
        return None
    with np.errstate(invalid="ignore"):
        inside = (x >= -0.5) & (x < WIDTH - 0.5) & (y >= -0.5) & (y < HEIGHT - 0.5)
    on = p if p.dtype == bool else p == 1
    return x[inside], y[inside], ts[inside], on[inside], int((~inside).sum())


def _check_hostile(path, cols, writer_ok=True):
    x, y, t, p, kinds = cols
    want = expected_outcome(x, y, t, p, kinds)
    with bounded():
        try:
            got, warns = read_all(path)
        except DataError as e:
            one_line(e, path)
            assert want is None, f"refused a good file: {e}"
            event("refused")
            return
    event("read, some dropped" if want and want[4] else "read")
    assert want is not None, f"accepted a bad file {kinds}"
    (_, gx, gy, gt, gp), = got.values()
    wx, wy, wt, wp, dropped = want
    np.testing.assert_array_equal(gx, wx)
    np.testing.assert_array_equal(gy, wy)
    np.testing.assert_array_equal(gt, wt)
    np.testing.assert_array_equal(gp, wp)
    if dropped:
        assert len(warns) == 1, warns
        assert f"{dropped} of {len(t)} events lie outside the {WIDTH}x{HEIGHT} sensor" in warns[0], warns
        i = int(np.flatnonzero(~((x >= -0.5) & (x < WIDTH - 0.5) & (y >= -0.5) & (y < HEIGHT - 0.5)))[0])
        assert f"first at x={float(x[i]):g}, y={float(y[i]):g}" in warns[0], warns
    else:
        assert not warns, warns


@FUZZ
@given(cols=hostile_events())
def test_hostile_values_in_npz(tmp_path, cols):
    x, y, t, p, _ = cols
    path = tmp_path / "h.npz"
    np.savez(path, x=x, y=y, t=t, p=p, width=WIDTH, height=HEIGHT)
    _check_hostile(path, cols)


@FUZZ
@given(cols=hostile_events())
def test_hostile_values_in_hdf5(tmp_path, cols):
    x, y, t, p, _ = cols
    path = tmp_path / "h.h5"
    with h5py.File(path, "w") as f:
        f.attrs["width"], f.attrs["height"] = WIDTH, HEIGHT
        for k, v in (("x", x), ("y", y), ("t", t), ("p", p)):
            f[k] = v.astype("S1") if v.dtype.kind == "U" else v
    _check_hostile(path, cols)


@FUZZ
@given(cols=hostile_events())
def test_hostile_values_in_mvsec_rows(tmp_path, cols):
    x, y, t, p, kinds = cols
    t_kind, x_kind, p_kind = kinds
    if x_kind in ("strings", "2d", "short") or p_kind == "complex" or t_kind in ("us",):
        return  # MVSEC rows are float64 [x, y, t seconds, p]: these do not fit its layout
    path = tmp_path / "h_data.hdf5"
    with h5py.File(path, "w") as f:
        f["davis/left/events"] = np.stack([x, y, t, p], axis=1).astype(np.float64).reshape(len(t), 4)
    _check_hostile(path, (x, y, t, p.astype(np.float64) if p.dtype == bool else p, kinds))


# ----------------------------------------------------------------------------- declared sizes


def test_npz_declaring_a_huge_array_is_refused_before_allocation(tmp_path):
    """An .npy header may declare any shape: a 10^12-event 't' in a 1 kB file, and an honest
    but over-the-limit array, are refused from the headers, allocating nothing of that size."""
    path = tmp_path / "huge.npz"
    np.savez(path, x=np.zeros(4, np.int64), y=np.zeros(4, np.int64), t=np.arange(4.0), p=np.ones(4, bool))
    with zipfile.ZipFile(path) as zf:
        members = {i.filename: zf.read(i) for i in zf.infolist()}
    members["t.npy"] = members["t.npy"].replace(b"(4,)", b"(1000000000000,)")
    with zipfile.ZipFile(path, "w") as zf:
        for name, b in members.items():
            zf.writestr(name, b)
    tracemalloc.start()
    try:
        with bounded(), pytest.raises(DataError, match=r"array 't' declares shape \(1000000000000,\)") as e:
            read_all(path)
        assert tracemalloc.get_traced_memory()[1] < 1 << 20
    finally:
        tracemalloc.stop()
    one_line(e.value, path)

    big = tmp_path / "big.npz"
    n = MAX_BYTES // 8 // 3
    np.savez(big, x=np.zeros(n, np.int64), y=np.zeros(n, np.int64), t=np.zeros(n), p=np.ones(n, bool))
    with pytest.raises(DataError, match="over the memory limit of 64.0 MiB") as e:
        read_all(big)
    one_line(e.value, big)


def test_hdf5_declaring_unwritten_rows_is_refused(tmp_path):
    """A dataset declaring 10^10 rows it never stored reads back as fill values: paging
    through them would take hours. Refused from its storage size."""
    path = tmp_path / "huge_data.hdf5"
    with h5py.File(path, "w") as f:
        f.create_dataset("davis/left/events", shape=(10**10, 4), dtype="f8", chunks=(1 << 14, 4))
        f["davis/left/events"][:2] = [[1, 1, 0.1, 1], [2, 2, 0.2, -1]]
    with bounded(), pytest.raises(DataError, match="declares shape .* corrupt or never written") as e:
        read_all(path)
    one_line(e.value, path)


# ----------------------------------------------------------------------------- the defects of the issue


def test_truncated_npz_names_the_file(files, tmp_path):
    """Was: zipfile.BadZipFile traceback."""
    _, raw = files["npz"]
    for cut in (0, 10, len(raw) // 2, len(raw) - 1):
        path = tmp_path / "left.npz"
        path.write_bytes(raw[:cut])
        with pytest.raises(DataError, match="file corrupt or truncated|unknown event format") as e:
            read_all(path)
        one_line(e.value, path)


def test_out_of_sensor_events_are_counted_once_and_strict_refuses(tmp_path):
    """Was: events at x = 5000, y = -3 silently dropped."""
    path = tmp_path / "out.npz"
    x = np.array([1, 5000, 2, 3, 7])
    y = np.array([1, 2, -3, 4, 300])
    np.savez(path, x=x, y=y, t=np.arange(5) / 10, p=np.ones(5, bool), width=WIDTH, height=HEIGHT)
    got, warns = read_all(path)
    (_, gx, gy, _, _), = got.values()
    assert gx.tolist() == [1, 3] and gy.tolist() == [1, 4]
    assert warns == [f"{path}: left camera: 3 of 5 events lie outside the {WIDTH}x{HEIGHT} sensor and were "
                     "dropped (first at x=5000, y=2, t=0.100000 s; --strict makes this an error)"]
    (reader,) = camera_readers(path)
    with pytest.raises(DataError, match=r"event 1 at x=5000, y=2 \(t=0\.100000 s\) lies outside the 32x24 sensor"):
        list(validated(reader, reader.resolution, strict=True))
