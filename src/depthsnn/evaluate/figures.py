"""Sample figures: events | ground truth | prediction | absolute error, one PNG per sample.

Figures are drawn on :class:`matplotlib.figure.Figure` objects with the Agg canvas directly, not
through ``pyplot``: no display is needed and no global figure state is touched.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import Colormap
from matplotlib.figure import Figure

from ..atomic import atomic_path

DEPTH_CMAP = "viridis_r"  # near = bright
ERROR_CMAP = "inferno"
INVALID_COLOUR = "0.5"  # grey for pixels without valid ground truth
# Event images saturate at this percentile of the non-zero counts, so a few hot pixels do not
# turn everything else black.
EVENT_PERCENTILE = 99.0


@dataclass
class SampleView:
    """Everything one figure or video frame shows, in metres.

    ``events``: float ``[T, C, H, W]`` event counts (channels ``[L_ON, L_OFF, ...]``);
    ``gt``, ``pred``: ``[H, W]`` depth in metres; ``mask``: ``[H, W]`` valid ground truth
    (``gt`` and ``mask`` are None for predictions without ground truth, videos only).
    ``title``: e.g. ``"synthetic_stereo2 #5"``; ``mde_cm``: the sample's MDE (NaN if none).
    """

    events: np.ndarray
    gt: np.ndarray | None
    pred: np.ndarray
    mask: np.ndarray | None
    title: str
    mde_cm: float = float("nan")


def event_image(events: np.ndarray) -> np.ndarray:
    """RGB float image ``[H, W, 3]`` in [0, 1] of the left camera: ON red, OFF blue, over black.

    Counts are summed over time bins and scaled by a high percentile of the non-zero counts.
    """
    ev = np.asarray(events, dtype=np.float32)
    if ev.ndim == 3:
        ev = ev[None]
    on, off = ev[:, 0].sum(0), ev[:, 1].sum(0)
    nonzero = np.concatenate([on[on > 0], off[off > 0]])
    scale = float(np.percentile(nonzero, EVENT_PERCENTILE)) if nonzero.size else 1.0
    rgb = np.zeros((*on.shape, 3), dtype=np.float32)
    rgb[..., 0] = np.clip(on / max(scale, 1e-6), 0.0, 1.0)
    rgb[..., 2] = np.clip(off / max(scale, 1e-6), 0.0, 1.0)
    return rgb


def depth_range(gt: np.ndarray, mask: np.ndarray) -> tuple[float, float]:
    """Colour scale (metres) for depth maps: the range of the valid ground truth."""
    valid = np.asarray(gt)[np.asarray(mask, dtype=bool) & np.isfinite(gt)]
    if valid.size == 0:
        return 0.0, 1.0
    lo, hi = float(valid.min()), float(valid.max())
    return (lo, hi) if hi > lo else (lo - 0.5, hi + 0.5)


def masked_colormap(name: str) -> Colormap:
    """Colormap ``name`` drawing masked (invalid) pixels grey."""
    import matplotlib as mpl

    # with_extremes returns a copy: the registered colormap stays untouched.
    return mpl.colormaps[name].with_extremes(bad=INVALID_COLOUR)


def evenly_spaced(n_items: int, count: int) -> list[int]:
    """``count`` indices spread evenly over ``range(n_items)``, first and last included."""
    if count <= 0 or n_items <= 0:
        return []
    if count >= n_items:
        return list(range(n_items))
    return sorted({int(round(x)) for x in np.linspace(0, n_items - 1, count)})


def draw_sample(fig: Figure, view: SampleView, vrange: tuple[float, float] | None = None) -> None:
    """Draw the four panels of ``view`` on ``fig`` (cleared first)."""
    fig.clear()
    axes = fig.subplots(1, 4)
    mask = np.asarray(view.mask, dtype=bool)
    vmin, vmax = vrange or depth_range(view.gt, mask)
    depth_cmap = masked_colormap(DEPTH_CMAP)
    gt = np.ma.masked_array(view.gt, mask=~mask)
    err = np.ma.masked_array(np.abs(view.pred - view.gt), mask=~mask)

    axes[0].imshow(event_image(view.events), interpolation="nearest")
    axes[0].set_title("events (left, ON red / OFF blue)", fontsize=8)
    im = axes[1].imshow(gt, cmap=depth_cmap, vmin=vmin, vmax=vmax, interpolation="nearest")
    axes[1].set_title("ground truth [m]", fontsize=8)
    fig.colorbar(im, ax=axes[1], fraction=0.046, pad=0.02)
    im = axes[2].imshow(view.pred, cmap=depth_cmap, vmin=vmin, vmax=vmax, interpolation="nearest")
    axes[2].set_title("prediction [m]", fontsize=8)
    fig.colorbar(im, ax=axes[2], fraction=0.046, pad=0.02)
    err_max = float(err.max()) if err.count() else 1.0
    im = axes[3].imshow(
        err, cmap=masked_colormap(ERROR_CMAP), vmin=0.0, vmax=max(err_max, 1e-6), interpolation="nearest"
    )
    axes[3].set_title("absolute error [m]", fontsize=8)
    fig.colorbar(im, ax=axes[3], fraction=0.046, pad=0.02)
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
    mde = f"MDE {view.mde_cm:.1f} cm" if np.isfinite(view.mde_cm) else "MDE n/a (no valid depth)"
    fig.suptitle(f"{view.title} | {mde}", fontsize=10)


def figure_size(height: int, width: int, panels: int = 4) -> tuple[float, float]:
    """Figure size in inches for ``panels`` images of ``height x width`` side by side."""
    panel_w = 3.2
    return panels * panel_w + 1.0, panel_w * height / max(width, 1) + 0.9


def save_sample_figure(path, view: SampleView, dpi: int = 100) -> None:
    """Write the four-panel PNG of ``view`` to ``path`` (atomically)."""
    h, w = np.asarray(view.gt).shape
    fig = Figure(figsize=figure_size(h, w), dpi=dpi, layout="constrained")
    FigureCanvasAgg(fig)
    draw_sample(fig, view)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
