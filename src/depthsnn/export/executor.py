"""Dense torch execution of a :class:`NetGraph`, one time step at a time, with explicit state.

This is the reference the other back ends are checked against: the NIR file round trip loads
into it, the ONNX exports of spiking networks are traced from it (plain torch ops: conv2d,
nearest interpolation, comparisons), and the event-driven simulator must match it spike for
spike. State is a list of tensors (one membrane potential per stateful node, in graph order)
so that a host loop, or ONNX, can carry it between steps.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .graph import STATEFUL_OPS, NetGraph, charge, fire


class GraphExecutor(nn.Module):
    """Runs a :class:`NetGraph` on ``[B, C, H, W]`` inputs per step.

    ``step(x, state) -> (out, new_state, spikes)``: ``out`` is the output node's value
    ``[B, C_out, H, W]`` (the integrator potential), ``spikes`` maps neuron node names to their
    binary outputs of this step. ``forward(x_seq)`` runs ``[T, B, C, H, W]`` from a zero state
    and returns the output of every step ``[T, B, C_out, H, W]``.
    """

    def __init__(self, graph: NetGraph, dtype: torch.dtype = torch.float32):
        super().__init__()
        self.graph = graph.validate()
        self.dtype = dtype
        self.order = [n.name for n in graph.nodes]
        self.stateful = [n.name for n in graph.nodes if n.op in STATEFUL_OPS]
        self._param_names: dict[str, tuple[str, str | None]] = {}
        for i, n in enumerate(graph.nodes):
            if n.op == "conv":
                wname, bname = f"w{i}", None
                self.register_buffer(wname, torch.as_tensor(n.params["weight"]).to(dtype))
                if n.params.get("bias") is not None:
                    bname = f"b{i}"
                    self.register_buffer(bname, torch.as_tensor(n.params["bias"]).to(dtype))
                self._param_names[n.name] = (wname, bname)

    def init_state(self, batch: int, device: torch.device | str = "cpu") -> list[torch.Tensor]:
        """Zero membrane potentials, one tensor per stateful node (graph order)."""
        return [torch.zeros(batch, *self.graph.node(n).shape, dtype=self.dtype, device=device) for n in self.stateful]

    def step(self, x: torch.Tensor, state: list[torch.Tensor]):
        """Advance one time step. Returns ``(out, new_state, spikes)``."""
        g = self.graph
        values: dict[str, torch.Tensor] = {}
        new_state: list[torch.Tensor] = []
        spikes: dict[str, torch.Tensor] = {}
        k = 0
        for n in g.nodes:
            if n.op == "input":
                values[n.name] = x.to(self.dtype)
                continue
            inp = values[n.inputs[0]]
            for other in n.inputs[1:]:
                inp = inp + values[other]
            p = n.params
            if n.op == "conv":
                wname, bname = self._param_names[n.name]
                values[n.name] = F.conv2d(inp, getattr(self, wname), getattr(self, bname) if bname else None,
                                          stride=p["stride"], padding=p["padding"])
            elif n.op == "upsample":
                values[n.name] = F.interpolate(inp, scale_factor=float(p["scale"]), mode="nearest")
            elif n.op in ("if", "lif", "integrator"):
                v = charge(n.op, p, state[k], inp, g.dt)
                k += 1
                if n.op == "integrator":
                    values[n.name] = v
                else:
                    s, v = fire(p, v)
                    values[n.name] = s
                    spikes[n.name] = s
                new_state.append(v)
            elif n.op == "output":
                values[n.name] = inp
        return values[g.output.name], new_state, spikes

    def forward(self, x_seq: torch.Tensor) -> torch.Tensor:
        state = self.init_state(x_seq.shape[1], x_seq.device)
        outs = []
        for x in x_seq:
            out, state, _ = self.step(x, state)
            outs.append(out)
        return torch.stack(outs)

    @torch.no_grad()
    def run(self, x_seq: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Like ``forward`` but also returns every neuron node's spikes ``[T, B, C, H, W]``."""
        state = self.init_state(x_seq.shape[1], x_seq.device)
        outs, rec = [], {}
        for x in x_seq:
            out, state, spikes = self.step(x, state)
            outs.append(out)
            for name, s in spikes.items():
                rec.setdefault(name, []).append(s)
        return torch.stack(outs), {k: torch.stack(v) for k, v in rec.items()}
