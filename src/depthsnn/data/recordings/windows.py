"""Cut camera streams into the (possibly overlapping) time windows a depth model consumes.

Window ``k`` is ``[e_k - window, e_k)`` with ``e_k = t_first + window + k * period``, where
``t_first`` is the earliest event of any camera: the first window is the first full one. Windows
continue while their start is not after the last event of every camera. ``e_k`` is what
``depthsnn predict`` reports as the depth map's timestamp (like an MVSEC depth label, the
window ends at it).

Each camera keeps only the events from the current window's start on plus at most one decoded
chunk ahead, so memory is bounded by the window's events and the reader's chunk size, not by
the recording's length.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from ..mvsec import EventArrays


def _empty() -> EventArrays:
    return EventArrays(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float64), np.zeros(0, bool))


def _concat(parts: list[EventArrays]) -> EventArrays:
    if not parts:
        return _empty()
    if len(parts) == 1:
        return parts[0]
    return EventArrays(*(np.concatenate([getattr(p, f) for p in parts]) for f in ("x", "y", "t", "p")))


def _slice(ev: EventArrays, a: int, b: int) -> EventArrays:
    return EventArrays(ev.x[a:b], ev.y[a:b], ev.t[a:b], ev.p[a:b])


class _Buffer:
    """One camera's events from the current window's start, pulled from its chunk iterator."""

    def __init__(self, chunks: Iterator[EventArrays]):
        self.chunks = chunks
        self.parts: list[EventArrays] = []
        self.done = False
        self.last_t = -np.inf  # last timestamp pulled so far

    def first_time(self) -> float | None:
        while not self.parts and not self.done:
            self._pull()
        return float(self.parts[0].t[0]) if self.parts else None

    def _pull(self) -> None:
        for ev in self.chunks:
            if len(ev):
                self.parts.append(ev)
                self.last_t = float(ev.t[-1])
                return
        self.done = True

    def window(self, t0: float, t1: float) -> EventArrays:
        """Events with ``t0 <= t < t1``; drops everything before ``t0`` (windows only advance)."""
        while not self.done and self.last_t < t1:
            self._pull()
        ev = _concat(self.parts)
        a = int(np.searchsorted(ev.t, t0, side="left"))
        b = int(np.searchsorted(ev.t, t1, side="left"))
        rest = _slice(ev, a, len(ev))
        self.parts = [rest] if len(rest) else []
        return _slice(ev, a, b)


@dataclass(frozen=True)
class Window:
    index: int
    t_start: float
    t_end: float
    events: dict[str, EventArrays]  # camera -> raw events with t_start <= t < t_end


def window_count(t_first: float, t_last: float, window_s: float, period_s: float) -> int:
    """Number of windows :func:`iter_windows` yields for events spanning ``[t_first, t_last]``."""
    return int(np.floor((t_last - t_first) / period_s)) + 1


def iter_windows(streams: dict[str, Iterator[EventArrays]], window_s: float, period_s: float) -> Iterator[Window]:
    """Yield :class:`Window` objects over ``streams`` (camera -> validated, sorted chunks)."""
    if not window_s > 0 or not period_s > 0:
        raise ValueError(f"window and period must be > 0, got {window_s}, {period_s}")
    bufs = {cam: _Buffer(it) for cam, it in streams.items()}
    firsts = [t for t in (b.first_time() for b in bufs.values()) if t is not None]
    if not firsts:
        return
    t_first = min(firsts)
    k = 0
    while True:
        t_end = t_first + window_s + k * period_s
        t_start = t_end - window_s
        events = {cam: b.window(t_start, t_end) for cam, b in bufs.items()}
        if all(b.done for b in bufs.values()) and t_start > max(b.last_t for b in bufs.values()):
            return
        yield Window(k, t_start, t_end, events)
        k += 1
