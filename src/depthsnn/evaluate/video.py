"""Depth videos: events | prediction | ground truth for consecutive samples (subset order).

Written as an animated GIF with Pillow (always available); MP4 only when ``ffmpeg`` is on the
PATH. One colour scale (the valid ground-truth range over all frames) is used for the whole
video, so depth changes are visible as colour changes. Views without ground truth (``gt`` None,
as ``depthsnn predict`` makes them) give events | prediction, scaled to the predictions' 2-98 %
range.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.animation import FFMpegWriter, PillowWriter
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from ..atomic import atomic_path
from ..errors import DepthSNNError
from .figures import DEPTH_CMAP, SampleView, event_image, figure_size, masked_colormap

DEFAULT_FPS = 10


def ffmpeg_available() -> bool:
    """Whether MP4 output is possible (matplotlib drives the ``ffmpeg`` executable)."""
    return shutil.which("ffmpeg") is not None


def video_range(views: Sequence[SampleView]) -> tuple[float, float]:
    """Depth colour scale (metres) covering the valid ground truth of every frame (without
    ground truth: the 2nd to 98th percentile of the predictions)."""
    if views and views[0].gt is None:
        # Predictions can hold outliers (an untrained or off-domain net): 2nd-98th percentile.
        pred = np.concatenate([v.pred[np.isfinite(v.pred)].ravel() for v in views])
        if pred.size == 0:
            return 0.0, 1.0
        lo, hi = (float(q) for q in np.percentile(pred, [2, 98]))
        return (lo, hi) if hi > lo else (lo - 0.5, hi + 0.5)
    lo, hi = np.inf, -np.inf
    for v in views:
        valid = v.gt[np.asarray(v.mask, dtype=bool) & np.isfinite(v.gt)]
        if valid.size:
            lo, hi = min(lo, float(valid.min())), max(hi, float(valid.max()))
    if not np.isfinite(lo):
        return 0.0, 1.0
    return (lo, hi) if hi > lo else (lo - 0.5, hi + 0.5)


def write_depth_video(
    path: str | Path, views: Sequence[SampleView], fps: int = DEFAULT_FPS, dpi: int = 80
) -> Path:
    """Render ``views`` as a video at ``path`` (``.gif`` via Pillow, ``.mp4`` via ffmpeg).

    The file appears only once complete (written under a temporary name first).
    """
    path = Path(path)
    if not views:
        raise DepthSNNError("no frames to write a video from", path)
    suffix = path.suffix.lower()
    if suffix == ".gif":
        writer = PillowWriter(fps=fps)
    elif suffix == ".mp4":
        if not ffmpeg_available():
            raise DepthSNNError("MP4 needs ffmpeg on the PATH (write a .gif instead)", path)
        writer = FFMpegWriter(fps=fps)
    else:
        raise DepthSNNError(f"unknown video format {suffix!r} (use .gif or .mp4)", path)

    has_gt = views[0].gt is not None
    panels = 3 if has_gt else 2
    h, w = views[0].pred.shape
    vmin, vmax = video_range(views)
    fig = Figure(figsize=figure_size(h, w, panels=panels), dpi=dpi, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, panels)
    cmap = masked_colormap(DEPTH_CMAP)
    first = views[0]
    im_ev = axes[0].imshow(event_image(first.events), interpolation="nearest")
    im_pred = axes[1].imshow(first.pred, cmap=cmap, vmin=vmin, vmax=vmax, interpolation="nearest")
    im_gt = None
    if has_gt:
        im_gt = axes[2].imshow(
            np.ma.masked_array(first.gt, mask=~first.mask),
            cmap=cmap,
            vmin=vmin,
            vmax=vmax,
            interpolation="nearest",
        )
    fig.colorbar(im_gt or im_pred, ax=axes[-1], fraction=0.046, pad=0.02, label="depth [m]")
    for ax, title in zip(axes, ("events", "prediction", "ground truth")[:panels], strict=True):
        ax.set_title(title, fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    heading = fig.suptitle(first.title, fontsize=10)

    with atomic_path(path) as tmp:
        # The writers pick the format from the file name, so the temporary file keeps the suffix.
        media = tmp.with_name(tmp.name + suffix)
        try:
            with writer.saving(fig, str(media), dpi):
                for v in views:
                    im_ev.set_data(event_image(v.events))
                    im_pred.set_data(v.pred)
                    if im_gt is not None:
                        im_gt.set_data(np.ma.masked_array(v.gt, mask=~np.asarray(v.mask, dtype=bool)))
                    mde = f" | MDE {v.mde_cm:.1f} cm" if np.isfinite(v.mde_cm) else ""
                    heading.set_text(v.title + mde)
                    writer.grab_frame()
            os.replace(media, tmp)
        finally:
            media.unlink(missing_ok=True)
    return path
