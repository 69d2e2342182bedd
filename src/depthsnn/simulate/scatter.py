"""Event-driven convolution: scatter each input event's (folded) kernel into the target.

A conv node's input is the sum of one or more *source* nodes, possibly behind nearest
upsampling. Instead of materialising the upsampled tensor, every source event at ``(c, y, x)``
is scattered with a precomputed *effective kernel*: the sum of the ``f*f`` upsampled copies'
kernels (``f`` = total upsampling factor between source and conv). For a spike this equals
scattering ``f*f`` spikes, but costs ``(f+k-1)**2`` instead of ``f*f*k*k`` target updates.

Per dimension a source row ``y`` reaches output rows ``base[y] + a`` (``a < L``) with a
tap-multiplicity matrix ``M[phase[y]][a, ky]`` (how many (upsampled row, kernel row) pairs
land there). Rows sharing a matrix share a *phase* (1 phase for stride 1, ``stride`` phases
otherwise), so the effective kernels are ``Keff[py, px, c, a, b, :] = sum My Mx W[:, c]``.
Out-of-bounds output rows point to a sink row/column of the accumulator, so no masking is
needed at run time. Written by hand (not scipy.sparse): a sparse (out x in) matrix per layer
needs ~1 GB at 272x352 for the first layer alone, while these tables are a few kB.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


@dataclass
class AxisTable:
    """Per-dimension mapping from a source coordinate to the output coordinates it reaches."""

    base: np.ndarray  # [S] first output index reached (may be negative)
    phase: np.ndarray  # [S] index into ``mats``
    mats: np.ndarray  # [P, L, k] tap multiplicities
    target: np.ndarray  # [S, L] output index, or ``n_out`` (the sink) when out of bounds
    reach: np.ndarray  # [S] in-bounds (output, tap) pairs summed over the f upsampled copies


def axis_table(n_src: int, n_out: int, factor: int, k: int, stride: int, pad: int) -> AxisTable:
    """Build the :class:`AxisTable` of one spatial dimension.

    An upsampled input row ``u = factor*y + i`` meets kernel row ``ky`` at output row ``o``
    when ``o*stride - pad + ky == u``.
    """
    y = np.arange(n_src)[:, None, None]
    i = np.arange(factor)[None, :, None]
    ky = np.arange(k)[None, None, :]
    num = factor * y + i + pad - ky  # = o * stride
    ok = num % stride == 0
    o = np.where(ok, num // stride, 0)
    o_min = np.where(ok, o, np.iinfo(np.int64).max).min(axis=(1, 2))
    length = int((np.where(ok, o, -1).max(axis=(1, 2)) - o_min).max()) + 1
    mats = np.zeros((n_src, length, k), dtype=np.int64)
    s_idx, i_idx, k_idx = np.nonzero(np.broadcast_to(ok, o.shape))
    np.add.at(mats, (s_idx, o[s_idx, i_idx, k_idx] - o_min[s_idx], k_idx), 1)
    uniq, phase = np.unique(mats.reshape(n_src, -1), axis=0, return_inverse=True)
    target = o_min[:, None] + np.arange(length)[None, :]
    inside = (target >= 0) & (target < n_out)
    reach = (mats.sum(axis=2) * inside).sum(axis=1)
    return AxisTable(o_min, phase.reshape(-1), uniq.reshape(-1, length, k), np.where(inside, target, n_out), reach)


class ConvScatter:
    """Scatters the events of one source (at resolution ``src_hw``, upsampling ``factor``) into a conv.

    ``weight`` [C_out, C_in, k, k] is given in float64 (or as integer-valued quantised weights):
    accumulation is done in float64 so that the result, rounded once to the state dtype,
    does not depend on the order in which events arrive.
    """

    def __init__(self, weight: np.ndarray, src_hw: tuple[int, int], out_hw: tuple[int, int],
                 factor: int, stride: int, pad: int):
        c_out, c_in, k, _ = weight.shape
        self.c_out, self.c_in = c_out, c_in
        self.out_hw = out_hw
        self.ty = axis_table(src_hw[0], out_hw[0], factor, k, stride, pad)
        self.tx = axis_table(src_hw[1], out_hw[1], factor, k, stride, pad)
        py, px = len(self.ty.mats), len(self.tx.mats)
        keff = np.einsum("pak,qbl,ockl->pqcabo", self.ty.mats.astype(np.float64),
                         self.tx.mats.astype(np.float64), weight.astype(np.float64))
        ly, lx = keff.shape[3], keff.shape[4]
        self.ly, self.lx = ly, lx
        self.n_px = px
        self.keff = torch.from_numpy(np.ascontiguousarray(keff.reshape(py * px * c_in, ly, lx, c_out)))
        wo1 = out_hw[1] + 1  # accumulator rows/cols include one sink each
        self.row = torch.from_numpy(self.ty.target * wo1)  # [Hs, Ly]
        self.col = torch.from_numpy(self.tx.target)  # [Ws, Lx]
        self.phase_y = torch.from_numpy(self.ty.phase * px)
        self.phase_x = torch.from_numpy(self.tx.phase)
        self.reach_y = torch.from_numpy(self.ty.reach)
        self.reach_x = torch.from_numpy(self.tx.reach)
        self.factor = factor

    def scatter(self, acc: torch.Tensor, c: torch.Tensor, y: torch.Tensor, x: torch.Tensor,
                val: torch.Tensor | None) -> int:
        """Add the events ``(c, y, x)`` (weighted by ``val`` unless binary) into ``acc``.

        ``acc`` is the float64 accumulator ``[(H_out+1)*(W_out+1), C_out]``. Returns the number
        of synapses reached (in-bounds (output neuron, tap) pairs, times the value for graded
        inputs that are integers; see :meth:`synapses`).
        """
        g = self.keff[(self.phase_y[y] + self.phase_x[x]) * self.c_in + c]  # [n, Ly, Lx, C_out]
        if val is not None:
            g = g * val.to(torch.float64)[:, None, None, None]
        idx = (self.row[y][:, :, None] + self.col[x][:, None, :]).reshape(-1)
        acc.index_add_(0, idx, g.reshape(-1, self.c_out))
        return len(c)

    def synapses(self, y: torch.Tensor, x: torch.Tensor) -> int:
        """Synapses reached by events at source rows/cols ``y``, ``x``: per event C_out x in-bounds taps
        over its ``factor**2`` upsampled copies."""
        return int((self.reach_y[y] * self.reach_x[x]).sum()) * self.c_out
