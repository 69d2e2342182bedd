"""Exact fast path: dense arithmetic that reproduces :class:`~.engine.EventSimulator` bit for bit.

Scope: the counts, spikes and outputs of one inference, for the energy stage's many samples.
:class:`FastSimulator` returns the same :class:`~.engine.SimResult` as the event-driven engine
- every spike of every layer and step, every field of :class:`~.counts.SimCounts`, the output
bit for bit - computed layer by layer with a few dense float32 convolutions over all time
steps instead of scattering events one by one (10-30x faster on one core, see
``benchmarks/energy_speed.py``).

Why it is exact:

- Synaptic input. Every conv weight is an integer ``Q`` times a per-layer unit: the quantised
  integers ``weight_q`` (unit 1; the engine multiplies their sum by ``weight_scale``), or, for
  float weights, ``W = g * Q`` with ``g`` the largest power of two dividing every weight (the
  fixed-point grid a float tensor lives on; :func:`weight_grid`). Inputs must be
  integer-valued (spikes, event counts; checked). Then every product and partial sum the
  engine forms (its folded upsampling kernels included) is a multiple of the unit bounded by
  ``A = sum |Q| |x|``; while ``A < 2**53`` units its float64 accumulation is exact in *any*
  order, so it holds the exact sum. ``A`` is bounded per layer from ``max|x|`` and, where that
  bound is too loose (float weights), per neuron by a float32 conv of ``|Q|`` with a 1 % margin.
  The fast path obtains the same integer with float32 convolutions: ``Q`` is cut into
  sign-magnitude digits ("limbs") of ``b`` bits, ``b`` chosen so that
  ``(2**b - 1) * fan_in * max|x| <= 2**24``; every product and partial sum of a limb's
  convolution is then an integer of at most ``2**24``, exact in float32 whatever the kernel's
  summation order, and the limbs recombine exactly in float64 (partial sums stay below ``A``).
  Nearest-upsampled sources are convolved at their own resolution with one folded kernel per
  output phase and pixel-shuffled: the same integer sum, grouped differently. Scale, bias and
  the cast to the state dtype are then the engine's own operations.
  Assumption: torch's float32 conv2d computes sums of products (direct/GEMM, not Winograd, not a
  reduced-precision mode); a tripwire convolution checks this once per kernel shape at start-up.
- Neurons: :func:`~.engine.neuron_step`, the engine's own update, per step.
- Counts: integer arithmetic. ACs/MACs = per source, the map of non-zero inputs (summed over
  channels and steps) dotted with the fan-out map (in-bounds synapses each input position
  drives, the transposed conv of ones, taken from the engine's :class:`~.scatter.ConvScatter`)
  times C_out; the other fields as the engine counts them.

Where exactness cannot be shown the fast path does not guess: analog (non-spiking) layers
feeding a conv (an HNN; refused for the whole network), non-integer input values, ``A >= 2**53``
units (float weights spanning too many binades for the input at hand), a failed tripwire, or a
batch input make :meth:`FastSimulator.run` hand the sample to the event-driven engine;
:attr:`FastSimulator.fallbacks` records each such sample and why, and :attr:`FastSimulator.engine`
says it in words (the energy report carries it).

On a GPU (``device="cuda"``) the same dense arithmetic runs with TF32 off and deterministic cuDNN
algorithms; the integer argument above holds for any summation order, so only a kernel that does
not sum products exactly (TF32, Winograd/FFT) could differ. Two checks guard that: the tripwire
runs on the device, and the first sample is also run by the event-driven engine (CPU) and
compared field by field; any difference moves the simulator to the CPU for good and
:attr:`FastSimulator.device_note` says why (the energy report carries it in ``engine``).
"""

from __future__ import annotations

import contextlib
import math
import warnings
from collections import Counter
from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F

from ..export.graph import STATEFUL_OPS, NetGraph
from .engine import EventSimulator, SimResult, _sum, _torch_threads, neuron_step
from .quantize import QuantConfig

_F32_EXACT = 2.0 ** 24  # integers up to this magnitude are exact in float32
_F64_EXACT = 2.0 ** 53


class NotExact(Exception):
    """The fast path cannot show that its result equals the event-driven engine's (the message says why)."""


def weight_grid(w: np.ndarray) -> tuple[np.ndarray, float]:
    """``(Q, g)``: integers ``Q`` (float64) and the largest power of two ``g`` with ``w == g * Q`` exactly."""
    w = np.asarray(w, dtype=np.float64)
    nz = w[w != 0]
    if nz.size == 0:
        return np.zeros(w.shape), 1.0
    m, e = np.frexp(np.abs(nz))  # |w| = m * 2**e, m in [0.5, 1) with 53 significant bits
    mant = (m * 2.0 ** 53).astype(np.int64)
    tz = np.zeros(mant.shape, dtype=np.int64)  # trailing zero bits of each mantissa
    rest = mant.copy()
    for shift in (32, 16, 8, 4, 2, 1):
        low = (rest & ((1 << shift) - 1)) == 0
        tz += np.where(low, shift, 0)
        rest = np.where(low, rest >> shift, rest)
    g = 2.0 ** int((e - 53 + tz).min())
    q = w / g
    assert np.array_equal(q, np.round(q))
    return q, g


@dataclass
class _Conv:
    node: str
    sources: list  # (leaf name, ConvScatter of the engine's plan)
    q: np.ndarray  # integer weights [C_out, C_in, k, k] (float64)
    unit: float  # power of two: synaptic sum = unit * (Q . x) (1.0 for quantised weights)
    row_abs_max: float  # max over output channels of sum |Q| (static bound of A / max|x|)
    abs_q: torch.Tensor  # |Q| in float32, for the data-dependent bound of A
    stride: int
    padding: int
    limbs: dict  # (limb bits, factor, source hw) -> (float32 limb weights, padding of the folded form)


class FastSimulator:
    """Dense, bit-identical counterpart of :class:`~.engine.EventSimulator` (one sample, CPU).

    Same arguments and :meth:`run` signature. Holds an :class:`EventSimulator` (its quantised
    graph, plans, fan-out tables and static counts are reused) that runs any sample the fast
    path cannot prove exact, on one thread; ``fallbacks`` counts those samples by reason,
    ``fast_runs`` the others. ``refusal`` is set when no sample can take the fast path (then
    every run falls back). ``threads``: torch threads of the dense part (None: leave torch's
    setting). The default 1 is deliberate, as the engine's: two threads on a shared 2-core
    machine ran 10-20x slower (measured); run samples or precisions in parallel processes instead.
    """

    def __init__(self, graph: NetGraph, dtype: type = np.float32, quantization: QuantConfig | None = None,
                 threads: int | None = 1, device: str | torch.device = "cpu"):
        self.event = EventSimulator(graph, dtype, quantization)
        self.device = torch.device(device)
        self.device_note: str | None = None
        self._checked = self.device.type == "cpu"  # the first sample on a GPU is checked against the engine
        self.graph, self.dtype, self.threads = self.event.graph, self.event.dtype, threads
        self.fast_runs = 0
        self.fallbacks: Counter[str] = Counter()
        self.refusal: str | None = None
        self.convs: dict[str, _Conv] = {}
        for n in self.graph.of_op("conv"):
            plan = self.event.plans[n.name]
            wq = n.params.get("weight_q")
            if wq is not None:
                q, unit = np.asarray(wq, dtype=np.float64), 1.0
            else:
                q, unit = weight_grid(np.asarray(n.params["weight"], dtype=np.float64))
            if np.abs(q).max(initial=0.0) >= _F64_EXACT:
                self.refusal = f"weights of {n.name} span more binades than float64 holds exactly"
            self.convs[n.name] = _Conv(
                n.name, plan.sources, q, unit, float(np.abs(q).reshape(q.shape[0], -1).sum(1).max(initial=0.0)),
                torch.as_tensor(np.abs(q), dtype=torch.float32), int(n.params["stride"]), int(n.params["padding"]), {})
            for leaf, _ in plan.sources:
                if leaf not in self.event.binary and self.graph.node(leaf).op != "input":
                    self.refusal = f"analog layer {leaf} feeds {n.name}: its sums are not integer sums"
        if self.refusal is None:
            shapes = {(c.q.shape[-1], c.stride, c.padding) for c in self.convs.values()}
            if self.device.type != "cpu":
                with _exact_kernels():
                    why = _tripwire(shapes, self.device)
                if why is not None:
                    self._to_cpu(f"{why} on {self.device}")
            self.refusal = _tripwire(shapes)

    @property
    def engine(self) -> str:
        """``fast`` when every sample so far took the fast path, else what fell back."""
        where = "" if self.device.type == "cpu" else f" on {self.device}"
        if self.device_note:
            where = f" ({self.device_note})"
        if not self.fallbacks:
            return "fast" + where
        return f"fast{where}; {sum(self.fallbacks.values())} of {self.fast_runs + sum(self.fallbacks.values())} " \
               "samples event-driven (" + "; ".join(f"{k}: {v}" for k, v in self.fallbacks.items()) + ")"

    def run(self, x_seq: np.ndarray | torch.Tensor, record_spikes: bool = False) -> SimResult:
        """Simulate ``x_seq`` ``[T, C, H, W]`` from rest; the event-driven engine's result, bit for bit."""
        x = torch.as_tensor(np.asarray(x_seq))
        try:
            if self.refusal is not None:
                raise NotExact(self.refusal)
            if x.ndim != 4:
                raise NotExact("batch input")  # the engine loops over the batch
            if tuple(x.shape[1:]) != tuple(self.graph.input.shape):
                return self.event.run(x_seq, record_spikes)  # raises the engine's error for a wrong shape
            with torch.no_grad(), _torch_threads(self.threads), _exact_kernels():
                res = self._run(x.to(self.dtype).to(self.device), record_spikes or not self._checked)
        except NotExact as why:
            self.fallbacks[str(why)] += 1
            return self.event.run(x_seq, record_spikes)
        if not self._checked:
            self._checked = True
            ref = self.event.run(x_seq, record_spikes=True)
            diff = result_difference(ref, res)
            if diff is not None:
                self._to_cpu(f"{self.device} result differed from the event-driven engine on the first sample "
                             f"({diff})")
                if not record_spikes:
                    ref.spikes = {}
                return ref
            if not record_spikes:
                res.spikes = {}
        self.fast_runs += 1
        return res

    def _to_cpu(self, why: str) -> None:
        warnings.warn(f"fast path: {why}; running on the CPU", RuntimeWarning, stacklevel=3)
        self.device, self.device_note, self._checked = torch.device("cpu"), f"{why}; ran on the CPU", True
        for conv in self.convs.values():
            conv.limbs.clear()
            conv.abs_q = conv.abs_q.cpu()

    # -- the dense computation -----------------------------------------------------------------
    def _run(self, x: torch.Tensor, record_spikes: bool) -> SimResult:
        g, ev = self.graph, self.event
        T = x.shape[0]
        counts = ev.new_counts(1, T)
        lc = {c.name: c for c in counts.layers}
        values: dict[str, torch.Tensor] = {}  # node -> [T, C, H, W] in the state dtype
        nonzero: dict[str, torch.Tensor] = {}  # node -> [T, C, H, W] bool
        spikes: dict[str, np.ndarray] = {}

        def nz(name: str) -> torch.Tensor:
            if name not in nonzero:
                nonzero[name] = values[name] != 0
            return nonzero[name]

        for n in g.nodes:
            p = n.params
            if n.op == "input":
                values[n.name] = x
            elif n.op == "conv":
                values[n.name] = self._conv(self.convs[n.name], values, nz, lc[n.name], T)
            elif n.op == "upsample":
                lc[n.name].input_events += sum(int(nz(leaf).sum()) for i in n.inputs for leaf, _ in ev._leaves(i))
                if n.name in ev.dense:
                    f = p["scale"]
                    values[n.name] = _sum(values, n.inputs).repeat_interleave(f, 2).repeat_interleave(f, 3)
            elif n.op == "output":
                values[n.name] = _sum(values, n.inputs)
            elif n.op in STATEFUL_OPS:
                inp = _sum(values, n.inputs)
                c = lc[n.name]
                c.neuron_updates += inp.numel()
                active = int(torch.count_nonzero(inp))
                c.active_neuron_updates += active
                c.input_events += active
                state = torch.zeros(n.shape, dtype=self.dtype, device=x.device)
                out = torch.empty_like(inp)
                for t in range(T):
                    out[t], sf, state = neuron_step(n.op, p, state, inp[t], g.dt, self.dtype)
                if n.op != "integrator":
                    c.spikes += int(torch.count_nonzero(out))
                    if record_spikes:
                        spikes[n.name] = out.cpu().numpy().astype(bool)
                values[n.name] = out
            else:  # pragma: no cover - NetGraph.validate admits no other op
                raise NotExact(f"node type {n.op}")
        outputs = values[g.output.name].cpu().numpy().copy()
        return SimResult(outputs, counts, spikes)

    def _conv(self, conv: _Conv, values, nz, c, T: int) -> torch.Tensor:
        plan = self.event.plans[conv.node]
        groups: dict[tuple, list[torch.Tensor]] = {}  # (factor, source hw) -> [sum of sources, sum of |sources|]
        for leaf, sc in conv.sources:
            v = values[leaf]
            per_pos = nz(leaf).sum(dim=(0, 1))  # [h, w] events per source position over channels and steps
            events = int(per_pos.sum())
            if events:
                c.input_events += events * sc.factor ** 2
                reach = sc.reach_y[:, None].to(per_pos.device) * sc.reach_x[None, :].to(per_pos.device)
                syn = int((per_pos * reach).sum()) * sc.c_out
                if leaf in self.event.binary:
                    c.acs += syn
                else:
                    c.macs += syn
                    if not torch.equal(v, torch.round(v)):
                        raise NotExact(f"graded input {leaf} is not integer-valued")
            key = (sc.factor, tuple(v.shape[-2:]))
            a = v if leaf in self.event.binary else v.abs()
            if key in groups:
                groups[key][0] = groups[key][0] + v
                groups[key][1] = groups[key][1] + a
            else:
                groups[key] = [v, a]
        c.dense_ops += plan.dense_per_step * T
        # max |dense conv input| <= sum over groups of their max |value| (integers, exact in float32)
        xmax = sum(float(a.max()) for _, a in groups.values() if a.numel())
        ho, wo = plan.out_hw
        if xmax == 0.0:
            acc = torch.zeros((T, plan.c_out, ho, wo), dtype=torch.float64, device=self.device)
        else:
            fan = conv.q.shape[1] * conv.q.shape[2] * conv.q.shape[3]
            if fan * xmax >= _F32_EXACT:
                raise NotExact(f"input of {conv.node} too large for exact float32 sums")
            if conv.row_abs_max * xmax >= _F64_EXACT:
                # The static bound fails: bound A per output neuron from the data, a float32 conv of
                # |Q| whose relative error is below (fan + 1) * 2**-24 (< 0.5 %), so 1 % is a safe margin.
                abs_in = _sum_upsampled([(f, a) for (f, _), (_, a) in groups.items()])
                a = F.conv2d(abs_in.float(), conv.abs_q.to(self.device), stride=conv.stride, padding=conv.padding)
                if fan > 2 ** 16 or float(a.max()) * 1.01 >= _F64_EXACT:
                    raise NotExact(f"synaptic sums of {conv.node} exceed float64's exact integers")
            bits = int(math.floor(math.log2(_F32_EXACT / (fan * xmax) + 1)))
            while bits > 1 and (2 ** bits - 1) * fan * xmax > _F32_EXACT:  # log2 rounding at the edge
                bits -= 1
            out = None
            for (f, hw), (xs, _) in groups.items():
                y = self._limb_conv(conv, bits, f, hw, xs, (ho, wo))
                out = y if out is None else out + y  # integers below 2**24 in magnitude: exact
            n_limbs = out.shape[1] // plan.c_out
            out = out.double().view(T, n_limbs, plan.c_out, ho, wo)
            acc = out[:, 0] + 0.0  # + 0.0: a -0.0 from a zero digit becomes +0.0, as the engine's sum
            for j in range(1, n_limbs):  # every partial sum is bounded by A < 2**53: exact
                acc = acc + out[:, j] * 2.0 ** (bits * j)
            if conv.unit != 1.0:
                acc = acc * conv.unit  # a power of two: exact
        # From here on the engine's own operations (EventSimulator._conv).
        if plan.scale != 1.0:
            acc = acc * plan.scale
        if plan.bias is not None:
            acc = acc + plan.bias.to(acc.device)[:, None, None]
        return acc.to(self.dtype).contiguous()

    def _limb_conv(self, conv: _Conv, bits: int, f: int, hw: tuple[int, int], xs: torch.Tensor,
                   out_hw: tuple[int, int]) -> torch.Tensor:
        """The limbs' convolution of source sum ``xs`` (resolution ``hw``, nearest-upsampled by ``f``):
        ``[T, L*C_out, H_out, W_out]``. An upsampled source of a stride-1 conv is convolved at its own
        resolution with one folded kernel per output phase, then pixel-shuffled (the sub-pixel form
        of the same sum of integer products); otherwise the upsampled input is materialised."""
        k = conv.q.shape[-1]
        key = (bits, f, hw)
        if key not in conv.limbs:
            mag = np.abs(conv.q).astype(np.int64)
            sign = np.sign(conv.q)
            n = max(1, -(-int(mag.max()).bit_length() // bits))
            w = np.concatenate([sign * ((mag >> (bits * j)) & ((1 << bits) - 1)) for j in range(n)], 0)
            fold = None
            if f > 1 and conv.stride == 1 and (hw[0] * f, hw[1] * f) == tuple(out_hw) and 2 * conv.padding == k - 1:
                fold = _phase_taps(f, k, conv.padding)
                m, lo = fold
                # K[o, i, ry, rx, a, b] = sum over taps landing on source offset (a, b) in phase (ry, rx)
                w = np.einsum("rak,sbl,oikl->orsiab", m, m, w).reshape(-1, w.shape[1], m.shape[1], m.shape[1])
                fold = (-lo, m.shape[1] - 1 + lo)  # left / right padding at the source resolution
            conv.limbs[key] = (torch.as_tensor(w, dtype=torch.float32, device=self.device), fold)
        w, fold = conv.limbs[key]
        xs = xs.float()  # integers below 2**24 (checked by the caller): exact in float32
        if fold is not None:
            left, right = fold
            y = F.conv2d(F.pad(xs, (left, right, left, right)), w)
            return F.pixel_shuffle(y, f)
        if f > 1:
            xs = xs.repeat_interleave(f, 2).repeat_interleave(f, 3)
        return F.conv2d(xs, w, stride=conv.stride, padding=conv.padding)


def _phase_taps(f: int, k: int, pad: int) -> tuple[np.ndarray, int]:
    """Per output phase ``r`` (output ``o = f*I + r``) of a stride-1 conv over a ``f``-fold nearest
    upsampled input: ``M[r, a, ky] = 1`` when tap ``ky`` reads source ``I + lo + a``; returns ``(M, lo)``."""
    d = np.array([[(r - pad + ky) // f for ky in range(k)] for r in range(f)])
    lo = int(d.min())
    m = np.zeros((f, int(d.max()) - lo + 1, k), dtype=np.int64)
    for r in range(f):
        for ky in range(k):
            m[r, d[r, ky] - lo, ky] = 1
    return m, lo


def _sum_upsampled(parts: list[tuple[int, torch.Tensor]]) -> torch.Tensor:
    out = None
    for f, v in parts:
        if f > 1:
            v = v.repeat_interleave(f, 2).repeat_interleave(f, 3)
        out = v if out is None else out + v
    return out


@contextlib.contextmanager
def _exact_kernels():
    """CUDA convolutions and matmuls in true float32 (no TF32) with deterministic cuDNN algorithms,
    restored afterwards. No effect on CPU arithmetic."""
    cudnn, matmul = torch.backends.cudnn, torch.backends.cuda.matmul
    saved = (cudnn.allow_tf32, matmul.allow_tf32, cudnn.deterministic, cudnn.benchmark)
    cudnn.allow_tf32 = matmul.allow_tf32 = False
    cudnn.deterministic, cudnn.benchmark = True, False
    try:
        yield
    finally:
        cudnn.allow_tf32, matmul.allow_tf32, cudnn.deterministic, cudnn.benchmark = saved


def result_difference(a: SimResult, b: SimResult) -> str | None:
    """The first field where two simulation results differ (output bits, spikes, counts), or None."""
    if a.outputs.dtype != b.outputs.dtype or a.outputs.tobytes() != b.outputs.tobytes():
        return "output values"
    for k in a.spikes.keys() | b.spikes.keys():
        if k not in a.spikes or k not in b.spikes or not np.array_equal(a.spikes[k], b.spikes[k]):
            return f"spikes of {k}"
    for x, y in zip(a.counts.layers, b.counts.layers, strict=True):
        if asdict(x) != asdict(y):
            return f"counts of {x.name}"
    return None


def _tripwire(shapes: set[tuple[int, int, int]], device: torch.device | str = "cpu") -> str | None:
    """None if float32 conv2d sums integer products exactly for each (kernel, stride, padding) used,
    else the reason the fast path is refused (a reduced-precision or transform-based conv kernel)."""
    g = torch.Generator().manual_seed(0)
    for k, s, p in sorted(shapes):
        x = torch.randint(0, 4, (2, 16, 24, 24), generator=g).float()
        # |w| <= 2**24 / (16 * k * k * 3): sums reach close to 2**24, so any lost bit shows.
        lim = int(_F32_EXACT // (16 * k * k * 3))
        w = torch.randint(-lim, lim + 1, (8, 16, k, k), generator=g).float()
        fast = F.conv2d(x.to(device), w.to(device), stride=s, padding=p).cpu()
        exact = F.conv2d(x.double(), w.double(), stride=s, padding=p)
        if not torch.equal(fast.double(), exact):
            return f"float32 conv2d is not exact on integers here (kernel {k}, stride {s})"
    return None
