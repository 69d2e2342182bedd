"""Weight normalisation of the hidden convolutions: each output channel's filter is trained as a
direction ``v / ||v||`` and a length ``g``.

Scope: U-Nets with ``norm = "weight"`` (meant for the spiking U-Net). Paper: Salimans & Kingma,
"Weight Normalization: A Simple Reparameterization to Accelerate Training of Deep Neural
Networks", NeurIPS 2016: the reparametrisation makes the loss invariant to the scale of ``v`` (the
property batch norm gives the weights before it) without batch statistics, for settings where
batch norm does not fit. The binocular SNN trains at batch 1, where batch norm's statistics over
one sample are degenerate (the ANN twin lost 6 cm at batch 1 with its batch norm; BENCHMARKS.md
"snn-gap-ann-batch1").

The reparametrisation is torch's own (``torch.nn.utils.parametrizations.weight_norm``, ``dim=0``:
one length per output channel). It changes training only: the forward pass computes
``W = g * v / ||v||``, which :func:`depthsnn.models.fold.fold_norms` writes back as a plain weight
when a model is loaded for inference and at export, so the exported graph, the simulator and the
vendor chains see an ordinary convolution and the same spikes.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn
from torch.nn.utils import parametrize
from torch.nn.utils.parametrizations import weight_norm


def apply_weight_norm(convs: Iterable[nn.Conv2d]) -> int:
    """Reparametrise each convolution's weight as ``g * v / ||v||`` (per output channel), starting
    at the weight it holds (``g = ||w||``, ``v = w``: the network computes what it computed
    before). Returns how many convolutions were reparametrised."""
    n = 0
    for conv in convs:
        weight_norm(conv, name="weight", dim=0)
        n += 1
    return n


def is_weight_normed(module: nn.Module) -> bool:
    """True when ``module``'s own ``weight`` is a weight-norm (or any) parametrisation."""
    return parametrize.is_parametrized(module, "weight")


def fold_weight_norm(module: nn.Module) -> nn.Module:
    """Replace every parametrised ``weight`` in ``module`` by the plain tensor it computes, in place."""
    for m in list(module.modules()):
        if is_weight_normed(m):
            _unparametrise(m)
    return module


def _unparametrise(conv: nn.Module) -> None:
    """``parametrize.remove_parametrizations(conv, "weight", leave_parametrized=True)`` by hand. Why:
    torch injects one class per parametrised module and ``copy.deepcopy`` gives the copy that same
    class; ``remove_parametrizations`` deletes the ``weight`` property from the class, so folding a
    deep copy (as export does) broke the caller's model. Here only the instance is changed."""
    if set(conv.parametrizations) != {"weight"}:
        raise ValueError(f"cannot fold {type(conv).__name__}: parametrised tensors {sorted(conv.parametrizations)}")
    with torch.no_grad():
        w = conv.weight.detach().clone()
    conv.__class__ = parametrize.type_before_parametrizations(conv)
    del conv._modules["parametrizations"]
    conv.weight = nn.Parameter(w)
