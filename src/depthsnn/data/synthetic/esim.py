"""ESIM-style event simulation: contrast-threshold crossings of per-pixel log intensity.

Between two rendered log-intensity frames each pixel's log level is taken to move linearly
(as in ESIM, Rebecq et al. 2018), so every crossing of the pixel's reference level plus a
multiple of its threshold gets an exactly interpolated timestamp. A pixel emits one event per
crossing, except within ``refractory_s`` of its previous event: such crossings still move the
reference level (the pixel "sees" them) but emit nothing. Crossings inside one interval are
evenly spaced in time, so the refractory selection is an arithmetic progression per pixel and
everything below is vectorised over pixels and events; no Python loop touches a pixel.
"""

from __future__ import annotations

import numpy as np

# Slack for floating-point round-off when a level lands exactly on a threshold multiple.
_EPS = 1e-9


class EventSimulator:
    """Event camera model for one sensor; feed it log-intensity frames in time order.

    Args:
        log_frame: (H, W) log intensity at time ``t0``; it becomes every pixel's reference level.
        t0: time of ``log_frame`` in seconds.
        c_pos, c_neg: ON/OFF contrast thresholds, scalars or per-pixel (H, W) arrays (> 0).
        refractory_s: minimum time between two events of one pixel.
        noise_rate_hz: rate of extra background-activity events per pixel (Poisson in time,
            uniform over pixels, random polarity); they bypass the refractory period.
        rng: generator for noise events (only used when ``noise_rate_hz > 0``).
    """

    def __init__(
        self,
        log_frame: np.ndarray,
        t0: float,
        c_pos: float | np.ndarray,
        c_neg: float | np.ndarray,
        refractory_s: float = 0.0,
        noise_rate_hz: float = 0.0,
        rng: np.random.Generator | None = None,
    ):
        self.height, self.width = log_frame.shape
        n = log_frame.size
        self._last = np.asarray(log_frame, dtype=np.float64).ravel().copy()
        self._ref = self._last.copy()
        self._last_event_t = np.full(n, -np.inf)
        self._c_pos = np.broadcast_to(np.asarray(c_pos, dtype=np.float64), log_frame.shape).ravel().copy()
        self._c_neg = np.broadcast_to(np.asarray(c_neg, dtype=np.float64), log_frame.shape).ravel().copy()
        if (self._c_pos <= 0).any() or (self._c_neg <= 0).any():
            raise ValueError("contrast thresholds must be positive")
        # Pre-scaled thresholds for the cheap full-frame "did anything cross" test.
        self._on_level = self._c_pos * (1 - _EPS)
        self._off_level = -self._c_neg * (1 - _EPS)
        self.refractory_s = float(refractory_s)
        self.noise_rate_hz = float(noise_rate_hz)
        self._rng = rng if rng is not None else np.random.default_rng(0)
        self._t = float(t0)

    def step(self, log_frame: np.ndarray, t1: float) -> np.ndarray:
        """Advance to ``log_frame`` at time ``t1``; return the events in (t0, t1] as (N, 4) float64.

        Rows are ``[x, y, t, p]`` sorted by ``t``, with ``p`` in {-1, +1}.
        """
        t0, t1 = self._t, float(t1)
        if t1 <= t0:
            raise ValueError(f"frames must advance in time ({t1} <= {t0})")
        dt = t1 - t0
        new = np.asarray(log_frame, dtype=np.float64).ravel()
        delta = new - self._ref
        idx = np.flatnonzero((delta >= self._on_level) | (delta <= self._off_level))
        events = self._crossings(idx, new, delta[idx], t0, dt)
        self._last = new.copy()
        self._t = t1
        if self.noise_rate_hz > 0:
            events = np.concatenate([events, self._noise(t0, t1)])
            events = events[np.argsort(events[:, 2], kind="stable")]
        return events

    def _crossings(self, idx: np.ndarray, new: np.ndarray, d: np.ndarray, t0: float, dt: float) -> np.ndarray:
        if idx.size == 0:
            return np.empty((0, 4))
        l0, l1, ref = self._last[idx], new[idx], self._ref[idx]
        pol = np.where(d > 0, 1.0, -1.0)
        c = np.where(d > 0, self._c_pos[idx], self._c_neg[idx])
        n = np.floor(np.abs(d) / c + _EPS).astype(np.int64)  # crossings in this interval
        # |ref - l0| < c, so a crossing means l1 - l0 has the sign of pol; the floor only guards
        # against round-off at the threshold.
        slope = np.maximum(pol * (l1 - l0), 1e-12)
        # Crossing j (level ref + pol*j*c) happens at t_a + j*tau.
        t_a = t0 + dt * pol * (ref - l0) / slope
        tau = c * dt / slope
        # Refractory: first admissible crossing j0, then every m-th one (crossings are evenly spaced).
        r = self.refractory_s
        ready = self._last_event_t[idx] + r
        j0 = np.maximum(1, np.ceil((ready - t_a) / tau - _EPS)).astype(np.int64)
        m = np.maximum(1, np.ceil(r / tau - _EPS)).astype(np.int64) if r > 0 else np.ones_like(n)
        count = np.where(j0 <= n, 1 + (n - j0) // m, 0)

        self._ref[idx] = ref + pol * n * c
        fired = count > 0
        last_j = j0 + (count - 1) * m
        self._last_event_t[idx[fired]] = np.minimum(t_a + last_j * tau, t0 + dt)[fired]

        total = int(count.sum())
        owner = np.repeat(np.arange(idx.size), count)
        # Ordinal of each event within its pixel: global position minus the pixel's first position.
        ordinal = np.arange(total) - np.repeat(np.cumsum(count) - count, count)
        j = j0[owner] + ordinal * m[owner]
        t = np.clip(t_a[owner] + j * tau[owner], t0, t0 + dt)
        pix = idx[owner]
        out = np.empty((total, 4))
        out[:, 0] = pix % self.width
        out[:, 1] = pix // self.width
        out[:, 2] = t
        out[:, 3] = pol[owner]
        return out[np.argsort(t, kind="stable")]

    def _noise(self, t0: float, t1: float) -> np.ndarray:
        n_pix = self.width * self.height
        k = int(self._rng.poisson(self.noise_rate_hz * n_pix * (t1 - t0)))
        out = np.empty((k, 4))
        pix = self._rng.integers(0, n_pix, size=k)
        out[:, 0] = pix % self.width
        out[:, 1] = pix // self.width
        # Strictly after t0 so the (t0, t1] intervals stay disjoint and the stream stays sorted.
        out[:, 2] = t1 - self._rng.random(k) * (t1 - t0)
        out[:, 3] = self._rng.choice(np.array([-1.0, 1.0]), size=k)
        return out


def sample_thresholds(
    rng: np.random.Generator, shape: tuple[int, int], c_pos: float, c_neg: float, sigma: float
) -> tuple[np.ndarray, np.ndarray]:
    """Per-pixel ON/OFF thresholds ~ N(c, sigma), floored at 10% of the nominal value."""
    pos = c_pos + sigma * rng.standard_normal(shape)
    neg = c_neg + sigma * rng.standard_normal(shape)
    return np.maximum(pos, 0.1 * c_pos), np.maximum(neg, 0.1 * c_neg)
