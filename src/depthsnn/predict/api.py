"""``predict_recording``: depth maps from a stereo event recording, no ground truth needed.

Pipeline per window (``data.recordings.iter_windows``: ``[t - window, t)`` every ``1/rate``
seconds): raw events of each camera -> rectified (calibration maps) or only rounded
(pre-rectified data) by :func:`~depthsnn.data.mvsec.rectify_columns` -> binned by
:func:`~depthsnn.data.encoding.bin_events` at the model's frame size -> the model -> metres.
Those are the functions ``evaluate`` uses on MVSEC-layout data, so on the same events both give
the same depth maps bit for bit (tested for every format).

Resolution: a recording smaller or larger than the model's input is padded (no events) or
cropped at the bottom/right, as the model pads internally, with a warning naming both sizes;
the depth maps cover the shared region. Less than half the model's input (or of the recording)
in a dimension is refused.

Memory: the readers decode bounded chunks, the window cutter keeps one window plus a chunk per
camera, depth maps go to the file in blocks and only the first ``video_frames`` windows are kept
for the video, so memory does not grow with the recording's length (BENCHMARKS.md).
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from ..data.calibration import StereoCalibration, calib_dir_for, load_calibration
from ..data.encoding import bin_events, present
from ..data.mvsec import rectify_columns
from ..data.recordings import iter_windows, open_recording, validated, window_count
from ..data.recordings.arrays import MVSECDataReader
from ..data.recordings.base import CameraReader
from ..errors import ConfigError, DataError, DataWarning
from ..evaluate.figures import SampleView
from ..evaluate.video import ffmpeg_available, write_depth_video
from .model import Predictor, load_predictor
from .output import depth_file

DEPTH_FILE = "depth.h5"
VIDEO_STEM = "depth"


@dataclass(frozen=True)
class PredictOptions:
    """Options of ``depthsnn predict`` (see its ``--help``)."""

    rate_hz: float = 20.0
    window_ms: float | None = None  # default: the model's training window
    engine: str = "auto"
    device: str = "cpu"
    calib: str | None = None
    video_frames: int = 100
    normalized_depth: bool | None = None
    strict: bool = False  # events outside the sensor: an error instead of a warning

    def validate(self) -> PredictOptions:
        if not self.rate_hz > 0:
            raise ConfigError(f"rate must be > 0 Hz, got {self.rate_hz}")
        if self.window_ms is not None and not self.window_ms > 0:
            raise ConfigError(f"window must be > 0 ms, got {self.window_ms}")
        if self.video_frames < 0:
            raise ConfigError(f"video frames must be >= 0, got {self.video_frames}")
        return self


@dataclass
class PredictResult:
    depth_path: Path
    video_paths: list[Path]
    windows: int
    resolution: tuple[int, int]  # recording (width, height)
    depth_size: tuple[int, int]  # depth maps (width, height)
    seconds: float
    sources: list[str] = field(default_factory=list)


def _find_calibration(calib: str | None, readers: dict[str, CameraReader]) -> tuple[StereoCalibration | None, Path | None]:
    if calib is not None:
        d = Path(calib)
        yamls = sorted(d.glob("camchain-imucam-*.yaml")) if d.is_dir() else []
        if not d.is_dir():
            raise DataError("calibration folder not found", d)
        if len(yamls) != 1:
            raise DataError("expected one camchain-imucam-<scene>.yaml (MVSEC layout) in the calibration folder", d)
        scene = yamls[0].stem.removeprefix("camchain-imucam-")
        return load_calibration(d, scene), d
    left = readers["left"]
    if isinstance(left, MVSECDataReader) and left.path.name.endswith("_data.hdf5"):
        seq = left.path.name.removesuffix("_data.hdf5")
        d = calib_dir_for(left.path.parent, seq)
        if d.is_dir():
            from ..data import layout

            return load_calibration(d, layout.scene_of(seq)), d
        warnings.warn(f"{left.path}: no calibration folder {d.name} beside it; events are used as recorded "
                      "(unrectified); pass --calib DIR", DataWarning, stacklevel=3)
    return None, None


def _resolution(readers: dict[str, CameraReader], calib: StereoCalibration | None, calib_dir: Path | None,
                model_wh: tuple[int, int]) -> tuple[int, int]:
    stated = {cam: r.resolution for cam, r in readers.items() if r.resolution is not None}
    sizes = set(stated.values())
    if len(sizes) > 1:
        desc = ", ".join(f"{cam} {w}x{h}" for cam, (w, h) in stated.items())
        raise DataError(f"the cameras' sensor sizes differ ({desc}); stereo needs equal sizes", readers["left"].path)
    if calib is not None:
        cw, ch = calib.left.resolution
        if sizes and sizes != {(cw, ch)}:
            (w, h), = sizes
            raise DataError(f"the calibration is for {cw}x{ch} but the recording is {w}x{h}", calib_dir)
        return cw, ch
    if sizes:
        return sizes.pop()
    w, h = model_wh
    warnings.warn(f"{readers['left'].path}: the file states no sensor size; assuming the model's {w}x{h}",
                  DataWarning, stacklevel=3)
    return w, h


def _check_fit(rec: tuple[int, int], model: tuple[int, int], path: Path) -> tuple[int, int]:
    """Shared (width, height) of recording and model input; warn or refuse as the module says."""
    (rw, rh), (mw, mh) = rec, model
    ow, oh = min(rw, mw), min(rh, mh)
    if rec == model:
        return ow, oh
    if 2 * ow < mw or 2 * oh < mh or 2 * ow < rw or 2 * oh < rh:
        raise DataError(
            f"the recording is {rw}x{rh} but the model takes {mw}x{mh}: padding or cropping would cover less "
            "than half of a dimension; use a model trained (or exported) at a closer size", path)
    what = " and ".join(x for x, on in (("padded", rw < mw or rh < mh), ("cropped", rw > mw or rh > mh)) if on)
    warnings.warn(f"{path}: the recording is {rw}x{rh} but the model takes {mw}x{mh}: events are {what} at the "
                  f"bottom/right; depth maps are {ow}x{oh}", DataWarning, stacklevel=3)
    return ow, oh


def predict_recording(model: str | Path | Predictor, events: Sequence[str | Path], out_dir: str | Path,
                      options: PredictOptions | None = None, progress: bool = True) -> PredictResult:
    """Write ``depth.h5`` (``depth`` (N, H, W) float32 metres, ``depth_ts`` seconds) and a depth
    video (``depth.gif``, ``.mp4`` too with ffmpeg) of ``events`` into ``out_dir``."""
    opts = (options or PredictOptions()).validate()
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise DataError("output path exists and is not a folder", out)
    pred = model if isinstance(model, Predictor) else load_predictor(
        model, engine=opts.engine, device=opts.device, window_ms=opts.window_ms,
        normalized_depth=opts.normalized_depth)
    spec = pred.spec
    enc = spec.encoding
    readers = open_recording(events, spec.cameras)
    calib, calib_dir = _find_calibration(opts.calib, readers)
    rw, rh = _resolution(readers, calib, calib_dir, (spec.width, spec.height))
    ow, oh = _check_fit((rw, rh), (spec.width, spec.height), readers["left"].path)
    maps = {cam: (None, None) for cam in spec.cameras}
    if calib is not None and enc.rectify:
        maps = {cam: (calib.camera(cam).x_map, calib.camera(cam).y_map) for cam in spec.cameras}

    period = 1.0 / opts.rate_hz
    ranges = [r.time_range() for r in readers.values()]
    total = None
    if all(r is not None for r in ranges):
        total = window_count(min(r[0] for r in ranges), max(r[1] for r in ranges), enc.window_s, period)
    sources = [r.describe() for r in readers.values()]
    attrs = {"model": str(pred.source), "model_name": pred.name, "engine": pred.engine,
             "events": [str(Path(e)) for e in events], "window_ms": enc.window_ms, "rate_hz": opts.rate_hz,
             "num_bins": enc.num_bins, "presentation": enc.presentation, "cameras": enc.cameras,
             "rectified": calib is not None and enc.rectify,
             "recording_size": [rw, rh], "window": "[t - window, t) for each depth_ts t"}
    views: list[SampleView] = []
    t0 = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    depth_path = out / DEPTH_FILE
    streams = {cam: validated(r, (rw, rh), opts.strict) for cam, r in readers.items()}
    bar = tqdm(total=total, desc="predict", unit="window", disable=not progress, leave=False)
    try:
        with depth_file(depth_path, oh, ow, attrs) as dst:
            for win in iter_windows(streams, enc.window_s, period):
                parts = []
                for cam in spec.cameras:
                    ev = win.events[cam]
                    xm, ym = maps[cam]
                    r = rectify_columns(ev.x, ev.y, ev.t, ev.p, rw, rh, xm, ym)
                    parts.append(bin_events(r.x, r.y, r.t, r.p, win.t_start, win.t_end, enc.num_bins,
                                            spec.height, spec.width))
                frames = present(np.concatenate(parts, axis=1), enc)
                depth = pred(frames)[:oh, :ow]
                dst.append(depth, win.t_end)
                if len(views) < opts.video_frames:
                    views.append(SampleView(events=frames[:, :, :oh, :ow], gt=None, pred=depth, mask=None,
                                            title=f"{pred.name} | t = {win.t_end:.3f} s"))
                bar.update(1)
            n = len(dst)
            if n == 0:
                raise DataError("the recording holds no events", readers["left"].path)
    finally:
        bar.close()
    video_paths = []
    if views:
        suffixes = [".gif", ".mp4"] if ffmpeg_available() else [".gif"]
        for suffix in suffixes:
            video_paths.append(write_depth_video(out / f"{VIDEO_STEM}{suffix}", views))
    return PredictResult(depth_path, video_paths, n, (rw, rh), (ow, oh), time.perf_counter() - t0, sources)
