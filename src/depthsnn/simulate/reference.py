"""Dense reference with the simulator's rounding: convs in float64, rounded once to the state dtype.

:class:`~depthsnn.export.executor.GraphExecutor` at float32 rounds inside its convolution in an
order the BLAS/oneDNN kernel chooses (and may change per CPU), so no event-driven
implementation can reproduce its float32 potentials bit for bit; in a network where one
flipped spike cascades (IF neurons firing at ~20 %), a potential within an ulp of the
threshold is enough to make the two diverge. This runner keeps GraphExecutor's neuron
arithmetic (the same torch expressions) but computes every conv densely in float64 and rounds
it once - the correctly rounded synaptic input that :class:`~.engine.EventSimulator` also
computes - so the float32 parity claim is checkable: it must agree spike for spike.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ..export.graph import STATEFUL_OPS, NetGraph, charge, fire


@torch.no_grad()
def dense_reference(graph: NetGraph, x_seq: np.ndarray | torch.Tensor, dtype: type = np.float32
                    ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Run ``x_seq`` ``[T, C, H, W]`` densely; return outputs ``[T, ...]`` and spikes per neuron node."""
    tdt = torch.float32 if np.dtype(dtype) == np.float32 else torch.float64
    g = graph.validate()
    weights = {n.name: (torch.as_tensor(np.asarray(n.params["weight"]), dtype=torch.float64),
                        None if n.params.get("bias") is None
                        else torch.as_tensor(np.asarray(n.params["bias"]), dtype=torch.float64))
               for n in g.of_op("conv")}
    state = {n.name: torch.zeros(1, *n.shape, dtype=tdt) for n in g.nodes if n.op in STATEFUL_OPS}
    outs, rec = [], {}
    for x in torch.as_tensor(np.asarray(x_seq)):
        values: dict[str, torch.Tensor] = {}
        for n in g.nodes:
            p = n.params
            if n.op == "input":
                values[n.name] = x[None].to(tdt)
                continue
            inp = values[n.inputs[0]]
            for other in n.inputs[1:]:
                inp = inp + values[other]
            if n.op == "conv":
                w, b = weights[n.name]
                values[n.name] = F.conv2d(inp.double(), w, b, stride=p["stride"], padding=p["padding"]).to(tdt)
            elif n.op == "upsample":
                values[n.name] = F.interpolate(inp, scale_factor=float(p["scale"]), mode="nearest")
            elif n.op == "output":
                values[n.name] = inp
            else:  # the neuron arithmetic shared with GraphExecutor and the simulator
                v = charge(n.op, p, state[n.name], inp, g.dt)
                if n.op == "integrator":
                    values[n.name] = v
                else:
                    s, v = fire(p, v)
                    values[n.name] = s
                    rec.setdefault(n.name, []).append(s[0].bool().numpy())
                state[n.name] = v
        outs.append(values[g.output.name][0].numpy().copy())
    return np.stack(outs), {k: np.stack(v) for k, v in rec.items()}
